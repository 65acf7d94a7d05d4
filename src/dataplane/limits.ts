/**
 * Per-route connection limits and per-client handshake rate limits. Counts are
 * kept per gateway replica (DESIGN.md §3) and by route key, so they survive table
 * swaps; per-client entries are dropped as soon as they hold nothing.
 *
 * A client is an IPv4 address, or an IPv6 /64: one host is routinely given a whole
 * /64, so keying by address would let it pick a fresh address for every request.
 */
import { isIPv6 } from "node:net";
import type { RouteLimits } from "../api/route.js";

/** The 8 groups of an IPv6 address, or undefined when it is not one. */
function ipv6Groups(address: string): number[] | undefined {
  // Every IPv6 address has a colon; most clients are IPv4, and isIPv6's regex is not free
  // on every handshake (bench W5 profile).
  if (!address.includes(":") || !isIPv6(address)) return undefined;
  let text = address.toLowerCase();
  const zone = text.indexOf("%");
  if (zone !== -1) text = text.slice(0, zone);
  // An embedded IPv4 tail (::ffff:1.2.3.4) is two groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail] = text.split("::");
  const parse = (part: string): number[] => (part === "" ? [] : part.split(":").map((g) => parseInt(g, 16)));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  return [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
}

/** The key a client's limits are counted under: an IPv4 address as is, an IPv6 address by its /64. */
export function clientKey(address: string): string {
  const groups = ipv6Groups(address);
  if (!groups) return address;
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(":")}::/64`;
}

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
    const rated = this.rate(route, client, limits);
    if (!rated.ok) return rated;
    const key = `${route} ${clientKey(client)}`;
    const perClient = this.#perClient.get(key) ?? 0;
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
    this.#perClient.set(key, perClient + 1);
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        this.#decrement(this.#perRoute, route);
        this.#decrement(this.#perClient, key);
      },
    };
  }

  /**
   * Takes one token from the client's `handshakesPerClient` bucket on the route: every
   * handshake does, and so does every plain HTTP request on a route with auth (so JWT
   * verification and forward-auth calls cannot be flooded). Nothing to release.
   */
  rate(route: string, client: string, limits: RouteLimits): LimitVerdict {
    const rate = limits.handshakesPerClient;
    if (!rate) return { ok: true, release: () => {} };
    const key = `${route} ${clientKey(client)}`;
    const burst = rate.burst ?? rate.perSecond;
    const now = this.#now();
    const bucket = this.#buckets.get(key) ?? { tokens: burst, updatedAt: now };
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.updatedAt) / 1000) * rate.perSecond);
    bucket.updatedAt = now;
    this.#buckets.set(key, bucket);
    if (bucket.tokens < 1) {
      return {
        ok: false,
        status: 429,
        reason: "client_rate",
        message: "too many requests from this client",
        retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / rate.perSecond)),
      };
    }
    bucket.tokens -= 1;
    return { ok: true, release: () => {} };
  }

  /** Live connections counted against a route. */
  connections(route: string): number {
    return this.#perRoute.get(route) ?? 0;
  }

  /** Live connections counted against a client (its /64 for IPv6) on a route. */
  clientConnections(route: string, client: string): number {
    return this.#perClient.get(`${route} ${clientKey(client)}`) ?? 0;
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
