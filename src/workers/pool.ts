/**
 * The main thread's side of `--workers N`: starts N data-plane worker threads, sends
 * each published table to every one of them, answers for them to the outside (one
 * /metrics, readiness once every worker serves a table, per-worker generations for
 * /debug/config), restarts a worker that dies, and drains them all on shutdown.
 *
 * Ports: the first worker binds the configured addresses (port 0 included) and reports
 * the ports it got; the others bind those same ports with `reusePort`. A restarted worker
 * binds the ports already in use by its siblings.
 */
import { existsSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { Worker } from "node:worker_threads";
import { pino } from "pino";
import { AggregatorRegistry, Counter, Gauge, type Registry } from "prom-client";
import type { ServeConfig } from "../config/config.js";
import { KeySetBroker } from "../dataplane/auth/shared-key-sets.js";
import { channels } from "../dataplane/events.js";
import { CombinedEpisodes } from "../dataplane/rebalance/episodes.js";
import { rebalanceChannels, type RebalanceStateChanged } from "../dataplane/rebalance/events.js";
import type { HealthView } from "../dataplane/balancer.js";
import type { AffinityKey } from "../dataplane/affinity/token.js";
import type { Logger } from "../observability/logger.js";
import type { RoutingTable } from "../routing/table.js";
import { newTicketKeys } from "../tls/server.js";
import type { FromWorker, ToWorker, WorkerStart, WorkerStats } from "./protocol.js";
import {
  SharedEndpointStates,
  SlotAllocator,
  clearWorkerColumn,
  createEndpointMemory,
  type EndpointMemory,
} from "./shared-endpoints.js";
import { clearWorkerLimits, createLimitsMemory, SharedLimits, type LimitsMemory } from "./shared-limits.js";
import { TableEncoder, tableToMessage } from "./table-transfer.js";

/**
 * The worker's compiled entry point. From the TypeScript sources (tests) it is the built
 * one in dist/: worker threads run JavaScript, so `npm run build` comes first.
 */
function workerEntry(): URL {
  const sibling = new URL("./worker-main.js", import.meta.url);
  if (existsSync(sibling)) return sibling;
  return new URL("../../dist/workers/worker-main.js", import.meta.url);
}

/** How long a scrape waits for a worker's numbers before leaving it out. */
const STATS_TIMEOUT_MS = 2_000;

interface Slot {
  readonly index: number;
  worker: Worker;
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

/** A worker that dies sooner than this after its start counts as a crash loop: back off. */
const CRASH_LOOP_MS = 10_000;
/** Delay before the nth restart in a crash loop (n ≥ 1): 250 ms doubling, at most 30 s. */
function restartDelay(attempt: number): number {
  return attempt === 0 ? 0 : Math.min(30_000, 250 * 2 ** (attempt - 1));
}

export interface WorkerPoolOptions {
  readonly config: ServeConfig;
  readonly count: number;
  /** Where worker log lines are written: the main logger's stream, as they are already JSON. */
  readonly logger: Logger;
  /** Active health verdicts (the main thread's prober), copied into shared memory for workers. */
  readonly health: HealthView;
  /** The session affinity key, whose shared memory every worker signs and reads cookies with. */
  readonly affinityKey?: AffinityKey;
}

export class WorkerPool {
  readonly count: number;
  /** Read-only view of every worker's endpoint counts, ejection and health. */
  readonly states: SharedEndpointStates;
  /** Read-only view of the shared limits. */
  readonly limits: SharedLimits;
  readonly #config: ServeConfig;
  readonly #logger: Logger;
  readonly #health: HealthView;
  readonly #affinityKey: AffinityKey | undefined;
  /** One set for every worker (restarted ones too): TLS sessions resume on any worker. */
  readonly #ticketKeys = newTicketKeys();
  readonly #endpoints: EndpointMemory;
  readonly #limitsMemory: LimitsMemory;
  readonly #allocator: SlotAllocator;
  readonly #workers: Slot[] = [];
  readonly #statsWaiters = new Map<number, (stats: WorkerStats & { worker: number }) => void>();
  readonly #unsubscribe: () => void;
  #nextStatsId = 1;
  /** The table in force, for workers that start later (they get it whole). */
  #table: RoutingTable | undefined;
  readonly #encoder = new TableEncoder();
  /** The workers' rebalancing reports, folded into one start and end per route. */
  readonly #episodes = new CombinedEpisodes();
  /** `jwksUri` key sets, fetched here once for every worker. */
  readonly #keySets = new KeySetBroker();
  #ports: { http: number; https: number } | undefined;
  #stopping = false;
  #ready = false;
  #restarts = 0;
  #restartCounter: Counter | undefined;

  constructor(options: WorkerPoolOptions) {
    this.count = options.count;
    this.#config = options.config;
    this.#logger = options.logger;
    this.#health = options.health;
    this.#affinityKey = options.affinityKey;
    this.#endpoints = createEndpointMemory(options.count);
    this.#limitsMemory = createLimitsMemory(options.count);
    this.#allocator = new SlotAllocator(this.#endpoints);
    this.states = new SharedEndpointStates(this.#endpoints, -1);
    this.limits = new SharedLimits(this.#limitsMemory, -1);
    // Health verdicts change on the main thread (the prober runs here): copy each one.
    const onHealth = (): void => this.#syncHealth();
    channels.endpointHealth.subscribe(onHealth);
    this.#unsubscribe = () => channels.endpointHealth.unsubscribe(onHealth);
  }

  /** Restarts so far (`wsgate_worker_restarts_total`). */
  get restarts(): number {
    return this.#restarts;
  }

  /** Starts every worker; resolves with the traffic addresses once all of them listen. */
  async start(): Promise<{ http: AddressInfo; https: AddressInfo }> {
    const { httpListen, httpsListen } = this.#config;
    const first = await this.#spawn(0, httpListen, httpsListen);
    this.#ports = first;
    await Promise.all(
      Array.from({ length: this.count - 1 }, (_, i) =>
        this.#spawn(i + 1, { ...httpListen, port: first.http }, { ...httpsListen, port: first.https }),
      ),
    );
    const family = (host: string): string => (host.includes(":") ? "IPv6" : "IPv4");
    return {
      http: { address: httpListen.host, family: family(httpListen.host), port: first.http },
      https: { address: httpsListen.host, family: family(httpsListen.host), port: first.https },
    };
  }

  /** Sends a published table (with endpoint slots) to every worker. */
  publish(table: RoutingTable): void {
    const ids = new Set<string>();
    for (const route of table.routes)
      for (const rule of route.rules)
        for (const backend of rule.backends) for (const e of backend.endpoints) ids.add(e.id);
    const unassigned = this.#allocator.assign(ids, table.generation);
    if (unassigned.length > 0)
      this.#logger.warn(
        { event: "endpoint_slots_full", endpoints: unassigned.length },
        "shared endpoint memory is full: these endpoints are balanced per worker",
      );
    this.#allocator.collect(this.#oldestServed());
    this.states.setSlots(this.#allocator.slots);
    this.#syncHealth();
    this.#table = table;
    const message: ToWorker = {
      type: "table",
      table: this.#encoder.encode(table),
      slots: [...this.#allocator.slots],
    };
    for (const slot of this.#workers) slot.worker.postMessage(message);
  }

  /**
   * Ready once every worker serves a table (generation > 0). It stays ready while a dead
   * worker is replaced: the others keep serving, and a replacement binds its ports only
   * after it installed the table in force.
   */
  ready(): boolean {
    return this.#ready;
  }

  /** Wakes what waits for workers, and latches readiness once all of them serve. */
  #progress(): void {
    this.#ready ||=
      this.#workers.length === this.count && this.#workers.every((w) => w.listening && w.generation > 0);
    for (const wake of this.#generationWaiters.splice(0)) wake();
  }

  /** For /debug/config: the generation each worker serves and its established connections. */
  view(): { worker: number; threadId: number; generation: number; connections: number }[] {
    return this.#workers.map((w) => ({
      worker: w.index,
      threadId: w.worker.threadId,
      generation: w.generation,
      connections: Atomics.load(this.#endpoints.connections, w.index),
    }));
  }

  /** Established connections over every worker. */
  get connections(): number {
    let sum = 0;
    for (let w = 0; w < this.count; w++) sum += Atomics.load(this.#endpoints.connections, w);
    return sum;
  }

  /**
   * What /metrics serves: the main registry (process metrics, table generation, compile
   * times, watch restarts, backend health) and every worker's data-plane metrics, summed
   * under the same names, plus `wsgate_worker_connections_active{worker}` and
   * `wsgate_worker_restarts_total`.
   */
  metricsSource(main: Registry): Pick<Registry, "metrics" | "contentType"> {
    const perWorker = new Gauge({
      name: "wsgate_worker_connections_active",
      help: "Established WebSocket connections per data-plane worker thread",
      labelNames: ["worker"],
      registers: [main],
    });
    this.#restartCounter = new Counter({
      name: "wsgate_worker_restarts_total",
      help: "Data-plane worker threads restarted after they died (their connections were lost)",
      registers: [main],
    });
    this.#restartCounter.inc(this.#restarts);
    return {
      contentType: main.contentType,
      metrics: async () => {
        const stats = await this.stats();
        perWorker.reset();
        for (const w of this.view()) perWorker.set({ worker: String(w.worker) }, w.connections);
        const all = [await main.getMetricsAsJSON(), ...stats.map((s) => s.metrics)];
        return AggregatorRegistry.aggregate(all).metrics();
      },
    };
  }

  /** Every worker's metrics and counts; a worker that does not answer in time is left out. */
  async stats(): Promise<(WorkerStats & { worker: number })[]> {
    const answers = await Promise.all(
      this.#workers.map(
        (slot) =>
          new Promise<(WorkerStats & { worker: number }) | undefined>((resolve) => {
            if (slot.finalMetrics) {
              // Drained during shutdown: a scrape must not see its counters fall to nothing.
              resolve({
                worker: slot.index,
                metrics: slot.finalMetrics,
                connections: 0,
                generation: slot.generation,
              });
              return;
            }
            const id = this.#nextStatsId++;
            const timer = setTimeout(() => {
              this.#statsWaiters.delete(id);
              resolve(undefined);
            }, STATS_TIMEOUT_MS);
            this.#statsWaiters.set(id, (stats) => {
              clearTimeout(timer);
              resolve(stats);
            });
            slot.worker.postMessage({ type: "stats", id } satisfies ToWorker);
          }),
      ),
    );
    return answers.filter((a) => a !== undefined);
  }

  /**
   * Shutdown: every worker stops accepting and closes its connections with 1001 spread
   * over `windowMs` — together one cohort at one rate — then the threads end.
   */
  async drain(windowMs: number): Promise<void> {
    this.#stopping = true;
    await Promise.all(
      this.#workers.map(
        (slot) =>
          new Promise<void>((resolve) => {
            slot.exiting = true;
            // A worker that cannot finish its drain is ended after the window and a margin.
            const timer = setTimeout(
              () => void slot.worker.terminate().then(() => resolve()),
              windowMs + 10_000,
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
          }),
      ),
    );
    this.#unsubscribe();
  }

  /** Ends a worker abruptly, as a crash would (tests: the pool must restart it). */
  kill(index: number): Promise<number> {
    const slot = this.#workers[index];
    if (!slot) throw new Error(`no worker ${index}`);
    return slot.worker.terminate();
  }

  /** Resolves once every worker listens and serves at least `generation` (tests, benchmarks). */
  async waitForGeneration(generation: number): Promise<void> {
    while (!(
      this.#workers.length === this.count &&
      this.#workers.every((w) => w.listening && w.generation >= generation)
    )) {
      await new Promise<void>((resolve) => this.#generationWaiters.push(resolve));
    }
  }

  readonly #generationWaiters: (() => void)[] = [];

  #oldestServed(): number {
    return this.#workers.reduce((min, w) => Math.min(min, w.generation), Infinity);
  }

  #syncHealth(): void {
    for (const [id, slot] of this.#allocator.slots) {
      Atomics.store(this.#endpoints.unhealthy, slot, this.#health.isHealthy(id) ? 0 : 1);
    }
  }

  /** Starts worker `index` and resolves with the ports it listens on. */
  #spawn(
    index: number,
    http: { host: string; port: number },
    https: { host: string; port: number },
    attempt = 0,
  ): Promise<{ http: number; https: number }> {
    const start: WorkerStart = {
      index,
      config: this.#config,
      logLevel: this.#logger.level,
      http,
      https,
      endpoints: this.#endpoints,
      limits: this.#limitsMemory,
      ...(this.#affinityKey ? { affinityKey: this.#affinityKey.memory } : {}),
      ticketKeys: this.#ticketKeys,
      ...(this.#table
        ? { table: { table: tableToMessage(this.#table), slots: [...this.#allocator.slots] } }
        : {}),
    };
    const worker = new Worker(workerEntry(), { workerData: start, name: `wsgate-worker-${index}` });
    const slot: Slot = {
      index,
      worker,
      generation: 0,
      listening: false,
      exiting: false,
      startedAt: Date.now(),
      attempt,
    };
    this.#workers[index] = slot;
    const stream = (this.#logger as unknown as Record<symbol, { write(s: string): void } | undefined>)[
      pino.symbols.streamSym
    ];
    return new Promise((resolve, reject) => {
      worker.on("message", (m: FromWorker) => {
        switch (m.type) {
          case "listening":
            slot.listening = true;
            this.#progress();
            resolve({ http: m.http, https: m.https });
            return;
          case "failed":
            slot.exiting = true;
            void worker.terminate();
            reject(new Error(`worker ${index} could not listen: ${m.error}`));
            return;
          case "served":
            slot.generation = m.generation;
            this.#progress();
            return;
          case "logs":
            if (stream) stream.write(m.lines);
            else process.stdout.write(m.lines);
            return;
          case "rebalance": {
            // For cluster mode's Kubernetes Events, which the main thread records (the worker
            // logged its own): one start and one end per route, whichever workers took part.
            const routeEvent = this.#episodes.accept(index, m.event as RebalanceStateChanged);
            if (routeEvent && rebalanceChannels.state.hasSubscribers)
              rebalanceChannels.state.publish({ ...routeEvent, worker: index });
            return;
          }
          case "jwks":
            void this.#keySets.answer(m).then((answer) => {
              // A worker that exited meanwhile has no one to answer: its handshakes are gone.
              if (this.#workers[index] === slot && !slot.exiting)
                worker.postMessage({ type: "jwks", id: m.id, answer } satisfies ToWorker);
            });
            return;
          case "stats": {
            const waiter = this.#statsWaiters.get(m.id);
            this.#statsWaiters.delete(m.id);
            waiter?.({
              worker: index,
              metrics: m.metrics,
              connections: m.connections,
              generation: m.generation,
              ...(m.status === undefined ? {} : { status: m.status }),
            });
            return;
          }
        }
      });
      worker.on("error", (err) => {
        this.#logger.error({ event: "worker_error", worker: index, err }, "data-plane worker failed");
        // Before it listened, the start fails and its caller retries: its exit is expected.
        if (!slot.listening) {
          slot.exiting = true;
          reject(err);
        }
      });
      worker.on("exit", (code) => this.#onExit(slot, code));
    });
  }

  #onExit(slot: Slot, code: number): void {
    if (this.#stopping || slot.exiting || this.#workers[slot.index] !== slot) return;
    // Until its replacement serves, this worker serves nothing (/debug/config shows generation 0).
    slot.listening = false;
    slot.generation = 0;
    // Its connections died with it: forget what it counted, then start a replacement on the same ports.
    clearWorkerColumn(this.#endpoints, slot.index);
    clearWorkerLimits(this.#limitsMemory, slot.index);
    for (const ended of this.#episodes.forget(slot.index))
      if (rebalanceChannels.state.hasSubscribers)
        rebalanceChannels.state.publish({ ...ended, worker: slot.index });
    this.#restarts++;
    this.#restartCounter?.inc();
    this.#logger.error(
      { event: "worker_restarted", worker: slot.index, exitCode: code, restarts: this.#restarts },
      "data-plane worker died; its connections are lost; restarting it",
    );
    this.#restart(slot.index, Date.now() - slot.startedAt < CRASH_LOOP_MS ? slot.attempt + 1 : 0);
  }

  /** Starts a replacement for worker `index` on the ports in use, after the crash-loop back-off. */
  #restart(index: number, attempt: number): void {
    const ports = this.#ports;
    if (!ports) return;
    const { httpListen, httpsListen } = this.#config;
    const timer = setTimeout(() => {
      if (this.#stopping) return;
      this.#spawn(
        index,
        { ...httpListen, port: ports.http },
        { ...httpsListen, port: ports.https },
        attempt,
      ).catch((err: Error) => {
        this.#logger.error({ event: "worker_restart_failed", worker: index, err }, "worker restart failed");
        this.#restart(index, attempt + 1);
      });
    }, restartDelay(attempt));
    timer.unref();
  }
}
