import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isOverBound, ownShare, planRebalance, type EndpointLoad } from "./plan.js";

const loads = (...counts: number[]): EndpointLoad[] =>
  counts.map((active, i) => ({ id: `e${i}`, weight: 1, active }));

/** Moves `closes` connections the way the gateway does: each reconnect goes to the least-loaded endpoint. */
function apply(state: EndpointLoad[], closes: ReadonlyMap<string, number>): EndpointLoad[] {
  const next = state.map((l) => ({ ...l, active: l.active - (closes.get(l.id) ?? 0) }));
  const moved = [...closes.values()].reduce((a, b) => a + b, 0);
  for (let i = 0; i < moved; i++) {
    const least = next.reduce((a, b) => (b.active / b.weight < a.active / a.weight ? b : a));
    least.active++;
  }
  return next;
}

describe("planRebalance", () => {
  it("closes the excess over the bound after a scale-out from 3 to 6 endpoints, the most loaded first", () => {
    const plan = planRebalance(loads(100, 100, 100, 0, 0, 0), 150);
    // mean 50, bound 75: 25 from each old endpoint.
    expect([...plan.closes.values()]).toEqual([25, 25, 25]);
    expect(plan.maxSkewPercent).toBe(200);
  });

  it("leaves a rule alone whose endpoints are all within the bound, so a balanced rule never churns", () => {
    expect(planRebalance(loads(60, 50, 40), 150).closes.size).toBe(0);
    expect(planRebalance(loads(75, 25, 50), 150).closes.size).toBe(0);
  });

  it("refuses to move the only connection of two endpoints, so it does not bounce between them", () => {
    expect(planRebalance(loads(1, 0), 150).closes.size).toBe(0);
    // …but two on one of three endpoints is worth one move: the receiver stays within its bound.
    expect([...planRebalance(loads(2, 0, 0), 150).closes]).toEqual([["e0", 1]]);
  });

  it("needs two endpoints and a connection before it moves anything", () => {
    expect(planRebalance(loads(500), 150).closes.size).toBe(0);
    expect(planRebalance(loads(0, 0, 0), 150).closes.size).toBe(0);
    expect(planRebalance([], 150).closes.size).toBe(0);
  });

  it("weighs the mean, so a canary at weight 1 next to weight 9 is not drained toward an even split", () => {
    const canary = [
      { id: "main", weight: 9, active: 90 },
      { id: "canary", weight: 1, active: 10 },
    ];
    expect(planRebalance(canary, 150).closes.size).toBe(0);
    // The canary over its weighted share is what sheds.
    const heavy = [
      { id: "main", weight: 9, active: 70 },
      { id: "canary", weight: 1, active: 30 },
    ];
    expect(planRebalance(heavy, 150).closes.get("canary")).toBe(15);
  });

  it("keeps the mean of the recent population while moved clients are away", () => {
    // 40 of 300 closed and not back yet: with the population of 300 the mean stays at 50.
    const plan = planRebalance(loads(60, 100, 100, 0, 0, 0), 120, 300);
    expect(plan.closes.get("e0")).toBeUndefined();
    expect(plan.closes.get("e1")).toBe(40);
  });

  it("brings every endpoint under its bound once the planned moves land on the least loaded (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 2, maxLength: 12 }),
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 12, maxLength: 12 }),
        fc.integer({ min: 110, max: 300 }),
        (counts, weights, skew) => {
          let state = counts.map((active, i) => ({ id: `e${i}`, weight: weights[i] as number, active }));
          for (let round = 0; round < 50; round++) {
            const plan = planRebalance(state, skew);
            if (plan.closes.size === 0) break;
            state = apply(state, plan.closes);
          }
          const total = state.reduce((a, l) => a + l.active, 0);
          const weight = state.reduce((a, l) => a + l.weight, 0);
          // Balanced or stuck on whole connections: each endpoint within its bound, or the
          // excess is below one connection's worth of another endpoint's room.
          const final = planRebalance(state, skew);
          expect(final.closes.size).toBe(0);
          for (const l of state) {
            const bound = (total / weight) * l.weight * (skew / 100);
            // Integer granularity: an endpoint may stay over only when nowhere has a whole connection of room.
            if (l.active > bound + 1e-9) {
              const room = state.some((o) => (total / weight) * o.weight * (skew / 100) - o.active >= 1);
              expect(room).toBe(false);
            }
          }
        },
      ),
    );
  });

  it("never plans more closes than an endpoint has connections (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 0, maxLength: 10 }), (counts) => {
        const plan = planRebalance(loads(...counts), 150);
        for (const [id, n] of plan.closes) {
          expect(n).toBeGreaterThan(0);
          expect(n).toBeLessThanOrEqual(counts[Number(id.slice(1))] as number);
        }
      }),
    );
  });
});

describe("ownShare", () => {
  it("splits an endpoint's closes among workers by the connections each holds, so they do not each close the whole excess", () => {
    // Two workers holding 60 and 40 of an endpoint's 100 connections, 25 to close.
    expect(ownShare(25, 60, 100)).toBe(15);
    expect(ownShare(25, 40, 100)).toBe(10);
    // Alone: all of it, but never more than it holds.
    expect(ownShare(25, 100, 100)).toBe(25);
    expect(ownShare(25, 3, 3)).toBe(3);
    expect(ownShare(25, 0, 100)).toBe(0);
  });
});

describe("isOverBound", () => {
  const endpoints = [
    { id: "a", weight: 1 },
    { id: "b", weight: 1 },
    { id: "c", weight: 1 },
  ];
  const counts: Record<string, number> = { a: 100, b: 40, c: 10 };
  const active = (id: string): number => counts[id] ?? 0;

  it("names exactly the endpoints the rebalancer moves connections off, so a cookie is not followed back there", () => {
    // Mean 50, bound at 150%: 75.
    expect(isOverBound(endpoints[0]!, endpoints, active, 150)).toBe(true);
    expect(isOverBound(endpoints[1]!, endpoints, active, 150)).toBe(false);
    expect(planRebalance(loads(100, 40, 10), 150).closes.size).toBe(1);
  });

  it("never refuses the only endpoint, or any endpoint of an empty rule", () => {
    expect(isOverBound(endpoints[0]!, [endpoints[0]!], active, 150)).toBe(false);
    expect(isOverBound(endpoints[0]!, endpoints, () => 0, 150)).toBe(false);
  });
});
