/**
 * A Prometheus histogram whose series are plain bucket-count arrays the caller bumps
 * directly, exposed to a prom-client registry in the very shape prom-client's own
 * `Histogram` gives (same text, same JSON, so `AggregatorRegistry` sums it across
 * workers). prom-client's `observe()` validates and hashes a labels object on every
 * call; here a connection finds its series once and adds to numbers.
 */
import type { Metric, Registry } from "prom-client";

/** One label set of a {@link CountedHistogram}: the counts the hot path bumps. */
export interface HistogramSeries {
  readonly labels: Readonly<Record<string, string>>;
  /** Observations per bucket (not cumulative), index of {@link CountedHistogram.bounds}. */
  readonly buckets: number[];
  sum: number;
  count: number;
}

/** One sample of prom-client's histogram exposition. */
interface Sample {
  labels: Record<string, string | number>;
  sharedLabels: Record<string, string>;
  value: number;
  metricName: string;
  exemplar: null | undefined;
}

export class CountedHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = "histogram";
  readonly aggregator = "sum";
  /** Upper bounds, ascending; an observation above the last counts only in `+Inf`. */
  readonly bounds: readonly number[];
  /** Series in the order they were first observed (prom-client's order). */
  #series: HistogramSeries[] = [];

  constructor(options: {
    name: string;
    help: string;
    buckets: readonly number[];
    registers: readonly Registry[];
  }) {
    this.name = options.name;
    this.help = options.help;
    this.bounds = [...options.buckets].sort((a, b) => a - b);
    for (const registry of options.registers) registry.registerMetric(this as unknown as Metric);
  }

  /** A new, empty series for `labels`, exposed from now on (even before its first observation). */
  series(labels: Readonly<Record<string, string>>): HistogramSeries {
    const s: HistogramSeries = {
      labels,
      buckets: new Array<number>(this.bounds.length).fill(0),
      sum: 0,
      count: 0,
    };
    this.#series.push(s);
    return s;
  }

  /** Adds `value` to `s`: what `Histogram.observe(labels, value)` does, without the labels. */
  observe(s: HistogramSeries, value: number): void {
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= (bounds[i] as number)) {
        (s.buckets[i] as number)++;
        break;
      }
    }
    s.sum += value;
    s.count++;
  }

  /** Drops every series (`Registry.resetMetrics`). */
  reset(): void {
    this.#series = [];
  }

  /** The exposition prom-client's `Registry.metrics()` formats: `le` first, then the series' labels. */
  getForPromString(): Promise<{
    name: string;
    help: string;
    type: string;
    values: Sample[];
    aggregator: string;
  }> {
    const values: Sample[] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.#series) {
      let cumulative = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        cumulative += s.buckets[i] as number;
        values.push({
          labels: { le: this.bounds[i] as number },
          sharedLabels: s.labels,
          value: cumulative,
          metricName: bucket,
          exemplar: null,
        });
      }
      values.push({
        labels: { le: "+Inf" },
        sharedLabels: s.labels,
        value: s.count,
        metricName: bucket,
        exemplar: null,
      });
      const sum = `${this.name}_sum`;
      const count = `${this.name}_count`;
      values.push({ labels: {}, sharedLabels: s.labels, value: s.sum, metricName: sum, exemplar: undefined });
      values.push({
        labels: {},
        sharedLabels: s.labels,
        value: s.count,
        metricName: count,
        exemplar: undefined,
      });
    }
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      values,
      aggregator: this.aggregator,
    });
  }

  /** The JSON of `Registry.getMetricsAsJSON()`: each sample's labels with the series' labels merged in. */
  async get(): Promise<{
    name: string;
    help: string;
    type: string;
    values: Omit<Sample, "sharedLabels">[];
    aggregator: string;
  }> {
    const data = await this.getForPromString();
    return {
      ...data,
      values: data.values.map(({ sharedLabels, labels, value, metricName, exemplar }) => ({
        value,
        metricName,
        exemplar,
        labels: { ...labels, ...sharedLabels },
      })),
    };
  }
}
