/**
 * One supervised list+watch of one resource in one scope (a namespace, or all).
 *
 * client-node's informer (`ListWatch`) relists by itself after a 410 Gone and
 * reconnects after a quiet watch times out, but stops for good on any other
 * error (an API server restart, a refused connection, a 403). The supervisor
 * starts a fresh list+watch after such a failure with exponential back-off, and
 * restarts one that went silent — no event, no successful (re)connection — for
 * longer than `stallMs`. Each fresh list replaces this scope's content, so
 * deletions missed while the watch was down are applied too.
 */
import { performance } from "node:perf_hooks";
import { ListWatch, Watch, type KubeConfig, type KubernetesObject } from "@kubernetes/client-node";
import type { Kind } from "../../api/parse.js";
import { KubeApiError, type KubeList, type KubeRest } from "../../kube/rest.js";
import { sourceChannels, type WatchRestarted } from "./events.js";

/** A collection to watch. */
export interface WatchedResource {
  readonly kind: Kind;
  /** `apiVersion` stamped on list items (the API omits it for core kinds). */
  readonly apiVersion: string;
  /** Collection path, e.g. `/api/v1/services` or `/api/v1/namespaces/apps/services`. */
  readonly path: string;
  /** `""` when the path covers all namespaces. */
  readonly namespace: string;
  readonly fieldSelector?: string;
}

/** Raw objects as the API server sends them (with `apiVersion` and `kind`). */
export interface InformerHandlers {
  /** A complete list of the scope: everything not in it is gone. */
  replace(objects: readonly KubernetesObject[], receivedAt: number): void;
  upsert(object: KubernetesObject, receivedAt: number): void;
  remove(object: KubernetesObject, receivedAt: number): void;
}

export interface InformerTuning {
  /** First back-off after a failure; doubles per consecutive failure. */
  readonly backoffMinMs: number;
  readonly backoffMaxMs: number;
  /** No sign of life for this long: the informer is restarted. */
  readonly stallMs: number;
  /**
   * client-node ends a watch that received nothing for this long and reconnects at
   * once (30 s by default) — the sign of life of a quiet collection. Tests shorten it.
   */
  readonly watchIdleTimeoutMs?: number;
}

export const DEFAULT_INFORMER_TUNING: InformerTuning = {
  backoffMinMs: 500,
  backoffMaxMs: 30_000,
  // client-node reconnects a quiet watch every 30 s, which counts as a sign of life.
  stallMs: 120_000,
};

export interface InformerLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

/** Health of one informer, for /healthz and /debug/config. */
export interface InformerHealth {
  readonly kind: Kind;
  readonly namespace: string;
  readonly synced: boolean;
  /** Milliseconds since the watch last failed without recovering; undefined when it is up. */
  readonly downForMs: number | undefined;
  readonly restarts: number;
  readonly lastError: string | undefined;
}

/** A `Watch` that reports when a watch request was answered and when data arrived. */
class ObservedWatch extends Watch {
  readonly #onEstablished: () => void;
  readonly #onData: () => void;

  constructor(
    kubeConfig: KubeConfig,
    onEstablished: () => void,
    onData: () => void,
    idleTimeoutMs: number | undefined,
  ) {
    super(kubeConfig);
    this.#onEstablished = onEstablished;
    this.#onData = onData;
    // client-node keeps this knob private (2.x: `requestTimeoutMs`); only tests turn it.
    if (idleTimeoutMs !== undefined)
      (this as unknown as { requestTimeoutMs: number }).requestTimeoutMs = idleTimeoutMs;
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    let failed = false;
    const controller = await super.watch(
      path,
      // Bookmarks keep the resourceVersion fresh on quiet collections, so reconnects rarely need a relist.
      { ...queryParams, allowWatchBookmarks: true },
      (phase, obj, raw) => {
        this.#onData();
        callback(phase, obj, raw);
      },
      (err: unknown) => {
        if (err) failed = true;
        done(err);
      },
    );
    // super.watch resolves once the response head arrived; an error answer has called done already.
    if (!failed) this.#onEstablished();
    return controller;
  }
}

/** What to do about the list failures an operator can fix. */
function hint(err: unknown, kind: Kind): string {
  const status = err instanceof KubeApiError ? err.status : undefined;
  if (status === 404 && kind === "WebSocketRoute") {
    return " (is the WebSocketRoute CRD installed? kubectl apply -f crds/)";
  }
  if (status === 401)
    return " (the credentials were refused: check --kubeconfig or the service account token)";
  if (status === 403) {
    return " (RBAC: grant the rules of helm/wsgate/files/clusterrole-rules.yaml to wsgate's service account)";
  }
  return "";
}

interface Run {
  readonly informer: ListWatch<KubernetesObject>;
}

export class SupervisedInformer {
  readonly resource: WatchedResource;
  readonly #kubeConfig: KubeConfig;
  readonly #rest: KubeRest;
  readonly #handlers: InformerHandlers;
  readonly #log: InformerLog;
  readonly #tuning: InformerTuning;
  #run: Run | undefined;
  #restartTimer: NodeJS.Timeout | undefined;
  #stopped = true;
  #synced = false;
  #syncWaiters: (() => void)[] = [];
  #failures = 0;
  #restarts = 0;
  #downSince: number | undefined;
  #lastError: string | undefined;
  #lastActivity = 0;

  constructor(
    resource: WatchedResource,
    deps: {
      kubeConfig: KubeConfig;
      rest: KubeRest;
      handlers: InformerHandlers;
      log: InformerLog;
      tuning?: Partial<InformerTuning>;
    },
  ) {
    this.resource = resource;
    this.#kubeConfig = deps.kubeConfig;
    this.#rest = deps.rest;
    this.#handlers = deps.handlers;
    this.#log = deps.log;
    this.#tuning = { ...DEFAULT_INFORMER_TUNING, ...deps.tuning };
  }

  /** True once the first complete list was applied. */
  get synced(): boolean {
    return this.#synced;
  }

  whenSynced(): Promise<void> {
    if (this.#synced) return Promise.resolve();
    return new Promise((resolve) => this.#syncWaiters.push(resolve));
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#lastActivity = performance.now();
    this.#begin();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
    const run = this.#run;
    this.#run = undefined;
    await run?.informer.stop();
  }

  health(now = performance.now()): InformerHealth {
    return {
      kind: this.resource.kind,
      namespace: this.resource.namespace,
      synced: this.#synced,
      downForMs: this.#downSince === undefined ? undefined : now - this.#downSince,
      restarts: this.#restarts,
      lastError: this.#lastError,
    };
  }

  /** Restarts the informer if it showed no sign of life for `stallMs`. Called periodically by the source. */
  checkStall(now = performance.now()): void {
    if (this.#stopped || this.#run === undefined) return;
    const silentMs = now - this.#lastActivity;
    if (silentMs > this.#tuning.stallMs) {
      this.#fail("stalled", new Error(`no event and no reconnection for ${Math.round(silentMs / 1000)} s`));
    }
  }

  #begin(): void {
    const { path, fieldSelector } = this.resource;
    const watch = new ObservedWatch(
      this.#kubeConfig,
      () => this.#alive(),
      () => this.#alive(),
      this.#tuning.watchIdleTimeoutMs,
    );
    const informer = new ListWatch<KubernetesObject>(
      path,
      watch,
      () => this.#list(run),
      false,
      undefined,
      fieldSelector,
    );
    const run: Run = { informer };
    this.#run = run;
    const current = (): boolean => this.#run === run;
    informer.on("add", (o) => current() && this.#handlers.upsert(o, performance.now()));
    informer.on("update", (o) => current() && this.#handlers.upsert(o, performance.now()));
    informer.on("delete", (o) => current() && this.#handlers.remove(o, performance.now()));
    informer.on("error", (err: unknown) => {
      if (current()) this.#fail("error", err);
    });
    informer.start().catch((err: unknown) => {
      if (current()) this.#fail("error", err);
    });
  }

  async #list(run: Run): Promise<KubeList<KubernetesObject>> {
    const { path, fieldSelector, apiVersion, kind } = this.resource;
    let list: KubeList<KubernetesObject>;
    try {
      list = await this.#rest.list<KubernetesObject>(path, fieldSelector ? { fieldSelector } : {});
    } catch (err) {
      throw new Error(`cannot list ${kind}: ${(err as Error).message}${hint(err, kind)}`, { cause: err });
    }
    const items = list.items.map((item) => ({ apiVersion, kind, ...item }));
    if (this.#run === run) {
      this.#alive();
      this.#failures = 0;
      this.#handlers.replace(items, performance.now());
      if (!this.#synced) {
        this.#synced = true;
        this.#log.info(
          { kind, namespace: this.resource.namespace || "(all)", objects: items.length },
          "initial list synced",
        );
        for (const resolve of this.#syncWaiters.splice(0)) resolve();
      }
    }
    // ListWatch applies the items (add/update callbacks) and watches from this resourceVersion.
    return { metadata: list.metadata, items };
  }

  #alive(): void {
    this.#lastActivity = performance.now();
    if (this.#downSince !== undefined) {
      this.#log.info(
        { kind: this.resource.kind, namespace: this.resource.namespace || "(all)" },
        "watch recovered",
      );
    }
    this.#downSince = undefined;
  }

  #fail(reason: WatchRestarted["reason"], err: unknown): void {
    const run = this.#run;
    this.#run = undefined;
    void run?.informer.stop();
    if (this.#stopped) return;
    const now = performance.now();
    this.#downSince ??= now;
    this.#failures++;
    this.#restarts++;
    this.#lastError = err instanceof Error ? err.message : String(err);
    const exp = Math.min(
      this.#tuning.backoffMaxMs,
      this.#tuning.backoffMinMs * 2 ** Math.min(this.#failures - 1, 20),
    );
    // ±20% jitter so that replicas (and kinds) do not hammer a recovering API server in step.
    const backoffMs = Math.round(exp * (0.8 + Math.random() * 0.4));
    const event: WatchRestarted = {
      kind: this.resource.kind,
      namespace: this.resource.namespace,
      reason,
      error: this.#lastError,
      backoffMs,
    };
    sourceChannels.watchRestarted.publish(event);
    this.#log.warn(
      { kind: event.kind, namespace: event.namespace || "(all)", reason, error: event.error, backoffMs },
      "watch failed; restarting with a fresh list",
    );
    clearTimeout(this.#restartTimer);
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      if (!this.#stopped) {
        this.#lastActivity = performance.now();
        this.#begin();
      }
    }, backoffMs);
  }
}
