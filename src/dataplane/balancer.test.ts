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
