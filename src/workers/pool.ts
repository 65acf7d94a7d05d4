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
import type { AddressInfo } from "node:net";
import type { Counter, Registry } from "prom-client";
import type { ServeConfig } from "../config/config.js";
import { KeySetBroker } from "../dataplane/auth/shared-key-sets.js";
import { channels } from "../dataplane/events.js";
import { CombinedEpisodes } from "../dataplane/rebalance/episodes.js";
import type { HealthView } from "../dataplane/balancer.js";
import type { AffinityKey } from "../dataplane/affinity/token.js";
import type { Logger } from "../observability/logger.js";
import type { RoutingTable } from "../routing/table.js";
import { newTicketKeys } from "../tls/server.js";
import { poolMetricsSource } from "./pool-metrics.js";
import type { FromWorker, ToWorker, WorkerStart } from "./protocol.js";
import { nextRestartAttempt, restartDelay } from "./restart-policy.js";
import {
  SharedEndpointStates,
  SlotAllocator,
  clearWorkerColumn,
  createEndpointMemory,
  type EndpointMemory,
} from "./shared-endpoints.js";
import { clearWorkerLimits, createLimitsMemory, SharedLimits, type LimitsMemory } from "./shared-limits.js";
import { TableEncoder, tableToMessage } from "./table-transfer.js";
import {
  endRebalancingOf,
  onWorkerMessage,
  writeWorkerLogs,
  type WorkerMessageContext,
} from "./worker-messages.js";
import { drainWorker, startWorkerThread, type WorkerSlot } from "./worker-slot.js";
import { WorkerStatsRequests, type WorkerStatsAnswer } from "./worker-stats.js";

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
  readonly #workers: WorkerSlot[] = [];
  readonly #stats = new WorkerStatsRequests();
  readonly #unsubscribe: () => void;
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
   * What /metrics serves: the main registry and every worker's data-plane metrics summed
   * under the same names (pool-metrics.ts).
   */
  metricsSource(main: Registry): Pick<Registry, "metrics" | "contentType"> {
    const { source, restartCounter } = poolMetricsSource(main, this);
    this.#restartCounter = restartCounter;
    return source;
  }

  /** Every worker's metrics and counts; a worker that does not answer in time is left out. */
  stats(): Promise<WorkerStatsAnswer[]> {
    return this.#stats.all(this.#workers);
  }

  /**
   * Shutdown: every worker stops accepting and closes its connections with 1001 spread
   * over `windowMs` — together one cohort at one rate — then the threads end.
   */
  async drain(windowMs: number): Promise<void> {
    this.#stopping = true;
    await Promise.all(this.#workers.map((slot) => drainWorker(slot, windowMs)));
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

  /** What the workers' messages reach (worker-messages.ts). */
  readonly #messageContext: WorkerMessageContext = {
    stats: this.#stats,
    episodes: this.#episodes,
    keySets: this.#keySets,
    writeLogs: (lines) => writeWorkerLogs(this.#logger, lines),
    progress: () => this.#progress(),
    isCurrent: (slot) => this.#workers[slot.index] === slot && !slot.exiting,
  };

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
    const slot = startWorkerThread(start, attempt);
    const worker = slot.worker;
    this.#workers[index] = slot;
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
          default:
            onWorkerMessage(slot, m, this.#messageContext);
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

  #onExit(slot: WorkerSlot, code: number): void {
    if (this.#stopping || slot.exiting || this.#workers[slot.index] !== slot) return;
    // Until its replacement serves, this worker serves nothing (/debug/config shows generation 0).
    slot.listening = false;
    slot.generation = 0;
    // Its connections died with it: forget what it counted, then start a replacement on the same ports.
    clearWorkerColumn(this.#endpoints, slot.index);
    clearWorkerLimits(this.#limitsMemory, slot.index);
    endRebalancingOf(this.#episodes, slot.index);
    this.#restarts++;
    this.#restartCounter?.inc();
    this.#logger.error(
      { event: "worker_restarted", worker: slot.index, exitCode: code, restarts: this.#restarts },
      "data-plane worker died; its connections are lost; restarting it",
    );
    this.#restart(slot.index, nextRestartAttempt(slot, Date.now()));
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
