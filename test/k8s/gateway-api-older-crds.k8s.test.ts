/**
 * Gateway API CRDs from before ReferenceGrant's v1 (a cluster whose provider installed
 * them) serve ReferenceGrant as v1beta1 only. Against a real kube-apiserver with such a
 * ReferenceGrant CRD — the vendored one with v1 not served — wsgate watches the v1beta1
 * grants, so a cross-namespace backendRef they permit carries WebSocket traffic instead
 * of staying RefNotPermitted.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type WebSocket from "ws";
import { parse } from "yaml";
import type { RunningGateway } from "../../src/cli/serve.js";
import type { RoutingTable } from "../../src/routing/table.js";
import { isNotFound } from "../../src/kube/rest.js";
import { ask, openAs } from "../helpers/gateway.js";
import {
  apply,
  assertPodNetwork,
  controllerKubeconfig,
  endpointSlice,
  FAST_TUNING,
  namespace,
  service,
  startController,
  startPod,
  type Obj,
  type PodBackend,
} from "./harness/cluster.js";
import { startControlPlane, type ControlPlane } from "./harness/control-plane.js";
import { waitFor, waitForTable } from "./harness/wait.js";

const REPO = new URL("../../", import.meta.url).pathname;
const GROUP = "gateway.networking.k8s.io";

let cp: ControlPlane;
let gw: RunningGateway;
let pod: PodBackend;
const clients: WebSocket[] = [];

interface Crd {
  spec: { names: { plural: string }; versions: { name: string; served: boolean }[] };
}

/** True once `path` answers (a collection the API server serves), false on 404. */
async function served(path: string): Promise<boolean> {
  try {
    await cp.admin.get(path);
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

beforeAll(async () => {
  await assertPodNetwork();
  cp = await startControlPlane();
  const kubeconfig = await controllerKubeconfig(cp);
  const dir = join(REPO, "crds/gateway-api");
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".yaml"))) {
    const crd = parse(readFileSync(join(dir, file), "utf8")) as Crd;
    if (crd.spec.names.plural === "referencegrants") {
      // As older Gateway API releases: v1beta1 only (it is still the storage version).
      for (const v of crd.spec.versions) v.served = v.name === "v1beta1";
    }
    await cp.admin.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd);
  }
  for (const path of [
    `/apis/${GROUP}/v1/gatewayclasses`,
    `/apis/${GROUP}/v1/gateways`,
    `/apis/${GROUP}/v1/httproutes`,
    `/apis/${GROUP}/v1beta1/referencegrants`,
  ]) {
    await waitFor(() => served(path), { what: `${path} served` });
  }
  pod = await startPod("10.244.31.11", 8080);
  gw = await startController(kubeconfig, [], {
    ...FAST_TUNING,
    source: { ...FAST_TUNING.source, discoveryIntervalMs: 200 },
  });
  await gw.holder.waitForGeneration(1);
});

afterEach(() => {
  for (const c of clients.splice(0)) c.terminate();
});

afterAll(async () => {
  await gw?.stop();
  await pod?.close();
  await cp?.stop();
});

describe("Gateway API CRDs that serve ReferenceGrant as v1beta1 only", () => {
  it("honours a v1beta1 ReferenceGrant, so that a cross-namespace backendRef it permits carries traffic", async () => {
    expect(await served(`/apis/${GROUP}/v1/referencegrants`)).toBe(false);
    await apply(cp.admin, namespace("old-backend"));
    await apply(cp.admin, namespace("old-front"));
    const svc = service("old-backend", "echo", [{ name: "ws", port: 80, targetPort: 8080 }]);
    (svc.spec as { ports: Record<string, unknown>[] }).ports[0]!.appProtocol = "kubernetes.io/ws";
    await apply(cp.admin, svc);
    await apply(
      cp.admin,
      endpointSlice("old-backend", "echo-1", "echo", [{ name: "ws", port: 8080 }], [{ ip: pod.ip }]),
    );
    const v1 = `/apis/${GROUP}/v1`;
    await cp.admin.post(`${v1}/gatewayclasses`, {
      apiVersion: `${GROUP}/v1`,
      kind: "GatewayClass",
      metadata: { name: "wsgate" },
      spec: { controllerName: "wsgate.io/gateway-controller" },
    } satisfies Obj);
    await cp.admin.post(`${v1}/namespaces/old-front/gateways`, {
      apiVersion: `${GROUP}/v1`,
      kind: "Gateway",
      metadata: { name: "web", namespace: "old-front" },
      spec: { gatewayClassName: "wsgate", listeners: [{ name: "http", port: 80, protocol: "HTTP" }] },
    } satisfies Obj);
    await cp.admin.post(`${v1}/namespaces/old-front/httproutes`, {
      apiVersion: `${GROUP}/v1`,
      kind: "HTTPRoute",
      metadata: { name: "cross", namespace: "old-front" },
      spec: {
        parentRefs: [{ name: "web" }],
        hostnames: ["cross.old.test"],
        rules: [{ backendRefs: [{ name: "echo", namespace: "old-backend", port: 80 }] }],
      },
    } satisfies Obj);
    const backends = (t: RoutingTable): number | undefined =>
      t.routes.find((r) => r.key === "old-front/httproute/cross")?.rules[0]?.backends.length;
    // Not granted yet: served, but its only backendRef is RefNotPermitted.
    await waitForTable(gw.holder, (t) => backends(t) === 0, { what: "the HTTPRoute served without backend" });

    await cp.admin.post(`/apis/${GROUP}/v1beta1/namespaces/old-backend/referencegrants`, {
      apiVersion: `${GROUP}/v1beta1`,
      kind: "ReferenceGrant",
      metadata: { name: "from-old-front", namespace: "old-backend" },
      spec: {
        from: [{ group: GROUP, kind: "HTTPRoute", namespace: "old-front" }],
        to: [{ group: "", kind: "Service" }],
      },
    } satisfies Obj);
    await waitForTable(gw.holder, (t) => backends(t) === 1, { what: "the granted backend in the table" });
    const ws = await openAs(gw.httpAddress.port, "cross.old.test", "/", clients);
    expect(await ask(ws, "granted")).toBe("10.244.31.11 granted");
  });
});
