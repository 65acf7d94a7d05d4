/**
 * The status writer (leader only): turns compile() diagnostics into each route's
 * `status` — conditions, `observedGeneration`, `endpoints` — through the status
 * subresource, and records a Kubernetes Event when a condition changes.
 *
 * Writes follow Contour's discipline: get → mutate → skip if equal → update,
 * retried on conflict. `lastTransitionTime` comes from the live object's own
 * conditions ({@link stampConditions}), so a restart or a new leader keeps the
 * times. What was last confirmed on the API server is remembered per route, so
 * a publication that changes nothing for a route costs no request at all:
 * endpoint churn causes writes in proportion to changes of the counts or
 * conditions, not to events.
 */
import { randomBytes } from "node:crypto";
import { stampConditions } from "../api/conditions.js";
import { ROUTE_API_VERSION, ROUTE_GROUP, ROUTE_KIND, ROUTE_VERSION, type Condition } from "../api/route.js";
import { isConflict, isNotFound, type KubeRest } from "../kube/rest.js";
import type { RouteDiagnostics } from "../routing/table.js";
import { microTime } from "./leader.js";
import { WritePasses, type PassOutcome } from "./write-passes.js";

export interface StatusWriterOptions {
  /** Consulted before every write: a replica that lost its lease stops at once. */
  isLeader(): boolean;
  /** `reportingController` of Events, e.g. `wsgate.io/gateway`. */
  readonly controllerName: string;
  /** `reportingInstance` of Events: this replica's identity. */
  readonly instance: string;
  readonly log: {
    info(obj: object, msg: string): void;
    warn(obj: object, msg: string): void;
    debug(obj: object, msg: string): void;
  };
  /** Conflicts retried per write before giving up until the next publication. */
  readonly maxConflictRetries?: number;
  /** Delay before retrying writes that failed for other reasons (API server down). */
  readonly retryDelayMs?: number;
  readonly now?: () => Date;
}

interface LiveStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  endpoints?: { ready: number; total: number };
  [field: string]: unknown;
}

interface LiveRoute {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; uid?: string; generation?: number; resourceVersion?: string };
  spec?: unknown;
  status?: LiveStatus;
}

/** Counters for logs, /debug/config and tests. */
export interface StatusWriterStats {
  writes: number;
  conflicts: number;
  unchanged: number;
  failures: number;
  events: number;
}

/** What the API must show for a diagnostics entry, without times: equal fingerprints need no request. */
function fingerprint(d: RouteDiagnostics): string {
  return JSON.stringify([d.generation, d.conditions, d.endpoints]);
}

function sameConditions(a: readonly Condition[], b: readonly Condition[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((x) => {
    const y = b.find((c) => c.type === x.type);
    return (
      y !== undefined &&
      y.status === x.status &&
      y.reason === x.reason &&
      (y.message ?? "") === (x.message ?? "") &&
      y.lastTransitionTime === x.lastTransitionTime &&
      y.observedGeneration === x.observedGeneration
    );
  });
}

function sameStatus(
  live: LiveStatus | undefined,
  next: Required<Pick<LiveStatus, "conditions" | "endpoints">> & LiveStatus,
): boolean {
  if (!live) return false;
  const liveKeys = Object.keys(live)
    .filter((k) => live[k] !== undefined)
    .sort();
  const nextKeys = Object.keys(next)
    .filter((k) => next[k] !== undefined)
    .sort();
  return (
    JSON.stringify(liveKeys) === JSON.stringify(nextKeys) &&
    live.observedGeneration === next.observedGeneration &&
    live.endpoints?.ready === next.endpoints.ready &&
    live.endpoints?.total === next.endpoints.total &&
    sameConditions(live.conditions ?? [], next.conditions)
  );
}

function routePath(namespace: string, name: string): string {
  return `/apis/${ROUTE_GROUP}/${ROUTE_VERSION}/namespaces/${namespace}/websocketroutes/${name}`;
}

export class StatusWriter {
  readonly #rest: KubeRest;
  readonly #options: StatusWriterOptions;
  readonly #now: () => Date;
  #desired: readonly RouteDiagnostics[] = [];
  /** Route key → fingerprint the API server is known to show. */
  readonly #confirmed = new Map<string, string>();
  /** Route key → resourceVersion of our last status write. */
  readonly #written = new Map<string, string>();
  readonly #passes: WritePasses;
  readonly stats: StatusWriterStats = { writes: 0, conflicts: 0, unchanged: 0, failures: 0, events: 0 };

  constructor(rest: KubeRest, options: StatusWriterOptions) {
    this.#rest = rest;
    this.#options = options;
    this.#now = options.now ?? (() => new Date());
    this.#passes = new WritePasses(
      () => this.#pass(),
      options.retryDelayMs === undefined ? {} : { retryDelayMs: options.retryDelayMs },
    );
  }

  /** Takes the diagnostics of a newly published table. */
  update(diagnostics: readonly RouteDiagnostics[]): void {
    // Routes translated from other kinds (HTTPRoute, Ingress) have their own status writers.
    this.#desired = diagnostics.filter((d) => d.origin === undefined);
    this.#passes.kick();
  }

  /** A new leader checks every route against the API server once (another replica may have written). */
  leadershipChanged(leading: boolean): void {
    this.#confirmed.clear();
    if (leading) this.#passes.kick();
  }

  /**
   * The route changed. Unless that is our own last write, check its status again on
   * the next pass: someone may have overwritten it, or it is a new object under an
   * old name (same generation and conditions, but no status yet).
   */
  routeChanged(namespace: string, name: string, resourceVersion: string | undefined): void {
    const key = `${namespace}/${name}`;
    if (resourceVersion !== undefined && this.#written.get(key) === resourceVersion) return;
    if (this.#confirmed.delete(key)) this.#passes.kick();
  }

  stop(): void {
    this.#passes.stop();
  }

  /** Resolves when no write is pending or in flight. */
  idle(): Promise<void> {
    return this.#passes.idle();
  }

  /** One pass over the routes of the latest publication (a newer one, which kicks again, ends it). */
  async #pass(): Promise<PassOutcome> {
    let failed = false;
    const desired = this.#desired;
    const keys = new Set(desired.map((d) => `${d.namespace}/${d.name}`));
    for (const key of [...this.#confirmed.keys()]) if (!keys.has(key)) this.#confirmed.delete(key);
    for (const key of [...this.#written.keys()]) if (!keys.has(key)) this.#written.delete(key);
    for (const d of desired) {
      if (this.#passes.stopped || !this.#options.isLeader() || this.#desired !== desired) break;
      if (!d.claimed) continue;
      const key = `${d.namespace}/${d.name}`;
      const fp = fingerprint(d);
      if (this.#confirmed.get(key) === fp) continue;
      try {
        await this.#sync(d, key, fp);
      } catch (err) {
        failed = true;
        this.stats.failures++;
        this.#options.log.warn(
          { route: key, err: (err as Error).message },
          "status write failed; will retry",
        );
      }
    }
    return { failed };
  }

  async #sync(d: RouteDiagnostics, key: string, fp: string): Promise<void> {
    const attempts = (this.#options.maxConflictRetries ?? 5) + 1;
    for (let attempt = 0; attempt < attempts; attempt++) {
      let live: LiveRoute;
      try {
        live = await this.#rest.get<LiveRoute>(routePath(d.namespace, d.name));
      } catch (err) {
        if (isNotFound(err)) return; // deleted meanwhile; the next table drops it
        throw err;
      }
      if (d.generation !== undefined && live.metadata.generation !== d.generation) {
        return; // the spec moved on; the table compiled from the new one brings its own diagnostics
      }
      const previous = live.status?.conditions ?? [];
      const conditions = stampConditions(previous, d.conditions, this.#now(), d.generation);
      const status = {
        ...(d.generation === undefined ? {} : { observedGeneration: d.generation }),
        conditions,
        endpoints: { ready: d.endpoints.ready, total: d.endpoints.total },
      };
      if (sameStatus(live.status, status)) {
        this.stats.unchanged++;
        this.#confirmed.set(key, fp);
        return;
      }
      if (!this.#options.isLeader()) return;
      try {
        const written = await this.#rest.put<LiveRoute>(`${routePath(d.namespace, d.name)}/status`, {
          ...live,
          status,
        });
        if (written.metadata.resourceVersion) this.#written.set(key, written.metadata.resourceVersion);
      } catch (err) {
        if (isConflict(err)) {
          this.stats.conflicts++;
          continue;
        }
        throw err;
      }
      this.stats.writes++;
      this.#confirmed.set(key, fp);
      this.#options.log.debug(
        { route: key, generation: d.generation, endpoints: status.endpoints },
        "route status written",
      );
      await this.#recordTransitions(live, previous, conditions);
      return;
    }
    this.#options.log.warn(
      { route: key, attempts },
      "route status kept conflicting; retrying with the next table",
    );
  }

  /** One Event per condition whose status or reason changed: `kubectl describe wsr` tells the story. */
  async #recordTransitions(
    live: LiveRoute,
    previous: readonly Condition[],
    next: readonly Condition[],
  ): Promise<void> {
    for (const c of next) {
      const before = previous.find((p) => p.type === c.type);
      if (before && before.status === c.status && before.reason === c.reason) continue;
      if (!this.#options.isLeader()) return;
      const { namespace, name } = live.metadata;
      const now = this.#now();
      const event = {
        apiVersion: "events.k8s.io/v1",
        kind: "Event",
        metadata: {
          namespace,
          // client-go's naming: object name, then a unique hex suffix.
          name: `${name}.${now.getTime().toString(16)}${randomBytes(3).toString("hex")}`,
        },
        eventTime: microTime(now),
        reportingController: this.#options.controllerName,
        reportingInstance: this.#options.instance.slice(0, 128),
        action: c.type,
        reason: c.reason,
        type: c.status === "True" ? "Normal" : "Warning",
        note: `${c.type}=${c.status}${before ? ` (was ${before.status}/${before.reason})` : ""}: ${c.message}`.slice(
          0,
          1024,
        ),
        regarding: {
          apiVersion: ROUTE_API_VERSION,
          kind: ROUTE_KIND,
          namespace,
          name,
          ...(live.metadata.uid ? { uid: live.metadata.uid } : {}),
        },
      };
      try {
        await this.#rest.post(`/apis/events.k8s.io/v1/namespaces/${namespace}/events`, event);
        this.stats.events++;
      } catch (err) {
        this.#options.log.warn(
          { route: `${namespace}/${name}`, err: (err as Error).message },
          "event not recorded",
        );
      }
    }
  }
}
