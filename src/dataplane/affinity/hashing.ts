/**
 * Consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam 2018; HAProxy's
 * `hash-balance-factor`), on rendezvous hashing (highest random weight).
 *
 * Rendezvous: each key ranks the endpoints by a hash of (key, endpoint); the key goes to
 * the first of its ranking. Removing an endpoint moves exactly the keys that ranked it
 * first, adding one moves only the keys that now rank it first (~1/N) — no ring, no
 * virtual nodes, and weights enter as `-weight / ln(u)` (weighted rendezvous).
 *
 * Bounded loads: a key skips down its ranking past every endpoint that already holds
 * `ceil(factor × (active + 1) × weight / totalWeight)` connections, so hashing never piles
 * more than `factor` times the average onto one endpoint — however the keys are skewed.
 * The counts are the balancer's, which workers share, so the bound holds per gateway.
 */
import type { Endpoint } from "../../routing/table.js";

/** cyrb53: a fast, well-mixed 53-bit string hash (public domain, bryc). Not cryptographic. */
export function hash53(text: string, seed = 0): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

const TWO_53 = 2 ** 53;

/** The rendezvous score of `endpoint` for `key`: higher wins. */
function score(key: string, endpoint: Endpoint): number {
  // u in (0, 1), never 0 or 1, so ln(u) is finite and negative.
  const u = (hash53(`${key}\n${endpoint.id}`) + 0.5) / TWO_53;
  return -endpoint.weight / Math.log(u);
}

/** `endpoints` in `key`'s order of preference (its rendezvous ranking). */
export function ranking(key: string, endpoints: readonly Endpoint[]): Endpoint[] {
  return endpoints
    .map((endpoint) => ({ endpoint, score: score(key, endpoint) }))
    .sort((a, b) => b.score - a.score || (a.endpoint.id < b.endpoint.id ? -1 : 1))
    .map((s) => s.endpoint);
}

/** Where a key went: its endpoint, and whether that was its first choice. */
export interface HashedPick {
  readonly endpoint: Endpoint;
  /** False when a bound (or a missing first choice) sent the key further down its ranking. */
  readonly first: boolean;
}

/**
 * The first endpoint of `key`'s ranking among `candidates` that stays within the bound of
 * `factor` (≥ 1) times its weighted share of the active connections, counting this one.
 * Undefined only for no candidates.
 */
export function boundedPick(
  key: string,
  candidates: readonly Endpoint[],
  active: (endpointId: string) => number,
  factor: number,
): HashedPick | undefined {
  if (candidates.length === 0) return undefined;
  let total = 1; // the connection being placed
  let weights = 0;
  for (const e of candidates) {
    total += active(e.id);
    weights += e.weight;
  }
  // The first of the key's ranking under its bound is the highest-scoring endpoint under
  // its bound: one pass, no sort (this runs on every request of a hashing route).
  let top: Endpoint | undefined;
  let topScore = -Infinity;
  let pick: Endpoint | undefined;
  let pickScore = -Infinity;
  for (const endpoint of candidates) {
    const s = score(key, endpoint);
    if (s > topScore) [top, topScore] = [endpoint, s];
    const bound = Math.ceil((factor * total * endpoint.weight) / weights);
    if (s > pickScore && active(endpoint.id) < bound) [pick, pickScore] = [endpoint, s];
  }
  // Always found while factor ≥ 1: the bounds sum to at least `total`, more than is active.
  return pick ? { endpoint: pick, first: pick === top } : { endpoint: top as Endpoint, first: true };
}
