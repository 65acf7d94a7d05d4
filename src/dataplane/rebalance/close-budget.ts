/**
 * Clients see a close a delivery delay after it was sent, and the delay varies (a busy
 * event loop, a loaded network): closes sent 1,000 ms apart may arrive 990 ms apart. The
 * budget's window is this much longer than a second, so that no second holds more than
 * `perSecond` closes as the clients see them either. The sustained rate is ~91% of it.
 */
export const JITTER_GUARD_MS = 100;

/**
 * How many rebalancing closes a route may send now: at most `perSecond` in ANY window of
 * a second plus {@link JITTER_GUARD_MS} (a sliding log of the last closes, so no burst at
 * a window's edge doubles the rate), paced by a token bucket holding a quarter of a
 * second's worth, so the closes of a long rebalance are spread over each second instead
 * of sent in one burst per second.
 */
export class CloseBudget {
  readonly perSecond: number;
  readonly #burst: number;
  /** Send times of the last `perSecond` closes, oldest first. */
  readonly #sent: number[] = [];
  #tokens: number;
  #refilledAt: number;

  constructor(perSecond: number, now: number) {
    this.perSecond = Math.max(0, Math.floor(perSecond));
    this.#burst = Math.max(1, Math.ceil(this.perSecond / 4));
    this.#tokens = this.#burst;
    this.#refilledAt = now;
  }

  /** How many closes may be sent at `now` (without taking them). */
  available(now: number): number {
    if (this.perSecond === 0) return 0;
    this.#refill(now);
    const windowStart = now - 1000 - JITTER_GUARD_MS;
    while (this.#sent.length > 0 && (this.#sent[0] as number) <= windowStart) this.#sent.shift();
    return Math.max(0, Math.min(Math.floor(this.#tokens), this.perSecond - this.#sent.length));
  }

  /** Takes up to `wanted` closes at `now`; returns how many were granted. */
  take(now: number, wanted: number): number {
    const granted = Math.min(Math.max(0, Math.floor(wanted)), this.available(now));
    for (let i = 0; i < granted; i++) this.#sent.push(now);
    this.#tokens -= granted;
    return granted;
  }

  #refill(now: number): void {
    if (now <= this.#refilledAt) return;
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#refilledAt) * this.perSecond) / 1000);
    this.#refilledAt = now;
  }
}

/**
 * The part of a route's `maxClosesPerSecond` one of `count` data-plane workers may use:
 * whole closes, the remainder to the first workers, so the parts sum to the route's rate
 * exactly and the route never exceeds it, however the workers' closes fall in time. A
 * worker whose part is 0 (fewer closes per second than workers) moves none of its own
 * connections; the others' moves still bring the route under its bound.
 */
export function workerRate(perSecond: number, index: number, count: number): number {
  if (count <= 1) return perSecond;
  return Math.floor(perSecond / count) + (index < perSecond % count ? 1 : 0);
}
