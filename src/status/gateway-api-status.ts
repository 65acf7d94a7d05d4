/**
 * The Gateway API status writer (leader only): GatewayClass `Accepted`/`SupportedVersion`;
 * Gateway `Accepted`/`Programmed` with per-listener conditions, `supportedKinds` and
 * `attachedRoutes`; HTTPRoute `status.parents[]` and BackendTLSPolicy `status.ancestors[]`
 * entries of wsgate's controller — each
 * from compile()'s {@link GatewayApiDiagnostics}, as Gateway API specifies.
 *
 * Same discipline as the WebSocketRoute writer: get → mutate → skip if equal → update
 * through the status subresource, retried on conflict; `lastTransitionTime` kept while a
 * condition's status holds; `observedGeneration` on every condition; what the API server
 * is known to show is remembered, so an unchanged publication costs no request. Entries
 * of other controllers in an HTTPRoute's `status.parents` are left as they are.
 */
import { GATEWAY_GROUP, GATEWAY_VERSION } from "../api/gateway-api.js";
import { ROUTE_API_VERSION } from "../api/route.js";
import { POLICY_PLURAL } from "../api/websocket-policy.js";
import { serviceAddresses } from "./ingress-status.js";
import { isConflict, isNotFound, type KubeRest } from "../kube/rest.js";
import { WritePasses, type PassOutcome } from "./write-passes.js";
import type { GatewayApiDiagnostics, GatewayCondition } from "../routing/gateway-api/conditions.js";

const BASE = `/apis/${GATEWAY_GROUP}/${GATEWAY_VERSION}`;

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

interface StampedCondition extends GatewayCondition {
  lastTransitionTime: string;
  observedGeneration?: number;
}

interface LiveObject {
  metadata: { name: string; namespace?: string; generation?: number; resourceVersion?: string };
  status?: Record<string, unknown>;
  [field: string]: unknown;
}

/** One object's wanted status: how to compute it from the live one. */
interface Item {
  readonly key: string;
  readonly path: string;
  readonly generation?: number;
  /** What compile() wants shown, without times: equal prints need no request. */
  readonly print: string;
  status(live: LiveObject, stamp: StampFn): Record<string, unknown>;
}

type StampFn = (
  previous: unknown,
  verdicts: readonly GatewayCondition[],
  generation?: number,
) => StampedCondition[];

/** JSON with object keys sorted: the API server returns custom resources' fields in its own order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
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
  /** HTTPRoutes we wrote a parent entry to: when one drops out, our entries are removed. */
  readonly #routesWritten = new Set<string>();
  /** BackendTLSPolicies we wrote an ancestor entry to (same rule as for HTTPRoutes). */
  readonly #backendTlsWritten = new Set<string>();
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
    items.push(...this.#backendTlsItems(d));
    const current = new Set(d.httpRoutes.map((r) => `${r.namespace}/${r.name}`));
    // Routes no longer attached to any of our Gateways: our entries go.
    const gone = [...this.#routesWritten].filter((k) => !current.has(k));
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
        key: `HTTPRoute ${r.namespace}/${r.name}`,
        path: `${BASE}/namespaces/${r.namespace}/httproutes/${r.name}`,
        ...(generation === undefined ? {} : { generation }),
        print: JSON.stringify([generation, r.parents]),
        status: (live, stamp) => {
          const liveParents = ((live.status as { parents?: Record<string, unknown>[] })?.parents ?? []) as {
            controllerName?: string;
            parentRef?: unknown;
            conditions?: unknown;
          }[];
          const others = liveParents.filter((p) => p.controllerName !== this.#options.controllerName);
          const ours = r.parents.map((p) => ({
            parentRef: { ...p.parentRef },
            controllerName: this.#options.controllerName,
            conditions: stamp(
              liveParents.find(
                (x) =>
                  x.controllerName === this.#options.controllerName &&
                  canonical(x.parentRef) === canonical(p.parentRef),
              )?.conditions,
              p.conditions,
              generation,
            ),
          }));
          return { ...live.status, parents: [...others, ...ours] };
        },
      });
    }
    return items;
  }

  /**
   * BackendTLSPolicy `status.ancestors`: our entries (one per Gateway of our class reaching a
   * targeted Service), other controllers' kept. A policy with no ancestor of ours is not
   * read at all, unless we wrote to it before (then our entries go).
   */
  #backendTlsItems(d: GatewayApiDiagnostics): Item[] {
    const items: Item[] = [];
    const wanted = (d.backendTlsPolicies ?? []).filter(
      (p) => p.ancestors.length > 0 || this.#backendTlsWritten.has(`${p.namespace}/${p.name}`),
    );
    const present = new Set((d.backendTlsPolicies ?? []).map((p) => `${p.namespace}/${p.name}`));
    const gone = [...this.#backendTlsWritten]
      .filter((k) => !present.has(k))
      .map((k) => {
        const [namespace, name] = k.split("/") as [string, string];
        return { namespace, name, ancestors: [] };
      });
    for (const p of [...wanted, ...gone]) {
      const generation = "generation" in p ? p.generation : undefined;
      items.push({
        key: `BackendTLSPolicy ${p.namespace}/${p.name}`,
        path: `${BASE}/namespaces/${p.namespace}/backendtlspolicies/${p.name}`,
        ...(generation === undefined ? {} : { generation }),
        print: JSON.stringify([generation, p.ancestors]),
        status: (live, stamp) => {
          const liveAncestors = ((live.status as { ancestors?: Record<string, unknown>[] })?.ancestors ??
            []) as { controllerName?: string; ancestorRef?: unknown; conditions?: unknown }[];
          const others = liveAncestors.filter((a) => a.controllerName !== this.#options.controllerName);
          const ours = p.ancestors.map((a) => ({
            ancestorRef: { ...a.ancestorRef },
            controllerName: this.#options.controllerName,
            conditions: stamp(
              liveAncestors.find(
                (x) =>
                  x.controllerName === this.#options.controllerName &&
                  canonical(x.ancestorRef) === canonical(a.ancestorRef),
              )?.conditions,
              a.conditions,
              generation,
            ),
          }));
          return { ...live.status, ancestors: [...others, ...ours] };
        },
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
        this.#noteRoute(item);
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
      this.#noteRoute(item);
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

  #noteRoute(item: Item): void {
    if (item.key.startsWith("BackendTLSPolicy ")) {
      const key = item.key.slice("BackendTLSPolicy ".length);
      if (item.print.endsWith(",[]]")) this.#backendTlsWritten.delete(key);
      else this.#backendTlsWritten.add(key);
      return;
    }
    if (!item.key.startsWith("HTTPRoute ")) return;
    const key = item.key.slice("HTTPRoute ".length);
    if (item.print.endsWith(",[]]")) this.#routesWritten.delete(key);
    else this.#routesWritten.add(key);
  }

  #forget(item: Item): void {
    this.#confirmed.delete(item.key);
    if (item.key.startsWith("HTTPRoute ")) this.#routesWritten.delete(item.key.slice("HTTPRoute ".length));
    if (item.key.startsWith("BackendTLSPolicy "))
      this.#backendTlsWritten.delete(item.key.slice("BackendTLSPolicy ".length));
  }
}
