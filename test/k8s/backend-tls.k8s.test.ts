/**
 * TLS to backends against a real kube-apiserver: a BackendTLSPolicy (the vendored Gateway
 * API CRD) names a CA Secret that no route names — the cluster source must still keep it —
 * and targets the Service port of a WebSocketRoute's backend, a TLS "pod" on 10.244.21.x
 * whose certificate a test CA signed. The policy's hostname decides: the right one carries
 * messages, a wrong one answers 502 (`backend_tls`). Then the CA comes from a ConfigMap.
 */
import https from "node:https";
import { readdirSync, readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { parse } from "yaml";
import type { RunningGateway } from "../../src/cli/serve.js";
import { isNotFound } from "../../src/kube/rest.js";
import type { RoutingTable } from "../../src/routing/table.js";
import { createTestCa } from "../helpers/test-ca.js";
import {
  apply,
  assertPodNetwork,
  controllerKubeconfig,
  endpointSlice,
  FAST_TUNING,
  namespace,
  route,
  service,
  startController,
  type Obj,
} from "./harness/cluster.js";
import { startControlPlane, type ControlPlane } from "./harness/control-plane.js";
import { waitFor, waitForTable } from "./harness/wait.js";
import { ask, openAs } from "../helpers/gateway.js";

const REPO = new URL("../../", import.meta.url).pathname;
const NS = "btls";
const POLICIES = `/apis/gateway.networking.k8s.io/v1/namespaces/${NS}/backendtlspolicies`;
const POD_IP = "10.244.21.11";

let cp: ControlPlane;
let gw: RunningGateway;
let closePod: (() => Promise<void>) | undefined;
const clients: WebSocket[] = [];
const ca = createTestCa("backend-tls k8s CA");

/** A TLS "pod": https + WebSocket echo on `ip`, answering with its address. */
async function startTlsPod(ip: string, cert: { certPem: string; keyPem: string }): Promise<number> {
  const server = https.createServer({ cert: cert.certPem, key: cert.keyPem });
  const wss = new WebSocketServer({ server });
  wss.on("connection", (socket) => socket.on("message", (data) => socket.send(`${ip} ${String(data)}`)));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, ip, () => resolve());
  });
  closePod = async () => {
    for (const c of wss.clients) c.terminate();
    wss.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return (server.address() as AddressInfo).port;
}

function policy(hostname: string, caKind = "Secret"): Obj {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "BackendTLSPolicy",
    metadata: { name: "chat-tls", namespace: NS },
    spec: {
      targetRefs: [{ group: "", kind: "Service", name: "chat", sectionName: "wss" }],
      validation: { caCertificateRefs: [{ group: "", kind: caKind, name: "chat-ca" }], hostname },
    },
  };
}

/** Creates or replaces the policy (the shared harness knows core kinds only). */
async function putPolicy(obj: Obj): Promise<void> {
  let live: Obj | undefined;
  try {
    live = await cp.admin.get<Obj>(`${POLICIES}/${obj.metadata.name}`);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  if (!live) await cp.admin.post(POLICIES, obj);
  else
    await cp.admin.put(`${POLICIES}/${obj.metadata.name}`, {
      ...obj,
      metadata: { ...obj.metadata, resourceVersion: live.metadata.resourceVersion },
    });
}

function open(): Promise<WebSocket> {
  return openAs(gw.httpAddress.port, "chat.btls.test", "/", clients);
}

const backendTlsHostname = (t: RoutingTable): string | undefined =>
  t.routes.find((r) => r.key === `${NS}/chat`)?.rules[0]?.backends[0]?.tls?.hostname;

beforeAll(async () => {
  await assertPodNetwork();
  cp = await startControlPlane();
  const dir = join(REPO, "crds/gateway-api");
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".yaml"))) {
    await cp.admin.post(
      "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
      parse(readFileSync(join(dir, file), "utf8")),
    );
  }
  await waitFor(
    async () => {
      try {
        await cp.admin.get(POLICIES);
        return true;
      } catch (err) {
        if (isNotFound(err)) return false;
        throw err;
      }
    },
    { what: "backendtlspolicies served" },
  );
  gw = await startController(await controllerKubeconfig(cp), [], FAST_TUNING);
  await gw.holder.waitForGeneration(1);
});

afterEach(() => {
  for (const c of clients.splice(0)) c.terminate();
});

afterAll(async () => {
  await gw?.stop();
  await closePod?.();
  await cp?.stop();
});

describe("BackendTLSPolicy in cluster mode", () => {
  it("verifies the backend with the policy's CA Secret and hostname: messages with the right name, 502 with a wrong one", async () => {
    const port = await startTlsPod(POD_IP, ca.issue(["chat.btls.svc"]));
    await apply(cp.admin, namespace(NS));
    await apply(cp.admin, service(NS, "chat", [{ name: "wss", port: 443, targetPort: port }]));
    await apply(cp.admin, endpointSlice(NS, "chat-1", "chat", [{ name: "wss", port }], [{ ip: POD_IP }]));
    await apply(cp.admin, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "chat-ca", namespace: NS },
      type: "Opaque",
      data: { "ca.crt": Buffer.from(ca.certPem).toString("base64") },
    });
    await apply(
      cp.admin,
      route(NS, "chat", {
        hostnames: ["chat.btls.test"],
        rules: [{ backendRefs: [{ name: "chat", port: 443 }] }],
      }),
    );
    await putPolicy(policy("chat.btls.svc"));
    await waitForTable(gw.holder, (t) => backendTlsHostname(t) === "chat.btls.svc", {
      what: "the backend with the policy's TLS",
    });
    const ws = await open();
    expect(await ask(ws, "hello")).toBe(`${POD_IP} hello`);

    await putPolicy(policy("billing.btls.svc"));
    await waitForTable(gw.holder, (t) => backendTlsHostname(t) === "billing.btls.svc", {
      what: "the policy's new hostname",
    });
    await expect(open()).rejects.toThrow("HTTP 502");
  });

  it("takes the CA from a ConfigMap the policy names (watched with the chart's RBAC, stored because it is named)", async () => {
    await cp.admin.post(`/api/v1/namespaces/${NS}/configmaps`, {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "chat-ca", namespace: NS },
      data: { "ca.crt": ca.certPem },
    });
    await putPolicy(policy("chat.btls.svc", "ConfigMap"));
    // Served again only once the ConfigMap is in the store: a missing one leaves the backend out.
    await waitForTable(gw.holder, (t) => backendTlsHostname(t) === "chat.btls.svc", {
      what: "the backend with the ConfigMap's CA",
    });
    const ws = await open();
    expect(await ask(ws, "from a ConfigMap")).toBe(`${POD_IP} from a ConfigMap`);
    expect(
      gw.holder.current.routes.find((r) => r.key === `${NS}/chat`)?.rules[0]?.backends[0]?.tls?.caPem,
    ).toBe(ca.certPem.trim());
  });
});
