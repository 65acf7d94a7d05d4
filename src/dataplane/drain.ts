/**
 * Draining: connections whose endpoint disappeared or turned terminating are
 * closed with the route's `drain.closeCode`, spread evenly over `drain.window`
 * (1,000 connections over 10 s ≈ 100 closes a second, not a burst that turns
 * into a reconnect storm). Shutdown drains everything the same way with 1001.
 */
import type { RouteSettings, RoutingTable } from "../routing/table.js";
import type { ConnectionRegistry, DrainReason, LiveConnection } from "./connections.js";

/**
 * Schedules each connection's close for `reason`, evenly spaced over `windowMs` from
 * `now`. Returns how many schedules changed (a connection keeps an earlier drain).
 */
export function spread(
  connections: readonly LiveConnection[],
  windowMs: number,
  now: number,
  reason: DrainReason,
): number {
  const n = connections.length;
  let scheduled = 0;
  connections.forEach((c, i) => {
    if (c.scheduleDrain(now + (windowMs * (i + 1)) / n, reason)) scheduled++;
  });
  return scheduled;
}

/**
 * After a table swap: refreshes each connection's route settings, schedules drains for
 * connections whose endpoint left its backend or is terminating, and cancels endpoint
 * drains whose endpoint came back (a shutdown drain is never cancelled).
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
  // Rules with settings of their own (an HTTPRoute rule's WebSocketPolicy): their connections keep them.
  const ruleSettings = new Map<string, RouteSettings>();
  for (const route of table.routes) {
    for (const rule of route.rules) {
      if (rule.settings) ruleSettings.set(rule.key, rule.settings);
      for (const backend of rule.backends) {
        backends.add(backend.key);
        for (const e of backend.endpoints) if (!e.terminating) serving.add(e.id);
      }
    }
  }
  const byWindow = new Map<string, LiveConnection[]>();
  for (const c of connections) {
    const route = routes.get(`${c.labels.namespace}/${c.labels.route}`);
    if (route) c.refreshSettings((c.ruleKey && ruleSettings.get(c.ruleKey)) || route.settings);
    if (serving.has(c.labels.endpoint)) {
      c.cancelDrain(); // the endpoint is back (or never left)
      continue;
    }
    if (c.drain !== undefined || !backends.has(c.labels.backend)) continue;
    const key = `${c.settings.drain.windowMs} ${c.settings.drain.closeCode}`;
    const group = byWindow.get(key) ?? [];
    group.push(c);
    byWindow.set(key, group);
  }
  let scheduled = 0;
  for (const group of byWindow.values()) {
    scheduled += spread(group, (group[0] as LiveConnection).settings.drain.windowMs, now, "endpoint");
  }
  return scheduled;
}

/**
 * Shutdown: schedules every connection's close with 1001, spread over `windowMs` from
 * `now`; a connection already due to close earlier keeps its time.
 */
export function planShutdownDrain(connections: ConnectionRegistry, windowMs: number, now: number): number {
  const all = [...connections].filter((c) => c.drainAt === undefined || c.drainAt > now + windowMs);
  return spread(all, windowMs, now, "shutdown");
}
