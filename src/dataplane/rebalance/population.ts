/**
 * The connection population a rule's mean is taken over: the highest total seen in the
 * last few seconds, not the total of this instant. A client that rebalancing closed is
 * away until it reconnects (a second or more for Socket.IO's back-off); counting it as
 * gone would lower the mean while the moves are in flight, and the endpoints just brought
 * down to their bound would look overloaded again — more closes than the skew needs.
 * Holding the recent peak keeps the mean where it was; a population that really shrank
 * is believed once the window has passed.
 */
export class RecentPeak {
  readonly #windowMs: number;
  /** [time, total] samples, totals strictly decreasing: the front is the peak. */
  readonly #samples: [number, number][] = [];

  constructor(windowMs: number) {
    this.#windowMs = windowMs;
  }

  /** Records `total` at `now` and returns the highest total of the window. */
  observe(now: number, total: number): number {
    const s = this.#samples;
    while (s.length > 0 && (s[0] as [number, number])[0] <= now - this.#windowMs) s.shift();
    // A monotonic queue: a sample no later sample can exceed is never the peak again.
    while (s.length > 0 && (s[s.length - 1] as [number, number])[1] <= total) s.pop();
    s.push([now, total]);
    return (s[0] as [number, number])[1];
  }
}
