import { describe, expect, it } from "vitest";
import type { Endpoint, Rule } from "../routing/table.js";
import { Balancer } from "./balancer.js";
import { EndpointStates } from "./endpoint-state.js";

function endpoint(name: string, weight: number): Endpoint {
  return {
    id: `apps/${name}:80@10.0.0.1:80`,
    backend: `apps/${name}:80`,
    address: "10.0.0.1",
    port: 80,
    ready: true,
    terminating: false,
    weight,
  };
}

const a = endpoint("a", 70);
const b = endpoint("b", 30);
const c = endpoint("c", 0);
const rule: Rule = {
  key: "apps/r#0",
  matches: [{ type: "PathPrefix", value: "/" }],
  backends: [a, b, c].map((e) => ({ key: e.backend, weight: e.weight, endpoints: [e] })),
};

describe("weighted least-connections", () => {
  it("breaks a tie in proportion to weight, so that short requests split 70/30 and not 50/50", () => {
    const pickAt = (r: number): string | undefined =>
      new Balancer(new EndpointStates(), () => r).pick(rule, "LeastConnections")?.backend;
    // The random point falls in a's 70 of 100, else in b's 30; c (weight 0) never.
    expect(pickAt(0)).toBe(a.backend);
    expect(pickAt(0.69)).toBe(a.backend);
    expect(pickAt(0.71)).toBe(b.backend);
    expect(pickAt(0.999999)).toBe(b.backend);
  });

  it("prefers the lowest active/weight over any tie-break", () => {
    const states = new EndpointStates();
    for (let i = 0; i < 7; i++) states.acquire(a.id);
    // a: 7/70 = 0.1; b: 0/30 = 0 — b, whatever the random source says.
    expect(new Balancer(states, () => 0).pick(rule, "LeastConnections")?.backend).toBe(b.backend);
    for (let i = 0; i < 4; i++) states.acquire(b.id);
    // b: 4/30 ≈ 0.133 > a's 0.1 — a.
    expect(new Balancer(states, () => 0.99).pick(rule, "LeastConnections")?.backend).toBe(a.backend);
  });
});

describe("weights of plain requests", () => {
  it("draws the backendRef by weight before least-connections, so that requests in flight do not pull a 70/30 split toward 50/50", () => {
    const states = new EndpointStates();
    // One request open on a (the 70): least-connections alone sends every next request to b.
    states.acquire(a.id);
    const pickAt = (r: number, split: "connections" | "requests"): string | undefined =>
      new Balancer(states, () => r).pick(rule, "LeastConnections", undefined, undefined, split)?.backend;
    expect(pickAt(0, "connections")).toBe(b.backend);
    expect(pickAt(0.5, "connections")).toBe(b.backend);
    // Per request: a for a draw in its 70 of 100, b in its 30; c (weight 0) never.
    expect(pickAt(0, "requests")).toBe(a.backend);
    expect(pickAt(0.69, "requests")).toBe(a.backend);
    expect(pickAt(0.71, "requests")).toBe(b.backend);
    expect(pickAt(0.999999, "requests")).toBe(b.backend);
  });

  it("draws only among backendRefs that can take the request", () => {
    // a's only endpoint was tried already: every draw lands on b.
    const balancer = new Balancer(new EndpointStates(), () => 0);
    expect(balancer.pick(rule, "LeastConnections", new Set([a.id]), undefined, "requests")?.backend).toBe(
      b.backend,
    );
  });
});
