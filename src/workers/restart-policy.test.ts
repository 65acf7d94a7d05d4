import { describe, expect, it } from "vitest";
import { CRASH_LOOP_MS, nextRestartAttempt, restartDelay } from "./restart-policy.js";

describe("restart policy", () => {
  it("restarts a worker that lived long at once, so that a rare crash costs no waiting", () => {
    expect(nextRestartAttempt({ startedAt: 0, attempt: 5 }, CRASH_LOOP_MS)).toBe(0);
    expect(restartDelay(0)).toBe(0);
  });

  it("backs off doubling for a worker that dies young, so that a crash loop does not spin a core", () => {
    const attempts: number[] = [];
    let died = { startedAt: 0, attempt: 0 };
    for (let i = 0; i < 4; i++) {
      const attempt = nextRestartAttempt(died, died.startedAt + CRASH_LOOP_MS - 1);
      attempts.push(attempt);
      died = { startedAt: died.startedAt + 100_000, attempt };
    }
    expect(attempts).toEqual([1, 2, 3, 4]);
    expect(attempts.map(restartDelay)).toEqual([250, 500, 1_000, 2_000]);
  });

  it("caps the back-off at 30 s, so that a worker that once looped is still retried", () => {
    expect(restartDelay(8)).toBe(30_000);
    expect(restartDelay(60)).toBe(30_000);
  });
});
