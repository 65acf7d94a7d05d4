/**
 * The rebalancing decision, pure: given the live connections of the endpoints a rule
 * balances over, how many to close on which endpoint so that none carries more than
 * `maxSkewPercent` of its weighted share of the mean.
 *
 * Closing a connection moves it: the client reconnects (1012 tells it to) and
 * least-connections puts it on the emptiest endpoint, so the total stays the same and
 * the mean does not move. An endpoint's bound is therefore fixed for one decision:
 * `mean × weight × maxSkewPercent / 100` with `mean = Σ active / Σ weight`.
 */

/** One endpoint as the decision sees it. */
export interface EndpointLoad {
  readonly id: string;
  /** The endpoint's weight in the rule (the balancer's `active / weight` divisor); > 0. */
  readonly weight: number;
  /** Live connections counted against it (every worker, every route that uses it). */
  readonly active: number;
}

/** What to do about one rule's endpoints now. */
export interface RebalancePlan {
  /** Connections to close per endpoint id, most overloaded endpoint first; empty when balanced. */
  readonly closes: ReadonlyMap<string, number>;
  /** The highest `active / (mean × weight)` over the endpoints, in percent (100 = even). */
  readonly maxSkewPercent: number;
}

const BALANCED: RebalancePlan = { closes: new Map(), maxSkewPercent: 100 };

/**
 * Decides the closes that bring every endpoint under `maxSkewPercent` of its weighted
 * share of the mean. An endpoint over its bound sheds `ceil(active − bound)`; the total
 * is capped by the room the endpoints under their bounds have (`Σ floor(bound − active)`),
 * so a move never just pushes the excess onto another endpoint — with one connection on
 * two endpoints nothing moves, instead of the connection bouncing between them.
 * `population`, when larger than the endpoints' total, is the count the mean is taken
 * over (clients moved a moment ago and not yet back still count; see population.ts).
 */
export function planRebalance(
  loads: readonly EndpointLoad[],
  maxSkewPercent: number,
  population = 0,
): RebalancePlan {
  const usable = loads.filter((l) => l.weight > 0);
  if (usable.length < 2) return BALANCED;
  let total = 0;
  let weight = 0;
  for (const l of usable) {
    total += l.active;
    weight += l.weight;
  }
  if (total === 0) return BALANCED;
  const mean = Math.max(total, population) / weight;
  const factor = maxSkewPercent / 100;
  let room = 0;
  let highest = 0;
  const over: { id: string; excess: number; skew: number }[] = [];
  for (const l of usable) {
    const share = mean * l.weight;
    const bound = share * factor;
    const skew = (l.active / share) * 100;
    highest = Math.max(highest, skew);
    // A hair of floating-point error must not turn "exactly at the bound" into one close.
    const excess = l.active - bound;
    if (excess > 1e-9) over.push({ id: l.id, excess: Math.ceil(excess - 1e-9), skew });
    else room += Math.floor(-excess + 1e-9);
  }
  const maxSkew = Math.round(highest * 100) / 100;
  if (over.length === 0 || room === 0) return { closes: new Map(), maxSkewPercent: maxSkew };
  over.sort((a, b) => b.skew - a.skew || (a.id < b.id ? -1 : 1));
  const closes = new Map<string, number>();
  for (const o of over) {
    const n = Math.min(o.excess, room);
    if (n <= 0) break;
    closes.set(o.id, n);
    room -= n;
  }
  return { closes, maxSkewPercent: maxSkew };
}

/**
 * This process's part of an endpoint's planned closes. Counts are global across worker
 * threads but each worker can close only its own connections: each takes the share of
 * the closes that its connections are of the endpoint's, rounded up, so that workers
 * deciding at the same moment do not each close the whole excess (the rounding moves at
 * most one connection per worker too many, and those land on the emptiest endpoints).
 */
export function ownShare(closes: number, mine: number, active: number): number {
  if (closes <= 0 || mine <= 0) return 0;
  if (active <= mine) return Math.min(closes, mine);
  return Math.min(mine, Math.ceil((closes * mine) / active));
}

/**
 * Whether `endpoint` carries more than `maxSkewPercent` of its weighted share of the mean
 * over `candidates` right now — the endpoints {@link planRebalance} moves connections off.
 * On a Cookie-affinity route rebalanced with `breakAffinity`, a cookie is not followed to
 * such an endpoint: a moved client reconnects with its cookie, and following it would
 * send the client straight back to the endpoint it was moved off.
 */
export function isOverBound(
  endpoint: { readonly id: string; readonly weight: number },
  candidates: readonly { readonly id: string; readonly weight: number }[],
  active: (endpointId: string) => number,
  maxSkewPercent: number,
): boolean {
  if (candidates.length < 2 || endpoint.weight <= 0) return false;
  let total = 0;
  let weight = 0;
  for (const c of candidates) {
    total += active(c.id);
    weight += c.weight;
  }
  if (total === 0 || weight === 0) return false;
  return active(endpoint.id) > (total / weight) * endpoint.weight * (maxSkewPercent / 100) + 1e-9;
}
