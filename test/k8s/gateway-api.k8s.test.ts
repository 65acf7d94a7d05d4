/**
 * Gateway API against a real kube-apiserver: wsgate starts before the Gateway API CRDs
 * exist (it must not fail and must pick them up once installed), then GatewayClass /
 * Gateway / HTTPRoute carry real WebSocket traffic to a "pod" on 10.244.12.x, and
 * every status is written through the status subresource by the leader — as the
 * controller's ServiceAccount, with exactly the chart's RBAC rules.
 */
import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import http from "node:http";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { parse } from "yaml";
import type { RunningGateway } from "../../src/cli/serve.js";
import type { RoutingTable } from "../../src/routing/table.js";
import { isNotFound, type KubeRest } from "../../src/kube/rest.js";
import {
  apply,
  assertPodNetwork,
  controllerKubeconfig,
  endpointSlice,
  FAST_TUNING,
  namespace,
  selfSigned,
  service,
  startController,
  startPod,
  type Obj,
  type PodBackend,
  tlsSecret,
} from "./harness/cluster.js";
import { startControlPlane, type ControlPlane } from "./harness/control-plane.js";
import { waitFor, waitForTable } from "./harness/wait.js";
import { ask, openAs } from "../helpers/gateway.js";

const REPO = new URL("../../", import.meta.url).pathname;
const GW = "/apis/gateway.networking.k8s.io/v1";
const CONTROLLER = "wsgate.io/gateway-controller";

let cp: ControlPlane;
let gw: RunningGateway;
const pods: PodBackend[] = [];
const clients: WebSocket[] = [];

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime: string;
}
type Live = Obj & {
  metadata: Obj["metadata"] & { generation?: number };
  status?: {
    conditions?: Condition[];
    listeners?: { name: string; attachedRoutes: number; conditions: Condition[] }[];
    parents?: { controllerName: string; parentRef: { name: string }; conditions: Condition[] }[];
  };
};

function plural(kind: string): string {
  return {
    GatewayClass: "gatewayclasses",
    Gateway: "gateways",
    HTTPRoute: "httproutes",
    ReferenceGrant: "referencegrants",
    WebSocketPolicy: "websocketpolicies",
    BackendTLSPolicy: "backendtlspolicies",
  }[kind] as string;
}

function gwPath(kind: string, name: string, ns?: string): string {
  const base = kind === "WebSocketPolicy" ? "/apis/wsgate.io/v1alpha1" : GW;
  return ns ? `${base}/namespaces/${ns}/${plural(kind)}/${name}` : `${base}/${plural(kind)}/${name}`;
}

/** Creates or replaces a Gateway API object (the shared harness knows core kinds only). */
async function put(api: KubeRest, obj: Obj): Promise<void> {
  const { name, namespace: ns } = obj.metadata;
  const path = gwPath(obj.kind, name, ns);
  for (;;) {
    let live: Obj | undefined;
    try {
      live = await api.get<Obj>(path);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    try {
      if (!live) {
        await api.post(path.slice(0, path.lastIndexOf("/")), obj);
      } else {
        await api.put(path, {
          ...obj,
          metadata: { ...obj.metadata, resourceVersion: live.metadata.resourceVersion },
        });
      }
      return;
    } catch (err) {
      if (
        !(err as { statusCode?: number }).statusCode ||
        ![409].includes((err as { statusCode: number }).statusCode)
      )
        throw err;
    }
  }
}

async function del(api: KubeRest, kind: string, name: string, ns?: string): Promise<void> {
  try {
    await api.request("DELETE", gwPath(kind, name, ns));
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

function live(kind: string, name: string, ns?: string): Promise<Live> {
  return cp.admin.get<Live>(gwPath(kind, name, ns));
}

const find = (conditions: Condition[] | undefined, type: string): Condition | undefined =>
  conditions?.find((c) => c.type === type);

/** Waits (bounded) until the HTTPRoute's parent entry for `gateway` has `type` with `reason`. */
async function parentCondition(
  ns: string,
  route: string,
  gateway: string,
  type: string,
  reason: string,
): Promise<Condition> {
  return waitFor(
    async () => {
      const r = await live("HTTPRoute", route, ns);
      const parent = r.status?.parents?.find(
        (p) => p.controllerName === CONTROLLER && p.parentRef.name === gateway,
      );
      const c = find(parent?.conditions, type);
      return c?.reason === reason ? c : undefined;
    },
    { what: `HTTPRoute ${ns}/${route} ${type}=${reason} for ${gateway}` },
  );
}

function gatewayClass(): Obj {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "GatewayClass",
    metadata: { name: "wsgate" },
    spec: { controllerName: CONTROLLER },
  };
}

function gateway(ns: string, name: string, listeners: Record<string, unknown>[]): Obj {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "Gateway",
    metadata: { name, namespace: ns },
    spec: { gatewayClassName: "wsgate", listeners },
  };
}

function httpRoute(ns: string, name: string, spec: Record<string, unknown>): Obj {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name, namespace: ns },
    spec,
  };
}

/** Namespace `ns` with Service `echo` (port 80 → 8080, appProtocol kubernetes.io/ws) backed by a pod on `ip`. */
async function echoBackend(ns: string, ip: string): Promise<void> {
  const pod = await startPod(ip, 8080);
  pods.push(pod);
  await apply(cp.admin, namespace(ns));
  const svc = service(ns, "echo", [{ name: "ws", port: 80, targetPort: 8080 }]);
  (svc.spec as { ports: Record<string, unknown>[] }).ports[0]!.appProtocol = "kubernetes.io/ws";
  await apply(cp.admin, svc);
  await apply(cp.admin, endpointSlice(ns, "echo-1", "echo", [{ name: "ws", port: 8080 }], [{ ip }]));
}

function open(host: string, path = "/"): Promise<WebSocket> {
  return openAs(gw.httpAddress.port, host, path, clients);
}

const served = (key: string) => (t: { routes: readonly { key: string }[] }) =>
  t.routes.some((r) => r.key === key);

beforeAll(async () => {
  await assertPodNetwork();
  cp = await startControlPlane();
  const kubeconfig = await controllerKubeconfig(cp);
  // wsgate's own Service, whose cluster IP every Gateway's status.addresses must show.
  await apply(cp.admin, namespace("gw-system"));
  await apply(cp.admin, service("gw-system", "wsgate", [{ name: "http", port: 80, targetPort: 8080 }]));
  // Started before any Gateway API CRD exists: discovery finds them later.
  gw = await startController(kubeconfig, ["--publish-service", "gw-system/wsgate"], {
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
  await Promise.all(pods.splice(0).map((p) => p.close()));
  await cp?.stop();
});

describe("Gateway API in cluster mode", () => {
  it("installs the vendored CRDs (standard channel) after wsgate started, and wsgate stays healthy", async () => {
    const dir = join(REPO, "crds/gateway-api");
    for (const file of readdirSync(dir).filter((f) => f.endsWith(".yaml"))) {
      const crd = parse(readFileSync(join(dir, file), "utf8")) as Obj;
      await cp.admin.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd);
    }
    for (const resource of [
      "gatewayclasses",
      "gateways",
      "httproutes",
      "referencegrants",
      "backendtlspolicies",
    ]) {
      await waitFor(
        async () => {
          try {
            await cp.admin.get(`${GW}/${resource}`);
            return true;
          } catch (err) {
            if (isNotFound(err)) return false;
            throw err;
          }
        },
        { what: `${resource} served` },
      );
    }
    expect(gw.cluster?.healthy()).toBe(true);
  });

  it("serves WebSocket traffic for an HTTPRoute on a Gateway of its class and writes every status (CRDs installed after start)", async () => {
    await echoBackend("gw-basic", "10.244.12.11");
    await put(cp.admin, gatewayClass());
    await put(
      cp.admin,
      gateway("gw-basic", "web", [{ name: "http", port: 80, protocol: "HTTP", hostname: "*.basic.test" }]),
    );
    await put(
      cp.admin,
      httpRoute("gw-basic", "chat", {
        parentRefs: [{ name: "web" }],
        hostnames: ["chat.basic.test"],
        rules: [
          {
            matches: [{ path: { type: "PathPrefix", value: "/ws" } }],
            backendRefs: [{ name: "echo", port: 80 }],
          },
        ],
      }),
    );
    await waitForTable(gw.holder, served("gw-basic/httproute/chat"), { what: "the HTTPRoute served" });
    const ws = await open("chat.basic.test", "/ws/room");
    expect(await ask(ws, "hello")).toBe("10.244.12.11 hello");

    // The CRD defaults a new GatewayClass's status to Accepted=Unknown (Pending): wait for ours.
    const cls = await waitFor(
      async () => {
        const c = find((await live("GatewayClass", "wsgate")).status?.conditions, "Accepted");
        return c?.reason === "Accepted" ? c : undefined;
      },
      { what: "GatewayClass Accepted" },
    );
    expect(cls.status).toBe("True");
    const g = await waitFor(
      async () => {
        const x = await live("Gateway", "web", "gw-basic");
        return x.status?.listeners?.[0]?.attachedRoutes === 1 ? x : undefined;
      },
      { what: "Gateway listener with one attached route" },
    );
    expect(find(g.status?.conditions, "Accepted")?.status).toBe("True");
    expect(find(g.status?.conditions, "Programmed")?.status).toBe("True");
    expect(find(g.status?.conditions, "Programmed")?.observedGeneration).toBe(g.metadata.generation);
    expect(find(g.status?.listeners?.[0]?.conditions, "Programmed")?.status).toBe("True");
    // No load balancer in this cluster: the published Service's cluster IP is the Gateway's address.
    const svc = await cp.admin.get<{ spec: { clusterIP: string } }>(
      "/api/v1/namespaces/gw-system/services/wsgate",
    );
    await waitFor(
      async () => {
        const x = await live("Gateway", "web", "gw-basic");
        const addresses = (x.status as { addresses?: { type: string; value: string }[] } | undefined)
          ?.addresses;
        return addresses?.[0]?.value === svc.spec.clusterIP && addresses[0].type === "IPAddress";
      },
      { what: `Gateway status.addresses = ${svc.spec.clusterIP}` },
    );
    const accepted = await parentCondition("gw-basic", "chat", "web", "Accepted", "Accepted");
    const route = await live("HTTPRoute", "chat", "gw-basic");
    expect(accepted.observedGeneration).toBe(route.metadata.generation);
    expect(find(route.status?.parents?.[0]?.conditions, "ResolvedRefs")?.status).toBe("True");
  });

  it("routes by an HTTPRoute header match the API server accepted: X-Env: canary to one pod, everything else to the other", async () => {
    const ns = "gw-match";
    await apply(cp.admin, namespace(ns));
    for (const [name, ip] of [
      ["stable", "10.244.12.61"],
      ["canary", "10.244.12.62"],
    ] as const) {
      pods.push(await startPod(ip, 8080));
      await apply(cp.admin, service(ns, name, [{ name: "ws", port: 80, targetPort: 8080 }]));
      await apply(cp.admin, endpointSlice(ns, `${name}-1`, name, [{ name: "ws", port: 8080 }], [{ ip }]));
    }
    await put(cp.admin, gatewayClass());
    await put(cp.admin, gateway(ns, "web", [{ name: "http", port: 80, protocol: "HTTP" }]));
    // The vendored CRD defaults the header match's type (Exact) and validates the name.
    await put(
      cp.admin,
      httpRoute(ns, "chat", {
        parentRefs: [{ name: "web" }],
        hostnames: ["chat.match.test"],
        rules: [
          {
            matches: [
              { path: { type: "PathPrefix", value: "/ws" }, headers: [{ name: "X-Env", value: "canary" }] },
            ],
            backendRefs: [{ name: "canary", port: 80 }],
          },
          {
            matches: [{ path: { type: "PathPrefix", value: "/ws" } }],
            backendRefs: [{ name: "stable", port: 80 }],
          },
        ],
      }),
    );
    await waitForTable(gw.holder, served(`${ns}/httproute/chat`), {
      what: "the HTTPRoute with a header match served",
    });
    const accepted = await parentCondition(ns, "chat", "web", "Accepted", "Accepted");
    expect(accepted.status).toBe("True");

    const canary = await new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${gw.httpAddress.port}/ws/room`, {
        headers: { Host: "chat.match.test", "X-Env": "canary" },
      });
      clients.push(ws);
      ws.once("open", () => resolve(ws));
      ws.once("error", reject);
    });
    expect(await ask(canary, "hello")).toBe("10.244.12.62 hello");
    expect(await ask(await open("chat.match.test", "/ws/room"), "hello")).toBe("10.244.12.61 hello");
  });

  it("refuses a cross-namespace backend until a ReferenceGrant allows it, and again once the grant is revoked", async () => {
    await echoBackend("gw-grant-backend", "10.244.12.21");
    await apply(cp.admin, namespace("gw-grant"));
    await put(cp.admin, gatewayClass());
    await put(cp.admin, gateway("gw-grant", "web", [{ name: "http", port: 80, protocol: "HTTP" }]));
    await put(
      cp.admin,
      httpRoute("gw-grant", "cross", {
        parentRefs: [{ name: "web" }],
        hostnames: ["cross.grant.test"],
        rules: [{ backendRefs: [{ name: "echo", namespace: "gw-grant-backend", port: 80 }] }],
      }),
    );
    await parentCondition("gw-grant", "cross", "web", "ResolvedRefs", "RefNotPermitted");
    await expect(open("cross.grant.test")).rejects.toThrow(/HTTP 50[03]/);

    const grant: Obj = {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "ReferenceGrant",
      metadata: { name: "from-gw-grant", namespace: "gw-grant-backend" },
      spec: {
        from: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute", namespace: "gw-grant" }],
        to: [{ group: "", kind: "Service" }],
      },
    };
    await put(cp.admin, grant);
    await parentCondition("gw-grant", "cross", "web", "ResolvedRefs", "ResolvedRefs");
    await waitForTable(gw.holder, (t) =>
      t.routes.some((r) => r.key === "gw-grant/httproute/cross" && r.rules[0]!.backends.length === 1),
    );
    expect(await ask(await open("cross.grant.test"), "granted")).toBe("10.244.12.21 granted");

    await del(cp.admin, "ReferenceGrant", "from-gw-grant", "gw-grant-backend");
    await parentCondition("gw-grant", "cross", "web", "ResolvedRefs", "RefNotPermitted");
    await waitForTable(gw.holder, (t) =>
      t.routes.some((r) => r.key === "gw-grant/httproute/cross" && r.rules[0]!.backends.length === 0),
    );
  });

  it("admits routes by the listener's namespace selector: refused until the route's namespace carries the label", async () => {
    await echoBackend("gw-tenant", "10.244.12.31");
    await put(cp.admin, gatewayClass());
    await apply(cp.admin, namespace("gw-infra"));
    await put(
      cp.admin,
      gateway("gw-infra", "shared", [
        {
          name: "http",
          port: 80,
          protocol: "HTTP",
          allowedRoutes: {
            namespaces: { from: "Selector", selector: { matchLabels: { "gateway-access": "granted" } } },
          },
        },
      ]),
    );
    await put(
      cp.admin,
      httpRoute("gw-tenant", "app", {
        parentRefs: [{ name: "shared", namespace: "gw-infra" }],
        hostnames: ["app.tenant.test"],
        rules: [{ backendRefs: [{ name: "echo", port: 80 }] }],
      }),
    );
    await parentCondition("gw-tenant", "app", "shared", "Accepted", "NotAllowedByListeners");
    await expect(open("app.tenant.test")).rejects.toThrow(/HTTP 404/);

    await apply(cp.admin, {
      ...namespace("gw-tenant"),
      metadata: { name: "gw-tenant", labels: { "gateway-access": "granted" } },
    });
    await parentCondition("gw-tenant", "app", "shared", "Accepted", "Accepted");
    await waitForTable(gw.holder, served("gw-tenant/httproute/app"));
    expect(await ask(await open("app.tenant.test"), "in")).toBe("10.244.12.31 in");
  });

  it("reports each listener and route problem with its Gateway API reason instead of serving part of it", async () => {
    await apply(cp.admin, namespace("gw-reasons"));
    await put(cp.admin, gatewayClass());
    await put(
      cp.admin,
      gateway("gw-reasons", "web", [
        { name: "http", port: 80, protocol: "HTTP", hostname: "ok.reasons.test" },
        { name: "odd-port", port: 8081, protocol: "HTTP", hostname: "odd.reasons.test" },
        { name: "tcp", port: 9000, protocol: "TCP" },
      ]),
    );
    await put(
      cp.admin,
      httpRoute("gw-reasons", "wrong-host", {
        parentRefs: [{ name: "web", sectionName: "http" }],
        hostnames: ["elsewhere.test"],
        rules: [{ backendRefs: [{ name: "echo", port: 80 }] }],
      }),
    );
    await put(
      cp.admin,
      httpRoute("gw-reasons", "header-match", {
        parentRefs: [{ name: "web", sectionName: "http" }],
        rules: [
          {
            // Header matches are served now (issue 12); a RegularExpression path still is not.
            matches: [{ path: { type: "RegularExpression", value: "/h.*" } }],
            backendRefs: [{ name: "echo", port: 80 }],
          },
        ],
      }),
    );
    await put(
      cp.admin,
      httpRoute("gw-reasons", "missing", {
        parentRefs: [{ name: "web", sectionName: "http" }],
        rules: [
          {
            matches: [{ path: { type: "PathPrefix", value: "/m" } }],
            backendRefs: [{ name: "nope", port: 80 }],
          },
        ],
      }),
    );
    await put(
      cp.admin,
      httpRoute("gw-reasons", "bucket", {
        parentRefs: [{ name: "web", sectionName: "http" }],
        rules: [
          {
            matches: [{ path: { type: "PathPrefix", value: "/b" } }],
            backendRefs: [{ group: "example.com", kind: "Bucket", name: "b" }],
          },
        ],
      }),
    );
    const g = await waitFor(
      async () => {
        const x = await live("Gateway", "web", "gw-reasons");
        return (x.status?.listeners?.length ?? 0) === 3 ? x : undefined;
      },
      { what: "Gateway listener status" },
    );
    const reasonOf = (name: string): string | undefined =>
      find(g.status?.listeners?.find((l) => l.name === name)?.conditions, "Accepted")?.reason;
    expect(reasonOf("http")).toBe("Accepted");
    expect(reasonOf("odd-port")).toBe("PortUnavailable");
    expect(reasonOf("tcp")).toBe("UnsupportedProtocol");
    await parentCondition("gw-reasons", "wrong-host", "web", "Accepted", "NoMatchingListenerHostname");
    const unsupported = await parentCondition(
      "gw-reasons",
      "header-match",
      "web",
      "Accepted",
      "UnsupportedValue",
    );
    expect(unsupported.message).toContain("path.type RegularExpression is not supported");
    await parentCondition("gw-reasons", "missing", "web", "ResolvedRefs", "BackendNotFound");
    await parentCondition("gw-reasons", "bucket", "web", "ResolvedRefs", "InvalidKind");
    await expect(open("ok.reasons.test", "/h")).rejects.toThrow(/HTTP 404/);
  });
  it("applies a WebSocketPolicy attached to a live HTTPRoute (idle timeout, maxMessageBytes) and drops it when detached", async () => {
    await echoBackend("gw-policy", "10.244.12.41");
    await put(cp.admin, gatewayClass());
    await put(cp.admin, gateway("gw-policy", "web", [{ name: "http", port: 80, protocol: "HTTP" }]));
    await put(
      cp.admin,
      httpRoute("gw-policy", "live", {
        parentRefs: [{ name: "web" }],
        hostnames: ["live.policy.test"],
        rules: [{ backendRefs: [{ name: "echo", port: 80 }] }],
      }),
    );
    const settingsOf = (t: RoutingTable) =>
      t.routes.find((r) => r.key === "gw-policy/httproute/live")?.settings;
    await waitForTable(gw.holder, (t) => settingsOf(t)?.timeouts.idleMs === 3_600_000, {
      what: "the route with default settings",
    });
    const big = "x".repeat(200);
    expect(await ask(await open("live.policy.test"), big)).toBe(`10.244.12.41 ${big}`);

    const policy: Obj = {
      apiVersion: "wsgate.io/v1alpha1",
      kind: "WebSocketPolicy",
      metadata: { name: "tight", namespace: "gw-policy" },
      spec: {
        targetRefs: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: "live" }],
        timeouts: { idle: "45s" },
        limits: { maxMessageBytes: 64 },
      },
    };
    await put(cp.admin, policy);
    await waitForTable(
      gw.holder,
      (t) => settingsOf(t)?.timeouts.idleMs === 45_000 && settingsOf(t)?.limits.maxMessageBytes === 64,
      { what: "the policy's idle timeout and limit on the route" },
    );
    const limited = await open("live.policy.test");
    const closed = new Promise<number>((resolve) => limited.once("close", (code) => resolve(code)));
    limited.send(big);
    expect(await closed).toBe(1009);
    const accepted = await waitFor(
      async () => find((await live("WebSocketPolicy", "tight", "gw-policy")).status?.conditions, "Accepted"),
      { what: "WebSocketPolicy status" },
    );
    expect(accepted.status).toBe("True");

    await del(cp.admin, "WebSocketPolicy", "tight", "gw-policy");
    await waitForTable(
      gw.holder,
      (t) =>
        settingsOf(t)?.timeouts.idleMs === 3_600_000 && settingsOf(t)?.limits.maxMessageBytes === undefined,
      { what: "the defaults back once the policy is gone" },
    );
    expect(await ask(await open("live.policy.test"), big)).toBe(`10.244.12.41 ${big}`);
  });

  it("reports a WebSocketPolicy sectionName that names no rule of the HTTPRoute as TargetNotFound, naming the rule, while its target naming a real rule applies to that rule only", async () => {
    await echoBackend("gw-rule-policy", "10.244.12.81");
    await put(cp.admin, gatewayClass());
    await put(cp.admin, gateway("gw-rule-policy", "web", [{ name: "http", port: 80, protocol: "HTTP" }]));
    // Rule names as Gateway API v1.6 has them (spec.rules[].name): the API server keeps them.
    await put(
      cp.admin,
      httpRoute("gw-rule-policy", "chat", {
        parentRefs: [{ name: "web" }],
        hostnames: ["rules.policy.test"],
        rules: [
          {
            name: "live",
            matches: [{ path: { type: "PathPrefix", value: "/live" } }],
            backendRefs: [{ name: "echo", port: 80 }],
          },
          {
            name: "history",
            matches: [{ path: { type: "PathPrefix", value: "/history" } }],
            backendRefs: [{ name: "echo", port: 80 }],
          },
        ],
      }),
    );
    const target = { group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: "chat" };
    await put(cp.admin, {
      apiVersion: "wsgate.io/v1alpha1",
      kind: "WebSocketPolicy",
      metadata: { name: "live-only", namespace: "gw-rule-policy" },
      spec: {
        targetRefs: [
          { ...target, sectionName: "lvie" },
          { ...target, sectionName: "live" },
        ],
        limits: { maxMessageBytes: 64 },
      },
    });
    const accepted = await waitFor(
      async () => {
        const c = find(
          (await live("WebSocketPolicy", "live-only", "gw-rule-policy")).status?.conditions,
          "Accepted",
        );
        return c?.reason === "TargetNotFound" ? c : undefined;
      },
      { what: "WebSocketPolicy live-only Accepted=False TargetNotFound" },
    );
    expect(accepted.status).toBe("False");
    expect(accepted.message).toContain("HTTPRoute gw-rule-policy/chat has no rule named lvie");
    // `kubectl get wsp` (the CRD's printer columns) shows the rule it targets, and the verdict.
    const { stdout } = await promisify(execFile)(join(cp.binDir, "kubectl"), [
      ...["--kubeconfig", cp.adminKubeconfig, "get", "wsp", "-n", "gw-rule-policy", "live-only"],
    ]);
    const [header, row] = stdout.trim().split("\n");
    expect(header).toMatch(/^NAME\s+TARGET KINDS\s+TARGETS\s+RULES\s+ACCEPTED\s+AGE$/);
    // The API server prints one value per printer column: the first target's kind, name and rule.
    expect(row?.split(/\s+/).slice(0, 5)).toEqual(["live-only", "HTTPRoute", "chat", "lvie", "False"]);
    const rulesOf = (t: RoutingTable) =>
      t.routes.find((r) => r.key === "gw-rule-policy/httproute/chat")?.rules;
    await waitForTable(gw.holder, (t) => rulesOf(t)?.[0]?.settings?.limits.maxMessageBytes === 64, {
      what: "the policy's limit on rule live",
    });
    expect(rulesOf(gw.holder.current)?.[1]?.settings).toBeUndefined();
    const big = "x".repeat(200);
    const limited = await open("rules.policy.test", "/live");
    const closed = new Promise<number>((resolve) => limited.once("close", (code) => resolve(code)));
    limited.send(big);
    expect(await closed).toBe(1009);
    expect(await ask(await open("rules.policy.test", "/history"), big)).toBe(`10.244.12.81 ${big}`);
  });

  it("terminates TLS on an HTTPS listener with its certificateRefs Secret, chosen by SNI", async () => {
    await echoBackend("gw-tls", "10.244.12.51");
    await put(cp.admin, gatewayClass());
    const host = "secure.tls.test";
    const pair = selfSigned(host);
    await apply(cp.admin, tlsSecret("gw-tls", "secure-cert", pair));
    await put(
      cp.admin,
      gateway("gw-tls", "web", [
        {
          name: "https",
          port: 443,
          protocol: "HTTPS",
          hostname: host,
          tls: { certificateRefs: [{ name: "secure-cert" }] },
        },
      ]),
    );
    await put(
      cp.admin,
      httpRoute("gw-tls", "secure", {
        parentRefs: [{ name: "web" }],
        rules: [{ backendRefs: [{ name: "echo", port: 80 }] }],
      }),
    );
    await waitForTable(
      gw.holder,
      (t) =>
        t.certificates.get(host)?.secret === "gw-tls/secure-cert" && served("gw-tls/httproute/secure")(t),
      {
        what: "the listener's certificate and the route",
      },
    );
    const ws = await new Promise<WebSocket>((resolve, reject) => {
      // ws passes servername (SNI) on to tls.connect; its types do not list it.
      const c = new WebSocket(`wss://127.0.0.1:${gw.httpsAddress.port}/`, {
        headers: { Host: host },
        ca: pair.cert,
        ...({ servername: host } as object),
      });
      clients.push(c);
      c.once("open", () => resolve(c));
      c.once("error", reject);
    });
    expect(await ask(ws, "over tls")).toBe("10.244.12.51 over tls");
    const listener = await waitFor(
      async () => (await live("Gateway", "web", "gw-tls")).status?.listeners?.find((l) => l.name === "https"),
      { what: "HTTPS listener status" },
    );
    expect(find(listener.conditions, "ResolvedRefs")?.status).toBe("True");
    expect(listener.attachedRoutes).toBe(1);
  });

  it("answers 500 for an HTTPRoute whose Service does not exist, and counts a route on a listener whose certificate is missing", async () => {
    const ns = "gw-unresolved";
    await apply(cp.admin, namespace(ns));
    await put(cp.admin, gatewayClass());
    await put(
      cp.admin,
      gateway(ns, "web", [
        { name: "http", port: 80, protocol: "HTTP" },
        // The certificate Secret does not exist: routes still attach (attachedRoutes), none is served here.
        { name: "tls", port: 443, protocol: "HTTPS", tls: { certificateRefs: [{ name: "does-not-exist" }] } },
      ]),
    );
    await put(
      cp.admin,
      httpRoute(ns, "missing", {
        parentRefs: [{ name: "web", sectionName: "http" }],
        hostnames: ["missing.unresolved.test"],
        rules: [{ backendRefs: [{ name: "nope", port: 80 }] }],
      }),
    );
    await put(
      cp.admin,
      httpRoute(ns, "on-tls", {
        parentRefs: [{ name: "web", sectionName: "tls" }],
        hostnames: ["tls.unresolved.test"],
        rules: [{ backendRefs: [{ name: "nope", port: 80 }] }],
      }),
    );
    await waitForTable(gw.holder, served(`${ns}/httproute/missing`), {
      what: "the route to a missing Service",
    });
    const status = await new Promise<{ status: number; retryAfter: string | undefined }>(
      (resolve, reject) => {
        const req = http.get(
          {
            host: "127.0.0.1",
            port: gw.httpAddress.port,
            path: "/",
            headers: { Host: "missing.unresolved.test" },
          },
          (res) => {
            res.resume();
            resolve({ status: res.statusCode ?? 0, retryAfter: res.headers["retry-after"] });
          },
        );
        req.once("error", reject);
      },
    );
    expect(status).toEqual({ status: 500, retryAfter: undefined });
    const notFound = await parentCondition(ns, "missing", "web", "ResolvedRefs", "BackendNotFound");
    expect(notFound.status).toBe("False");

    const tls = await waitFor(
      async () => {
        const l = (await live("Gateway", "web", ns)).status?.listeners?.find((x) => x.name === "tls");
        return l?.attachedRoutes === 1 ? l : undefined;
      },
      { what: "the tls listener counting its route" },
    );
    expect(find(tls.conditions, "ResolvedRefs")?.status).toBe("False");
    expect(find(tls.conditions, "Programmed")?.status).toBe("False");
    expect((await parentCondition(ns, "on-tls", "web", "ResolvedRefs", "BackendNotFound")).status).toBe(
      "False",
    );
    expect(gw.holder.current.routes.map((r) => r.key)).not.toContain(`${ns}/httproute/on-tls`);
  });

  it("writes BackendTLSPolicy status.ancestors for the Gateway reaching its Service, and Conflicted on a younger policy for the same Service", async () => {
    const ns = "gw-btls-status";
    await echoBackend(ns, "10.244.12.71");
    await put(cp.admin, gatewayClass());
    await put(cp.admin, gateway(ns, "web", [{ name: "http", port: 80, protocol: "HTTP" }]));
    await put(
      cp.admin,
      httpRoute(ns, "chat", {
        parentRefs: [{ name: "web" }],
        hostnames: ["chat.btls-status.test"],
        rules: [{ backendRefs: [{ name: "echo", port: 80 }] }],
      }),
    );
    const policy = (name: string, hostname: string): Obj => ({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "BackendTLSPolicy",
      metadata: { name, namespace: ns },
      spec: {
        targetRefs: [{ group: "", kind: "Service", name: "echo" }],
        validation: { wellKnownCACertificates: "System", hostname },
      },
    });
    type Ancestors = {
      ancestors?: { ancestorRef: { name: string }; controllerName: string; conditions: Condition[] }[];
    };
    const ours = async (name: string) =>
      (
        (await cp.admin.get<{ status?: Ancestors }>(gwPath("BackendTLSPolicy", name, ns))).status
          ?.ancestors ?? []
      ).find((a) => a.controllerName === CONTROLLER && a.ancestorRef.name === "web");
    // Created one after the other: "first" is older, or as old and first by name.
    await put(cp.admin, policy("first", "echo.btls-status.test"));
    const first = await waitFor(async () => find((await ours("first"))?.conditions, "Accepted"), {
      what: "BackendTLSPolicy first: ancestor web",
    });
    expect(first.status).toBe("True");
    await put(cp.admin, policy("second", "other.btls-status.test"));
    const second = await waitFor(
      async () => {
        const c = find((await ours("second"))?.conditions, "Accepted");
        return c?.reason === "Conflicted" ? c : undefined;
      },
      { what: "BackendTLSPolicy second: Accepted=False Conflicted" },
    );
    expect(second.status).toBe("False");
    expect(second.message).toContain(`${ns}/first`);
    const p = await cp.admin.get<{ metadata: { generation?: number } }>(
      gwPath("BackendTLSPolicy", "second", ns),
    );
    expect(second.observedGeneration).toBe(p.metadata.generation);
  });
});
