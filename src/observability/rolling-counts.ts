/**
 * Counts over a sliding window ("opened in the last minute", "rejections in the
 * last 5 minutes"), per key, in fixed time buckets: memory is bounded by keys ×
 * buckets whatever the event rate, and keys whose window emptied are forgotten.
 */

interface Series {
  /** Count per bucket, indexed by bucket number modulo the bucket count. */
  readonly counts: number[];
  /** The bucket number each slot currently holds (a slot from an older lap counts as 0). */
  readonly epochs: number[];
}

export class RollingCounts {
  readonly #bucketMs: number;
  readonly #buckets: number;
  readonly #now: () => number;
  readonly #series = new Map<string, Series>();

  /**
   * @param windowMs the window summed by {@link total}
   * @param buckets its resolution: the window slides by `windowMs / buckets`
   */
  constructor(windowMs: number, buckets: number, now: () => number = Date.now) {
    this.#bucketMs = windowMs / buckets;
    this.#buckets = buckets;
    this.#now = now;
  }

  /** Counts one event (or `n`) for `key` now. */
  add(key: string, n = 1): void {
    const epoch = Math.floor(this.#now() / this.#bucketMs);
    let series = this.#series.get(key);
    if (!series) {
      series = {
        counts: new Array<number>(this.#buckets).fill(0),
        epochs: new Array<number>(this.#buckets).fill(-1),
      };
      this.#series.set(key, series);
    }
    const slot = epoch % this.#buckets;
    if (series.epochs[slot] !== epoch) {
      series.epochs[slot] = epoch;
      series.counts[slot] = 0;
    }
    series.counts[slot] = (series.counts[slot] ?? 0) + n;
  }

  /** Events of `key` within the window. */
  total(key: string): number {
    const series = this.#series.get(key);
    return series ? this.#sum(series, Math.floor(this.#now() / this.#bucketMs)) : 0;
  }

  /** Every key with events in the window, with its total; forgets the others. */
  entries(): [string, number][] {
    const epoch = Math.floor(this.#now() / this.#bucketMs);
    const out: [string, number][] = [];
    for (const [key, series] of this.#series) {
      const sum = this.#sum(series, epoch);
      if (sum > 0) out.push([key, sum]);
      else this.#series.delete(key);
    }
    return out;
  }

  #sum(series: Series, epoch: number): number {
    let sum = 0;
    for (let i = 0; i < this.#buckets; i++) {
      const e = series.epochs[i] ?? -1;
      if (e > epoch - this.#buckets && e <= epoch) sum += series.counts[i] ?? 0;
    }
    return sum;
  }
}
