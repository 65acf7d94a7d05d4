import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CloseBudget, JITTER_GUARD_MS, workerRate } from "./close-budget.js";

describe("CloseBudget", () => {
  it("grants at most perSecond closes in any one-second window, however the asks fall (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 0, max: 100 })), {
          maxLength: 80,
        }),
        (perSecond, asks) => {
          const budget = new CloseBudget(perSecond, 0);
          const sent: number[] = [];
          let now = 0;
          for (const [gap, wanted] of asks) {
            now += gap;
            const granted = budget.take(now, wanted);
            expect(granted).toBeLessThanOrEqual(wanted);
            for (let i = 0; i < granted; i++) sent.push(now);
          }
          for (const start of sent) {
            // Even a second seen 100 ms late (or early) holds no more.
            const window = 1000 + JITTER_GUARD_MS;
            expect(sent.filter((t) => t >= start && t < start + window).length).toBeLessThanOrEqual(
              perSecond,
            );
          }
        },
      ),
    );
  });

  it("paces a long rebalance through each second instead of one burst per second", () => {
    const budget = new CloseBudget(40, 0);
    const perTick: number[] = [];
    for (let now = 0; now < 2000; now += 250) perTick.push(budget.take(now, 1000));
    // A quarter of a second's worth at a time, 10 every 250 ms; the fifth tick falls in the
    // jitter guard of the first second's window and waits.
    expect(perTick).toEqual([10, 10, 10, 10, 0, 10, 10, 10]);
  });

  it("keeps up the full rate when asked often", () => {
    const budget = new CloseBudget(50, 0);
    let granted = 0;
    for (let now = 0; now < 11_000; now += 20) granted += budget.take(now, 1000);
    // 50 per 1.1 s: 500 in 11 s, give or take the first burst.
    expect(granted).toBeGreaterThanOrEqual(490);
    expect(granted).toBeLessThanOrEqual(515);
  });
});

describe("workerRate", () => {
  it("splits a route's rate into whole parts that sum to it exactly", () => {
    for (const [rate, workers] of [
      [10, 4],
      [10, 3],
      [7, 7],
      [3, 8],
      [50, 1],
    ] as const) {
      const parts = Array.from({ length: workers }, (_, i) => workerRate(rate, i, workers));
      expect(parts.reduce((a, b) => a + b, 0)).toBe(rate);
      expect(Math.max(...parts) - Math.min(...parts)).toBeLessThanOrEqual(1);
    }
  });
});
