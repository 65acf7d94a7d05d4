/**
 * What the main thread does with a running worker's messages: its served generation, its
 * log lines, its rebalancing reports, its key set questions and its stats answers. (The
 * start-up messages, `listening` and `failed`, settle the worker's start in pool.ts.)
 */
import { pino } from "pino";
import type { KeySetBroker } from "../dataplane/auth/shared-key-sets.js";
import type { CombinedEpisodes } from "../dataplane/rebalance/episodes.js";
import { rebalanceChannels, type RebalanceStateChanged } from "../dataplane/rebalance/events.js";
import type { Logger } from "../observability/logger.js";
import type { FromWorker, ToWorker } from "./protocol.js";
import type { WorkerSlot } from "./worker-slot.js";
import type { WorkerStatsRequests } from "./worker-stats.js";

/** A running worker's messages: everything but the start-up ones. */
export type RunningWorkerMessage = Exclude<FromWorker, { type: "listening" } | { type: "failed" }>;

/** The pool's parts a worker's messages reach. */
export interface WorkerMessageContext {
  readonly stats: WorkerStatsRequests;
  /** The workers' rebalancing reports, folded into one start and end per route. */
  readonly episodes: CombinedEpisodes;
  /** `jwksUri` key sets, fetched on the main thread once for every worker. */
  readonly keySets: KeySetBroker;
  /** Writes a worker's log lines (already JSON) where the main logger writes. */
  writeLogs(lines: string): void;
  /** A worker's listening state or generation changed: wake what waits, latch readiness. */
  progress(): void;
  /** Whether `slot` is still the pool's worker at its index (not replaced, not exiting). */
  isCurrent(slot: WorkerSlot): boolean;
}

/** Acts on one message of worker `slot`. */
export function onWorkerMessage(slot: WorkerSlot, m: RunningWorkerMessage, ctx: WorkerMessageContext): void {
  switch (m.type) {
    case "served":
      slot.generation = m.generation;
      ctx.progress();
      return;
    case "logs":
      ctx.writeLogs(m.lines);
      return;
    case "rebalance":
      // For cluster mode's Kubernetes Events, which the main thread records (the worker
      // logged its own): one start and one end per route, whichever workers took part.
      publishRouteEvent(ctx.episodes.accept(slot.index, m.event as RebalanceStateChanged), slot.index);
      return;
    case "jwks":
      void ctx.keySets.answer(m).then((answer) => {
        // A worker that exited meanwhile has no one to answer: its handshakes are gone.
        if (ctx.isCurrent(slot))
          slot.worker.postMessage({ type: "jwks", id: m.id, answer } satisfies ToWorker);
      });
      return;
    case "stats":
      ctx.stats.answer(slot.index, m);
      return;
    case "drained":
      // drainWorker (worker-slot.ts) listens for it during shutdown.
      return;
  }
}

/** A dead worker's rebalancing ends with it: the routes whose episode it held open end now. */
export function endRebalancingOf(episodes: CombinedEpisodes, worker: number): void {
  for (const ended of episodes.forget(worker)) publishRouteEvent(ended, worker);
}

function publishRouteEvent(event: RebalanceStateChanged | undefined, worker: number): void {
  if (event && rebalanceChannels.state.hasSubscribers) rebalanceChannels.state.publish({ ...event, worker });
}

/** Worker log lines are already JSON: they go straight to the main logger's stream. */
export function writeWorkerLogs(logger: Logger, lines: string): void {
  const stream = (logger as unknown as Record<symbol, { write(s: string): void } | undefined>)[
    pino.symbols.streamSym
  ];
  if (stream) stream.write(lines);
  else process.stdout.write(lines);
}
