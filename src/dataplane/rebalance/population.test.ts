import { describe, expect, it } from "vitest";
import { RecentPeak } from "./population.js";

describe("RecentPeak", () => {
  it("holds the highest total of the window while moved clients reconnect, then believes a smaller one", () => {
    const peak = new RecentPeak(5_000);
    expect(peak.observe(0, 300)).toBe(300);
    expect(peak.observe(1_000, 260)).toBe(300);
    expect(peak.observe(2_000, 280)).toBe(300);
    expect(peak.observe(5_500, 250)).toBe(280);
    expect(peak.observe(8_000, 250)).toBe(250);
    expect(peak.observe(8_100, 320)).toBe(320);
  });
});
