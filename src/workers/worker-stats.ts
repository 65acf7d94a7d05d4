/**
 * Asks workers for their numbers (metrics, connections, generation, their part of /status)
 * and matches each answer to its question: one scrape may be in flight while another starts.
 */
import type { FromWorker, ToWorker, WorkerStats } from "./protocol.js";

/** One worker's numbers, with which worker gave them. */
export type WorkerStatsAnswer = WorkerStats & { readonly worker: number };

/** What a stats question needs of a worker: where to ask, and what it left when drained. */
export interface StatsTarget {
  readonly index: number;
  readonly worker: { postMessage(message: ToWorker): void };
  readonly generation: number;
  readonly finalMetrics?: unknown[];
}

/** How long a scrape waits for a worker's numbers before leaving it out. */
const STATS_TIMEOUT_MS = 2_000;

/** The questions in flight to the workers, by id. */
export class WorkerStatsRequests {
  readonly #waiters = new Map<number, (stats: WorkerStatsAnswer) => void>();
  readonly #timeoutMs: number;
  #nextId = 1;

  constructor(timeoutMs = STATS_TIMEOUT_MS) {
    this.#timeoutMs = timeoutMs;
  }

  /** Every target's numbers; a worker that does not answer in time is left out. */
  async all(targets: readonly StatsTarget[]): Promise<WorkerStatsAnswer[]> {
    const answers = await Promise.all(targets.map((t) => this.ask(t)));
    return answers.filter((a) => a !== undefined);
  }

  /** One worker's numbers, or undefined if it does not answer within the timeout. */
  ask(target: StatsTarget): Promise<WorkerStatsAnswer | undefined> {
    if (target.finalMetrics) {
      // Drained during shutdown: a scrape must not see its counters fall to nothing.
      return Promise.resolve({
        worker: target.index,
        metrics: target.finalMetrics,
        connections: 0,
        generation: target.generation,
      });
    }
    return new Promise((resolve) => {
      const id = this.#nextId++;
      const timer = setTimeout(() => {
        this.#waiters.delete(id);
        resolve(undefined);
      }, this.#timeoutMs);
      this.#waiters.set(id, (stats) => {
        clearTimeout(timer);
        resolve(stats);
      });
      target.worker.postMessage({ type: "stats", id });
    });
  }

  /** A worker's `stats` message: settles the question it answers (a late answer is dropped). */
  answer(worker: number, m: Extract<FromWorker, { type: "stats" }>): void {
    const waiter = this.#waiters.get(m.id);
    this.#waiters.delete(m.id);
    waiter?.({
      worker,
      metrics: m.metrics,
      connections: m.connections,
      generation: m.generation,
      ...(m.status === undefined ? {} : { status: m.status }),
    });
  }
}
