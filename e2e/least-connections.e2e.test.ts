/**
 * Least-connections across three backend Pods: long-lived connections opened one
 * after another spread evenly, whichever gateway replica kube-proxy picks.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { closeAll, connect, countBy, type Client } from "./clients.js";
import { gatewaysSettled, readyGatewayPods, scaleEcho } from "./cluster.js";

const clients: Client[] = [];
let pods: string[];

beforeAll(async () => {
  pods = await scaleEcho(3);
  await gatewaysSettled(3);
});

afterAll(async () => {
  await closeAll(clients);
});

it("spreads 30 connections evenly over 3 Pods", async () => {
  for (let i = 0; i < 30; i++) clients.push(await connect());
  const counts = countBy(clients, (c) => c.pod);
  expect([...counts.keys()].sort()).toEqual(pods);
  // Each replica balances its own connections exactly (the counts of any two Pods differ
  // by at most one); kube-proxy splits clients between replicas at random, so over
  // all replicas two Pods differ by at most the number of replicas.
  const replicas = (await readyGatewayPods()).length;
  const values = [...counts.values()];
  expect(Math.max(...values) - Math.min(...values)).toBeLessThanOrEqual(replicas);
});
