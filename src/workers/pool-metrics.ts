/**
 * One /metrics for a pool of workers: the main registry and every worker's data-plane
 * metrics summed under the same names, so a scrape sees one gateway, not N threads.
 */
import { AggregatorRegistry, Counter, Gauge, type Registry } from "prom-client";
import type { WorkerStatsAnswer } from "./worker-stats.js";

/** What the metrics need of the pool. */
export interface MetricsOfPool {
  stats(): Promise<WorkerStatsAnswer[]>;
  view(): readonly { readonly worker: number; readonly connections: number }[];
  readonly restarts: number;
}

/**
 * What /metrics serves: the main registry (process metrics, table generation, compile
 * times, watch restarts, backend health) and every worker's data-plane metrics, summed
 * under the same names, plus `wsgate_worker_connections_active{worker}` and
 * `wsgate_worker_restarts_total` (returned: the pool counts each restart on it).
 */
export function poolMetricsSource(
  main: Registry,
  pool: MetricsOfPool,
): { source: Pick<Registry, "metrics" | "contentType">; restartCounter: Counter } {
  const perWorker = new Gauge({
    name: "wsgate_worker_connections_active",
    help: "Established WebSocket connections per data-plane worker thread",
    labelNames: ["worker"],
    registers: [main],
  });
  const restartCounter = new Counter({
    name: "wsgate_worker_restarts_total",
    help: "Data-plane worker threads restarted after they died (their connections were lost)",
    registers: [main],
  });
  restartCounter.inc(pool.restarts);
  const source = {
    contentType: main.contentType,
    metrics: async (): Promise<string> => {
      const stats = await pool.stats();
      perWorker.reset();
      for (const w of pool.view()) perWorker.set({ worker: String(w.worker) }, w.connections);
      const all = [await main.getMetricsAsJSON(), ...stats.map((s) => s.metrics)];
      return AggregatorRegistry.aggregate(all).metrics();
    },
  };
  return { source, restartCounter };
}
