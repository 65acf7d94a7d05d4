import fc from "fast-check";
import { AggregatorRegistry, Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { CountedHistogram, type HistogramSeries } from "./counted-histogram.js";

const BUCKETS = [0.001, 0.01, 0.1, 1, 10];

/** Observations as (label set index, value): on, below, between and above the bounds. */
const observations = fc.array(
  fc.tuple(
    fc.nat(3),
    fc.oneof(fc.constantFrom(0, ...BUCKETS, 11), fc.double({ min: 0, max: 20, noNaN: true })),
  ),
  { maxLength: 200 },
);

function both(seen: readonly [number, number][]): { theirs: Registry; ours: Registry } {
  const theirs = new Registry();
  const ours = new Registry();
  const histogram = new Histogram({
    name: "t_seconds",
    help: "h",
    labelNames: ["namespace", "route"],
    buckets: BUCKETS,
    registers: [theirs],
  });
  const counted = new CountedHistogram({ name: "t_seconds", help: "h", buckets: BUCKETS, registers: [ours] });
  const series = new Map<number, HistogramSeries>();
  for (const [set, value] of seen) {
    const labels = { namespace: `ns${set % 2}`, route: `r${set}` };
    histogram.observe(labels, value);
    let s = series.get(set);
    if (!s) series.set(set, (s = counted.series(labels)));
    counted.observe(s, value);
  }
  return { theirs, ours };
}

describe("CountedHistogram", () => {
  it("exposes byte for byte what prom-client's Histogram exposes for the same observations, so that /metrics does not change", async () => {
    await fc.assert(
      fc.asyncProperty(observations, async (seen) => {
        const { theirs, ours } = both(seen);
        expect(await ours.metrics()).toBe(await theirs.metrics());
        expect(await ours.getMetricsAsJSON()).toStrictEqual(await theirs.getMetricsAsJSON());
      }),
      { numRuns: 100 },
    );
  });

  it("sums across workers as prom-client's Histogram does, so that the workers' /metrics stays one total", async () => {
    await fc.assert(
      fc.asyncProperty(observations, observations, async (a, b) => {
        const [x, y] = [both(a), both(b)];
        const theirs = AggregatorRegistry.aggregate([
          await x.theirs.getMetricsAsJSON(),
          await y.theirs.getMetricsAsJSON(),
        ]);
        const ours = AggregatorRegistry.aggregate([
          await x.ours.getMetricsAsJSON(),
          await y.ours.getMetricsAsJSON(),
        ]);
        expect(await ours.metrics()).toBe(await theirs.metrics());
      }),
      { numRuns: 50 },
    );
  });

  it("counts an observation above the last bound only in +Inf, sum and count", async () => {
    const registry = new Registry();
    const h = new CountedHistogram({ name: "t_seconds", help: "h", buckets: [1, 2], registers: [registry] });
    h.observe(h.series({ route: "r" }), 3);
    expect(await registry.metrics()).toContain(
      't_seconds_bucket{le="2",route="r"} 0\nt_seconds_bucket{le="+Inf",route="r"} 1\nt_seconds_sum{route="r"} 3',
    );
  });
});
