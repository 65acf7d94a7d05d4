/**
 * The basics through a real cluster: the chart's gateway serves the route, echoes
 * through it, and reports the route's status where `kubectl get wsr` shows it.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  APP_NAMESPACE,
  ask,
  closeAll,
  connect,
  gatewaysSettled,
  kubectl,
  scaleEcho,
  type Client,
} from "./cluster.js";

const clients: Client[] = [];
let pods: string[];

beforeAll(async () => {
  pods = await scaleEcho(3);
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
