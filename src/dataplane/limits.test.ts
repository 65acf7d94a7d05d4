import { describe, expect, it } from "vitest";
import { Limits, clientKey } from "./limits.js";

describe("clientKey", () => {
  it.each([
    ["203.0.113.7", "203.0.113.7"],
    ["2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"],
    ["2001:DB8:1:2::9", "2001:db8:1:2::/64"],
    ["2001:db8::1", "2001:db8:0:0::/64"],
    ["::1", "0:0:0:0::/64"],
    ["fe80::1:2:3:4", "fe80:0:0:0::/64"],
    ["64:ff9b::192.0.2.33", "64:ff9b:0:0::/64"],
  ])("%s is counted as %s", (address, key) => {
    expect(clientKey(address)).toBe(key);
  });
});

describe("Limits", () => {
  const route = "apps/chat";

  it("limits an IPv6 client per /64 so that rotating through its own prefix buys no extra connections", () => {
    const limits = new Limits();
    const first = limits.admit(route, "2001:db8:1:2::1", { maxConnectionsPerClient: 2 });
    const second = limits.admit(route, "2001:db8:1:2:ffff::9", { maxConnectionsPerClient: 2 });
    const third = limits.admit(route, "2001:db8:1:2:abcd:1:2:3", { maxConnectionsPerClient: 2 });
    expect([first.ok, second.ok, third.ok]).toEqual([true, true, false]);
    // Another /64 is another client.
    expect(limits.admit(route, "2001:db8:1:3::1", { maxConnectionsPerClient: 2 }).ok).toBe(true);
    if (first.ok) first.release();
    expect(limits.clientConnections(route, "2001:db8:1:2::77")).toBe(1);
  });

  it("rate-limits per /64 and answers with a Retry-After", () => {
    let now = 0;
    const limits = new Limits(() => now);
    const rate = { handshakesPerClient: { perSecond: 1, burst: 2 } };
    expect(limits.rate(route, "2001:db8::1", rate).ok).toBe(true);
    expect(limits.rate(route, "2001:db8::2", rate).ok).toBe(true);
    const refused = limits.rate(route, "2001:db8::3", rate);
    expect(refused).toMatchObject({ ok: false, status: 429, reason: "client_rate", retryAfterSeconds: 1 });
    expect(limits.rate(route, "203.0.113.7", rate).ok).toBe(true);
    now = 1_000;
    expect(limits.rate(route, "2001:db8::4", rate).ok).toBe(true);
  });

  it("takes no connection slot for a rate token", () => {
    const limits = new Limits();
    limits.rate(route, "203.0.113.7", { handshakesPerClient: { perSecond: 5 } });
    expect(limits.connections(route)).toBe(0);
    expect(limits.clientConnections(route, "203.0.113.7")).toBe(0);
  });
});
