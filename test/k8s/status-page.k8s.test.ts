/**
 * The status page in cluster mode, two replicas (child processes of the built CLI)
 * against a real kube-apiserver: each says whether it leads, lists its watches as
 * synced and up, and shows the route's conditions as the leader wrote them to the API.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StatusView } from "../../src/observability/status.js";
import {
  apply,
  assertPodNetwork,
  controllerKubeconfig,
  echoSlice,
  get,
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

const NS = "status-page";

let cp: ControlPlane;
let pod: PodBackend;
const replicas: ControllerProcess[] = [];

interface LiveRoute extends Obj {
  status?: { conditions?: { type: string; status: string; reason: string; lastTransitionTime: string }[] };
}

async function status(r: ControllerProcess): Promise<StatusView> {
  return (await (await fetch(`http://${r.admin}/status`)).json()) as StatusView;
}

beforeAll(async () => {
  await assertPodNetwork();
  cp = await startControlPlane();
  const kubeconfig = await controllerKubeconfig(cp);
  pod = await startPod("10.244.16.1", 8080);
  await apply(cp.admin, namespace(NS));
  await apply(cp.admin, service(NS, "echo", [{ name: "ws", port: 80, targetPort: 8080 }]));
  await apply(cp.admin, echoSlice(NS, [pod.ip]));
  await apply(cp.admin, route(NS, "chat", { rules: [{ backendRefs: [{ name: "echo", port: 80 }] }] }));
  replicas.push(
    ...(await Promise.all([
      spawnController(kubeconfig, "status-a", ["--leader-election-lease-duration", "4s"]),
      spawnController(kubeconfig, "status-b", ["--leader-election-lease-duration", "4s"]),
    ])),
  );
});

afterAll(async () => {
  await Promise.all(replicas.map((r) => r.kill("SIGKILL")));
  await pod?.close();
  await cp?.stop();
});

describe("status page in cluster mode", () => {
  it("shows which replica leads, its watches, and the route conditions the leader wrote, so that an operator sees the control plane's state per Pod", async () => {
    // The leader has written status once the API's route carries Programmed=True.
    const written = await waitFor(
      async () => {
        const r = await get<LiveRoute>(cp.admin, route(NS, "chat", {}));
        return r.status?.conditions?.some((c) => c.type === "Programmed" && c.status === "True")
          ? r
          : undefined;
      },
      { what: "route status written by the leader" },
    );
    const views = await waitFor(
      async () => {
        const both = await Promise.all(replicas.map(status));
        // A follower may still be listing when the leader has written: wait for both.
        const synced = both.every((v) => v.source.mode === "cluster" && v.source.synced);
        const leaders = both.filter((v) => v.source.mode === "cluster" && v.source.leader).length;
        // …and for each to have compiled the route (the first publish follows the sync).
        const compiled = both.every((v) =>
          v.routes.some((r) => r.name === "chat" && r.conditions.some((c) => c.type === "Programmed")),
        );
        return synced && compiled && leaders === 1 ? both : undefined;
      },
      { what: "both replicas synced with the route compiled, exactly one reporting itself leader" },
    );
    for (const view of views) {
      if (view.source.mode !== "cluster") throw new Error("expected cluster mode");
      expect(view.source.synced).toBe(true);
      expect(view.source.watches.length).toBeGreaterThan(0);
      expect(view.source.watches.every((w) => w.synced && w.downForMs === undefined)).toBe(true);
      expect(view.source.watches.map((w) => w.kind)).toContain("WebSocketRoute");
      const chat = view.routes.find((r) => r.namespace === NS && r.name === "chat")!;
      // Conditions as stamped by this replica's ledger: the same verdicts the leader wrote.
      const shown = chat.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`);
      const api = written.status!.conditions!.map((c) => `${c.type}=${c.status}/${c.reason}`);
      expect(shown).toEqual(api);
      expect(chat.backends[0]!.endpoints[0]).toMatchObject({ state: "ready", address: `${pod.ip}:8080` });
    }
  });
});
