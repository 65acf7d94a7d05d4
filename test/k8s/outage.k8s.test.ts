/**
 * The API server crashes (SIGKILL), stays away for 10 s and comes back. The gateway keeps serving on
 * its last table — established WebSockets untouched, new ones routed — and its
 * watches recover by themselves. /healthz fails only once a watch has been down
 * longer than its limit (3 s here; minutes by default, so that a control-plane
 * upgrade does not make the kubelet restart every gateway).
 */
import { performance } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import type { RunningGateway } from "../../src/cli/serve.js";
import type { RoutingTable } from "../../src/routing/table.js";
import {
  FAST_TUNING,
  apply,
  assertPodNetwork,
  controllerKubeconfig,
  echoSlice,
  get,
  namespace,
  route,
  service,
  startController,
  startPod,
  type Obj,
  type PodBackend,
} from "./harness/cluster.js";
import { startControlPlane, type ControlPlane } from "./harness/control-plane.js";
import { waitFor, waitForTable } from "./harness/wait.js";

const NS = "outage";
const OUTAGE_MS = 10_000;

let cp: ControlPlane;
/** Health limit 3 s. */
let fast: RunningGateway;
/** Default health limit. */
let patient: RunningGateway;
let pods: PodBackend[] = [];

function readyCount(table: RoutingTable): number {
  return table.routes
    .flatMap((r) => r.rules.flatMap((x) => x.backends.flatMap((b) => b.endpoints)))
    .filter((e) => e.ready).length;
}

async function status(gw: RunningGateway, path: string): Promise<number> {
  return (await fetch(`http://127.0.0.1:${gw.adminAddress.port}${path}`)).status;
}

function open(gw: RunningGateway): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.httpAddress.port}/`);
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
    ws.once("unexpected-response", (_q, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

function ask(ws: WebSocket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    ws.once("message", (d) => resolve(String(d)));
    ws.once("error", reject);
    ws.send(text);
  });
}

beforeAll(async () => {
  await assertPodNetwork();
  cp = await startControlPlane();
  const kubeconfig = await controllerKubeconfig(cp);
  pods = [await startPod("10.244.2.1", 8080), await startPod("10.244.2.2", 8080)];
  await apply(cp.admin, namespace(NS));
  await apply(cp.admin, service(NS, "echo", [{ name: "ws", port: 80, targetPort: 8080 }]));
  await apply(cp.admin, echoSlice(NS, [pods[0]!.ip]));
  await apply(cp.admin, route(NS, "chat", { rules: [{ backendRefs: [{ name: "echo", port: 80 }] }] }));
  fast = await startController(kubeconfig, ["--leader-election-lease-duration", "3s"]);
  const { unhealthyAfterMs: _default, ...patientSource } = FAST_TUNING.source ?? {};
  patient = await startController(kubeconfig, ["--leader-election-id", "patient"], {
    ...FAST_TUNING,
    source: patientSource,
  });
  for (const gw of [fast, patient]) {
    await waitForTable(gw.holder, (t) => readyCount(t) === 1, {
      what: "the route served",
    });
  }
});

afterAll(async () => {
  await fast?.stop();
  await patient?.stop();
  await Promise.all(pods.map((p) => p.close()));
  await cp?.stop();
});

describe("API server outage", () => {
  it("keeps serving on the last table, recovers its watches, and reports health", async () => {
    const clients = [await open(fast), await open(patient)];
    for (const ws of clients) expect(await ask(ws, "before")).toBe(`${pods[0]!.ip} before`);
    const generations = [fast.holder.current.generation, patient.holder.current.generation];
    await waitFor(
      async () => (await get<Obj & { status?: unknown }>(cp.admin, route(NS, "chat", {}))).status,
      {
        what: "initial status",
      },
    );

    // A crash: with SIGTERM, kube-apiserver lingers for seconds over its open watches.
    await cp.stopApiServer("SIGKILL");
    const stoppedAt = performance.now();

    // The watch is down past the 3 s limit: the fast gateway says so on /healthz …
    await waitFor(async () => (await status(fast, "/healthz")) === 503, {
      timeoutMs: OUTAGE_MS,
      intervalMs: 200,
      what: "/healthz 503 on the gateway with a 3 s limit",
    });
    const unhealthyAfter = performance.now() - stoppedAt;
    // … while serving goes on: ready, the same table, old sockets alive, new sockets routed.
    for (const gw of [fast, patient]) {
      expect(await status(gw, "/readyz")).toBe(200);
      const ws = await open(gw);
      expect(await ask(ws, "during")).toBe(`${pods[0]!.ip} during`);
      ws.close();
    }
    for (const ws of clients) expect(await ask(ws, "during")).toBe(`${pods[0]!.ip} during`);
    expect(await status(patient, "/healthz")).toBe(200);

    // Hold the outage for its full length (the scenario, not a synchronisation), checking as it goes.
    while (performance.now() - stoppedAt < OUTAGE_MS) {
      expect(await status(patient, "/healthz")).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect([fast.holder.current.generation, patient.holder.current.generation]).toEqual(generations);
    const fastDebug = (await (
      await fetch(`http://127.0.0.1:${fast.adminAddress.port}/debug/config`)
    ).json()) as {
      sources: { cluster: { watches: { kind: string; downForMs?: number; restarts: number }[] } };
    };
    expect(fastDebug.sources.cluster.watches.every((w) => (w.downForMs ?? 0) > 0 && w.restarts > 0)).toBe(
      true,
    );

    await cp.startApiServer();
    const restartedAt = performance.now();
    await waitFor(async () => (await status(fast, "/healthz")) === 200, { what: "/healthz 200 again" });
    const recoveredAfter = performance.now() - restartedAt;
    console.log(
      `API server down ${(OUTAGE_MS / 1000).toFixed(0)} s: /healthz 503 after ${unhealthyAfter.toFixed(0)} ms ` +
        `(limit 3 s), watches recovered ${recoveredAfter.toFixed(0)} ms after the restart`,
    );

    // Watches deliver again: a scale-up reaches both tables; status is written again.
    await apply(cp.admin, echoSlice(NS, [pods[0]!.ip, pods[1]!.ip]));
    for (const gw of [fast, patient]) {
      await waitForTable(gw.holder, (t) => readyCount(t) === 2, {
        what: "scale-up after the outage",
      });
    }
    await waitFor(
      async () => {
        const r = await get<Obj & { status?: { endpoints?: { ready: number } } }>(
          cp.admin,
          route(NS, "chat", {}),
        );
        return r.status?.endpoints?.ready === 2;
      },
      { what: "status written after the outage" },
    );
    // The sockets opened before the outage never noticed it.
    for (const ws of clients) expect(await ask(ws, "after")).toBe(`${pods[0]!.ip} after`);

    const metrics = await (await fetch(`http://127.0.0.1:${fast.adminAddress.port}/metrics`)).text();
    for (const kind of ["WebSocketRoute", "Service", "EndpointSlice", "Secret"]) {
      const line = metrics
        .split("\n")
        .find((l) => l.startsWith(`wsgate_watch_restarts_total{kind="${kind}"}`));
      expect(Number(line?.split(" ")[1] ?? 0), `${kind} restarts`).toBeGreaterThan(0);
    }
    for (const ws of clients) ws.close();
  });
});
