import { performance } from "node:perf_hooks";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { WebSocketRoute } from "../api/route.js";
import { webSocketRouteSchema } from "../api/route.js";
import { TableHolder } from "./holder.js";
import { Recompiler } from "./recompiler.js";
import { ObjectStore } from "./store.js";

const HOLD_OFF_MS = 100;
const MAX_DELAY_MS = 500;

function route(name: string): WebSocketRoute {
  return webSocketRouteSchema.parse({
    apiVersion: "wsgate.io/v1alpha1",
    kind: "WebSocketRoute",
    metadata: { name, namespace: "apps" },
    spec: { hostnames: [`${name}.example.com`], rules: [{ backendRefs: [{ name: "chat", port: 8080 }] }] },
  });
}

interface Published {
  at: number;
  generation: number;
  routes: number;
}

function setUp(): { store: ObjectStore; recompiler: Recompiler; published: Published[] } {
  const store = new ObjectStore();
  const holder = new TableHolder();
  const recompiler = new Recompiler(store, holder, {
    ingressClass: "wsgate",
    holdOffMs: HOLD_OFF_MS,
    maxDelayMs: MAX_DELAY_MS,
  });
  const published: Published[] = [];
  holder.onPublish((p) =>
    published.push({ at: Date.now(), generation: p.table.generation, routes: p.diagnostics.length }),
  );
  return { store, recompiler, published };
}

describe("Recompiler coalescing", () => {
  beforeEach(() => {
    vi.useFakeTimers();
    // The recompiler reads the clock through node:perf_hooks, which vitest's fake timers do not
    // replace (they swap globalThis.performance for another object); make it follow the fake clock.
    vi.spyOn(performance, "now").mockImplementation(() => Date.now());
  });

  afterEach(() => {
    vi.restoreAllMocks();
    vi.useRealTimers();
  });

  it("publishes at start, then a single change after the hold-off", () => {
    const { store, recompiler, published } = setUp();
    recompiler.start();
    expect(published).toHaveLength(1);
    const start = Date.now();

    store.upsert(route("r0"));
    vi.advanceTimersByTime(HOLD_OFF_MS - 1);
    expect(published).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(published).toHaveLength(2);
    expect(published[1]).toEqual({ at: start + HOLD_OFF_MS, generation: 2, routes: 1 });

    vi.advanceTimersByTime(10 * MAX_DELAY_MS);
    expect(published).toHaveLength(2);
    recompiler.stop();
  });

  it("coalesces a burst into one publication", () => {
    const { store, recompiler, published } = setUp();
    recompiler.start();
    for (let i = 0; i < 5; i++) store.upsert(route(`r${i}`));
    vi.advanceTimersByTime(10 * MAX_DELAY_MS);
    expect(published.map((p) => p.routes)).toEqual([0, 5]);
    recompiler.stop();
  });

  it.each([50, 200])(
    "%d changes 10 ms apart: at most one publication per maxDelay, the last change within maxDelay",
    (changes) => {
      const { store, recompiler, published } = setUp();
      recompiler.start();
      published.length = 0;
      const changedAt: number[] = [];
      for (let i = 0; i < changes; i++) {
        store.upsert(route(`r${i}`));
        changedAt.push(Date.now());
        vi.advanceTimersByTime(10);
      }
      vi.advanceTimersByTime(10 * MAX_DELAY_MS);

      expect(published.length).toBeGreaterThanOrEqual(1);
      // A steady trickle never lets the hold-off elapse: publications are maxDelay apart.
      for (let i = 1; i < published.length; i++) {
        expect((published[i] as Published).at - (published[i - 1] as Published).at).toBeGreaterThanOrEqual(
          MAX_DELAY_MS,
        );
      }
      expect(published.length).toBeLessThanOrEqual(Math.ceil((changes * 10) / MAX_DELAY_MS));
      // Every change is published within maxDelay: the first publication after it includes it.
      for (const [i, at] of changedAt.entries()) {
        const publication = published.find((p) => p.at >= at && p.routes >= i + 1);
        expect(publication, `change ${i} at ${at}`).toBeDefined();
        expect((publication as Published).at - at).toBeLessThanOrEqual(MAX_DELAY_MS);
      }
      const last = published[published.length - 1] as Published;
      expect(last.routes).toBe(changes);
      expect(last.at - (changedAt[changedAt.length - 1] as number)).toBeLessThanOrEqual(MAX_DELAY_MS);
      // Generations increase by one per publication.
      expect(published.map((p) => p.generation)).toEqual(published.map((_, i) => i + 2));
      recompiler.stop();
    },
  );

  it("publishes nothing after stop", () => {
    const { store, recompiler, published } = setUp();
    recompiler.start();
    store.upsert(route("r0"));
    recompiler.stop();
    vi.advanceTimersByTime(10 * MAX_DELAY_MS);
    expect(published).toHaveLength(1);
  });
});
