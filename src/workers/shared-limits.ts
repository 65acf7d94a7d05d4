/**
 * Route and per-client limits shared by every data-plane worker: `maxConnections`,
 * `maxConnectionsPerClient` and `handshakesPerClient` hold for the gateway, not per
 * thread — a client whose connections land on different workers still gets its 429.
 *
 * The counts live in an open-addressing hash table in a `SharedArrayBuffer`, keyed by
 * two 32-bit hashes of the key (a route, or a route and a client key). Every operation
 * takes one spin lock: admissions are a few hundred nanoseconds of work, far shorter than
 * the handshake around them, and one lock keeps the token bucket's read-modify-write and
 * the backward-shift deletion simple and correct. Connection counts have one column per
 * worker, so a dead worker's counts can be dropped exactly. When the table is full, a key
 * that finds no entry is limited by this worker alone (what a single thread does), never
 * refused for lack of room.
 */
import type { RouteLimits } from "../api/route.js";
import { Limits, clientKey, type LimitVerdict } from "../dataplane/limits.js";

/** The shared memory of the limits table; structured-cloned to workers. */
export interface LimitsMemory {
  readonly entries: number;
  readonly workers: number;
  /** Int32 words per entry: state, hashA, hashB, pad, tokens (f64), updatedAt (f64), counts[workers]. */
  readonly stride: number;
  readonly lock: Int32Array;
  readonly words: Int32Array;
  readonly doubles: Float64Array;
}

const STATE = 0;
const HASH_A = 1;
const HASH_B = 2;
const TOKENS = 4; // f64 at word 4 (index /2)
const UPDATED = 6; // f64 at word 6; 0 = no token bucket
const COUNTS = 8;
/** Token buckets idle this long have refilled and are forgotten. */
const BUCKET_IDLE_MS = 60_000;
/** How often (at most) one worker walks the table to forget refilled buckets. */
const SWEEP_EVERY_MS = 10_000;

/** Allocates the limits table for `workers` workers; `entries` is rounded up to a power of two. */
export function createLimitsMemory(workers: number, entries = 65_536): LimitsMemory {
  let size = 1;
  while (size < entries) size *= 2;
  const stride = COUNTS + workers + ((COUNTS + workers) % 2); // even: the doubles stay aligned
  const buffer = new SharedArrayBuffer(size * stride * 4);
  return {
    entries: size,
    workers,
    stride,
    // lock word and the time of the last sweep
    lock: new Int32Array(new SharedArrayBuffer(8)),
    words: new Int32Array(buffer),
    doubles: new Float64Array(buffer),
  };
}

/** FNV-1a over UTF-16 code units with two offset bases: two independent 32-bit hashes. */
function hashes(key: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  return [a | 0, b | 0];
}

/** The lock-holding operations on the table. Callers hold the lock. */
class Table {
  readonly #m: LimitsMemory;
  constructor(memory: LimitsMemory) {
    this.#m = memory;
  }

  /**
   * A futex-style mutex (0 free, 1 held, 2 held with waiters): a short spin, then the
   * thread sleeps in `Atomics.wait` until the holder wakes it. Spinning alone would burn a
   * whole time slice whenever the holder is preempted — on a busy node, often.
   */
  lock(): void {
    const lock = this.#m.lock;
    for (let spin = 0; spin < 64; spin++) if (Atomics.compareExchange(lock, 0, 0, 1) === 0) return;
    let state = Atomics.compareExchange(lock, 0, 0, 2);
    while (state !== 0) {
      if (state === 2 || Atomics.compareExchange(lock, 0, 1, 2) !== 0) Atomics.wait(lock, 0, 2, 50);
      state = Atomics.compareExchange(lock, 0, 0, 2);
    }
  }

  unlock(): void {
    const lock = this.#m.lock;
    if (Atomics.sub(lock, 0, 1) !== 1) {
      Atomics.store(lock, 0, 0);
      Atomics.notify(lock, 0, 1);
    }
  }

  /** The entry's first word for `key`, inserting it when `create`; -1 when absent (or no room). */
  find(key: string, create: boolean): number {
    const [a, b] = hashes(key);
    const { words, entries, stride } = this.#m;
    const mask = entries - 1;
    for (let probe = 0, i = a & mask; probe < entries; probe++, i = (i + 1) & mask) {
      const base = i * stride;
      if (words[base + STATE] === 0) {
        if (!create) return -1;
        words[base + STATE] = 1;
        words[base + HASH_A] = a;
        words[base + HASH_B] = b;
        return base;
      }
      if (words[base + HASH_A] === a && words[base + HASH_B] === b) return base;
    }
    return -1;
  }

  count(base: number): number {
    let sum = 0;
    for (let w = 0; w < this.#m.workers; w++) sum += this.#m.words[base + COUNTS + w] as number;
    return sum;
  }

  add(base: number, worker: number, delta: number): void {
    (this.#m.words[base + COUNTS + worker] as number) += delta;
  }

  /** Deletes the entry when it counts nothing and has no bucket (backward-shift deletion). */
  deleteIfEmpty(base: number): void {
    if (this.count(base) !== 0 || this.#m.doubles[(base + UPDATED) / 2] !== 0) return;
    const { words, entries, stride } = this.#m;
    const mask = entries - 1;
    let hole = base / stride;
    words.fill(0, hole * stride, hole * stride + stride);
    for (let j = (hole + 1) & mask; words[j * stride + STATE] !== 0; j = (j + 1) & mask) {
      const home = (words[j * stride + HASH_A] as number) & mask;
      // Move j into the hole unless its home lies cyclically in (hole, j].
      const between = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (between) continue;
      words.copyWithin(hole * stride, j * stride, j * stride + stride);
      words.fill(0, j * stride, j * stride + stride);
      hole = j;
    }
  }

  tokens(base: number): number {
    return this.#m.doubles[(base + TOKENS) / 2] as number;
  }

  updatedAt(base: number): number {
    return this.#m.doubles[(base + UPDATED) / 2] as number;
  }

  setBucket(base: number, tokens: number, updatedAt: number): void {
    this.#m.doubles[(base + TOKENS) / 2] = tokens;
    this.#m.doubles[(base + UPDATED) / 2] = updatedAt;
  }

  /** Forgets refilled buckets and zero entries. */
  sweep(now: number): void {
    const { words, entries, stride } = this.#m;
    for (let i = 0; i < entries; i++) {
      const base = i * stride;
      // A deletion shifts a later entry into i: look at i again until it stays.
      while (words[base + STATE] !== 0) {
        const updated = this.updatedAt(base);
        if (updated === 0 || now - updated <= BUCKET_IDLE_MS) break;
        this.setBucket(base, 0, 0);
        if (this.count(base) !== 0) break;
        this.deleteIfEmpty(base);
      }
    }
  }
}

/** A worker's view of the shared limits, a drop-in {@link Limits}. */
export class SharedLimits extends Limits {
  readonly #memory: LimitsMemory;
  readonly #table: Table;
  readonly #worker: number;
  readonly #now: () => number;

  /** `worker` is the column this thread counts in; -1 for a read-only view. */
  constructor(memory: LimitsMemory, worker: number, now: () => number = Date.now) {
    super(now);
    this.#memory = memory;
    this.#table = new Table(memory);
    this.#worker = worker;
    this.#now = now;
  }

  override admit(route: string, client: string, limits: RouteLimits): LimitVerdict {
    const clientEntryKey = `${route} ${clientKey(client)}`;
    const routeEntryKey = `\0${route}`;
    const verdict = this.#admitLocked(clientEntryKey, routeEntryKey, limits, this.#now());
    // No room in the table: this worker limits the key alone (outside the lock: Limits calls rate()).
    if (verdict === "full") return super.admit(route, client, limits);
    if (!verdict.ok) return verdict;
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        this.#decrement(clientEntryKey, routeEntryKey);
      },
    };
  }

  #admitLocked(
    clientEntryKey: string,
    routeEntryKey: string,
    limits: RouteLimits,
    now: number,
  ): LimitVerdict | "full" {
    const t = this.#table;
    t.lock();
    try {
      const rated = this.#rate(clientEntryKey, limits, now);
      if (rated === "full" || !rated.ok) return rated;
      const clientBase = t.find(clientEntryKey, true);
      const routeBase = t.find(routeEntryKey, true);
      if (clientBase < 0 || routeBase < 0) {
        this.#dropIfEmpty(clientEntryKey);
        this.#dropIfEmpty(routeEntryKey);
        return "full";
      }
      if (
        limits.maxConnectionsPerClient !== undefined &&
        t.count(clientBase) >= limits.maxConnectionsPerClient
      ) {
        this.#dropIfEmpty(routeEntryKey);
        return {
          ok: false,
          status: 429,
          reason: "client_connections",
          message: "too many connections from this client",
          retryAfterSeconds: 5,
        };
      }
      if (limits.maxConnections !== undefined && t.count(routeBase) >= limits.maxConnections) {
        this.#dropIfEmpty(clientEntryKey);
        return {
          ok: false,
          status: 503,
          reason: "route_connections",
          message: "route connection limit reached",
          retryAfterSeconds: 5,
        };
      }
      t.add(clientBase, this.#worker, 1);
      t.add(routeBase, this.#worker, 1);
      return { ok: true, release: () => {} };
    } finally {
      t.unlock();
    }
  }

  /** Lock held: removes the key's entry if it counts nothing (a refused admission leaves no trace). */
  #dropIfEmpty(key: string): void {
    const base = this.#table.find(key, false);
    if (base >= 0) this.#table.deleteIfEmpty(base);
  }

  override rate(route: string, client: string, limits: RouteLimits): LimitVerdict {
    if (!limits.handshakesPerClient) return { ok: true, release: () => {} };
    const now = this.#now();
    const t = this.#table;
    t.lock();
    try {
      const rated = this.#rate(`${route} ${clientKey(client)}`, limits, now);
      if (rated !== "full") return rated;
    } finally {
      t.unlock();
    }
    return super.rate(route, client, limits);
  }

  override connections(route: string): number {
    return this.#read(`\0${route}`) + super.connections(route);
  }

  override clientConnections(route: string, client: string): number {
    return this.#read(`${route} ${clientKey(client)}`) + super.clientConnections(route, client);
  }

  /** Forgets refilled buckets; one worker walks the table at most every 10 s. */
  override sweep(): void {
    super.sweep();
    const now = this.#now();
    const last = this.#memory.lock;
    // Word 1 of the lock array: seconds of the last sweep (relative clocks are fine here).
    const stamp = Math.floor(now / 1000) | 0;
    const previous = Atomics.load(last, 1);
    if (stamp - previous < SWEEP_EVERY_MS / 1000) return;
    if (Atomics.compareExchange(last, 1, previous, stamp) !== previous) return;
    this.#table.lock();
    try {
      this.#table.sweep(now);
    } finally {
      this.#table.unlock();
    }
  }

  /** Token bucket of `key`, lock held; "full" when the table has no room for it. */
  #rate(key: string, limits: RouteLimits, now: number): LimitVerdict | "full" {
    const rate = limits.handshakesPerClient;
    if (!rate) return { ok: true, release: () => {} };
    const t = this.#table;
    const base = t.find(key, true);
    if (base < 0) return "full";
    const burst = rate.burst ?? rate.perSecond;
    const updated = t.updatedAt(base);
    let tokens =
      updated === 0 ? burst : Math.min(burst, t.tokens(base) + ((now - updated) / 1000) * rate.perSecond);
    if (tokens < 1) {
      t.setBucket(base, tokens, now || 1);
      return {
        ok: false,
        status: 429,
        reason: "client_rate",
        message: "too many requests from this client",
        retryAfterSeconds: Math.max(1, Math.ceil((1 - tokens) / rate.perSecond)),
      };
    }
    tokens -= 1;
    t.setBucket(base, tokens, now || 1);
    return { ok: true, release: () => {} };
  }

  /** Gives back one count of each key, under one lock. */
  #decrement(...keys: string[]): void {
    const t = this.#table;
    t.lock();
    try {
      for (const key of keys) {
        const base = t.find(key, false);
        if (base < 0) continue;
        t.add(base, this.#worker, -1);
        t.deleteIfEmpty(base);
      }
    } finally {
      t.unlock();
    }
  }

  #read(key: string): number {
    const t = this.#table;
    t.lock();
    try {
      const base = t.find(key, false);
      return base < 0 ? 0 : t.count(base);
    } finally {
      t.unlock();
    }
  }
}

/** Drops a dead worker's counts: its connections died with it. Spins for the lock (main thread). */
export function clearWorkerLimits(memory: LimitsMemory, worker: number): void {
  const t = new Table(memory);
  t.lock();
  try {
    for (let i = 0; i < memory.entries; i++) {
      const base = i * memory.stride;
      while (memory.words[base + STATE] !== 0 && memory.words[base + COUNTS + worker] !== 0) {
        memory.words[base + COUNTS + worker] = 0;
        t.deleteIfEmpty(base); // may shift another entry into i: look again
      }
    }
  } finally {
    t.unlock();
  }
}
