/**
 * Per-route connection limits and per-client handshake rate limits. Counts are
 * kept per gateway replica (DESIGN.md §3) and by route key, so they survive table
 * swaps; per-client entries are dropped as soon as they hold nothing.
 */
import type { RouteLimits } from "../api/route.js";

export type LimitVerdict =
  | { ok: true; release: () => void }
  | {
      ok: false;
      status: 429 | 503;
      reason: "client_connections" | "client_rate" | "route_connections";
      message: string;
      retryAfterSeconds?: number;
    };

interface Bucket {
  tokens: number;
  updatedAt: number;
}

export class Limits {
  readonly #perRoute = new Map<string, number>();
  readonly #perClient = new Map<string, number>();
  readonly #buckets = new Map<string, Bucket>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /**
   * Admits one connection (counted from the handshake on, so a burst of
   * simultaneous handshakes cannot overshoot). Call `release` when it ends.
   */
  admit(route: string, client: string, limits: RouteLimits): LimitVerdict {
    const clientKey = `${route} ${client}`;
    const rate = limits.handshakesPerClient;
    if (rate) {
      const burst = rate.burst ?? rate.perSecond;
      const now = this.#now();
      const bucket = this.#buckets.get(clientKey) ?? { tokens: burst, updatedAt: now };
      bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.updatedAt) / 1000) * rate.perSecond);
      bucket.updatedAt = now;
      if (bucket.tokens < 1) {
        this.#buckets.set(clientKey, bucket);
        return {
          ok: false,
          status: 429,
          reason: "client_rate",
          message: "too many handshakes from this client",
          retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / rate.perSecond)),
        };
      }
      bucket.tokens -= 1;
      this.#buckets.set(clientKey, bucket);
    }
    const perClient = this.#perClient.get(clientKey) ?? 0;
    if (limits.maxConnectionsPerClient !== undefined && perClient >= limits.maxConnectionsPerClient) {
      return {
        ok: false,
        status: 429,
        reason: "client_connections",
        message: "too many connections from this client",
        retryAfterSeconds: 5,
      };
    }
    const perRoute = this.#perRoute.get(route) ?? 0;
    if (limits.maxConnections !== undefined && perRoute >= limits.maxConnections) {
      return {
        ok: false,
        status: 503,
        reason: "route_connections",
        message: "route connection limit reached",
        retryAfterSeconds: 5,
      };
    }
    this.#perRoute.set(route, perRoute + 1);
    this.#perClient.set(clientKey, perClient + 1);
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        this.#decrement(this.#perRoute, route);
        this.#decrement(this.#perClient, clientKey);
      },
    };
  }

  /** Live connections counted against a route. */
  connections(route: string): number {
    return this.#perRoute.get(route) ?? 0;
  }

  /** Forgets token buckets that have refilled (called by the periodic sweep). */
  sweep(): void {
    const now = this.#now();
    for (const [key, bucket] of this.#buckets) {
      if (now - bucket.updatedAt > 60_000) this.#buckets.delete(key);
    }
  }

  #decrement(map: Map<string, number>, key: string): void {
    const n = (map.get(key) ?? 1) - 1;
    if (n <= 0) map.delete(key);
    else map.set(key, n);
  }
}
