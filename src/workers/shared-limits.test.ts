import { describe, expect, it } from "vitest";
import { SharedLimits, clearWorkerLimits, createLimitsMemory } from "./shared-limits.js";

// Two views on one memory are two workers: the same SharedArrayBuffer, two columns.
function twoWorkers(now: () => number = Date.now, entries?: number) {
  const memory = createLimitsMemory(2, entries);
  return { memory, a: new SharedLimits(memory, 0, now), b: new SharedLimits(memory, 1, now) };
}

describe("SharedLimits", () => {
  const route = "apps/chat";

  it("refuses a client's connection beyond maxConnectionsPerClient whichever worker holds the others", () => {
    const { a, b } = twoWorkers();
    const limits = { maxConnectionsPerClient: 3 };
    expect(a.admit(route, "203.0.113.7", limits).ok).toBe(true);
    expect(b.admit(route, "203.0.113.7", limits).ok).toBe(true);
    expect(a.admit(route, "203.0.113.7", limits).ok).toBe(true);
    const refused = b.admit(route, "203.0.113.7", limits);
    expect(refused).toMatchObject({ ok: false, status: 429, reason: "client_connections" });
    expect(a.clientConnections(route, "203.0.113.7")).toBe(3);
    // Another client is not affected.
    expect(b.admit(route, "203.0.113.8", limits).ok).toBe(true);
  });

  it("gives a slot back on release in whichever worker, so a closed connection frees room everywhere", () => {
    const { a, b } = twoWorkers();
    const limits = { maxConnectionsPerClient: 1, maxConnections: 5 };
    const first = a.admit(route, "2001:db8::1", limits);
    expect(b.admit(route, "2001:db8::2", limits).ok).toBe(false); // same /64
    if (first.ok) first.release();
    if (first.ok) first.release(); // twice is once
    expect(a.clientConnections(route, "2001:db8::1")).toBe(0);
    expect(b.admit(route, "2001:db8::2", limits).ok).toBe(true);
    expect(a.connections(route)).toBe(1);
  });

  it("holds a route's maxConnections across workers with a 503", () => {
    const { a, b } = twoWorkers();
    const limits = { maxConnections: 2 };
    expect(a.admit(route, "198.51.100.1", limits).ok).toBe(true);
    expect(b.admit(route, "198.51.100.2", limits).ok).toBe(true);
    expect(a.admit(route, "198.51.100.3", limits)).toMatchObject({
      ok: false,
      status: 503,
      reason: "route_connections",
    });
    // The refused client left no trace behind.
    expect(a.clientConnections(route, "198.51.100.3")).toBe(0);
  });

  it("shares one token bucket per client so that a second worker does not double handshakesPerClient", () => {
    let now = 1_000_000;
    const { a, b } = twoWorkers(() => now);
    const limits = { handshakesPerClient: { perSecond: 1, burst: 4 } };
    const verdicts = [a, b, a, b, a, b].map((w) => w.rate(route, "192.0.2.9", limits).ok);
    expect(verdicts).toEqual([true, true, true, true, false, false]);
    now += 2_000; // two tokens back
    expect([a.rate(route, "192.0.2.9", limits).ok, b.rate(route, "192.0.2.9", limits).ok]).toEqual([
      true,
      true,
    ]);
    expect(a.rate(route, "192.0.2.9", limits)).toMatchObject({ ok: false, reason: "client_rate" });
  });

  it("forgets a dead worker's counts and only them, so its lost connections stop holding slots", () => {
    const { memory, a, b } = twoWorkers();
    const limits = { maxConnectionsPerClient: 4 };
    for (let i = 0; i < 3; i++) a.admit(route, "203.0.113.7", limits);
    b.admit(route, "203.0.113.7", limits);
    clearWorkerLimits(memory, 0);
    expect(b.clientConnections(route, "203.0.113.7")).toBe(1);
    expect(b.connections(route)).toBe(1);
  });

  it("keeps counting correctly through deletions in a crowded table (backward-shift deletion keeps probes intact)", () => {
    const { a } = twoWorkers(Date.now, 64);
    const limits = { maxConnectionsPerClient: 2 };
    const held = [];
    for (let i = 0; i < 25; i++) {
      const v = a.admit(route, `10.0.0.${i}`, limits);
      expect(v.ok).toBe(true);
      held.push(v);
    }
    // Release every other client, then check every count is still found where it should be.
    held.forEach((v, i) => i % 2 === 0 && v.ok && v.release());
    for (let i = 0; i < 25; i++) expect(a.clientConnections(route, `10.0.0.${i}`)).toBe(i % 2 === 0 ? 0 : 1);
    expect(a.connections(route)).toBe(12);
  });

  it("limits a key on its own worker when the table is full instead of refusing it for lack of room", () => {
    const { a, b } = twoWorkers(Date.now, 4);
    const limits = { maxConnectionsPerClient: 1 };
    for (let i = 0; i < 3; i++) expect(a.admit(route, `10.1.0.${i}`, limits).ok).toBe(true);
    // The table (4 entries: 3 clients + the route) is full: new clients fall back to per-worker counts.
    expect(a.admit(route, "10.1.0.9", limits).ok).toBe(true);
    expect(a.admit(route, "10.1.0.9", limits).ok).toBe(false);
    expect(b.admit(route, "10.1.0.9", limits).ok).toBe(true);
  });

  it("sweeps refilled token buckets so that one-off clients do not fill the table", () => {
    let now = 5_000_000;
    const { a } = twoWorkers(() => now, 8);
    const limits = { handshakesPerClient: { perSecond: 10 } };
    for (let i = 0; i < 7; i++) expect(a.rate(route, `10.2.0.${i}`, limits).ok).toBe(true);
    now += 120_000;
    a.sweep();
    for (let i = 10; i < 17; i++) expect(a.rate(route, `10.2.0.${i}`, limits).ok).toBe(true);
  });
});
