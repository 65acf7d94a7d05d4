/**
 * The basics through a real cluster: the chart's gateway serves the route, echoes
 * through it, and reports the route's status where `kubectl get wsr` shows it.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { ask, closeAll, connect, type Client } from "./clients.js";
import {
  APP_NAMESPACE,
  echoPods,
  gatewayPods,
  gatewaysSettled,
  kubectl,
  nodes,
  servingNode,
  spreadEcho,
} from "./cluster.js";

const clients: Client[] = [];
let pods: string[];

beforeAll(async () => {
  await spreadEcho(3);
  pods = (await echoPods()).map((p) => p.name);
  await gatewaysSettled(3);
});

afterAll(async () => {
  await closeAll(clients);
});

it("echoes text and binary messages through the gateway", async () => {
  const client = await connect();
  clients.push(client);
  expect(pods).toContain(client.pod);
  expect(await ask(client.socket, "hello through wsgate")).toBe("hello through wsgate");
  const answer = new Promise<Buffer>((resolve) =>
    client.socket.once("message", (data) => resolve(data as Buffer)),
  );
  client.socket.send(Buffer.from([0, 1, 2, 255]));
  expect([...(await answer)]).toEqual([0, 1, 2, 255]);
});

it("answers 404 for a path no route claims", async () => {
  await expect(connect("/nowhere")).rejects.toThrow("HTTP 404");
});

it("reports the route Accepted and Programmed with 3 ready endpoints (kubectl get wsr)", async () => {
  const route = JSON.parse(await kubectl("get", "wsr", "echo", "-n", APP_NAMESPACE, "-o", "json")) as {
    status: { conditions: { type: string; status: string }[]; endpoints: { ready: number; total: number } };
  };
  const status = Object.fromEntries(route.status.conditions.map((c) => [c.type, c.status]));
  expect(status).toMatchObject({ Accepted: "True", ResolvedRefs: "True", Programmed: "True" });
  expect(route.status.endpoints.ready).toBe(3);
  const table = await kubectl("get", "wsr", "-n", APP_NAMESPACE);
  expect(table).toMatch(/^NAME\s+HOSTS\s+ACCEPTED\s+PROGRAMMED\s+READY\s+AGE$/m);
  expect(table).toMatch(/^echo\s+.*\bTrue\s+True\s+3\s+/m);
});

it("crosses nodes through kube-proxy: the NodePort on the control plane, gateways on workers, backends on other nodes than their gateway", async () => {
  const clusterNodes = await nodes();
  const controlPlane = clusterNodes.filter((n) => n.controlPlane).map((n) => n.name);
  const gateways = await gatewayPods();
  // The host reaches the NodePort on the control plane (e2e/kind.yaml), where no
  // gateway runs: kube-proxy forwards every connection to another node.
  expect(controlPlane).toHaveLength(1);
  for (const g of gateways) expect(controlPlane).not.toContain(g.node);
  const opened: Client[] = [];
  for (let i = 0; i < 12; i++) opened.push(await connect());
  clients.push(...opened);
  const legs = opened.map((c) => ({
    backendNode: c.node,
    gatewayNode: servingNode(c.peer, gateways, clusterNodes),
  }));
  // Each leg comes from a node a gateway replica runs on...
  for (const leg of legs) expect(leg.gatewayNode).toBeDefined();
  // ...and some gateway reaches a backend on another node (Pod-to-Pod across nodes).
  expect(legs.some((leg) => leg.gatewayNode !== leg.backendNode)).toBe(true);
});
