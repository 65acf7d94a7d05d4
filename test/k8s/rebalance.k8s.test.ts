/**
 * Rebalancing in cluster mode, against a real kube-apiserver: the CRD accepts
 * `spec.rebalance`, a scale-out written as an EndpointSlice moves connections off the old
 * "pods" (10.244.30.x) until each is within the bound, and the route gets an Event when
 * its rebalancing starts and one when it ends (kubectl describe tells the story).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningGateway } from "../../src/cli/serve.js";
import { ReconnectingClients } from "../helpers/reconnecting-clients.js";
import {
  apply,
  assertPodNetwork,
  controllerKubeconfig,
  echoSlice,
  namespace,
  route,
  service,
  startController,
  startPod,
  type PodBackend,
} from "./harness/cluster.js";
import { startControlPlane, type ControlPlane } from "./harness/control-plane.js";
import { waitFor, waitForTable } from "./harness/wait.js";

let cp: ControlPlane;
let gw: RunningGateway;
let crowd: ReconnectingClients | undefined;
const pods: PodBackend[] = [];

beforeAll(async () => {
  await assertPodNetwork();
  cp = await startControlPlane();
  gw = await startController(await controllerKubeconfig(cp));
  await gw.holder.waitForGeneration(1);
});

afterAll(async () => {
  crowd?.close();
  await gw?.stop();
  await Promise.all(pods.splice(0).map((p) => p.close()));
  await cp?.stop();
});

interface EventItem {
  reason: string;
  type: string;
  note: string;
  action: string;
  regarding: { kind: string; name: string };
  reportingController: string;
}

describe("rebalancing in cluster mode", () => {
  it("moves connections after a scale-out and records RebalanceStarted and RebalanceEnded Events on the route", async () => {
    const ns = "rebalance";
    const ips = ["10.244.30.1", "10.244.30.2", "10.244.30.3", "10.244.30.4"];
    for (const ip of ips) pods.push(await startPod(ip, 8080));
    await apply(cp.admin, namespace(ns));
    await apply(cp.admin, service(ns, "echo", [{ name: "ws", port: 8080 }]));
    await apply(cp.admin, echoSlice(ns, ips.slice(0, 2)));
    await apply(
      cp.admin,
      route(ns, "chat", {
        rules: [{ backendRefs: [{ name: "echo", port: 8080 }] }],
        rebalance: { maxSkewPercent: 120, maxClosesPerSecond: 20, minConnectionAge: "0s" },
      }),
    );
    const endpointsOf = (n: number) =>
      waitForTable(
        gw.holder,
        (t) =>
          t.routes.some(
            (r) =>
              r.key === `${ns}/chat` &&
              r.settings.rebalance?.maxSkewPercent === 120 &&
              r.rules[0]!.backends[0]!.endpoints.length === n,
          ),
        { what: `the route with ${n} endpoints` },
      );
    await endpointsOf(2);

    crowd = new ReconnectingClients(`ws://127.0.0.1:${gw.httpAddress.port}/`);
    await crowd.connect(20);
    const spread = (): number[] => pods.map((p) => p.sockets.size);
    await waitFor(() => spread().join() === "10,10,0,0", { what: "10 connections on each of two pods" });

    // The scale-out: two more ready endpoints. Mean 5, bound 6: 4 closes from each old pod.
    await apply(cp.admin, echoSlice(ns, ips));
    await endpointsOf(4);
    await waitFor(
      () => crowd!.open === 20 && spread().every((n) => n <= 6) && spread().reduce((a, b) => a + b) === 20,
      {
        what: "every pod within 120% of the mean",
      },
    );
    expect(crowd.closes.length).toBeGreaterThanOrEqual(8);
    expect(crowd.closes.every((c) => c.code === 1012)).toBe(true);

    const events = await waitFor(
      async () => {
        const list = await cp.admin.get<{ items: EventItem[] }>(
          `/apis/events.k8s.io/v1/namespaces/${ns}/events`,
        );
        const mine = list.items.filter((e) => e.action === "Rebalance");
        return mine.some((e) => e.reason === "RebalanceEnded") ? mine : undefined;
      },
      { what: "the RebalanceEnded Event" },
    );
    const started = events.find((e) => e.reason === "RebalanceStarted");
    expect(started).toMatchObject({
      type: "Normal",
      reportingController: "wsgate.io/gateway",
      regarding: { kind: "WebSocketRoute", name: "chat" },
    });
    expect(started!.note).toContain("200% of its share");
    const ended = events.find((e) => e.reason === "RebalanceEnded")!;
    expect(ended.note).toContain(`after ${crowd.closes.length} closes`);
  });
});
