/**
 * The Gateway API status writer (leader only): GatewayClass `Accepted`/`SupportedVersion`;
 * Gateway `Accepted`/`Programmed` with per-listener conditions, `supportedKinds` and
 * `attachedRoutes`; WebSocketPolicy conditions; HTTPRoute `status.parents[]` and
 * BackendTLSPolicy `status.ancestors[]` entries of wsgate's controller (the latter made in
 * backend-tls-policy-status.ts) — each from compile()'s {@link GatewayApiDiagnostics}, as
 * Gateway API specifies.
 *
 * Same discipline as the WebSocketRoute writer: get → mutate → skip if equal → update
 * through the status subresource, retried on conflict; `lastTransitionTime` kept while a
 * condition's status holds; `observedGeneration` on every condition; what the API server
 * is known to show is remembered, so an unchanged publication costs no request. Entries
 * of other controllers in an HTTPRoute's `status.parents` (a BackendTLSPolicy's
 * `status.ancestors`) are left as they are.
 */
import { GATEWAY_GROUP, GATEWAY_VERSION } from "../api/gateway-api.js";
import { ROUTE_API_VERSION } from "../api/route.js";
import { POLICY_PLURAL } from "../api/websocket-policy.js";
import { serviceAddresses } from "./ingress-status.js";
import { isConflict, isNotFound, type KubeRest } from "../kube/rest.js";
import { WritePasses, type PassOutcome } from "./write-passes.js";
import type { GatewayApiDiagnostics } from "../routing/gateway-api/conditions.js";
import { BACKEND_TLS_POLICY_KIND, backendTlsPolicyItems } from "./backend-tls-policy-status.js";
import {
  canonical,
  mergeControllerEntries,
  type LiveObject,
  type StampedCondition,
  type StampFn,
  type StatusItem as Item,
} from "./status-items.js";

const BASE = `/apis/${GATEWAY_GROUP}/${GATEWAY_VERSION}`;
const HTTP_ROUTE_KIND = "HTTPRoute";

export interface GatewayApiStatusOptions {
  /** Consulted before every write: a replica that lost its lease stops at once. */
  isLeader(): boolean;
  /** The GatewayClass controllerName: written into HTTPRoute `status.parents[].controllerName`. */
  readonly controllerName: string;
  /**
   * `NAMESPACE/NAME` of wsgate's own Service (--publish-service): its load balancer
   * addresses, else external IPs, else cluster IP, become every Gateway's `status.addresses`.
   */
  readonly publishService?: string;
  /** How often the leader reads that Service again (its load balancer may come later). */
  readonly serviceIntervalMs?: number;
  readonly log: { warn(obj: object, msg: string): void; debug(obj: object, msg: string): void };
  readonly maxConflictRetries?: number;
  readonly retryDelayMs?: number;
  readonly now?: () => Date;
}

export interface GatewayApiStatusStats {
  writes: number;
  unchanged: number;
  conflicts: number;
  failures: number;
}

export class GatewayApiStatusWriter {
  readonly #rest: KubeRest;
  readonly #options: GatewayApiStatusOptions;
  readonly #now: () => Date;
  #desired: GatewayApiDiagnostics | undefined;
  /**
   * By kind (HTTPRoute, BackendTLSPolicy), the `namespace/name` of objects we wrote entries
   * to in a list shared with other controllers: when one drops out, our entries are removed.
   */
  readonly #written = new Map([
    [HTTP_ROUTE_KIND, new Set<string>()],
    [BACKEND_TLS_POLICY_KIND, new Set<string>()],
  ]);
  readonly #confirmed = new Map<string, string>();
  readonly #passes: WritePasses;
  /** The published Service's addresses as Gateway addresses; undefined until read. */
  #addresses: { type: string; value: string }[] | undefined;
  readonly stats: GatewayApiStatusStats = { writes: 0, unchanged: 0, conflicts: 0, failures: 0 };

  constructor(rest: KubeRest, options: GatewayApiStatusOptions) {
    this.#rest = rest;
    this.#options = options;
    this.#now = options.now ?? (() => new Date());
    this.#passes = new WritePasses(
      () => this.#pass(),
      options.retryDelayMs === undefined ? {} : { retryDelayMs: options.retryDelayMs },
    );
  }

  update(diagnostics: GatewayApiDiagnostics | undefined): void {
    if (!diagnostics) return;
    this.#desired = diagnostics;
    this.#passes.kick();
  }

  leadershipChanged(leading: boolean): void {
    this.#confirmed.clear();
    const readService = leading && this.#options.publishService !== undefined;
    this.#passes.repeatEvery(readService ? (this.#options.serviceIntervalMs ?? 15_000) : undefined);
    if (leading) this.#passes.kick();
  }

  stop(): void {
    this.#passes.stop();
  }

  /** Reads the published Service; a failure keeps the last addresses (and is logged). */
  async #readAddresses(): Promise<void> {
    const ref = this.#options.publishService;
    if (!ref) return;
    const [namespace, name] = ref.split("/") as [string, string];
    try {
      const service = await this.#rest.get<Parameters<typeof serviceAddresses>[0]>(
        `/api/v1/namespaces/${namespace}/services/${name}`,
      );
      this.#addresses = serviceAddresses(service).map((a) =>
        a.ip !== undefined
          ? { type: "IPAddress", value: a.ip }
          : { type: "Hostname", value: a.hostname ?? "" },
      );
    } catch (err) {
      this.#options.log.warn({ service: ref, err: (err as Error).message }, "publish Service not readable");
    }
  }

  /** Resolves when no write is pending or in flight. */
  idle(): Promise<void> {
    return this.#passes.idle();
  }

  #items(d: GatewayApiDiagnostics): Item[] {
    const items: Item[] = [];
    for (const c of d.gatewayClasses) {
      items.push({
        key: `GatewayClass ${c.name}`,
        path: `${BASE}/gatewayclasses/${c.name}`,
        ...(c.generation === undefined ? {} : { generation: c.generation }),
        print: JSON.stringify([c.generation, c.conditions]),
        status: (live, stamp) => ({
          ...live.status,
          conditions: stamp(
            (live.status as { conditions?: unknown })?.conditions,
            c.conditions,
            c.generation,
          ),
        }),
      });
    }
    const addresses = this.#addresses;
    for (const g of d.gateways) {
      items.push({
        key: `Gateway ${g.namespace}/${g.name}`,
        path: `${BASE}/namespaces/${g.namespace}/gateways/${g.name}`,
        ...(g.generation === undefined ? {} : { generation: g.generation }),
        print: JSON.stringify([g.generation, g.conditions, g.listeners, addresses]),
        status: (live, stamp) => {
          const liveListeners = ((live.status as { listeners?: { name: string; conditions?: unknown }[] })
            ?.listeners ?? []) as { name: string; conditions?: unknown }[];
          return {
            ...live.status,
            ...(addresses && addresses.length > 0 ? { addresses: addresses.map((a) => ({ ...a })) } : {}),
            conditions: stamp(
              (live.status as { conditions?: unknown })?.conditions,
              g.conditions,
              g.generation,
            ),
            listeners: g.listeners.map((l) => ({
              name: l.name,
              supportedKinds: l.supportedKinds.map((k) => ({ ...k })),
              attachedRoutes: l.attachedRoutes,
              conditions: stamp(
                liveListeners.find((x) => x.name === l.name)?.conditions,
                l.conditions,
                g.generation,
              ),
            })),
          };
        },
      });
    }
    for (const p of d.policies) {
      items.push({
        key: `WebSocketPolicy ${p.namespace}/${p.name}`,
        path: `/apis/${ROUTE_API_VERSION}/namespaces/${p.namespace}/${POLICY_PLURAL}/${p.name}`,
        ...(p.generation === undefined ? {} : { generation: p.generation }),
        print: JSON.stringify([p.generation, p.conditions]),
        status: (live, stamp) => ({
          ...live.status,
          conditions: stamp(
            (live.status as { conditions?: unknown })?.conditions,
            p.conditions,
            p.generation,
          ),
        }),
      });
    }
    items.push(
      ...backendTlsPolicyItems(
        d.backendTlsPolicies,
        this.#writtenOf(BACKEND_TLS_POLICY_KIND),
        this.#options.controllerName,
      ),
    );
    const current = new Set(d.httpRoutes.map((r) => `${r.namespace}/${r.name}`));
    // Routes no longer attached to any of our Gateways: our entries go.
    const gone = [...this.#writtenOf(HTTP_ROUTE_KIND)].filter((k) => !current.has(k));
    const routes = [
      ...d.httpRoutes,
      ...gone.map((k) => {
        const [namespace, name] = k.split("/") as [string, string];
        return { namespace, name, parents: [] };
      }),
    ];
    for (const r of routes) {
      const generation = "generation" in r ? r.generation : undefined;
      items.push({
        key: `${HTTP_ROUTE_KIND} ${r.namespace}/${r.name}`,
        path: `${BASE}/namespaces/${r.namespace}/httproutes/${r.name}`,
        ...(generation === undefined ? {} : { generation }),
        print: JSON.stringify([generation, r.parents]),
        status: (live, stamp) => ({
          ...live.status,
          parents: mergeControllerEntries(
            live.status?.parents,
            "parentRef",
            r.parents.map((p) => ({ ref: p.parentRef, conditions: p.conditions })),
            this.#options.controllerName,
            stamp,
            generation,
          ),
        }),
      });
    }
    return items;
  }

  /** One pass over the objects of the latest publication (a newer one, which kicks again, ends it). */
  async #pass(): Promise<PassOutcome> {
    let failed = false;
    const desired = this.#desired;
    if (!desired) return { failed };
    if (this.#options.isLeader()) await this.#readAddresses();
    for (const item of this.#items(desired)) {
      if (this.#passes.stopped || !this.#options.isLeader() || this.#desired !== desired) break;
      if (this.#confirmed.get(item.key) === item.print) continue;
      try {
        await this.#sync(item);
      } catch (err) {
        failed = true;
        this.stats.failures++;
        this.#options.log.warn(
          { object: item.key, err: (err as Error).message },
          "status write failed; will retry",
        );
      }
    }
    return { failed };
  }

  #stamp: StampFn = (previous, verdicts, generation) => {
    const before = Array.isArray(previous) ? (previous as StampedCondition[]) : [];
    const now = this.#now()
      .toISOString()
      .replace(/\.\d{3}Z$/, "Z");
    return verdicts.map((v) => {
      const old = before.find((c) => c.type === v.type);
      return {
        type: v.type,
        status: v.status,
        reason: v.reason,
        message: v.message,
        lastTransitionTime:
          old && old.status === v.status && old.lastTransitionTime ? old.lastTransitionTime : now,
        ...(generation === undefined ? {} : { observedGeneration: generation }),
      };
    });
  };

  async #sync(item: Item): Promise<void> {
    const attempts = (this.#options.maxConflictRetries ?? 5) + 1;
    for (let attempt = 0; attempt < attempts; attempt++) {
      let live: LiveObject;
      try {
        live = await this.#rest.get<LiveObject>(item.path);
      } catch (err) {
        if (isNotFound(err)) {
          this.#forget(item);
          return;
        }
        throw err;
      }
      // The spec moved on: the table compiled from the new one brings its own diagnostics.
      if (item.generation !== undefined && live.metadata.generation !== item.generation) return;
      const status = item.status(live, this.#stamp);
      if (canonical(status) === canonical(live.status ?? {})) {
        this.stats.unchanged++;
        this.#confirmed.set(item.key, item.print);
        this.#noteWritten(item);
        return;
      }
      if (!this.#options.isLeader()) return;
      try {
        await this.#rest.put(`${item.path}/status`, { ...live, status });
      } catch (err) {
        if (isConflict(err)) {
          this.stats.conflicts++;
          continue;
        }
        if (isNotFound(err)) {
          this.#forget(item);
          return;
        }
        throw err;
      }
      this.stats.writes++;
      this.#confirmed.set(item.key, item.print);
      this.#noteWritten(item);
      this.#options.log.debug(
        { object: item.key, generation: item.generation },
        "Gateway API status written",
      );
      return;
    }
    this.#options.log.warn(
      { object: item.key, attempts },
      "status kept conflicting; retrying with the next table",
    );
  }

  /** The objects of `kind` we wrote entries to. */
  #writtenOf(kind: string): Set<string> {
    return this.#written.get(kind) ?? new Set();
  }

  /** Remembers whether we now have entries in `item`'s shared list (an empty print: none). */
  #noteWritten(item: Item): void {
    const [kind, key] = item.key.split(" ") as [string, string];
    const written = this.#written.get(kind);
    if (!written) return;
    if (item.print.endsWith(",[]]")) written.delete(key);
    else written.add(key);
  }

  #forget(item: Item): void {
    this.#confirmed.delete(item.key);
    const [kind, key] = item.key.split(" ") as [string, string];
    this.#written.get(kind)?.delete(key);
  }
}
