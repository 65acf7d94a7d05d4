/**
 * Scaling the backend down, seen through the real EndpointSlice controller: the
 * leaving Pods' endpoints turn `terminating` (not removed) in every gateway replica's
 * routing table (/debug/config); new connections avoid them while their connections
 * are closed with the route's drain code, spread over its drain window (not all at
 * once), and reconnect to the Pod that stays; that Pod's connections are not touched.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { ask, closeAll, connect, reconnect, type Client } from "./clients.js";
import {
  APP_NAMESPACE,
  ROUTE_DRAIN_CODE,
  ROUTE_DRAIN_MS,
  gatewaysSettled,
  echoPods,
  gatewayEchoEndpoints,
  kubectl,
  readyEchoPods,
  readyGatewayPods,
  scaleEcho,
  waitFor,
  within,
} from "./cluster.js";

const clients: Client[] = [];

beforeAll(async () => {
  await scaleEcho(3);
  await gatewaysSettled(3);
});

afterAll(async () => {
  await closeAll(clients);
  await scaleEcho(3);
});

it("marks a leaving Pod's endpoint terminating, sends new connections elsewhere, closes its connections with the drain code over the drain window, and they reconnect", async () => {
  const before: Client[] = [];
  for (let i = 0; i < 30; i++) before.push(await connect());
  clients.push(...before);
  const podsBefore = await echoPods();

  const scaledAt = Date.now();
  await kubectl("scale", "deployment/echo", "-n", APP_NAMESPACE, "--replicas=1");
  const [survivor] = await waitFor(
    async () => ((await readyEchoPods()).length === 1 ? readyEchoPods() : undefined),
    {
      what: "one echo Pod left",
    },
  );
  const drained = before.filter((c) => c.pod !== survivor);
  const kept = before.filter((c) => c.pod === survivor);
  expect(drained.length).toBeGreaterThanOrEqual(18);

  // Every gateway replica's table keeps the leaving Pods' endpoints, terminating and
  // not ready: they stay until their connections are drained.
  const leaving = podsBefore.filter((p) => p.name !== survivor);
  await waitFor(
    async () => {
      for (const gateway of await readyGatewayPods()) {
        const endpoints = await gatewayEchoEndpoints(gateway);
        for (const pod of leaving) {
          const endpoint = endpoints.find((e) => e.address === pod.ip);
          if (!endpoint?.terminating || endpoint.ready) return false;
        }
      }
      return true;
    },
    {
      what: "every gateway to see the leaving echo endpoints terminating",
      intervalMs: 100,
      timeoutMs: ROUTE_DRAIN_MS,
    },
  );
  // New connections meanwhile go to the Pod that stays...
  for (let i = 0; i < 10; i++) {
    const client = await connect();
    clients.push(client);
    expect(client.pod).toBe(survivor);
  }
  // ...while a leaving one was still there, draining.
  const stillLeaving = (await echoPods()).filter((p) => leaving.some((l) => l.name === p.name));
  expect(stillLeaving.length).toBeGreaterThan(0);

  const closes = await within(
    Promise.all(drained.map((c) => c.closed)),
    ROUTE_DRAIN_MS + 60_000,
    "the drained connections to close",
  );
  expect(new Set(closes.map((c) => c.code))).toEqual(new Set([ROUTE_DRAIN_CODE]));
  const times = closes.map((c) => c.at).sort((a, b) => a - b);
  const first = times[0] as number;
  const last = times[times.length - 1] as number;
  // Spread over the window: not a reconnect storm...
  expect(last - first).toBeGreaterThan(0.5 * ROUTE_DRAIN_MS);
  expect(times.filter((t) => t - first < ROUTE_DRAIN_MS / 4).length).toBeLessThan(0.6 * times.length);
  // ...and finished within it (plus the time for the gateways to see the Pods terminate).
  expect(last - scaledAt).toBeLessThan(ROUTE_DRAIN_MS + 20_000);

  // The staying Pod's connections were never touched.
  for (const c of kept) expect(await ask(c.socket, "still here")).toBe("still here");

  // Every drained client reconnects, to the Pod that stays.
  for (let i = 0; i < drained.length; i++) {
    const { client } = await reconnect();
    clients.push(client);
    expect(client.pod).toBe(survivor);
  }
});
