/**
 * The gateway's own rolling update (kubectl rollout restart) under the kubelet's real
 * SIGTERM and grace period: each replica leaves the Service's endpoints, sleeps in the
 * chart's preStop, then closes its connections with 1001 spread over --shutdown-drain,
 * all within terminationGracePeriodSeconds. Clients see 1001 — never an abrupt 1006 —
 * and reconnect to the replicas that remain, as many times as the rollout moves them.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { FollowedClient, ask, connectMany, stopAll, whence } from "./clients.js";
import {
  GATEWAY_DRAIN_MS,
  GATEWAY_NAMESPACE,
  GATEWAY_PRESTOP_MS,
  gatewayPods,
  gatewaysSettled,
  kubectl,
  nodes,
  scaleEcho,
  servingGateway,
  waitFor,
} from "./cluster.js";

/** e2e/values.yaml: preStopSleepSeconds + drainSeconds + marginSeconds. */
const GRACE_MS = GATEWAY_PRESTOP_MS + GATEWAY_DRAIN_MS + 10_000;

const clients: FollowedClient[] = [];

beforeAll(async () => {
  await scaleEcho(3);
  await gatewaysSettled(3);
});

afterAll(async () => {
  await stopAll(clients);
});

it("closes connections with 1001 after preStop, spread over --shutdown-drain, within the grace period; every client reconnects", async () => {
  const old = await gatewayPods();
  const oldPods = old.map((p) => p.name);
  clients.push(...(await connectMany(20, () => FollowedClient.open())));
  // The old replica each client is on, where the echo Pod's view of the peer names it.
  const clusterNodes = await nodes();
  const servedBy = new Map<FollowedClient, string>();
  for (const c of clients) {
    const gateway = servingGateway((await whence(c.current.socket)).peer, old, clusterNodes);
    if (gateway) servedBy.set(c, gateway.name);
  }

  // When each old replica's deletion was asked for, seen while it terminates.
  const deletions = new Map<string, number>();
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      for (const p of await gatewayPods())
        if (p.deletionRequestedAt !== undefined) deletions.set(p.name, p.deletionRequestedAt);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  })();

  await kubectl("rollout", "restart", "deployment/wsgate", "-n", GATEWAY_NAMESPACE);
  await kubectl("rollout", "status", "deployment/wsgate", "-n", GATEWAY_NAMESPACE, "--timeout=300s");
  // The rollout is complete when the new Pods are ready; the old ones may still be draining.
  await waitFor(
    async () => {
      const pods = await gatewayPods();
      return pods.every((p) => !oldPods.includes(p.name) && p.ready);
    },
    { what: "the old gateway Pods to finish draining and exit", timeoutMs: 120_000 },
  );
  watching = false;
  await watcher;
  await waitFor(() => clients.every((c) => c.failure || c.settled), { what: "every client reconnected" });

  expect([...deletions.keys()].sort()).toEqual(oldPods);
  for (const c of clients) {
    expect(c.failure).toBeUndefined();
    // Every client was on an old replica, so it was closed at least once, and only ever with 1001.
    expect(c.closes.length).toBeGreaterThanOrEqual(1);
    expect(new Set(c.closes.map((r) => r.code))).toEqual(new Set([1001]));
    expect(await ask(c.current.socket, "after the rollout")).toBe("after the rollout");
  }

  // Each close fell in some old replica's shutdown: after its preStop sleep (the
  // deletion time has second resolution and rounds down, so this bound only gets
  // looser), and before its grace period ran out (no SIGKILL cut a drain short).
  const closes = clients.flatMap((c) => c.closes.map((r) => r.at)).sort((a, b) => a - b);
  const requested = [...deletions.values()];
  for (const at of closes) {
    expect(requested.some((t) => at >= t + GATEWAY_PRESTOP_MS && at <= t + GRACE_MS)).toBe(true);
  }
  // Each replica spread its closes over the drain window (the first close of each of
  // its clients), not a burst that turns into a reconnect storm.
  let attributed = 0;
  for (const pod of oldPods) {
    const times = clients
      .filter((c) => servedBy.get(c) === pod)
      .map((c) => (c.closes[0] as { at: number }).at)
      .sort((a, b) => a - b);
    if (times.length < 4) continue;
    attributed++;
    const first = times[0] as number;
    expect((times[times.length - 1] as number) - first).toBeGreaterThan(0.5 * GATEWAY_DRAIN_MS);
    expect(times.filter((t) => t - first < GATEWAY_DRAIN_MS / 4).length).toBeLessThan(0.6 * times.length);
  }
  expect(attributed).toBeGreaterThanOrEqual(1);

  const attempts = clients.flatMap((c) => c.reconnectAttempts);
  // New connections go to ready replicas only: reconnects succeed at once, or nearly.
  expect(Math.max(...attempts)).toBeLessThanOrEqual(3);
});
