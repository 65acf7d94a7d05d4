/**
 * Endpoint state shared by every data-plane worker: live connection counts (so
 * least-connections is global, not per thread), passive ejection and active health.
 *
 * One `SharedArrayBuffer` holds a slot per endpoint. The main thread assigns slots
 * ({@link SlotAllocator}) and sends the `endpoint id → slot` map with every table; a slot
 * is kept across table swaps for as long as its endpoint is in the table or still has
 * connections. Connection counts have one column per worker, so when a worker dies the
 * main thread zeroes its column and exactly its connections stop being counted.
 */
import {
  EndpointStates,
  type EjectionPolicy,
  type EndpointView,
  DEFAULT_EJECTION,
} from "../dataplane/endpoint-state.js";
import type { HealthView } from "../dataplane/balancer.js";
import { channels, type EndpointEjected } from "../dataplane/events.js";

/** The shared memory of endpoint state; structured-cloned to workers (the buffers are shared, not copied). */
export interface EndpointMemory {
  readonly capacity: number;
  readonly workers: number;
  /** `active[slot * workers + worker]`. */
  readonly active: Int32Array;
  readonly failures: Int32Array;
  /** Epoch milliseconds until which the endpoint is passively ejected. */
  readonly ejectedUntil: BigInt64Array;
  /** 1 when active health checks (main thread) failed the endpoint. */
  readonly unhealthy: Int32Array;
  /** Established connections per worker (`wsgate_worker_connections_active`, /debug/config). */
  readonly connections: Int32Array;
}

/** Allocates the shared endpoint memory for `workers` workers and `capacity` endpoints. */
export function createEndpointMemory(workers: number, capacity = 65_536): EndpointMemory {
  const shared = (bytes: number) => new SharedArrayBuffer(bytes);
  return {
    capacity,
    workers,
    active: new Int32Array(shared(capacity * workers * 4)),
    failures: new Int32Array(shared(capacity * 4)),
    ejectedUntil: new BigInt64Array(shared(capacity * 8)),
    unhealthy: new Int32Array(shared(capacity * 4)),
    connections: new Int32Array(shared(workers * 4)),
  };
}

/** Live connections counted against a slot, over every worker. */
export function slotActive(memory: EndpointMemory, slot: number): number {
  let sum = 0;
  const base = slot * memory.workers;
  for (let w = 0; w < memory.workers; w++) sum += Atomics.load(memory.active, base + w);
  return sum;
}

/** Forgets what a dead worker counted: its connections died with it. */
export function clearWorkerColumn(memory: EndpointMemory, worker: number): void {
  for (let slot = 0; slot < memory.capacity; slot++)
    Atomics.store(memory.active, slot * memory.workers + worker, 0);
  Atomics.store(memory.connections, worker, 0);
}

/**
 * A worker's view of the shared endpoint state, a drop-in {@link EndpointStates}. An
 * endpoint without a slot (the memory is full) is counted by this worker alone, as
 * with a single thread.
 */
export class SharedEndpointStates extends EndpointStates {
  readonly #memory: EndpointMemory;
  readonly #worker: number;
  readonly #policy: EjectionPolicy;
  readonly #now: () => number;
  #slots: ReadonlyMap<string, number> = new Map();
  /** Slots this worker holds counts on: a release goes where its acquire went, whatever the map says since. */
  readonly #held = new Map<string, { slot: number; n: number }>();

  /** `worker` is the column this thread counts in; -1 for a read-only view (the main thread). */
  constructor(
    memory: EndpointMemory,
    worker: number,
    policy = DEFAULT_EJECTION,
    now: () => number = Date.now,
  ) {
    super(policy, now);
    this.#memory = memory;
    this.#worker = worker;
    this.#policy = policy;
    this.#now = now;
  }

  /** Installs the slot map that came with a table. */
  setSlots(slots: ReadonlyMap<string, number>): void {
    this.#slots = slots;
  }

  #slot(id: string): number | undefined {
    return this.#held.get(id)?.slot ?? this.#slots.get(id);
  }

  override active(id: string): number {
    const slot = this.#slot(id);
    return slot === undefined ? super.active(id) : slotActive(this.#memory, slot);
  }

  override acquire(id: string): void {
    const slot = this.#slot(id);
    if (slot === undefined || this.#worker < 0) return super.acquire(id);
    const held = this.#held.get(id);
    if (held) held.n++;
    else this.#held.set(id, { slot, n: 1 });
    Atomics.add(this.#memory.active, slot * this.#memory.workers + this.#worker, 1);
  }

  override release(id: string): void {
    const held = this.#held.get(id);
    if (!held) return super.release(id);
    if (--held.n === 0) this.#held.delete(id);
    Atomics.sub(this.#memory.active, held.slot * this.#memory.workers + this.#worker, 1);
  }

  override isEjected(id: string): boolean {
    const slot = this.#slot(id);
    if (slot === undefined) return super.isEjected(id);
    // Most endpoints never failed: one Int32 read, no BigInt.
    if (Atomics.load(this.#memory.failures, slot) === 0) return false;
    return Number(Atomics.load(this.#memory.ejectedUntil, slot)) > this.#now();
  }

  override recordFailure(id: string, error: string): void {
    const slot = this.#slot(id);
    if (slot === undefined) return super.recordFailure(id, error);
    const failures = Atomics.add(this.#memory.failures, slot, 1) + 1;
    const ejectedForMs = Math.min(this.#policy.maxMs, this.#policy.baseMs * 2 ** (failures - 1));
    Atomics.store(this.#memory.ejectedUntil, slot, BigInt(Math.round(this.#now() + ejectedForMs)));
    const event: EndpointEjected = { endpoint: id, failures, ejectedForMs, error };
    if (channels.endpointEjected.hasSubscribers) channels.endpointEjected.publish(event);
  }

  override recordSuccess(id: string): void {
    const slot = this.#slot(id);
    if (slot === undefined) return super.recordSuccess(id);
    if (Atomics.load(this.#memory.failures, slot) === 0) return;
    Atomics.store(this.#memory.failures, slot, 0);
    Atomics.store(this.#memory.ejectedUntil, slot, 0n);
  }

  /** Every endpoint with live state, over all workers. */
  override view(): EndpointView[] {
    const views = new Map(super.view().map((v) => [v.id, v]));
    for (const [id, slot] of this.#slots) {
      const active = slotActive(this.#memory, slot);
      const failures = Atomics.load(this.#memory.failures, slot);
      if (active === 0 && failures === 0) continue;
      const ejectedUntil = Number(Atomics.load(this.#memory.ejectedUntil, slot));
      views.set(id, { id, active, failures, ejectedUntil });
    }
    return [...views.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
  }
}

/** Active health verdicts as workers read them: written by the main thread's prober. */
export class SharedHealthView implements HealthView {
  readonly #memory: EndpointMemory;
  readonly #slots: () => ReadonlyMap<string, number>;

  constructor(memory: EndpointMemory, slots: () => ReadonlyMap<string, number>) {
    this.#memory = memory;
    this.#slots = slots;
  }

  isHealthy(endpointId: string): boolean {
    const slot = this.#slots().get(endpointId);
    return slot === undefined || Atomics.load(this.#memory.unhealthy, slot) === 0;
  }
}

/**
 * The main thread's slot bookkeeping. An endpoint keeps its slot while it is in the
 * table; once it left, the slot is freed when every worker serves a table without it
 * (none can pick it any more) and no connection is counted on it.
 */
export class SlotAllocator {
  readonly #memory: EndpointMemory;
  readonly #slots = new Map<string, number>();
  /** Endpoints that left the table → the generation of the first table without them. */
  readonly #leaving = new Map<string, number>();
  readonly #free: number[] = [];
  #next = 0;

  constructor(memory: EndpointMemory) {
    this.#memory = memory;
  }

  /** Every slot in use, by endpoint id (what workers get with each table). */
  get slots(): ReadonlyMap<string, number> {
    return this.#slots;
  }

  /**
   * Gives every endpoint of a table a slot (keeping those it had); endpoints that left
   * are marked with `generation`. Returns the ids that found no free slot.
   */
  assign(endpointIds: Iterable<string>, generation: number): string[] {
    const present = new Set(endpointIds);
    const unassigned: string[] = [];
    for (const id of present) {
      this.#leaving.delete(id);
      if (this.#slots.has(id)) continue;
      const slot = this.#free.pop() ?? (this.#next < this.#memory.capacity ? this.#next++ : undefined);
      if (slot === undefined) unassigned.push(id);
      else this.#slots.set(id, slot);
    }
    for (const id of this.#slots.keys())
      if (!present.has(id) && !this.#leaving.has(id)) this.#leaving.set(id, generation);
    return unassigned;
  }

  /** Frees the slots of endpoints gone from every worker's table (`servedGeneration`: the oldest one served) and idle. */
  collect(servedGeneration: number): void {
    for (const [id, since] of this.#leaving) {
      const slot = this.#slots.get(id) as number;
      if (since > servedGeneration || slotActive(this.#memory, slot) > 0) continue;
      Atomics.store(this.#memory.failures, slot, 0);
      Atomics.store(this.#memory.ejectedUntil, slot, 0n);
      Atomics.store(this.#memory.unhealthy, slot, 0);
      this.#leaving.delete(id);
      this.#slots.delete(id);
      this.#free.push(slot);
    }
  }
}
