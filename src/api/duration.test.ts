import { describe, expect, it } from "vitest";
import { durationToMs, isDuration } from "./duration.js";

describe("Gateway API durations", () => {
  it.each([
    ["0s", 0],
    ["500ms", 500],
    ["30s", 30_000],
    ["1m30s", 90_000],
    ["1h", 3_600_000],
    ["1h2m3s4ms", 3_723_004],
  ])("%s is %d ms", (text, ms) => {
    expect(isDuration(text)).toBe(true);
    expect(durationToMs(text)).toBe(ms);
  });

  it.each(["", "30", "1d", "-1s", "1.5s", "123456s", "1h1m1s1ms1h", " 30s"])("rejects %j", (text) => {
    expect(isDuration(text)).toBe(false);
    expect(() => durationToMs(text)).toThrow(/not a duration/);
  });
});
