/**
 * Draining: connections whose endpoint disappeared or turned terminating are
 * closed with the route's `drain.closeCode`, spread evenly over `drain.window`
 * (1,000 connections over 10 s ≈ 100 closes a second, not a burst that turns
 * into a reconnect storm). Shutdown drains everything the same way with 1001.
 */
import type { RoutingTable } from "../routing/table.js";
import type { ConnectionRegistry, LiveConnection } from "./connections.js";

/** Gives each connection a close time, evenly spaced over `windowMs` from `now`. */
export function spread(
  connections: readonly LiveConnection[],
  windowMs: number,
  now: number,
  code: number,
): void {
  const n = connections.length;
  connections.forEach((c, i) => {
    c.drainAt = now + (windowMs * (i + 1)) / n;
    c.drainCode = code;
  });
}

/**
 * After a table swap: schedules drains for connections whose endpoint left its
 * backend or is terminating, and cancels drains whose endpoint came back.
 * A connection whose backend or route was removed from the configuration is not
 * drained: a swap never closes connections by itself, only endpoints leaving do.
 * Returns the number of connections newly scheduled.
 */
export function planEndpointDrains(
  connections: ConnectionRegistry,
  table: RoutingTable,
  now: number,
): number {
  const serving = new Set<string>();
  const backends = new Set<string>();
  const routes = new Map(table.routes.map((r) => [`${r.namespace}/${r.name}`, r]));
  for (const route of table.routes) {
    for (const rule of route.rules) {
      for (const backend of rule.backends) {
        backends.add(backend.key);
        for (const e of backend.endpoints) if (!e.terminating) serving.add(e.id);
      }
    }
  }
  const byWindow = new Map<string, LiveConnection[]>();
  for (const c of connections) {
    const route = routes.get(`${c.labels.namespace}/${c.labels.route}`);
    if (route) c.settings = route.settings;
    if (c.drainAt !== undefined && c.drainCode !== 1001 && serving.has(c.labels.endpoint)) {
      c.drainAt = undefined; // the endpoint is back
      continue;
    }
    if (c.drainAt !== undefined || !backends.has(c.labels.backend) || serving.has(c.labels.endpoint))
      continue;
    const key = `${c.settings.drain.windowMs} ${c.settings.drain.closeCode}`;
    const group = byWindow.get(key) ?? [];
    group.push(c);
    byWindow.set(key, group);
  }
  let scheduled = 0;
  for (const group of byWindow.values()) {
    const { windowMs, closeCode } = (group[0] as LiveConnection).settings.drain;
    spread(group, windowMs, now, closeCode);
    scheduled += group.length;
  }
  return scheduled;
}
