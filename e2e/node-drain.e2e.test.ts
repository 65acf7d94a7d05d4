/**
 * `kubectl drain` of a worker node under load, honouring the chart's
 * PodDisruptionBudget (maxUnavailable 1). With three gateway replicas on two workers,
 * one worker runs two: the drain asks to evict both at once, the PDB lets one go and
 * refuses the other until a replacement is Ready elsewhere, so the gateway never has
 * fewer than two ready replicas. Every connection is drained, not cut: clients of an
 * evicted gateway get 1001, clients of an evicted echo Pod get the route's drain code,
 * none gets 1006, and all reconnect.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { FollowedClient, ask, connectMany, countBy, stopAll } from "./clients.js";
import {
  GATEWAY_NAMESPACE,
  ROUTE_DRAIN_CODE,
  gatewayPods,
  gatewaysSettled,
  kubectl,
  kubectlOutput,
  note,
  scaleEcho,
  spreadEcho,
  waitFor,
  type PodInfo,
} from "./cluster.js";

const REPLICAS = 3;
const clients: FollowedClient[] = [];
let drained: string | undefined;

async function scaleGateway(replicas: number): Promise<void> {
  await kubectl("scale", "deployment/wsgate", "-n", GATEWAY_NAMESPACE, `--replicas=${replicas}`);
  await kubectl("rollout", "status", "deployment/wsgate", "-n", GATEWAY_NAMESPACE, "--timeout=180s");
  await waitFor(async () => (await gatewayPods()).filter((p) => p.ready).length === replicas, {
    what: `${replicas} ready gateway Pods and no terminating one`,
    timeoutMs: 120_000,
  });
}

beforeAll(async () => {
  await spreadEcho(3);
  await scaleGateway(REPLICAS);
  await gatewaysSettled(3);
});

afterAll(async () => {
  await stopAll(clients);
  if (drained) await kubectl("uncordon", drained);
  await scaleGateway(2);
  await scaleEcho(3);
});

it("drains a node one gateway Pod at a time as the PDB allows; its connections are drained, not cut, and reconnect", async () => {
  const before = await gatewayPods();
  const byNode = new Map<string, PodInfo[]>();
  for (const p of before) byNode.set(p.node, [...(byNode.get(p.node) ?? []), p]);
  // Three replicas on two workers: one worker runs two of them.
  const [node, evicted] = [...byNode.entries()].sort((a, b) => b[1].length - a[1].length)[0] as [
    string,
    PodInfo[],
  ];
  expect(evicted.length).toBeGreaterThanOrEqual(2);

  clients.push(...(await connectMany(40, () => FollowedClient.open())));

  // The fewest gateway replicas ready at once during the drain, and when each of the
  // evicted ones was deleted.
  let fewestReady = REPLICAS;
  const deletions = new Map<string, number>();
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      const now = await gatewayPods();
      fewestReady = Math.min(
        fewestReady,
        now.filter((p) => p.ready && p.deletionRequestedAt === undefined).length,
      );
      for (const p of now)
        if (p.deletionRequestedAt !== undefined) deletions.set(p.name, p.deletionRequestedAt);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  })();

  drained = node;
  let drainOutput: string;
  try {
    const { stdout, stderr } = await kubectlOutput(
      "drain",
      node,
      "--ignore-daemonsets",
      "--delete-emptydir-data",
      "--timeout=240s",
    );
    drainOutput = stdout + stderr;
  } finally {
    watching = false;
    await watcher;
  }

  // The drain asked for both evictions; the budget refused one until it could be spent again.
  expect(drainOutput).toMatch(/disruption budget/);
  const after = await gatewayPods();
  expect(after.filter((p) => p.node === node)).toEqual([]);
  for (const p of evicted) expect(deletions.has(p.name)).toBe(true);
  const times = evicted.map((p) => deletions.get(p.name) as number).sort((a, b) => a - b);
  const second = times[1] as number;
  // The second eviction came only after a replacement was Ready (second resolution).
  const replacements = after.filter((p) => !before.some((b) => b.name === p.name));
  expect(replacements.some((p) => p.readySince !== undefined && p.readySince <= second + 1_000)).toBe(true);
  expect(fewestReady).toBeGreaterThanOrEqual(REPLICAS - 1);
  note("node-drain", {
    node,
    evicted: evicted.map((p) => p.name),
    secondEvictionAfterFirstMs: second - (times[0] as number),
    replacementsReadyAfterFirstEvictionMs: replacements.map(
      (p) => (p.readySince ?? NaN) - (times[0] as number),
    ),
    fewestReadyReplicas: fewestReady,
    refusedEvictions: drainOutput.match(/disruption budget/g)?.length,
  });

  await waitFor(() => clients.every((c) => c.failure || c.settled), { what: "every client reconnected" });
  const codes = clients.flatMap((c) => c.closes.map((r) => r.code));
  for (const c of clients) expect(c.failure).toBeUndefined();
  // Drained, not cut: the gateway's 1001 or the route's drain code, never 1006.
  expect(codes.filter((code) => code !== 1001 && code !== ROUTE_DRAIN_CODE)).toEqual([]);
  expect(codes).toContain(1001);
  note("node-drain", { closes: Object.fromEntries(countBy(codes, String)) });
  const answers = await Promise.all(clients.map((c) => ask(c.current.socket, "after the drain")));
  expect(answers.filter((a) => a !== "after the drain")).toEqual([]);
});
