/**
 * Leader election with real replicas (child processes of the built CLI) against a
 * real kube-apiserver: every replica serves traffic, only the Lease holder writes
 * status and Events; a crashed leader is replaced within the lease duration, a
 * stopped one hands over at once, and a replica that loses its Lease stops writing.
 */
import { performance } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import {
  apply,
  assertPodNetwork,
  controllerKubeconfig,
  echoSlice,
  get,
  mutate,
  namespace,
  route,
  service,
  startPod,
  type Obj,
  type PodBackend,
} from "./harness/cluster.js";
import { startControlPlane, type ControlPlane } from "./harness/control-plane.js";
import { spawnController, type ControllerProcess } from "./harness/process.js";
import { waitFor } from "./harness/wait.js";

const NS = "ha";
const LEASE_SECONDS = 4;
const LEASE_FLAGS = ["--leader-election-lease-duration", `${LEASE_SECONDS}s`];

let cp: ControlPlane;
let kubeconfig: string;
let pods: PodBackend[] = [];
const replicas: ControllerProcess[] = [];

interface Lease extends Obj {
  spec: {
    holderIdentity?: string;
    leaseTransitions?: number;
    renewTime?: string;
    leaseDurationSeconds?: number;
  };
}
interface Condition {
  type: string;
  status: string;
  reason: string;
  lastTransitionTime: string;
}
interface LiveRoute extends Obj {
  status?: { endpoints?: { ready: number; total: number }; conditions?: Condition[] };
}
interface Debug {
  table: { generation: number; routes: { rules: { backends: { endpoints: { ready: boolean }[] }[] }[] }[] };
  sources: {
    cluster: { leaderElection: { leading: boolean; identity: string }; status: { writes: number } };
  };
}

const LEASE = {
  apiVersion: "coordination.k8s.io/v1",
  kind: "Lease",
  metadata: { name: "wsgate-wsgate", namespace: "wsgate-system" },
};

async function lease(): Promise<Lease | undefined> {
  try {
    return await get<Lease>(cp.admin, LEASE);
  } catch {
    return undefined;
  }
}

async function holder(): Promise<string> {
  return (await lease())?.spec.holderIdentity ?? "";
}

async function start(name: string): Promise<ControllerProcess> {
  const r = await spawnController(kubeconfig, name, LEASE_FLAGS);
  replicas.push(r);
  return r;
}

async function debug(r: ControllerProcess): Promise<Debug> {
  return (await (await fetch(`http://${r.admin}/debug/config`)).json()) as Debug;
}

function readyEndpoints(d: Debug): number {
  return d.table.routes
    .flatMap((r) => r.rules.flatMap((x) => x.backends.flatMap((b) => b.endpoints)))
    .filter((e) => e.ready).length;
}

async function liveRoute(): Promise<LiveRoute> {
  return get<LiveRoute>(cp.admin, route(NS, "chat", {}));
}

async function readyInStatus(n: number, what: string): Promise<LiveRoute> {
  return waitFor(
    async () => {
      const r = await liveRoute();
      return r.status?.endpoints?.ready === n ? r : undefined;
    },
    { what },
  );
}

async function roundTrip(r: ControllerProcess): Promise<string> {
  const ws = new WebSocket(`ws://${r.http}/`);
  try {
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
      ws.once("unexpected-response", (_q, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    return await new Promise<string>((resolve) => {
      ws.once("message", (d) => resolve(String(d)));
      ws.send("hi");
    });
  } finally {
    ws.terminate();
  }
}

async function eventsBy(instance: string): Promise<{ reason: string; reportingInstance: string }[]> {
  const list = await cp.admin.get<{ items: { reason: string; reportingInstance: string }[] }>(
    `/apis/events.k8s.io/v1/namespaces/${NS}/events`,
  );
  return list.items.filter((e) => e.reportingInstance === instance);
}

beforeAll(async () => {
  await assertPodNetwork();
  cp = await startControlPlane();
  kubeconfig = await controllerKubeconfig(cp);
  pods = [
    await startPod("10.244.1.1", 8080),
    await startPod("10.244.1.2", 8080),
    await startPod("10.244.1.3", 8080),
  ];
  await apply(cp.admin, namespace(NS));
  await apply(cp.admin, service(NS, "echo", [{ name: "ws", port: 80, targetPort: 8080 }]));
  await apply(cp.admin, echoSlice(NS, [pods[0]!.ip]));
  await apply(cp.admin, route(NS, "chat", { rules: [{ backendRefs: [{ name: "echo", port: 80 }] }] }));
});

afterAll(async () => {
  await Promise.all(replicas.map((r) => r.kill("SIGKILL")));
  await Promise.all(pods.map((p) => p.close()));
  await cp?.stop();
});

describe("leader election", () => {
  let a: ControllerProcess;
  let b: ControllerProcess;
  let leader: ControllerProcess;
  let standby: ControllerProcess;

  it("elects one leader; every replica serves, only the leader writes status and Events", async () => {
    [a, b] = await Promise.all([start("replica-a"), start("replica-b")]);
    const holderId = await waitFor(async () => (await holder()) || undefined, { what: "a Lease holder" });
    leader = holderId === a.identity ? a : b;
    standby = leader === a ? b : a;
    expect([a.identity, b.identity]).toContain(holderId);

    const status = await readyInStatus(1, "status from the leader");
    expect(status.status?.conditions?.find((c) => c.type === "Programmed")?.status).toBe("True");
    // The leader's status says the route is served; each replica serves once its own
    // informers have synced and its table holds the endpoint (the standby may be later).
    for (const r of [a, b]) {
      await waitFor(async () => readyEndpoints(await debug(r)) === 1 || undefined, {
        what: `${r.identity}'s table with the endpoint`,
      });
      expect(await roundTrip(r)).toBe(`${pods[0]!.ip} hi`);
    }

    const [leaderDebug, standbyDebug] = [await debug(leader), await debug(standby)];
    expect(leaderDebug.sources.cluster.leaderElection.leading).toBe(true);
    expect(standbyDebug.sources.cluster.leaderElection.leading).toBe(false);
    expect(standbyDebug.sources.cluster.status.writes).toBe(0);
    expect((await eventsBy(leader.identity)).length).toBeGreaterThan(0);
    expect(await eventsBy(standby.identity)).toEqual([]);
  });

  it("replaces a crashed leader within the lease duration, keeping lastTransitionTime", async () => {
    const before = await liveRoute();
    const killedAt = performance.now();
    await leader.kill("SIGKILL");
    await waitFor(async () => (await holder()) === standby.identity, {
      timeoutMs: 3 * LEASE_SECONDS * 1000,
      intervalMs: 50,
      what: "the standby to take the Lease",
    });
    const takeoverMs = performance.now() - killedAt;
    console.log(`crashed leader replaced after ${takeoverMs.toFixed(0)} ms (lease ${LEASE_SECONDS} s)`);
    // The standby only trusts its own clock: it waits out a full lease from when it last saw the record
    // change (up to one retry period, lease / 7.5 plus jitter, after the last renewal), then takes it at
    // its next try: the lease duration plus at most two retry periods, and some slack for a busy machine.
    expect(takeoverMs).toBeLessThan(LEASE_SECONDS * 1000 + 2_500);

    // The new leader writes: scale up.
    await apply(cp.admin, echoSlice(NS, [pods[0]!.ip, pods[1]!.ip]));
    const after = await readyInStatus(2, "status from the new leader");
    const accepted = (r: LiveRoute): string | undefined =>
      r.status?.conditions?.find((c) => c.type === "Accepted")?.lastTransitionTime;
    expect(accepted(after)).toBe(accepted(before));
    expect((await lease())?.spec.leaseTransitions).toBeGreaterThanOrEqual(1);
    [leader, standby] = [standby, await start("replica-c")];
  });

  it("hands over at once when the leader shuts down gracefully (Lease released)", async () => {
    await waitFor(async () => (await debug(standby)).table.generation > 0, { what: "replica-c synced" });
    const stoppedAt = performance.now();
    expect(await leader.kill("SIGTERM")).toBe(0);
    await waitFor(async () => (await holder()) === standby.identity, {
      timeoutMs: 3 * LEASE_SECONDS * 1000,
      intervalMs: 50,
      what: "replica-c to take the released Lease",
    });
    const handoverMs = performance.now() - stoppedAt;
    console.log(`released Lease taken over after ${handoverMs.toFixed(0)} ms`);
    // One retry period (lease / 7.5 ≈ 530 ms, plus jitter) after the release, not a whole lease.
    expect(handoverMs).toBeLessThan(LEASE_SECONDS * 1000);
    leader = standby;
    await apply(cp.admin, echoSlice(NS, [pods[2]!.ip]));
    await readyInStatus(1, "status from replica-c");
    expect(await roundTrip(leader)).toBe(`${pods[2]!.ip} hi`);
  });

  it("stops writing the moment its Lease is taken", async () => {
    const writesBefore = (await debug(leader)).sources.cluster.status.writes;
    // Another party takes the Lease (as a replica would after a network partition of the leader).
    await mutate<Lease>(cp.admin, LEASE, (l) => {
      l.spec.holderIdentity = "intruder";
      l.spec.renewTime = new Date().toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
      l.spec.leaseDurationSeconds = 3600;
    });
    await waitFor(async () => !(await debug(leader)).sources.cluster.leaderElection.leading, {
      what: "the leader to notice",
    });
    // A real change: every replica serves it, nobody writes it.
    await apply(cp.admin, echoSlice(NS, [pods[1]!.ip, pods[2]!.ip]));
    await waitFor(async () => readyEndpoints(await debug(leader)) === 2, { what: "the change in the table" });
    const status = await liveRoute();
    expect(status.status?.endpoints?.ready).toBe(1);
    expect((await debug(leader)).sources.cluster.status.writes).toBe(writesBefore);
    expect(await holder()).toBe("intruder");

    // The intruder lets go: the replica takes over and catches up.
    await mutate<Lease>(cp.admin, LEASE, (l) => {
      l.spec.holderIdentity = "";
      l.spec.leaseDurationSeconds = 1;
    });
    await readyInStatus(2, "status caught up after the Lease came back");
    expect(await holder()).toBe(leader.identity);
  });
});
