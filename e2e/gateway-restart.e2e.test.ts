/**
 * The gateway's own rolling update (kubectl rollout restart) under the kubelet's real
 * SIGTERM and grace period: each replica leaves the Service's endpoints, sleeps in the
 * chart's preStop, then closes its connections with 1001 spread over --shutdown-drain,
 * all within terminationGracePeriodSeconds. Clients see 1001 — never an abrupt 1006 —
 * and reconnect to the replicas that remain, as many times as the rollout moves them.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { FollowedClient, ask, connectMany, stopAll } from "./clients.js";
import {
  GATEWAY_DRAIN_MS,
  GATEWAY_NAMESPACE,
  GATEWAY_PRESTOP_MS,
  gatewayPods,
  gatewaysSettled,
  kubectl,
  note,
  nodes,
  scaleEcho,
  servingGateway,
  spreadGateway,
  waitFor,
} from "./cluster.js";

/** e2e/values.yaml: preStopSleepSeconds + drainSeconds + marginSeconds. */
const GRACE_MS = GATEWAY_PRESTOP_MS + GATEWAY_DRAIN_MS + 10_000;

const clients: FollowedClient[] = [];

beforeAll(async () => {
  // One replica per node: the echo Pod's view of a connection's peer (a gateway Pod's
  // IP, or across nodes its node's) then names the replica each client is on.
  await spreadGateway();
  await scaleEcho(3);
  await gatewaysSettled(3);
});

afterAll(async () => {
  await stopAll(clients);
});

it("closes connections with 1001 after preStop, spread over --shutdown-drain, within the grace period; every client reconnects", async () => {
  const old = await gatewayPods();
  const oldPods = old.map((p) => p.name);
  const clusterNodes = await nodes();
  clients.push(...(await connectMany(20, () => FollowedClient.open())));

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

  // Each old replica (one per node, so the echo Pod's view of a connection's peer names
  // it) closed its connections — the first ones and those that reconnected to it —
  // after its own preStop, within its grace period, spread over the drain window: not
  // a burst that turns into a reconnect storm.
  const byReplica = new Map<string, number[]>();
  for (const r of clients.flatMap((c) => c.closes)) {
    const replica = servingGateway(r.peer, old, clusterNodes)?.name ?? `unknown peer ${r.peer}`;
    byReplica.set(replica, [...(byReplica.get(replica) ?? []), r.at]);
  }
  expect([...byReplica.keys()].sort()).toEqual(oldPods);
  const spans: Record<string, number> = {};
  const sinceDeletion: Record<string, [number, number]> = {};
  for (const [pod, unsorted] of byReplica) {
    const times = unsorted.sort((a, b) => a - b);
    const first = times[0] as number;
    const last = times[times.length - 1] as number;
    const deletion = deletions.get(pod) as number;
    sinceDeletion[pod] = [first - deletion, last - deletion];
    spans[pod] = last - first;
    // The deletion time has second resolution and rounds down: this bound only loosens.
    expect(first).toBeGreaterThanOrEqual(deletion + GATEWAY_PRESTOP_MS);
    // Past the grace period the kubelet SIGKILLs: a close after it would be a cut.
    expect(last).toBeLessThanOrEqual(deletion + GRACE_MS);
    if (times.length < 3) continue;
    expect(last - first).toBeGreaterThan(0.5 * GATEWAY_DRAIN_MS);
    expect(times.filter((t) => t - first < GATEWAY_DRAIN_MS / 4).length).toBeLessThan(0.6 * times.length);
  }
  note("gateway-restart", {
    clients: clients.length,
    closes: clients.reduce((n, c) => n + c.closes.length, 0),
    firstAndLastCloseAfterDeletionMs: sinceDeletion,
    closeSpanMsPerOldReplica: spans,
  });

  const attempts = clients.flatMap((c) => c.reconnectAttempts);
  // New connections go to ready replicas only: reconnects succeed at once, or nearly.
  expect(Math.max(...attempts)).toBeLessThanOrEqual(3);
});
