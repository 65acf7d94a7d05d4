import { describe, expect, it } from "vitest";
import { RollingCounts } from "./rolling-counts.js";

describe("RollingCounts", () => {
  it("counts events within the window only, so that 'last minute' means the last minute", () => {
    let now = 1_000_000;
    const counts = new RollingCounts(60_000, 12, () => now);
    counts.add("a");
    now += 30_000;
    counts.add("a", 2);
    expect(counts.total("a")).toBe(3);
    now += 35_000; // the first event is 65 s old
    expect(counts.total("a")).toBe(2);
    now += 60_000;
    expect(counts.total("a")).toBe(0);
  });

  it("reuses a bucket after a full lap without its old count, so that a quiet hour reads as zero", () => {
    let now = 0;
    const counts = new RollingCounts(10_000, 10, () => now);
    counts.add("k", 5);
    now = 10_000 * 7; // the same slot, seven laps later
    counts.add("k");
    expect(counts.total("k")).toBe(1);
  });

  it("forgets keys whose window emptied, so that memory follows live keys and not history", () => {
    let now = 0;
    const counts = new RollingCounts(1_000, 4, () => now);
    counts.add("gone");
    counts.add("kept");
    now = 1_500;
    counts.add("kept");
    expect(counts.entries()).toEqual([["kept", 1]]);
    expect(counts.total("gone")).toBe(0);
  });
});
