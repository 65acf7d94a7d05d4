/**
 * One data-plane worker thread as the pool sees it: how it is started, and how it is
 * drained at shutdown.
 */
import { existsSync } from "node:fs";
import { Worker } from "node:worker_threads";
import type { FromWorker, ToWorker, WorkerStart } from "./protocol.js";

/**
 * The worker's compiled entry point. From the TypeScript sources (tests) it is the built
 * one in dist/: worker threads run JavaScript, so `npm run build` comes first.
 */
function workerEntry(): URL {
  const sibling = new URL("./worker-main.js", import.meta.url);
  if (existsSync(sibling)) return sibling;
  return new URL("../../dist/workers/worker-main.js", import.meta.url);
}

/** A worker thread in the pool: index `index` holds the current one (a replacement takes its place). */
export interface WorkerSlot {
  readonly index: number;
  readonly worker: Worker;
  /** The generation this worker serves; 0 until its first table. */
  generation: number;
  listening: boolean;
  /** Set while the worker is being replaced or shut down: its exit is expected. */
  exiting: boolean;
  /** Its metrics when its shutdown drain ended: /metrics still counts them after the thread is gone. */
  finalMetrics?: unknown[];
  readonly startedAt: number;
  /** Restarts in a row of workers that died young (the back-off grows with it). */
  readonly attempt: number;
}

/** Starts the thread of worker `start.index`; `attempt` counts the young deaths before it. */
export function startWorkerThread(start: WorkerStart, attempt: number): WorkerSlot {
  const worker = new Worker(workerEntry(), { workerData: start, name: `wsgate-worker-${start.index}` });
  return {
    index: start.index,
    worker,
    generation: 0,
    listening: false,
    exiting: false,
    startedAt: Date.now(),
    attempt,
  };
}

/** How long past its window a worker may take to finish its drain before it is ended. */
const DRAIN_MARGIN_MS = 10_000;

/**
 * Asks one worker to stop accepting and close its connections over `windowMs`; resolves
 * once its thread has ended. The final metrics it sends with `drained` are kept on the
 * slot, so a scrape during the rest of the shutdown still counts them.
 */
export function drainWorker(slot: WorkerSlot, windowMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    slot.exiting = true;
    // A worker that cannot finish its drain is ended after the window and a margin.
    const timer = setTimeout(
      () => void slot.worker.terminate().then(() => resolve()),
      windowMs + DRAIN_MARGIN_MS,
    );
    slot.worker.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    slot.worker.on("message", (m: FromWorker) => {
      if (m.type !== "drained") return;
      slot.finalMetrics = m.metrics;
      void slot.worker.terminate();
    });
    slot.worker.postMessage({ type: "drain", windowMs } satisfies ToWorker);
  });
}
