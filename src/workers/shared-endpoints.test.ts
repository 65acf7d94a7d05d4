import { describe, expect, it } from "vitest";
import { Balancer } from "../dataplane/balancer.js";
import type { Endpoint, Rule } from "../routing/table.js";
import {
  SharedEndpointStates,
  SharedHealthView,
  SlotAllocator,
  clearWorkerColumn,
  createEndpointMemory,
} from "./shared-endpoints.js";

const endpoint = (n: number): Endpoint => ({
  id: `apps/chat:80@10.0.0.${n}:8080`,
  backend: "apps/chat:80",
  address: `10.0.0.${n}`,
  port: 8080,
  ready: true,
  terminating: false,
  weight: 1,
});
const rule: Rule = {
  key: "apps/chat#0",
  matches: [{ type: "PathPrefix", value: "/" }],
  backends: [{ key: "apps/chat:80", weight: 1, endpoints: [endpoint(1), endpoint(2)] }],
};
const ids = rule.backends[0]!.endpoints.map((e) => e.id);

function setup() {
  const memory = createEndpointMemory(2, 16);
  const allocator = new SlotAllocator(memory);
  allocator.assign(ids, 1);
  const a = new SharedEndpointStates(memory, 0);
  const b = new SharedEndpointStates(memory, 1);
  a.setSlots(allocator.slots);
  b.setSlots(allocator.slots);
  return { memory, allocator, a, b };
}

describe("shared endpoint state", () => {
  it("makes least-connections global: a worker picks the endpoint the other worker loaded least", () => {
    const { a, b } = setup();
    const balancerB = new Balancer(b, () => 0);
    a.acquire(ids[0]!);
    a.acquire(ids[0]!);
    b.acquire(ids[1]!);
    // Worker b holds one connection on endpoint 2, worker a two on endpoint 1: b must pick endpoint 2.
    expect(balancerB.pick(rule, "LeastConnections")?.id).toBe(ids[1]);
    expect(a.active(ids[0]!)).toBe(2);
    expect(b.active(ids[1]!)).toBe(1);
  });

  it("sees another worker's passive ejection, so a dead endpoint is not retried by every thread", () => {
    let now = 1_000;
    const memory = createEndpointMemory(2, 16);
    const allocator = new SlotAllocator(memory);
    allocator.assign(ids, 1);
    const a = new SharedEndpointStates(memory, 0, undefined, () => now);
    const b = new SharedEndpointStates(memory, 1, undefined, () => now);
    a.setSlots(allocator.slots);
    b.setSlots(allocator.slots);
    a.recordFailure(ids[0]!, "ECONNREFUSED");
    expect(b.isEjected(ids[0]!)).toBe(true);
    now += 10_000;
    expect(b.isEjected(ids[0]!)).toBe(false);
    a.recordFailure(ids[0]!, "ECONNREFUSED"); // second failure: 10 s
    b.recordSuccess(ids[0]!);
    expect(a.isEjected(ids[0]!)).toBe(false);
  });

  it("shows the main thread's health verdicts to every worker", () => {
    const { memory, allocator } = setup();
    const view = new SharedHealthView(memory, () => allocator.slots);
    expect(view.isHealthy(ids[0]!)).toBe(true);
    Atomics.store(memory.unhealthy, allocator.slots.get(ids[0]!)!, 1);
    expect(view.isHealthy(ids[0]!)).toBe(false);
  });

  it("keeps an endpoint's slot across table swaps and frees it only once no worker can pick it and nothing is counted", () => {
    const { allocator, a } = setup();
    const slot = allocator.slots.get(ids[0]!);
    allocator.assign(ids, 2);
    expect(allocator.slots.get(ids[0]!)).toBe(slot);
    a.acquire(ids[0]!);
    allocator.assign([ids[1]!], 3); // endpoint 1 left in generation 3
    allocator.collect(2); // a worker still serves generation 2
    expect(allocator.slots.has(ids[0]!)).toBe(true);
    allocator.collect(3); // all serve 3, but a connection is still counted
    expect(allocator.slots.has(ids[0]!)).toBe(true);
    a.release(ids[0]!);
    allocator.collect(3);
    expect(allocator.slots.has(ids[0]!)).toBe(false);
    // The freed slot is reused, zeroed.
    allocator.assign([ids[1]!, "apps/chat:80@10.0.0.3:8080"], 4);
    expect(allocator.slots.get("apps/chat:80@10.0.0.3:8080")).toBe(slot);
  });

  it("drops a dead worker's connection counts and only them", () => {
    const { memory, a, b } = setup();
    a.acquire(ids[0]!);
    a.acquire(ids[0]!);
    b.acquire(ids[0]!);
    clearWorkerColumn(memory, 0);
    expect(b.active(ids[0]!)).toBe(1);
  });

  it("releases where it acquired even when the slot map changed in between", () => {
    const { allocator, a } = setup();
    a.acquire(ids[0]!);
    a.setSlots(new Map()); // a table without the endpoint arrived
    expect(a.active(ids[0]!)).toBe(1);
    a.release(ids[0]!);
    a.setSlots(allocator.slots);
    expect(a.active(ids[0]!)).toBe(0);
  });
});
