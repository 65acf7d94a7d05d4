/**
 * `/status` with `--workers`: every worker thread runs its own {@link StatusModel} over
 * its connections; the main thread's view (conditions, health, control plane) gets their
 * parts added in.
 */
import type { BackendStatus, EndpointStatus, RouteStatusEntry, StatusView } from "./status.js";
import { topClients } from "./status-route.js";

/**
 * With `--workers`, connections live in the worker threads: each runs its own
 * {@link StatusModel} and `main` (the main thread's view: conditions, health, control
 * plane) gets their connections, opens, closes, drains and rejections added in.
 */
export function mergeWorkerViews(main: StatusView, workers: readonly StatusView[]): StatusView {
  const routes = main.routes.map((route) => {
    const parts = workers
      .map((w) => w.routes.find((r) => r.namespace === route.namespace && r.name === route.name))
      .filter((r): r is RouteStatusEntry => r !== undefined);
    if (parts.length === 0) return route;
    const backends = new Map<string, Map<string, EndpointStatus>>();
    for (const b of route.backends) backends.set(b.backend, new Map(b.endpoints.map((e) => [e.id, e])));
    // The main thread's endpoints carry health; their counts start at the workers' sums.
    const sums = new Map<
      string,
      { connections: number; opened: number; closed: number; drain?: EndpointStatus["drain"] }
    >();
    for (const part of parts) {
      for (const b of part.backends) {
        for (const e of b.endpoints) {
          const key = `${b.backend}\0${e.id}`;
          const s = sums.get(key) ?? { connections: 0, opened: 0, closed: 0 };
          s.connections += e.connections;
          s.opened += e.openedLastMinute;
          s.closed += e.closedLastMinute;
          if (e.drain) {
            s.drain = {
              connections: (s.drain?.connections ?? 0) + e.drain.connections,
              doneInMs: Math.max(s.drain?.doneInMs ?? 0, e.drain.doneInMs),
            };
          }
          sums.set(key, s);
          let endpoints = backends.get(b.backend);
          if (!endpoints) backends.set(b.backend, (endpoints = new Map()));
          // An endpoint that left the table but still holds connections: draining.
          if (!endpoints.has(e.id)) endpoints.set(e.id, { ...e, state: "draining", connections: 0 });
        }
      }
    }
    let connections = 0;
    let draining = 0;
    let ready = 0;
    let all = 0;
    const backendViews: BackendStatus[] = [...backends].map(([backend, endpoints]) => {
      let backendConnections = 0;
      let healthy = 0;
      const merged = [...endpoints.values()].map((e) => {
        const { drain: _stale, ...rest } = e;
        const s = sums.get(`${backend}\0${e.id}`);
        backendConnections += s?.connections ?? 0;
        draining += s?.drain?.connections ?? 0;
        all++;
        if (e.state === "ready") {
          healthy++;
          ready++;
        }
        return {
          ...rest,
          connections: s?.connections ?? 0,
          openedLastMinute: s?.opened ?? 0,
          closedLastMinute: s?.closed ?? 0,
          ...(s?.drain ? { drain: s.drain } : {}),
        };
      });
      connections += backendConnections;
      return { backend, connections: backendConnections, healthy, endpoints: merged };
    });
    const rejections: Record<string, number> = {};
    for (const part of parts) {
      for (const [reason, n] of Object.entries(part.rejections))
        rejections[reason] = (rejections[reason] ?? 0) + n;
    }
    const clients = new Map<string, number>();
    for (const part of parts)
      for (const c of part.clients ?? [])
        clients.set(c.address, (clients.get(c.address) ?? 0) + c.connections);
    const perEndpoint = ready > 0 ? ready : all;
    return {
      ...route,
      connections,
      meanPerEndpoint: perEndpoint > 0 ? Number((connections / perEndpoint).toFixed(2)) : 0,
      draining,
      backends: backendViews,
      rejections,
      ...(route.clients ? { clients: topClients(clients) } : {}),
    };
  });
  const rejections = new Map<string, { reason: string; route: string; count: number }>();
  for (const view of workers) {
    for (const r of view.rejections) {
      const key = `${r.route}\0${r.reason}`;
      const total = rejections.get(key);
      if (total) total.count += r.count;
      else rejections.set(key, { ...r });
    }
  }
  return {
    ...main,
    connections: workers.reduce((n, w) => n + w.connections, 0),
    routes,
    rejections: [...rejections.values()].sort(
      (a, b) => b.count - a.count || a.reason.localeCompare(b.reason),
    ),
  };
}
