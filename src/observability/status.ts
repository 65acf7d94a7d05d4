/**
 * The operator's view behind `/status` (JSON) and the status page at `/`: every
 * route with its conditions, hosts and paths; per endpoint its health, live
 * connections against the route's mean, opens and closes of the last minute and
 * drain progress; handshake rejections by reason over the last 5 minutes; the
 * control plane (table generation, last compile, watches, leadership).
 *
 * It reads live state at request time and keeps only windowed counters fed by
 * diagnostics_channel, so the data plane does no extra work for it. Nothing secret
 * leaves: no tokens, keys or headers; client addresses only with
 * `--status-show-clients`.
 */
import diagnostics_channel from "node:diagnostics_channel";
import type { Condition } from "../api/route.js";
import type { EndpointHealthView } from "../dataplane/health.js";
import {
  channels,
  type ConnectionClosed,
  type ConnectionLabels,
  type ConnectionOpened,
  type HandshakeRejected,
} from "../dataplane/events.js";
import type { Publication } from "../routing/holder.js";
import type { Endpoint, Route, RoutingTable } from "../routing/table.js";
import type { RouteStatusView } from "../status/ledger.js";
import { RollingCounts } from "./rolling-counts.js";

/** What the status view needs of a live connection (a subset of the data plane's). */
export interface StatusConnection {
  readonly labels: ConnectionLabels;
  readonly openedAt: number;
  /** When a drain closes it; undefined while it is not draining. */
  readonly drainAt: number | undefined;
}

/** One watch of cluster mode, as the informers report it. */
export interface WatchView {
  readonly kind: string;
  readonly namespace: string;
  readonly synced: boolean;
  readonly downForMs: number | undefined;
  readonly restarts: number;
  readonly lastError: string | undefined;
}

/** Where the routes come from and who writes status. */
export type SourceView =
  | {
      readonly mode: "standalone";
      readonly dir: string;
      /** Manifest files that could not be used, with their error counts (not the errors: they may quote a Secret). */
      readonly problems: readonly { readonly file: string; readonly errors: number }[];
    }
  | {
      readonly mode: "cluster";
      readonly synced: boolean;
      readonly leader: boolean;
      readonly watches: readonly WatchView[];
    };

/** One data-plane worker thread (`--workers`); absent while the data plane runs on the main thread. */
export interface WorkerView {
  readonly worker: string;
  readonly connections: number;
}

export interface StatusSources {
  readonly tables: { readonly current: RoutingTable };
  readonly onPublish: (listener: (p: Publication) => void) => () => void;
  /** Every claimed route's stamped conditions (the status ledger). */
  readonly routeStatus: () => readonly RouteStatusView[];
  readonly connections: Iterable<StatusConnection>;
  /** Passive ejection (failed connects). */
  readonly endpoints: { isEjected(id: string): boolean };
  /** Active health checks. */
  readonly health?: { view(): readonly EndpointHealthView[] };
  readonly source: () => SourceView;
  /** Per-worker connection counts, when the data plane runs in worker threads. */
  readonly workers?: () => readonly WorkerView[];
  /** `--status-show-clients`: list client addresses per route. */
  readonly showClients: boolean;
  readonly now?: () => number;
}

/**
 * `ready` takes new connections; `not_ready` (EndpointSlice), `probe_failed` (active
 * health check) and `ejected` (failed connects) do not; `draining` endpoints are
 * terminating or gone and their connections are being closed.
 */
export type EndpointState = "ready" | "not_ready" | "probe_failed" | "ejected" | "draining";

export interface EndpointStatus {
  readonly id: string;
  readonly address: string;
  readonly state: EndpointState;
  /** Established connections of this route on the endpoint (`wsgate_connections_active`). */
  readonly connections: number;
  readonly openedLastMinute: number;
  readonly closedLastMinute: number;
  /** Connections scheduled to be closed by a drain, and when the last of them is due. */
  readonly drain?: { readonly connections: number; readonly doneInMs: number };
  /** The last active health check result, when it failed. */
  readonly lastProbe?: string;
}

export interface BackendStatus {
  readonly backend: string;
  readonly connections: number;
  /** Endpoints that take new connections (`wsgate_backend_healthy`). */
  readonly healthy: number;
  readonly endpoints: readonly EndpointStatus[];
}

export interface RouteStatusEntry {
  readonly namespace: string;
  readonly name: string;
  /** Empty: any host. */
  readonly hosts: readonly string[];
  readonly paths: readonly { readonly type: string; readonly value: string }[];
  readonly conditions: readonly Condition[];
  /** Whether the route is in the serving table. */
  readonly served: boolean;
  readonly connections: number;
  /** Mean connections per ready endpoint: the reference of each endpoint's bar. */
  readonly meanPerEndpoint: number;
  readonly draining: number;
  readonly backends: readonly BackendStatus[];
  /** Handshake rejections of this route in the last 5 minutes, by reason. */
  readonly rejections: Readonly<Record<string, number>>;
  /** Only with `--status-show-clients`: client addresses by connection count. */
  readonly clients?: readonly { readonly address: string; readonly connections: number }[];
}

export interface StatusView {
  readonly time: string;
  readonly table: {
    readonly generation: number;
    readonly lastCompileAt: string | null;
    readonly lastCompileMs: number | null;
  };
  readonly source: SourceView;
  readonly connections: number;
  readonly routes: readonly RouteStatusEntry[];
  /** Handshake rejections of the last 5 minutes by reason and route ("" for none matched). */
  readonly rejections: readonly { readonly reason: string; readonly route: string; readonly count: number }[];
  readonly workers?: readonly WorkerView[];
}

const MINUTE = 60_000;
/** Client addresses listed per route with `--status-show-clients`. */
export const CLIENTS_SHOWN = 20;

export class StatusModel {
  readonly #sources: StatusSources;
  readonly #now: () => number;
  /** Opens and closes per route and endpoint: `ns/route\0endpoint`. */
  readonly #opened: RollingCounts;
  readonly #closed: RollingCounts;
  /** Handshake rejections per route and reason: `ns/route\0reason`. */
  readonly #rejected: RollingCounts;
  #lastCompile: { at: number; ms: number } | undefined;
  readonly #unsubscribe: (() => void)[] = [];
  /**
   * `ns/route\0endpoint` by endpoint id, built once: a key concatenated per event is a new
   * string the Map flattens and hashes on every open and close (~4× the cost of `add` with
   * a known key). Endpoint ids churn with pods, so it is dropped past 10,000 endpoints.
   */
  readonly #keys = new Map<string, { namespace: string; route: string; key: string }[]>();

  constructor(sources: StatusSources) {
    this.#sources = sources;
    this.#now = sources.now ?? Date.now;
    this.#opened = new RollingCounts(MINUTE, 12, this.#now);
    this.#closed = new RollingCounts(MINUTE, 12, this.#now);
    this.#rejected = new RollingCounts(5 * MINUTE, 30, this.#now);
    const subscribe = (channel: diagnostics_channel.Channel, handler: (m: unknown) => void): void => {
      channel.subscribe(handler);
      this.#unsubscribe.push(() => channel.unsubscribe(handler));
    };
    subscribe(channels.connectionOpened, (m) => this.#opened.add(this.#connectionKey(m as ConnectionOpened)));
    subscribe(channels.connectionClosed, (m) => this.#closed.add(this.#connectionKey(m as ConnectionClosed)));
    subscribe(channels.handshakeRejected, (m) => {
      const e = m as HandshakeRejected;
      this.#rejected.add(`${e.route ? `${e.namespace}/${e.route}` : ""}\0${e.reason}`);
    });
    this.#unsubscribe.push(
      sources.onPublish((p) => {
        this.#lastCompile = { at: this.#now(), ms: p.compileMs };
      }),
    );
  }

  #connectionKey(e: ConnectionOpened | ConnectionClosed): string {
    let known = this.#keys.get(e.endpoint);
    if (!known) {
      if (this.#keys.size >= 10_000) this.#keys.clear();
      this.#keys.set(e.endpoint, (known = []));
    }
    // Usually one route per endpoint: a scan of interned strings, no allocation.
    for (const k of known) if (k.route === e.route && k.namespace === e.namespace) return k.key;
    const key = `${e.namespace}/${e.route}\0${e.endpoint}`;
    known.push({ namespace: e.namespace, route: e.route, key });
    return key;
  }

  /** Stops listening to events. */
  close(): void {
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
  }

  /** The whole view, built from live state now. */
  view(): StatusView {
    const now = this.#now();
    const table = this.#sources.tables.current;
    const live = this.#liveByRoute(now);
    const probes = new Map<string, EndpointHealthView>();
    for (const p of this.#sources.health?.view() ?? []) probes.set(p.endpoint, p);

    const rejections: { reason: string; route: string; count: number }[] = [];
    const rejectionsByRoute = new Map<string, Record<string, number>>();
    for (const [key, count] of this.#rejected.entries()) {
      const [route, reason] = key.split("\0") as [string, string];
      rejections.push({ reason, route, count });
      const byReason = rejectionsByRoute.get(route) ?? {};
      byReason[reason] = count;
      rejectionsByRoute.set(route, byReason);
    }
    rejections.sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));

    const served = new Map(table.routes.map((r) => [r.key, r]));
    const routes: RouteStatusEntry[] = [];
    const seen = new Set<string>();
    for (const status of this.#sources.routeStatus()) {
      const key = `${status.namespace}/${status.name}`;
      if (!status.claimed || seen.has(key)) continue;
      seen.add(key);
      routes.push(
        this.#route(key, status.namespace, status.name, served.get(key), status.status.conditions, {
          live: live.get(key),
          probes,
          rejections: rejectionsByRoute.get(key) ?? {},
          now,
        }),
      );
    }
    // A table set without the ledger (tests, or a route kind without status) still shows.
    for (const route of table.routes) {
      if (seen.has(route.key)) continue;
      routes.push(
        this.#route(route.key, route.namespace, route.name, route, [], {
          live: live.get(route.key),
          probes,
          rejections: rejectionsByRoute.get(route.key) ?? {},
          now,
        }),
      );
    }
    routes.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));

    let connections = 0;
    for (const byEndpoint of live.values()) for (const e of byEndpoint.values()) connections += e.connections;
    const workers = this.#sources.workers?.();
    return {
      time: new Date(now).toISOString(),
      table: {
        generation: table.generation,
        lastCompileAt: this.#lastCompile ? new Date(this.#lastCompile.at).toISOString() : null,
        lastCompileMs: this.#lastCompile ? Number(this.#lastCompile.ms.toFixed(3)) : null,
      },
      source: this.#sources.source(),
      connections,
      routes,
      rejections,
      ...(workers ? { workers } : {}),
    };
  }

  #liveByRoute(now: number): Map<string, Map<string, LiveTally>> {
    const byRoute = new Map<string, Map<string, LiveTally>>();
    for (const c of this.#sources.connections) {
      const routeKey = `${c.labels.namespace}/${c.labels.route}`;
      let byEndpoint = byRoute.get(routeKey);
      if (!byEndpoint) byRoute.set(routeKey, (byEndpoint = new Map()));
      let tally = byEndpoint.get(c.labels.endpoint);
      if (!tally) {
        tally = {
          backend: c.labels.backend,
          connections: 0,
          draining: 0,
          drainDoneAt: now,
          clients: new Map(),
        };
        byEndpoint.set(c.labels.endpoint, tally);
      }
      tally.connections++;
      if (c.drainAt !== undefined) {
        tally.draining++;
        tally.drainDoneAt = Math.max(tally.drainDoneAt, c.drainAt);
      }
      if (this.#sources.showClients)
        tally.clients.set(c.labels.client, (tally.clients.get(c.labels.client) ?? 0) + 1);
    }
    return byRoute;
  }

  #route(
    key: string,
    namespace: string,
    name: string,
    route: Route | undefined,
    conditions: readonly Condition[],
    ctx: {
      live: Map<string, LiveTally> | undefined;
      probes: Map<string, EndpointHealthView>;
      rejections: Record<string, number>;
      now: number;
    },
  ): RouteStatusEntry {
    const live = ctx.live ?? new Map<string, LiveTally>();
    const backends = new Map<string, { endpoints: Map<string, Omit<EndpointStatus, "connections">> }>();
    const backendOf = (k: string) => {
      let b = backends.get(k);
      if (!b) backends.set(k, (b = { endpoints: new Map() }));
      return b;
    };
    const paths: { type: string; value: string }[] = [];
    for (const rule of route?.rules ?? []) {
      for (const m of rule.matches) {
        if (!paths.some((p) => p.type === m.type && p.value === m.value))
          paths.push({ type: m.type, value: m.value });
      }
      for (const backend of rule.backends) {
        const b = backendOf(backend.key);
        for (const e of backend.endpoints) {
          if (b.endpoints.has(e.id)) continue;
          const probe = ctx.probes.get(e.id);
          b.endpoints.set(e.id, {
            id: e.id,
            address: `${e.address}:${e.port}`,
            state: this.#state(e, probe),
            openedLastMinute: 0,
            closedLastMinute: 0,
            ...(probe && !probe.healthy && probe.lastResult ? { lastProbe: probe.lastResult } : {}),
          });
        }
      }
    }
    // Endpoints that left the table but still hold connections of this route: draining.
    for (const [id, tally] of live) {
      const b = backendOf(tally.backend);
      if (!b.endpoints.has(id)) {
        b.endpoints.set(id, {
          id,
          address: id.slice(id.lastIndexOf("@") + 1),
          state: "draining",
          openedLastMinute: 0,
          closedLastMinute: 0,
        });
      }
    }

    const clients = new Map<string, number>();
    let connections = 0;
    let draining = 0;
    let readyEndpoints = 0;
    let allEndpoints = 0;
    const backendViews: BackendStatus[] = [];
    for (const [backendKey, b] of [...backends].sort(([x], [y]) => x.localeCompare(y))) {
      let backendConnections = 0;
      let healthy = 0;
      const endpoints: EndpointStatus[] = [];
      for (const e of [...b.endpoints.values()].sort((x, y) => x.id.localeCompare(y.id))) {
        const tally = live.get(e.id);
        const n = tally?.connections ?? 0;
        backendConnections += n;
        allEndpoints++;
        if (e.state === "ready") {
          healthy++;
          readyEndpoints++;
        }
        if (tally) {
          draining += tally.draining;
          for (const [address, count] of tally.clients)
            clients.set(address, (clients.get(address) ?? 0) + count);
        }
        endpoints.push({
          ...e,
          connections: n,
          openedLastMinute: this.#opened.total(`${key}\0${e.id}`),
          closedLastMinute: this.#closed.total(`${key}\0${e.id}`),
          ...(tally && tally.draining > 0
            ? {
                drain: {
                  connections: tally.draining,
                  doneInMs: Math.max(0, Math.round(tally.drainDoneAt - ctx.now)),
                },
              }
            : {}),
        });
      }
      connections += backendConnections;
      backendViews.push({ backend: backendKey, connections: backendConnections, healthy, endpoints });
    }
    const perEndpoint = readyEndpoints > 0 ? readyEndpoints : allEndpoints;
    return {
      namespace,
      name,
      hosts: route?.hostnames ?? [],
      paths,
      conditions,
      served: route !== undefined,
      connections,
      meanPerEndpoint: perEndpoint > 0 ? Number((connections / perEndpoint).toFixed(2)) : 0,
      draining,
      backends: backendViews,
      rejections: ctx.rejections,
      ...(this.#sources.showClients
        ? {
            clients: [...clients]
              .sort(([a, x], [b, y]) => y - x || a.localeCompare(b))
              .slice(0, CLIENTS_SHOWN)
              .map(([address, count]) => ({ address, connections: count })),
          }
        : {}),
    };
  }

  #state(e: Endpoint, probe: EndpointHealthView | undefined): EndpointState {
    if (e.terminating) return "draining";
    if (!e.ready) return "not_ready";
    if (this.#sources.endpoints.isEjected(e.id)) return "ejected";
    if (probe && !probe.healthy) return "probe_failed";
    return "ready";
  }
}

interface LiveTally {
  readonly backend: string;
  connections: number;
  draining: number;
  drainDoneAt: number;
  readonly clients: Map<string, number>;
}
