/**
 * A rolling update of the backend Deployment (maxSurge 1, maxUnavailable 0) under 300
 * connected clients: the real Deployment and EndpointSlice controllers replace the
 * echo Pods one by one; the gateway closes each leaving Pod's connections with the
 * route's drain code spread over its drain window — none cut (1006) — and every client
 * ends up reconnected to a new Pod.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { FollowedClient, ask, connectMany, stopAll } from "./clients.js";
import {
  APP_NAMESPACE,
  ROUTE_DRAIN_CODE,
  ROUTE_DRAIN_MS,
  echoPods,
  gatewaysSettled,
  kubectl,
  note,
  readyEchoPods,
  scaleEcho,
  waitFor,
} from "./cluster.js";

const CLIENTS = 300;
const clients: FollowedClient[] = [];

beforeAll(async () => {
  await scaleEcho(3);
  await gatewaysSettled(3);
});

afterAll(async () => {
  await stopAll(clients);
});

it("rolls the backend under 300 clients: each closed with the drain code spread over the window, none cut, all reconnected", async () => {
  const oldPods = await readyEchoPods();
  clients.push(...(await connectMany(CLIENTS, () => FollowedClient.open())));
  expect(new Set(clients.map((c) => c.current.pod))).toEqual(new Set(oldPods));

  await kubectl("rollout", "restart", "deployment/echo", "-n", APP_NAMESPACE);
  await kubectl("rollout", "status", "deployment/echo", "-n", APP_NAMESPACE, "--timeout=300s");
  // A leaving Pod stays until the gateway has closed its last connection.
  await waitFor(async () => (await echoPods()).every((p) => !oldPods.includes(p.name)), {
    what: "the old echo Pods to be drained and exit",
    timeoutMs: 180_000,
  });
  await waitFor(() => clients.every((c) => c.failure || c.settled), {
    what: "every client reconnected",
    timeoutMs: 60_000,
  });
  const newPods = await readyEchoPods();
  expect(newPods).toHaveLength(oldPods.length);

  for (const c of clients) {
    expect(c.failure).toBeUndefined();
    // Every client started on an old Pod, so it was closed at least once — and only
    // ever with the drain code: no connection was cut.
    expect(c.closes.length).toBeGreaterThanOrEqual(1);
    expect(c.closes.map((r) => r.code).filter((code) => code !== ROUTE_DRAIN_CODE)).toEqual([]);
    expect(newPods).toContain(c.current.pod);
  }
  const answers = await Promise.all(clients.map((c) => ask(c.current.socket, "after the rollout")));
  expect(answers.filter((a) => a !== "after the rollout")).toEqual([]);

  // Each old Pod's connections were closed spread over the drain window, not at once.
  const spans: Record<string, number> = {};
  for (const pod of oldPods) {
    const times = clients
      .flatMap((c) => c.closes.filter((r) => r.pod === pod).map((r) => r.at))
      .sort((a, b) => a - b);
    expect(times.length).toBeGreaterThan(CLIENTS / oldPods.length / 2);
    const first = times[0] as number;
    const last = times[times.length - 1] as number;
    spans[pod] = last - first;
    expect(last - first).toBeGreaterThan(0.5 * ROUTE_DRAIN_MS);
    expect(times.filter((t) => t - first < ROUTE_DRAIN_MS / 4).length).toBeLessThan(0.6 * times.length);
  }
  note("backend-rollout", {
    clients: clients.length,
    closes: clients.reduce((n, c) => n + c.closes.length, 0),
    closeSpanMsPerOldPod: spans,
    maxReconnectAttempts: Math.max(...clients.flatMap((c) => c.reconnectAttempts)),
  });
});
