/**
 * Ingress on a real kube-apiserver: `wsgate serve` in cluster mode with exactly the chart's
 * RBAC serves Ingresses of its IngressClass (controller wsgate.io/ingress-controller) to
 * "pods" on 10.244.13.x, with the ingress-nginx annotations WebSocket users rely on, writes
 * status.loadBalancer from its Service and Events for what it does not serve as written,
 * and leaves another controller's Ingresses alone.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import tls from "node:tls";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import type { RunningGateway } from "../../src/cli/serve.js";
import type { RoutingTable } from "../../src/routing/table.js";
import {
  apply,
  assertPodNetwork,
  controllerKubeconfig,
  endpointSlice,
  get,
  mutate,
  namespace,
  selfSigned,
  service,
  startController,
  startPod,
  tlsSecret,
  type Obj,
  type PodBackend,
} from "./harness/cluster.js";
import { startControlPlane, type ControlPlane } from "./harness/control-plane.js";
import { waitFor, waitForTable } from "./harness/wait.js";
import { ask, openAs } from "../helpers/gateway.js";

const N = "nginx.ingress.kubernetes.io/";
const POD_IP = "10.244.13.1";
const PUBLISH = { namespace: "wsgate-system", name: "wsgate" };

let cp: ControlPlane;
let gw: RunningGateway;
let pod: PodBackend;
let auth: http.Server;
let publishedIp = "";
const clients: WebSocket[] = [];

interface LiveIngress extends Obj {
  status?: { loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] } };
}

function ingressClass(name: string, controller: string, isDefault = false): Obj {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "IngressClass",
    metadata: {
      name,
      ...(isDefault ? { annotations: { "ingressclass.kubernetes.io/is-default-class": "true" } } : {}),
    },
    spec: { controller },
  };
}

/** An Ingress sending every path of `host` to Service `echo` port 80. */
function ingress(
  ns: string,
  name: string,
  host: string,
  options: { className?: string; annotations?: Record<string, string>; tlsSecret?: string } = {},
): Obj {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "Ingress",
    metadata: { name, namespace: ns, annotations: options.annotations ?? {} },
    spec: {
      ...(options.className ? { ingressClassName: options.className } : {}),
      ...(options.tlsSecret ? { tls: [{ hosts: [host], secretName: options.tlsSecret }] } : {}),
      rules: [
        {
          host,
          http: {
            paths: [
              { path: "/", pathType: "Prefix", backend: { service: { name: "echo", port: { number: 80 } } } },
            ],
          },
        },
      ],
    },
  };
}

async function backend(ns: string): Promise<void> {
  await apply(cp.admin, namespace(ns));
  await apply(cp.admin, service(ns, "echo", [{ name: "ws", port: 80, targetPort: 8080 }]));
  await apply(
    cp.admin,
    endpointSlice(ns, "echo-1", "echo", [{ name: "ws", port: 8080 }], [{ ip: POD_IP, ready: true }]),
  );
}

const served = (host: string) => (t: RoutingTable) => t.match(host, "/") !== undefined;

function open(host: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  return openAs(gw.httpAddress.port, host, "/", clients, headers);
}

/** The status of a refused handshake. */
async function refusal(host: string, headers: Record<string, string> = {}): Promise<string> {
  try {
    await open(host, headers);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("handshake unexpectedly succeeded");
}

async function eventsOf(ns: string, name: string): Promise<{ reason: string; note: string; type: string }[]> {
  const list = await cp.admin.get<{
    items: { reason: string; note: string; type: string; regarding: { kind: string; name: string } }[];
  }>(`/apis/events.k8s.io/v1/namespaces/${ns}/events`);
  return list.items.filter((e) => e.regarding.kind === "Ingress" && e.regarding.name === name);
}

beforeAll(async () => {
  await assertPodNetwork();
  cp = await startControlPlane();
  const kubeconfig = await controllerKubeconfig(cp);
  // The Service the chart would create for wsgate: its cluster IP is what Ingresses publish.
  const published = await apply(
    cp.admin,
    service(PUBLISH.namespace, PUBLISH.name, [{ name: "http", port: 80 }]),
  );
  publishedIp = (published as unknown as { spec: { clusterIP: string } }).spec.clusterIP;
  await apply(cp.admin, ingressClass("wsgate", "wsgate.io/ingress-controller"));
  await apply(cp.admin, ingressClass("nginx", "k8s.io/ingress-nginx"));
  pod = await startPod(POD_IP, 8080);
  // A forward-auth service: 200 for the right bearer token, 401 otherwise.
  auth = http.createServer((req, res) => {
    res.writeHead(req.headers.authorization === "Bearer let-me-in" ? 200 : 401, { "X-User": "alice" });
    res.end();
  });
  await new Promise<void>((resolve) => auth.listen(0, "127.0.0.1", resolve));
  gw = await startController(kubeconfig, [
    "--publish-service",
    `${PUBLISH.namespace}/${PUBLISH.name}`,
    "--trusted-proxies",
    "127.0.0.1",
  ]);
  await gw.holder.waitForGeneration(1);
});

afterEach(() => {
  for (const c of clients.splice(0)) c.terminate();
});

afterAll(async () => {
  await gw?.stop();
  await pod?.close();
  auth?.close();
  await cp?.stop();
});

describe("Ingress of wsgate's class", () => {
  it("relays WebSocket traffic and closes an idle connection after the larger of proxy-read/send-timeout (measured)", async () => {
    const ns = "ing-idle";
    await backend(ns);
    await apply(
      cp.admin,
      ingress(ns, "chat", "idle.test", {
        className: "wsgate",
        annotations: { [`${N}proxy-read-timeout`]: "2", [`${N}proxy-send-timeout`]: "1" },
      }),
    );
    await waitForTable(gw.holder, served("idle.test"), { what: "the Ingress route" });
    const ws = await open("idle.test");
    expect(await ask(ws, "hello")).toBe(`${POD_IP} hello`);
    const quietSince = performance.now();
    const code = await new Promise<number>((resolve) => ws.once("close", (c) => resolve(c)));
    const idleMs = performance.now() - quietSince;
    expect(code).toBe(1001);
    // 2 s of silence (not send-timeout's 1 s; the sweeper's clock may run a little ahead of
    // ours), then its next pass: far from wsgate's default of 1 h and nginx's 60 s.
    expect(idleMs).toBeGreaterThanOrEqual(1_500);
    expect(idleMs).toBeLessThan(15_000);
  });

  it("writes status.loadBalancer from the published Service and Events for a snippet and an unknown annotation", async () => {
    const ns = "ing-events";
    await backend(ns);
    await apply(
      cp.admin,
      ingress(ns, "app", "events.test", {
        className: "wsgate",
        annotations: {
          [`${N}configuration-snippet`]: "proxy_set_header X-Evil 1;",
          [`${N}proxy-body-size`]: "8m",
        },
      }),
    );
    await waitForTable(gw.holder, served("events.test"), { what: "the Ingress route" });
    const live = await waitFor(
      async () => {
        const i = await get<LiveIngress>(cp.admin, ingress(ns, "app", "events.test"));
        return i.status?.loadBalancer?.ingress?.length ? i : undefined;
      },
      { what: "status.loadBalancer" },
    );
    expect(live.status?.loadBalancer?.ingress).toEqual([{ ip: publishedIp }]);
    const events = await waitFor(
      async () => {
        const e = await eventsOf(ns, "app");
        return e.length >= 2 ? e : undefined;
      },
      { what: "two Events" },
    );
    expect(events.map((e) => e.reason).sort()).toEqual(["SnippetIgnored", "UnknownAnnotation"]);
    expect(events.every((e) => e.type === "Warning")).toBe(true);
    expect(events.find((e) => e.reason === "UnknownAnnotation")?.note).toContain(`${N}proxy-body-size`);
    // Served as written apart from what the Events name.
    expect(await ask(await open("events.test"), "x")).toBe(`${POD_IP} x`);
  });

  it("enforces limit-connections per client", async () => {
    const ns = "ing-limit";
    await backend(ns);
    await apply(
      cp.admin,
      ingress(ns, "ticker", "limit.test", {
        className: "wsgate",
        annotations: { [`${N}limit-connections`]: "1" },
      }),
    );
    await waitForTable(gw.holder, served("limit.test"), { what: "the Ingress route" });
    await open("limit.test");
    expect(await refusal("limit.test")).toBe("HTTP 429");
  });

  it("denies a client outside whitelist-source-range, named through --trusted-proxies and X-Forwarded-For", async () => {
    const ns = "ing-allow";
    await backend(ns);
    await apply(
      cp.admin,
      ingress(ns, "console", "allow.test", {
        className: "wsgate",
        annotations: { [`${N}whitelist-source-range`]: "203.0.113.0/24" },
      }),
    );
    await waitForTable(gw.holder, served("allow.test"), { what: "the Ingress route" });
    await open("allow.test", { "X-Forwarded-For": "203.0.113.5" });
    expect(await refusal("allow.test", { "X-Forwarded-For": "198.51.100.1" })).toBe("HTTP 403");
  });

  it("asks the auth-url service before the backend", async () => {
    const ns = "ing-auth";
    await backend(ns);
    const url = `http://127.0.0.1:${(auth.address() as AddressInfo).port}/verify`;
    await apply(
      cp.admin,
      ingress(ns, "dash", "auth.test", {
        className: "wsgate",
        annotations: { [`${N}auth-url`]: url, [`${N}auth-response-headers`]: "X-User" },
      }),
    );
    await waitForTable(gw.holder, served("auth.test"), { what: "the Ingress route" });
    expect(await refusal("auth.test")).toBe("HTTP 401");
    const ws = await open("auth.test", { Authorization: "Bearer let-me-in" });
    expect(await ask(ws, "in")).toBe(`${POD_IP} in`);
  });

  it("serves the certificate of tls[].secretName for the host", async () => {
    const ns = "ing-tls";
    const host = "secure.test";
    await backend(ns);
    const pair = selfSigned(host);
    await apply(cp.admin, tlsSecret(ns, "secure-tls", pair));
    await apply(cp.admin, ingress(ns, "secure", host, { className: "wsgate", tlsSecret: "secure-tls" }));
    await waitForTable(gw.holder, (t) => t.certificates.get(host)?.certPem === pair.cert, {
      what: "the Ingress certificate",
    });
    const fingerprint = await new Promise<string>((resolve, reject) => {
      const socket = tls.connect(
        { host: "127.0.0.1", port: gw.httpsAddress.port, servername: host, rejectUnauthorized: false },
        () => {
          resolve(socket.getPeerCertificate().fingerprint256);
          socket.end();
        },
      );
      socket.once("error", reject);
    });
    expect(pair.fingerprint.endsWith(fingerprint)).toBe(true);
  });
});

describe("classes", () => {
  it("leaves an Ingress of another controller's class alone: no route, no status, no Events", async () => {
    const ns = "ing-other";
    await backend(ns);
    await apply(
      cp.admin,
      ingress(ns, "theirs", "theirs.test", {
        className: "nginx",
        annotations: { [`${N}server-snippet`]: "return 418;" },
      }),
    );
    // A sentinel Ingress of ours in the same namespace, applied after: once it is served
    // (and has its status), the other one has been seen too.
    await apply(cp.admin, ingress(ns, "ours", "ours.test", { className: "wsgate" }));
    const table = await waitForTable(gw.holder, served("ours.test"), { what: "the sentinel" });
    expect(table.match("theirs.test", "/")).toBeUndefined();
    await waitFor(
      async () =>
        (await get<LiveIngress>(cp.admin, ingress(ns, "ours", "ours.test"))).status?.loadBalancer?.ingress
          ?.length,
      { what: "the sentinel's status" },
    );
    const theirs = await get<LiveIngress>(cp.admin, ingress(ns, "theirs", "theirs.test"));
    expect(theirs.status?.loadBalancer?.ingress ?? []).toEqual([]);
    expect(await eventsOf(ns, "theirs")).toEqual([]);
  });

  it("serves a class-less Ingress only once wsgate's IngressClass is the default, and stops when it is not", async () => {
    const ns = "ing-classless";
    await backend(ns);
    await apply(cp.admin, ingress(ns, "plain", "classless.test"));
    // Not ours yet: a sentinel of our class applied after it is served first.
    await apply(cp.admin, ingress(ns, "sentinel", "sentinel.test", { className: "wsgate" }));
    const before = await waitForTable(gw.holder, served("sentinel.test"), { what: "the sentinel" });
    expect(before.match("classless.test", "/")).toBeUndefined();

    await mutate<Obj>(cp.admin, ingressClass("wsgate", ""), (live) => {
      live.metadata.annotations = { "ingressclass.kubernetes.io/is-default-class": "true" };
    });
    await waitForTable(gw.holder, served("classless.test"), { what: "the class-less Ingress" });
    expect(await ask(await open("classless.test"), "hi")).toBe(`${POD_IP} hi`);

    await mutate<Obj>(cp.admin, ingressClass("wsgate", ""), (live) => {
      live.metadata.annotations = {};
    });
    await waitForTable(gw.holder, (t) => !served("classless.test")(t), {
      what: "the class-less Ingress gone",
    });
  });
});
