import { describe, expect, it } from "vitest";
import { Lease } from "./lease.js";

describe("Lease", () => {
  it("gives back everything held exactly once, newest first, however often it is ended", () => {
    const order: string[] = [];
    const lease = new Lease();
    lease.hold(() => order.push("route slot"));
    lease.hold(() => order.push("endpoint"));
    expect(lease.end()).toBeUndefined();
    expect(lease.end()).toBeUndefined();
    expect(order).toEqual(["endpoint", "route slot"]);
  });

  it("lets one thing go early without giving it back twice", () => {
    const released: string[] = [];
    const lease = new Lease();
    lease.hold(() => released.push("slot"));
    const endpoint = lease.hold(() => released.push("first endpoint"));
    endpoint();
    endpoint();
    lease.end();
    expect(released).toEqual(["first endpoint", "slot"]);
  });

  it("keeps releasing after a release throws, and returns the failure instead of throwing", () => {
    const released: string[] = [];
    const lease = new Lease();
    lease.hold(() => released.push("slot"));
    lease.hold(() => {
      throw new Error("bug");
    });
    const failure = lease.end();
    expect(released).toEqual(["slot"]);
    expect(failure?.cause).toEqual(new Error("bug"));
  });
});
