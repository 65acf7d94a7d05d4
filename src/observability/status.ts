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
 *
 * The parts: the view's shapes (`status-view.ts`), one route's entry (`status-route.ts`),
 * windowed counters (`rolling-counts.ts`); this module subscribes to the events and
 * assembles the view.
 */
import diagnostics_channel from "node:diagnostics_channel";
import type { EndpointHealthView } from "../dataplane/health.js";
import {
  channels,
  type ConnectionClosed,
  type ConnectionOpened,
  type HandshakeRejected,
} from "../dataplane/events.js";
import { RollingCounts } from "./rolling-counts.js";
import { liveByRoute, routeEntry, type RouteEntryContext } from "./status-route.js";
import type { RouteStatusEntry, StatusSources, StatusView } from "./status-view.js";

export { CLIENTS_SHOWN } from "./status-route.js";
export type {
  BackendStatus,
  EndpointState,
  EndpointStatus,
  RouteStatusEntry,
  SourceView,
  StatusConnection,
  StatusSources,
  StatusView,
  WatchView,
  WorkerView,
} from "./status-view.js";

const MINUTE = 60_000;

/**
 * The status view of one thread's data plane: windowed opens, closes and rejections fed
 * by the data plane's events, and the rest read from `sources` when {@link view} is asked.
 */
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
    const live = liveByRoute(this.#sources.connections, this.#sources.showClients, now);
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

    const ctx: RouteEntryContext = {
      probes,
      endpoints: this.#sources.endpoints,
      opened: this.#opened,
      closed: this.#closed,
      showClients: this.#sources.showClients,
      now,
    };
    const served = new Map(table.routes.map((r) => [r.key, r]));
    const routes: RouteStatusEntry[] = [];
    const seen = new Set<string>();
    for (const status of this.#sources.routeStatus()) {
      const key = `${status.namespace}/${status.name}`;
      if (!status.claimed || seen.has(key)) continue;
      seen.add(key);
      routes.push(
        routeEntry(
          key,
          status.namespace,
          status.name,
          served.get(key),
          status.status.conditions,
          { live: live.get(key), rejections: rejectionsByRoute.get(key) ?? {} },
          ctx,
        ),
      );
    }
    // A table set without the ledger (tests, or a route kind without status) still shows.
    for (const route of table.routes) {
      if (seen.has(route.key)) continue;
      routes.push(
        routeEntry(
          route.key,
          route.namespace,
          route.name,
          route,
          [],
          { live: live.get(route.key), rejections: rejectionsByRoute.get(route.key) ?? {} },
          ctx,
        ),
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
}
