/**
 * One route's entry of the status view: its hosts and paths from the serving table, its
 * backends and endpoints with their state, and the live connections counted onto them —
 * including endpoints that left the table but still hold connections (draining).
 */
import type { Condition } from "../api/route.js";
import type { EndpointHealthView } from "../dataplane/health.js";
import type { Endpoint, Route } from "../routing/table.js";
import type { RollingCounts } from "./rolling-counts.js";
import type {
  BackendStatus,
  EndpointState,
  EndpointStatus,
  RouteStatusEntry,
  StatusConnection,
  StatusSources,
} from "./status-view.js";

/** Client addresses listed per route with `--status-show-clients`. */
export const CLIENTS_SHOWN = 20;

/** The {@link CLIENTS_SHOWN} addresses with the most connections (ties by address), from `address → connections`. */
export function topClients(
  clients: ReadonlyMap<string, number>,
): { readonly address: string; readonly connections: number }[] {
  return [...clients]
    .sort(([a, x], [b, y]) => y - x || a.localeCompare(b))
    .slice(0, CLIENTS_SHOWN)
    .map(([address, connections]) => ({ address, connections }));
}

/** The live connections of one route on one endpoint. */
export interface LiveTally {
  readonly backend: string;
  connections: number;
  draining: number;
  drainDoneAt: number;
  readonly clients: Map<string, number>;
}

/**
 * The live connections tallied by route (`ns/route`) and endpoint id, in one pass; client
 * addresses are counted only when they will be shown.
 */
export function liveByRoute(
  connections: Iterable<StatusConnection>,
  showClients: boolean,
  now: number,
): Map<string, Map<string, LiveTally>> {
  const byRoute = new Map<string, Map<string, LiveTally>>();
  for (const c of connections) {
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
    if (showClients) tally.clients.set(c.labels.client, (tally.clients.get(c.labels.client) ?? 0) + 1);
  }
  return byRoute;
}

/** What every route's entry of one view is built from. */
export interface RouteEntryContext {
  /** Active health check results by endpoint id. */
  readonly probes: ReadonlyMap<string, EndpointHealthView>;
  /** Passive ejection (failed connects). */
  readonly endpoints: StatusSources["endpoints"];
  /** Opens and closes of the last minute, keyed `ns/route\0endpoint`. */
  readonly opened: RollingCounts;
  readonly closed: RollingCounts;
  readonly showClients: boolean;
  readonly now: number;
}

/** The route's own inputs: its live connections by endpoint and its rejections by reason. */
export interface RouteEntryInputs {
  readonly live: Map<string, LiveTally> | undefined;
  readonly rejections: Record<string, number>;
}

/** The state shown for an endpoint of the table: why it takes new connections or not. */
function endpointState(
  e: Endpoint,
  probe: EndpointHealthView | undefined,
  endpoints: RouteEntryContext["endpoints"],
): EndpointState {
  if (e.terminating) return "draining";
  if (!e.ready) return "not_ready";
  if (endpoints.isEjected(e.id)) return "ejected";
  if (probe && !probe.healthy) return "probe_failed";
  return "ready";
}

/**
 * The entry of route `key` (`ns/name`): `route` is its compiled form when it is in the
 * serving table (undefined: claimed but not served), `conditions` its status.
 */
export function routeEntry(
  key: string,
  namespace: string,
  name: string,
  route: Route | undefined,
  conditions: readonly Condition[],
  inputs: RouteEntryInputs,
  ctx: RouteEntryContext,
): RouteStatusEntry {
  const live = inputs.live ?? new Map<string, LiveTally>();
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
          state: endpointState(e, probe, ctx.endpoints),
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
        openedLastMinute: ctx.opened.total(`${key}\0${e.id}`),
        closedLastMinute: ctx.closed.total(`${key}\0${e.id}`),
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
    rejections: inputs.rejections,
    ...(ctx.showClients ? { clients: topClients(clients) } : {}),
  };
}
