import { describe, expect, it, vi } from "vitest";
import { WritePasses, type PassOutcome } from "./write-passes.js";

/** A pass whose runs the test starts and finishes by hand. */
function controlledPass() {
  const runs: { finish(outcome: PassOutcome): void }[] = [];
  const waiters: (() => void)[] = [];
  const pass = (): Promise<PassOutcome> =>
    new Promise((resolve) => {
      runs.push({ finish: resolve });
      for (const w of waiters.splice(0)) w();
    });
  const started = (n: number): Promise<void> =>
    runs.length >= n ? Promise.resolve() : new Promise((r) => waiters.push(() => void started(n).then(r)));
  return { pass, runs, started };
}

describe("status write passes", () => {
  it("coalesces changes made while a pass runs into one more pass, so that a burst costs two writes, not one per change", async () => {
    const c = controlledPass();
    const passes = new WritePasses(c.pass);
    passes.kick();
    await c.started(1);
    for (let i = 0; i < 100; i++) passes.kick();
    c.runs[0]!.finish({ failed: false });
    await c.started(2);
    c.runs[1]!.finish({ failed: false });
    await passes.idle();
    expect(c.runs).toHaveLength(2);
  });

  it("retries a failed pass with back-off, so that a write lost to an API server outage is made without a new change", async () => {
    const c = controlledPass();
    const passes = new WritePasses(c.pass, { retryDelayMs: 1 });
    passes.kick();
    await c.started(1);
    c.runs[0]!.finish({ failed: true });
    await c.started(2);
    c.runs[1]!.finish({ failed: true });
    await c.started(3);
    c.runs[2]!.finish({ failed: false });
    await passes.idle();
    expect(c.runs).toHaveLength(3);
    passes.stop();
  });

  it("runs nothing after stop, not even a scheduled retry, so that a replica that lost its lease stays silent", async () => {
    vi.useFakeTimers();
    try {
      const c = controlledPass();
      const passes = new WritePasses(c.pass, { retryDelayMs: 1 });
      passes.kick();
      await c.started(1);
      passes.stop();
      c.runs[0]!.finish({ failed: true });
      await passes.idle();
      vi.runAllTimers();
      passes.kick(); // a pass would start synchronously
      expect(passes.stopped).toBe(true);
      expect(c.runs).toHaveLength(1);
    } finally {
      vi.useRealTimers();
    }
  });
});
