/**
 * `wsgate serve` in cluster mode against a real kube-apiserver, running as a
 * ServiceAccount that has exactly the chart's ClusterRole: informers → table →
 * real WebSocket traffic to "pods" on 10.244.0.x, and status written through the
 * status subresource.
 */
import { performance } from "node:perf_hooks";
import { KubeConfig, Watch } from "@kubernetes/client-node";
import { SignJWT } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import type { RunningGateway } from "../../src/cli/serve.js";
import { sourceChannels, type ObjectApplied } from "../../src/sources/cluster/events.js";
import type { RoutingTable } from "../../src/routing/table.js";
import {
  apply,
  controllerKubeconfig,
  endpointSlice,
  get,
  mutate,
  namespace,
  remove,
  route,
  selfSigned,
  service,
  startController,
  startPod,
  tlsSecret,
  assertPodNetwork,
  type Obj,
  type PodBackend,
  type SliceEndpoint,
} from "./harness/cluster.js";
import { startControlPlane, type ControlPlane } from "./harness/control-plane.js";
import { spawnController } from "./harness/process.js";
import { waitFor, waitForTable } from "./harness/wait.js";
import { ask, openAs } from "../helpers/gateway.js";

let cp: ControlPlane;
let gw: RunningGateway;
let kubeconfig: string;
const pods: PodBackend[] = [];
const clients: WebSocket[] = [];

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}
interface RouteStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  endpoints?: { ready: number; total: number };
}
type LiveRoute = Obj & { status?: RouteStatus };

beforeAll(async () => {
  await assertPodNetwork();
  cp = await startControlPlane();
  kubeconfig = await controllerKubeconfig(cp);
  gw = await startController(kubeconfig);
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

async function pod(ip: string): Promise<PodBackend> {
  const p = await startPod(ip, 8080);
  pods.push(p);
  return p;
}

/** Opens a client through the gateway; every test's routes use the host `<namespace>.test`. */
function open(path: string, host: string): Promise<WebSocket> {
  return openAs(gw.httpAddress.port, host, path, clients);
}

/** Sets up namespace, Service `echo` (port 80 "ws" → 8080) and its EndpointSlice. */
async function backendService(ns: string, endpoints: SliceEndpoint[], portName = "ws"): Promise<void> {
  await apply(cp.admin, namespace(ns));
  await apply(cp.admin, service(ns, "echo", [{ name: portName, port: 80, targetPort: 8080 }]));
  await apply(cp.admin, endpointSlice(ns, "echo-1", "echo", [{ name: portName, port: 8080 }], endpoints));
}

function echoRoute(ns: string, name: string, extra: Record<string, unknown> = {}, path = "/"): Obj {
  return route(ns, name, {
    hostnames: [`${ns}.test`],
    rules: [
      { matches: [{ path: { type: "PathPrefix", value: path } }], backendRefs: [{ name: "echo", port: 80 }] },
    ],
    ...extra,
  });
}

function endpointsOf(
  table: RoutingTable,
  key: string,
): { address: string; ready: boolean; terminating: boolean }[] {
  const r = table.routes.find((x) => x.key === key);
  return r ? r.rules.flatMap((rule) => rule.backends.flatMap((b) => b.endpoints)) : [];
}

async function liveRoute(ns: string, name: string): Promise<LiveRoute> {
  return get<LiveRoute>(cp.admin, route(ns, name, {}));
}

/** Polls the API (bounded) until the route's status satisfies `check`. */
async function statusOf(
  ns: string,
  name: string,
  check: (s: RouteStatus) => boolean,
  what: string,
): Promise<RouteStatus> {
  const live = await waitFor(
    async () => {
      const r = await liveRoute(ns, name);
      return r.status && check(r.status) ? r : undefined;
    },
    { timeoutMs: 30_000, what: `${ns}/${name} status: ${what}` },
  );
  return live.status as RouteStatus;
}

function cond(status: RouteStatus, type: string): Condition | undefined {
  return status.conditions?.find((c) => c.type === type);
}

function reasonIs(type: string, reason: string): (s: RouteStatus) => boolean {
  return (s) => cond(s, type)?.reason === reason;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

describe("cluster mode", () => {
  it("routes WebSocket traffic to a 10.244 pod and reports the route Accepted, ResolvedRefs and Programmed", async () => {
    const ns = "basic";
    const a = await pod("10.244.0.11");
    await backendService(ns, [{ ip: a.ip }]);
    await apply(cp.admin, echoRoute(ns, "chat"));
    await waitForTable(gw.holder, (t) => endpointsOf(t, `${ns}/chat`).length === 1, {
      what: "basic/chat served",
    });

    const ws = await open("/chat", `${ns}.test`);
    expect(await ask(ws, "hello")).toBe("10.244.0.11 hello");

    const status = await statusOf(ns, "chat", (s) => cond(s, "Programmed")?.status === "True", "Programmed");
    const live = await liveRoute(ns, "chat");
    const generation = live.metadata.generation as number;
    expect(status.observedGeneration).toBe(generation);
    expect(status.endpoints).toEqual({ ready: 1, total: 1 });
    expect(status.conditions?.map((c) => [c.type, c.status, c.reason, c.observedGeneration])).toEqual([
      ["Accepted", "True", "Accepted", generation],
      ["ResolvedRefs", "True", "ResolvedRefs", generation],
      ["Programmed", "True", "Programmed", generation],
    ]);
    for (const c of status.conditions ?? [])
      expect(c.lastTransitionTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  it("follows EndpointSlice edits — scale up and down, ready→false, terminating — and measures event-to-publish latency", async () => {
    const ns = "slices";
    const [a, b, c] = [await pod("10.244.0.21"), await pod("10.244.0.22"), await pod("10.244.0.23")];
    await backendService(ns, [{ ip: a.ip }]);
    await apply(cp.admin, echoRoute(ns, "chat"));
    const key = `${ns}/chat`;
    const slice = (eps: SliceEndpoint[]): Obj =>
      endpointSlice(ns, "echo-1", "echo", [{ name: "ws", port: 8080 }], eps);
    const ready = (t: RoutingTable): string[] =>
      endpointsOf(t, key)
        .filter((e) => e.ready)
        .map((e) => e.address)
        .sort();
    await waitForTable(gw.holder, (t) => ready(t).join() === a.ip, { what: "one ready endpoint" });
    const first = await open("/x", `${ns}.test`);
    expect(await ask(first, "1")).toBe(`${a.ip} 1`);

    // Scale up: least connections sends the next client to the new, empty pod.
    await apply(cp.admin, slice([{ ip: a.ip }, { ip: b.ip }]));
    await waitForTable(gw.holder, (t) => ready(t).join() === [a.ip, b.ip].join(), { what: "scaled up" });
    const second = await open("/x", `${ns}.test`);
    expect(await ask(second, "2")).toBe(`${b.ip} 2`);
    await statusOf(ns, "chat", (s) => s.endpoints?.ready === 2 && s.endpoints.total === 2, "2/2 endpoints");

    // ready→false: the endpoint stays known but gets no new connections.
    await apply(cp.admin, slice([{ ip: a.ip, ready: false }, { ip: b.ip }, { ip: c.ip }]));
    await waitForTable(
      gw.holder,
      (t) => ready(t).join() === [b.ip, c.ip].join() && endpointsOf(t, key).length === 3,
      {
        what: "a not ready",
      },
    );
    for (let i = 0; i < 3; i++) expect(await ask(await open("/x", `${ns}.test`), "n")).not.toContain(a.ip);
    await statusOf(ns, "chat", (s) => s.endpoints?.ready === 2 && s.endpoints.total === 3, "2/3 endpoints");

    // terminating: no new connections; the established one is not cut by the table swap.
    await apply(cp.admin, slice([{ ip: a.ip }, { ip: b.ip, ready: false, terminating: true }, { ip: c.ip }]));
    await waitForTable(
      gw.holder,
      (t) => endpointsOf(t, key).some((e) => e.address === b.ip && e.terminating && !e.ready),
      { what: "b terminating" },
    );
    for (let i = 0; i < 3; i++) expect(await ask(await open("/x", `${ns}.test`), "t")).not.toContain(b.ip);

    // Scale down to one pod; connections to the others are the data plane's to drain.
    await apply(cp.admin, slice([{ ip: c.ip }]));
    await waitForTable(
      gw.holder,
      (t) =>
        endpointsOf(t, key)
          .map((e) => e.address)
          .join() === c.ip,
      {
        what: "scaled down",
      },
    );
    expect(await ask(await open("/x", `${ns}.test`), "d")).toBe(`${c.ip} d`);
    await statusOf(ns, "chat", (s) => s.endpoints?.ready === 1 && s.endpoints.total === 1, "1/1 endpoints");

    // Latency: alternate between one and two endpoints; from the watch event the informer
    // delivered (and from the test's own API write) to the publication of the table that has it.
    const received: ObjectApplied[] = [];
    const onApplied = (m: unknown): void => {
      const e = m as ObjectApplied;
      if (e.kind === "EndpointSlice" && e.namespace === ns) received.push(e);
    };
    sourceChannels.objectApplied.subscribe(onApplied);
    const eventToPublish: number[] = [];
    const writeToPublish: number[] = [];
    try {
      for (let i = 0; i < 100; i++) {
        const want = i % 2 === 0 ? [a.ip, c.ip] : [c.ip];
        received.length = 0;
        let publishedAt = 0;
        const published = new Promise<void>((resolve) => {
          const off = gw.holder.onPublish((p) => {
            if (ready(p.table).join() !== want.join()) return;
            publishedAt = performance.now();
            off();
            resolve();
          });
        });
        const wroteAt = performance.now();
        await apply(cp.admin, slice(want.map((ip) => ({ ip }))));
        await published;
        const event = received[received.length - 1];
        if (!event) throw new Error("the table changed without an EndpointSlice event");
        eventToPublish.push(publishedAt - event.receivedAt);
        writeToPublish.push(publishedAt - wroteAt);
      }
    } finally {
      sourceChannels.objectApplied.unsubscribe(onApplied);
    }
    eventToPublish.sort((x, y) => x - y);
    writeToPublish.sort((x, y) => x - y);
    const fmt = (xs: number[]): string =>
      `p50 ${percentile(xs, 50).toFixed(1)} ms, p99 ${percentile(xs, 99).toFixed(1)} ms`;
    console.log(
      `EndpointSlice event → table published (n=${eventToPublish.length}): ${fmt(eventToPublish)}\n` +
        `API write → table published (n=${writeToPublish.length}): ${fmt(writeToPublish)}`,
    );
    // Coalescing holds changes back up to 500 ms (hold-off 100 ms): anything slower is a bug.
    expect(percentile(eventToPublish, 99)).toBeLessThan(1_000);
  });

  it("follows a Service port rename the way kube-proxy does", async () => {
    const ns = "rename";
    const a = await pod("10.244.0.31");
    await backendService(ns, [{ ip: a.ip }], "ws");
    await apply(cp.admin, echoRoute(ns, "chat"));
    const key = `${ns}/chat`;
    await waitForTable(gw.holder, (t) => endpointsOf(t, key).length === 1, { what: "served" });

    // The Service port is renamed: the slices still name the old port, so no endpoint matches.
    await apply(cp.admin, service(ns, "echo", [{ name: "web", port: 80, targetPort: 8080 }]));
    await waitForTable(
      gw.holder,
      (t) => t.routes.some((r) => r.key === key) && endpointsOf(t, key).length === 0,
      {
        what: "no endpoints after the rename",
      },
    );
    await statusOf(ns, "chat", reasonIs("Programmed", "NoReadyEndpoints"), "NoReadyEndpoints");

    // The EndpointSlice controller catches up with the new name: served again.
    await apply(cp.admin, endpointSlice(ns, "echo-1", "echo", [{ name: "web", port: 8080 }], [{ ip: a.ip }]));
    await waitForTable(gw.holder, (t) => endpointsOf(t, key).length === 1, { what: "served again" });
    expect(await ask(await open("/", `${ns}.test`), "r")).toBe(`${a.ip} r`);
    await statusOf(ns, "chat", reasonIs("Programmed", "Programmed"), "Programmed again");
  });

  it("reflects TLS Secret creation and rotation in the table's certificates and ResolvedRefs", async () => {
    const ns = "tls";
    const a = await pod("10.244.0.41");
    await backendService(ns, [{ ip: a.ip }]);
    const host = "secure.test";
    await apply(
      cp.admin,
      route(ns, "chat", {
        hostnames: [host],
        tls: { secretName: "chat-tls" },
        rules: [{ backendRefs: [{ name: "echo", port: 80 }] }],
      }),
    );
    await statusOf(ns, "chat", reasonIs("ResolvedRefs", "SecretNotFound"), "SecretNotFound");

    const bad = tlsSecret(ns, "chat-tls", { cert: selfSigned(host).cert, key: selfSigned(host).key });
    await apply(cp.admin, bad);
    await statusOf(ns, "chat", reasonIs("ResolvedRefs", "InvalidCertificate"), "InvalidCertificate");

    const first = selfSigned(host);
    await apply(cp.admin, tlsSecret(ns, "chat-tls", first));
    const t1 = await waitForTable(gw.holder, (t) => t.certificates.get(host)?.certPem === first.cert, {
      what: "first certificate",
    });
    expect(t1.certificates.get(host)?.secret).toBe(`${ns}/chat-tls`);
    await statusOf(ns, "chat", reasonIs("ResolvedRefs", "ResolvedRefs"), "ResolvedRefs");

    const second = selfSigned(host);
    await apply(cp.admin, tlsSecret(ns, "chat-tls", second));
    await waitForTable(gw.holder, (t) => t.certificates.get(host)?.certPem === second.cert, {
      what: "rotated certificate",
    });

    // A Secret nobody references causes no work at all.
    const applied: ObjectApplied[] = [];
    const onApplied = (m: unknown): void => void applied.push(m as ObjectApplied);
    sourceChannels.objectApplied.subscribe(onApplied);
    try {
      await apply(cp.admin, tlsSecret(ns, "unused-tls", selfSigned("unused.test")));
      // Sentinel on the same watch stream: once it is applied, the unused Secret's event was seen.
      await apply(cp.admin, tlsSecret(ns, "chat-tls", first));
      await waitFor(() => applied.some((e) => e.kind === "Secret" && e.name === "chat-tls"), {
        what: "sentinel",
      });
      expect(applied.filter((e) => e.name === "unused-tls")).toEqual([]);
    } finally {
      sourceChannels.objectApplied.unsubscribe(onApplied);
    }
  });

  it("resolves JWT keys from an Opaque Secret named by spec.auth and rotates them without a restart", async () => {
    const ns = "auth";
    const a = await pod("10.244.0.45");
    await backendService(ns, [{ ip: a.ip }]);
    const token = (key: Uint8Array): Promise<string> =>
      new SignJWT({ sub: "alice" }).setProtectedHeader({ alg: "HS256" }).setExpirationTime("5m").sign(key);
    const first = new Uint8Array(32).fill(1);
    const second = new Uint8Array(32).fill(2);
    const keysSecret = (key: Uint8Array): Obj => ({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "jwt-keys", namespace: ns },
      type: "Opaque",
      data: { hmac: Buffer.from(key).toString("base64") },
    });
    await apply(
      cp.admin,
      echoRoute(ns, "chat", {
        auth: {
          jwt: {
            keys: { secretRef: { name: "jwt-keys", key: "hmac", format: "HMAC" } },
            tokenFrom: [{ query: "access_token" }],
          },
        },
      }),
    );
    await statusOf(ns, "chat", reasonIs("ResolvedRefs", "SecretNotFound"), "SecretNotFound");
    // Fail closed while the keys are missing.
    await expect(open(`/?access_token=${await token(first)}`, `${ns}.test`)).rejects.toThrow(/HTTP 503/);

    await apply(cp.admin, keysSecret(first));
    await statusOf(ns, "chat", reasonIs("ResolvedRefs", "ResolvedRefs"), "ResolvedRefs");
    const ws = await open(`/?access_token=${await token(first)}`, `${ns}.test`);
    expect(await ask(ws, "signed")).toBe(`${a.ip} signed`);
    await expect(open("/", `${ns}.test`)).rejects.toThrow(/HTTP 401/);

    await apply(cp.admin, keysSecret(second));
    const rotatedToken = await token(second);
    await waitFor(
      () =>
        open(`/?access_token=${rotatedToken}`, `${ns}.test`).then(
          () => true,
          () => false,
        ),
      { what: "the rotated key accepted" },
    );
    await expect(open(`/?access_token=${await token(first)}`, `${ns}.test`)).rejects.toThrow(/HTTP 401/);
    // The connection opened with the old key is untouched.
    expect(await ask(ws, "still open")).toBe(`${a.ip} still open`);
  });

  it("evicts a key Secret from the store when the last route stops naming it, so that its later updates cause no recompile", async () => {
    const ns = "evict";
    const a = await pod("10.244.0.47");
    await backendService(ns, [{ ip: a.ip }]);
    const token = (key: Uint8Array): Promise<string> =>
      new SignJWT({ sub: "alice" }).setProtectedHeader({ alg: "HS256" }).setExpirationTime("5m").sign(key);
    const hmacSecret = (name: string, key: Uint8Array): Obj => ({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name, namespace: ns },
      type: "Opaque",
      data: { hmac: Buffer.from(key).toString("base64") },
    });
    const jwtOn = (secret: string): Record<string, unknown> => ({
      auth: {
        jwt: {
          keys: { secretRef: { name: secret, key: "hmac", format: "HMAC" } },
          tokenFrom: [{ query: "access_token" }],
        },
      },
    });
    const authOf = (t: RoutingTable, name: string): string | undefined =>
      t.routes.find((r) => r.key === `${ns}/${name}`)?.settings.auth?.kind;
    const stored = (): string[] => gw.cluster!.source.storedSecrets();

    await apply(cp.admin, hmacSecret("keys", new Uint8Array(32).fill(3)));
    await apply(cp.admin, hmacSecret("sentinel-keys", new Uint8Array(32).fill(4)));
    await apply(cp.admin, echoRoute(ns, "chat", jwtOn("keys"), "/chat"));
    await apply(cp.admin, echoRoute(ns, "other", jwtOn("sentinel-keys"), "/other"));
    await waitForTable(gw.holder, (t) => authOf(t, "chat") === "jwt" && authOf(t, "other") === "jwt", {
      what: "both routes with resolved keys",
    });
    expect(stored()).toEqual(expect.arrayContaining([`${ns}/keys`, `${ns}/sentinel-keys`]));

    const applied: ObjectApplied[] = [];
    const onApplied = (m: unknown): void => void applied.push(m as ObjectApplied);
    sourceChannels.objectApplied.subscribe(onApplied);
    try {
      // The only route naming the Secret stops naming it: the Secret leaves the store.
      await apply(cp.admin, echoRoute(ns, "chat", {}, "/chat"));
      await waitFor(
        () => applied.some((e) => e.kind === "Secret" && e.name === "keys" && e.change === "delete"),
        { what: "the unreferenced Secret evicted" },
      );
      expect(stored()).not.toContain(`${ns}/keys`);
      const settled = await waitForTable(gw.holder, (t) => authOf(t, "chat") === undefined, {
        what: "chat without auth",
      });

      // An update to it waits outside; a referenced Secret on the same watch stream is the sentinel.
      applied.length = 0;
      const rotated = new Uint8Array(32).fill(5);
      await apply(cp.admin, hmacSecret("keys", rotated));
      await apply(cp.admin, hmacSecret("sentinel-keys", new Uint8Array(32).fill(6)));
      await waitFor(() => applied.some((e) => e.name === "sentinel-keys"), { what: "sentinel applied" });
      expect(applied.map((e) => `${e.kind} ${e.name} ${e.change}`)).toEqual(["Secret sentinel-keys upsert"]);
      const next = await waitForTable(gw.holder, (t) => t.generation > settled.generation, {
        what: "the sentinel's table",
      });
      expect(next.generation).toBe(settled.generation + 1);
      expect(stored()).not.toContain(`${ns}/keys`);

      // Named again: the Secret comes back with the content it got while it waited.
      await apply(cp.admin, echoRoute(ns, "chat", jwtOn("keys"), "/chat"));
      await waitForTable(gw.holder, (t) => authOf(t, "chat") === "jwt", { what: "chat with keys again" });
      expect(stored()).toContain(`${ns}/keys`);
      const ws = await open(`/chat?access_token=${await token(rotated)}`, `${ns}.test`);
      expect(await ask(ws, "back")).toBe(`${a.ip} back`);
    } finally {
      sourceChannels.objectApplied.unsubscribe(onApplied);
    }
  });

  it("writes every reason to the real status subresource, with Events for transitions", async () => {
    const ns = "reasons";
    const a = await pod("10.244.0.51");
    await backendService(ns, [{ ip: a.ip }]);
    const rules = (service = "echo", path = "/"): unknown[] => [
      {
        matches: [{ path: { type: "PathPrefix", value: path } }],
        backendRefs: [{ name: service, port: 80 }],
      },
    ];

    // (Created within one second, the two tie on creationTimestamp; the name then decides.)
    await apply(cp.admin, route(ns, "a-older", { hostnames: ["r.test"], rules: rules("echo", "/same") }));
    await statusOf(ns, "a-older", reasonIs("Programmed", "Programmed"), "older Programmed");
    // Conflicted: the same host and path as an older route.
    await apply(cp.admin, route(ns, "b-newer", { hostnames: ["r.test"], rules: rules("echo", "/same") }));
    const conflicted = await statusOf(ns, "b-newer", reasonIs("Accepted", "Conflicted"), "Conflicted");
    expect(cond(conflicted, "Programmed")?.reason).toBe("Pending");
    expect(cond(conflicted, "Accepted")?.message).toContain(`${ns}/a-older`);

    // Invalid (semantic): the CRD admits it, compile() does not.
    await apply(
      cp.admin,
      route(ns, "semantic", {
        rules: rules("echo", "/semantic"),
        healthCheck: { interval: "1s", timeout: "5s" },
      }),
    );
    await statusOf(ns, "semantic", reasonIs("Accepted", "Invalid"), "Invalid (semantic)");

    // Invalid (schema): accepted by the CRD's pattern, rejected by the stricter zod URL check.
    await apply(
      cp.admin,
      route(ns, "schema", {
        rules: rules("echo", "/schema"),
        auth: { forwardAuth: { url: "http://auth.example.com:99999/verify" } },
      }),
    );
    const invalid = await statusOf(ns, "schema", reasonIs("Accepted", "Invalid"), "Invalid (schema)");
    expect(cond(invalid, "Accepted")?.message).toContain("spec.auth.forwardAuth.url");
    expect(cond(invalid, "ResolvedRefs")?.status).toBe("Unknown");

    // BackendNotFound, then NoReadyEndpoints, then Programmed as the backend appears and gets ready.
    await apply(cp.admin, route(ns, "lonely", { rules: rules("ghost", "/ghost") }));
    const missing = await statusOf(
      ns,
      "lonely",
      reasonIs("ResolvedRefs", "BackendNotFound"),
      "BackendNotFound",
    );
    expect(cond(missing, "Programmed")?.reason).toBe("NoReadyEndpoints");
    await apply(cp.admin, service(ns, "ghost", [{ name: "ws", port: 80 }]));
    await apply(
      cp.admin,
      endpointSlice(ns, "ghost-1", "ghost", [{ name: "ws", port: 8080 }], [{ ip: a.ip, ready: false }]),
    );
    const notReady = await statusOf(
      ns,
      "lonely",
      (s) => reasonIs("ResolvedRefs", "ResolvedRefs")(s) && reasonIs("Programmed", "NoReadyEndpoints")(s),
      "NoReadyEndpoints",
    );
    expect(notReady.endpoints).toEqual({ ready: 0, total: 1 });
    const programmedFalseAt = cond(notReady, "Programmed")?.lastTransitionTime;
    await apply(
      cp.admin,
      endpointSlice(ns, "ghost-1", "ghost", [{ name: "ws", port: 8080 }], [{ ip: a.ip }]),
    );
    const programmed = await statusOf(ns, "lonely", reasonIs("Programmed", "Programmed"), "Programmed");
    expect(programmed.endpoints).toEqual({ ready: 1, total: 1 });
    // Accepted never flipped: its transition time is the first one.
    expect(cond(programmed, "Accepted")?.lastTransitionTime).toBe(
      cond(missing, "Accepted")?.lastTransitionTime,
    );
    expect(programmedFalseAt).toBeDefined();

    // Back to no ready endpoints: a Warning Event tells the story.
    await apply(
      cp.admin,
      endpointSlice(ns, "ghost-1", "ghost", [{ name: "ws", port: 8080 }], [{ ip: a.ip, ready: false }]),
    );
    await statusOf(ns, "lonely", reasonIs("Programmed", "NoReadyEndpoints"), "NoReadyEndpoints again");
    const events = await waitFor(
      async () => {
        const list = await cp.admin.get<{
          items: {
            reason: string;
            type: string;
            note: string;
            regarding: { name: string };
            reportingController: string;
          }[];
        }>(`/apis/events.k8s.io/v1/namespaces/${ns}/events`);
        const mine = list.items.filter((e) => e.regarding.name === "lonely");
        return mine.filter((e) => e.reason === "NoReadyEndpoints").length >= 2 ? mine : undefined;
      },
      { what: "NoReadyEndpoints events" },
    );
    const warning = events.find(
      (e) => e.reason === "NoReadyEndpoints" && e.note.includes("was True/Programmed"),
    );
    expect(warning).toMatchObject({ type: "Warning", reportingController: "wsgate.io/gateway" });
    expect(events.some((e) => e.reason === "Programmed" && e.type === "Normal")).toBe(true);
    expect(events.some((e) => e.reason === "BackendNotFound" && e.type === "Warning")).toBe(true);
  });

  it("ignores status-only updates and routes of another ingress class", async () => {
    const ns = "quiet";
    const a = await pod("10.244.0.61");
    await backendService(ns, [{ ip: a.ip }]);
    await apply(cp.admin, echoRoute(ns, "mine", {}, "/mine"));
    await statusOf(ns, "mine", reasonIs("Programmed", "Programmed"), "mine Programmed");

    const applied: ObjectApplied[] = [];
    const onApplied = (m: unknown): void => void applied.push(m as ObjectApplied);
    sourceChannels.objectApplied.subscribe(onApplied);
    try {
      const generation = gw.holder.current.generation;
      // A foreign route, a status-only write and a label change (generation unchanged) …
      await apply(
        cp.admin,
        route(ns, "theirs", {
          ingressClassName: "other",
          rules: [{ backendRefs: [{ name: "echo", port: 80 }] }],
        }),
      );
      const mine = await liveRoute(ns, "mine");
      await cp.admin.put(`/apis/wsgate.io/v1alpha1/namespaces/${ns}/websocketroutes/mine/status`, {
        ...mine,
        status: { ...mine.status, endpoints: { ready: 7, total: 7 } },
      });
      await mutate<LiveRoute>(cp.admin, mine, (r) => {
        r.metadata.labels = { touched: "yes" };
      });
      // … then a spec change of another route on the same watch stream, as a sentinel.
      await apply(cp.admin, echoRoute(ns, "sentinel", {}, "/sentinel"));
      await waitFor(() => applied.some((e) => e.name === "sentinel"), { what: "sentinel applied" });
      expect(applied.map((e) => `${e.kind} ${e.name}`)).toEqual(["WebSocketRoute sentinel"]);
      await waitForTable(gw.holder, (t) => t.routes.some((r) => r.key === `${ns}/sentinel`), {
        what: "sentinel",
      });
      expect(gw.holder.current.generation).toBe(generation + 1);
    } finally {
      sourceChannels.objectApplied.unsubscribe(onApplied);
    }
    // The foreign route is neither served nor given a status; ours got its true counts back.
    expect(gw.holder.current.routes.some((r) => r.key === `${ns}/theirs`)).toBe(false);
    await statusOf(
      ns,
      "mine",
      (s) => s.endpoints?.ready === 1 && s.endpoints.total === 1,
      "tampered status restored",
    );
    await statusOf(ns, "sentinel", reasonIs("Programmed", "Programmed"), "sentinel Programmed");
    expect((await liveRoute(ns, "theirs")).status).toBeUndefined();

    // Moving one of ours to another class takes it out of the table; its status is left as it was.
    await mutate<LiveRoute>(cp.admin, route(ns, "sentinel", {}), (r) => {
      (r.spec as Record<string, unknown>).ingressClassName = "other";
    });
    await waitForTable(gw.holder, (t) => !t.routes.some((r) => r.key === `${ns}/sentinel`), {
      what: "sentinel gone",
    });
  });

  it("gives a route deleted and at once recreated under its name a status of its own", async () => {
    const ns = "recreate";
    const a = await pod("10.244.0.91");
    await backendService(ns, [{ ip: a.ip }]);
    await apply(cp.admin, echoRoute(ns, "chat"));
    await statusOf(ns, "chat", reasonIs("Programmed", "Programmed"), "Programmed");
    // Within one coalescing window: no table ever lacks the route, and the new object is
    // identical (same generation, same conditions) except that it has no status.
    await remove(cp.admin, echoRoute(ns, "chat"));
    const recreated = await apply(cp.admin, echoRoute(ns, "chat"));
    expect((recreated as LiveRoute).status).toBeUndefined();
    await statusOf(ns, "chat", reasonIs("Programmed", "Programmed"), "status of the new object");
  });

  it("writes status in proportion to real changes, not to EndpointSlice events (1,000 events)", async () => {
    const ns = "churn";
    const [a, b] = [await pod("10.244.0.71"), await pod("10.244.0.72")];
    await backendService(ns, [{ ip: a.ip }, { ip: b.ip }]);
    await apply(cp.admin, echoRoute(ns, "chat"));
    await statusOf(ns, "chat", (s) => s.endpoints?.ready === 2, "2 ready");
    // Count status writes as the API server sees them: MODIFIED events of the route, from
    // the resourceVersion read here. A write completing between the two baselines would be
    // counted on one side only, so take them again until no write landed in between.
    const writeCount = (): number => gw.cluster?.writer.stats.writes ?? 0;
    let writesBefore: number;
    let start: LiveRoute;
    do {
      await gw.cluster?.writer.idle();
      writesBefore = writeCount();
      start = await liveRoute(ns, "chat");
      await gw.cluster?.writer.idle();
    } while (writeCount() !== writesBefore);
    const publishedBefore = gw.holder.current.generation;

    const kc = new KubeConfig();
    kc.loadFromFile(cp.adminKubeconfig);
    let modified = 0;
    let lastSeen = start.metadata.resourceVersion;
    const watch = await new Watch(kc).watch(
      `/apis/wsgate.io/v1alpha1/namespaces/${ns}/websocketroutes`,
      { fieldSelector: "metadata.name=chat", resourceVersion: start.metadata.resourceVersion },
      (phase, obj: { metadata: { resourceVersion: string } }) => {
        if (phase === "MODIFIED") modified++;
        lastSeen = obj.metadata.resourceVersion;
      },
      () => {},
    );

    const slice = (i: number, aReady: boolean): Obj => {
      const s = endpointSlice(
        ns,
        "echo-1",
        "echo",
        [{ name: "ws", port: 8080 }],
        [{ ip: a.ip, ready: aReady }, { ip: b.ip }],
      );
      (s.metadata.labels as Record<string, string>).churn = String(i);
      return s;
    };
    // 1,000 updates; every 100th flips pod a's readiness (a real change of the status counts).
    let realChanges = 0;
    let aReady = true;
    for (let i = 1; i <= 1000; i++) {
      if (i % 100 === 0) {
        aReady = !aReady;
        realChanges++;
      }
      await apply(cp.admin, slice(i, aReady));
    }
    const final = await statusOf(ns, "chat", (s) => s.endpoints?.ready === (aReady ? 2 : 1), "final counts");
    expect(final.endpoints?.total).toBe(2);
    await gw.cluster?.writer.idle();
    const writes = (gw.cluster?.writer.stats.writes ?? 0) - writesBefore;
    const end = await liveRoute(ns, "chat");
    await waitFor(() => lastSeen === end.metadata.resourceVersion, { what: "the watch to catch up" });
    watch.abort();
    console.log(
      `1000 EndpointSlice updates, ${realChanges} real changes: ${writes} status writes, ` +
        `${gw.holder.current.generation - publishedBefore} tables published`,
    );
    expect(writes).toBeGreaterThanOrEqual(1);
    expect(writes).toBeLessThanOrEqual(realChanges + 1);
    expect(modified).toBe(writes);
  });

  it("watches only the namespaces it is given", async () => {
    const scoped = await startController(kubeconfig, [
      "--namespace",
      "scope-a",
      "--leader-election-id",
      "scoped",
    ]);
    try {
      await scoped.holder.waitForGeneration(1);
      for (const ns of ["scope-a", "scope-b"]) {
        const p = await pod(ns === "scope-a" ? "10.244.0.81" : "10.244.0.82");
        await backendService(ns, [{ ip: p.ip }]);
        await apply(cp.admin, echoRoute(ns, "chat", {}, `/${ns}`));
      }
      await waitForTable(scoped.holder, (t) => t.routes.some((r) => r.key === "scope-a/chat"), {
        what: "scope-a",
      });
      await waitForTable(gw.holder, (t) => t.routes.some((r) => r.key === "scope-b/chat"), {
        what: "scope-b (unscoped)",
      });
      expect(scoped.holder.current.routes.map((r) => r.key)).toEqual(["scope-a/chat"]);
    } finally {
      await scoped.stop();
    }
  });

  it("without the RBAC rules: never ready, and the log says which rules to grant", async () => {
    const unbound = await controllerKubeconfig(cp, "unbound", { rbac: false });
    const replica = await spawnController(unbound, "unbound", ["--leader-election-id", "unbound"]);
    try {
      const line = await replica.waitForLog((l) => String(l.error ?? "").includes("clusterrole-rules.yaml"));
      expect(String(line.error)).toContain("403");
      expect((await fetch(`http://${replica.admin}/readyz`)).status).toBe(503);
    } finally {
      await replica.kill("SIGKILL");
    }
  });

  it("exports watch restarts and health on the admin listener", async () => {
    const admin = `http://127.0.0.1:${gw.adminAddress.port}`;
    expect((await fetch(`${admin}/readyz`)).status).toBe(200);
    expect((await fetch(`${admin}/healthz`)).status).toBe(200);
    const debug = (await (await fetch(`${admin}/debug/config`)).json()) as {
      sources: {
        cluster: { synced: boolean; watches: { kind: string }[]; leaderElection: { leading: boolean } };
      };
    };
    expect(debug.sources.cluster.synced).toBe(true);
    // Two Secret watches: kubernetes.io/tls certificates and Opaque JWT keys; ConfigMaps
    // for backend CA bundles (only those a route or policy names are kept).
    expect(debug.sources.cluster.watches.map((w) => w.kind).sort()).toEqual([
      "ConfigMap",
      "EndpointSlice",
      "Ingress",
      "IngressClass",
      "Secret",
      "Secret",
      "Service",
      "WebSocketPolicy",
      "WebSocketRoute",
    ]);
    expect(debug.sources.cluster.leaderElection.leading).toBe(true);
    await remove(cp.admin, route("basic", "chat", {}));
    await waitForTable(gw.holder, (t) => !t.routes.some((r) => r.key === "basic/chat"), {
      what: "route deleted",
    });
  });
});
