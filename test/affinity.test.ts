/**
 * Session affinity on real sockets: three echo backends on port 0 behind an in-process
 * gateway. Cookie affinity holds a session (50 polling requests, then the upgrade) on one
 * endpoint; forged and stale cookies get a fresh pick and a new cookie, never an error;
 * hashing on a header or the trusted client address keeps a key on one endpoint.
 */
import http from "node:http";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { affinityChannel, type AffinityDecided } from "../src/dataplane/affinity/session.js";
import { TrustedProxies } from "../src/dataplane/client-identity.js";
import { parseManifestText } from "../src/sources/manifests.js";
import { startEchoBackend, type EchoBackend } from "./helpers/backends.js";
import { closeClient, roundTrip, startTestGateway, type TestGateway } from "./helpers/gateway.js";
import { serviceWithEndpoints, simpleRoute } from "./helpers/objects.js";
import { GATEWAY_YAML } from "./helpers/gateway-api.js";

interface Answer {
  readonly status: number;
  /** The echo backend's own port: which endpoint served the request. */
  readonly port: number;
  readonly setCookie: string[];
}

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path, headers, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          port: res.statusCode === 200 ? (JSON.parse(body) as { port: number }).port : 0,
          setCookie: res.headers["set-cookie"] ?? [],
        }),
      );
    });
    req.on("error", reject);
  });
}

/** The `name=value` part of a Set-Cookie header, to send back as a Cookie header. */
const cookiePair = (setCookie: string): string => setCookie.split(";")[0]!;

/** Opens a WebSocket and resolves with it and the 101's Set-Cookie headers. */
function open(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ ws: WebSocket; setCookie: string[] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    let setCookie: string[] = [];
    ws.once("upgrade", (res) => (setCookie = res.headers["set-cookie"] ?? []));
    ws.once("open", () => resolve({ ws, setCookie }));
    ws.once("error", reject);
    ws.once("unexpected-response", (_req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
  });
}

/** Records `wsgate_affinity_total` events for the test's duration. */
function recordAffinity(): { results: string[]; stop(): void } {
  const results: string[] = [];
  const listener = (m: unknown): void => void results.push((m as AffinityDecided).result);
  affinityChannel.subscribe(listener);
  return { results, stop: () => affinityChannel.unsubscribe(listener) };
}

let backends: EchoBackend[] = [];
let gw: TestGateway;

const byPort = (port: number): EchoBackend => backends.find((b) => b.port === port)!;

function apply(
  affinity: Record<string, unknown> | undefined,
  ready: (i: number) => boolean = () => true,
): void {
  gw.apply([
    ...serviceWithEndpoints(
      "apps",
      "chat",
      backends.map((b, i) => ({ port: b.port, ready: ready(i) })),
    ),
    simpleRoute("apps", "chat", "chat", affinity ? { sessionAffinity: affinity } : {}),
  ]);
}

describe("session affinity", () => {
  beforeEach(async () => {
    backends = await Promise.all([startEchoBackend(), startEchoBackend(), startEchoBackend()]);
    gw = await startTestGateway({ trustedProxies: new TrustedProxies(["127.0.0.1/32"]) });
  });
  afterEach(async () => {
    await gw.close();
    await Promise.all(backends.map((b) => b.close()));
  });

  it("spreads a session's requests over the endpoints without affinity (the control)", async () => {
    apply(undefined);
    const ports = new Set<number>();
    for (let i = 0; i < 50; i++) ports.add((await get(gw.port, "/socket.io/?EIO=4&transport=polling")).port);
    expect(ports.size).toBeGreaterThan(1);
  });

  it("keeps a Cookie session's 50 polling requests and its upgrade on one endpoint of 3", async () => {
    apply({ type: "Cookie", cookie: { maxAge: "1h" } });
    const affinity = recordAffinity();
    try {
      const first = await get(gw.port, "/socket.io/?EIO=4&transport=polling");
      expect(first.status).toBe(200);
      expect(first.setCookie).toHaveLength(1);
      const issued = first.setCookie[0]!;
      expect(issued).toMatch(
        /^wsgate-affinity=[A-Za-z0-9_-]{24}; Path=\/; Max-Age=3600; SameSite=Lax; HttpOnly$/,
      );
      // Plain HTTP on a plain listener: no Secure unless configured (a browser would drop it).
      expect(issued).not.toContain("Secure");
      const cookie = cookiePair(issued);
      for (let i = 0; i < 50; i++) {
        const next = await get(gw.port, "/socket.io/?EIO=4&transport=polling", {
          Cookie: `io=abc; ${cookie}`,
        });
        expect(next.port).toBe(first.port);
        // The cookie already names this endpoint: it is not sent again.
        expect(next.setCookie).toEqual([]);
      }
      const { ws, setCookie } = await open(gw.url("/socket.io/?EIO=4&transport=websocket"), {
        Cookie: cookie,
      });
      expect(byPort(first.port).sockets.size).toBe(1);
      expect(setCookie).toEqual([]);
      expect((await roundTrip(ws, "hello")).data.toString()).toBe("hello");
      await closeClient(ws);
      expect(affinity.results.filter((r) => r === "hit")).toHaveLength(51);
      expect(affinity.results.filter((r) => r === "miss")).toHaveLength(1);
    } finally {
      affinity.stop();
    }
  });

  it("issues the cookie on the 101 when the upgrade is the session's first request", async () => {
    apply({ type: "Cookie" });
    const { ws, setCookie } = await open(gw.url("/ws"));
    expect(setCookie).toHaveLength(1);
    const served = backends.find((b) => b.sockets.size === 1)!;
    await closeClient(ws);
    for (let i = 0; i < 10; i++) {
      expect((await get(gw.port, "/poll", { Cookie: cookiePair(setCookie[0]!) })).port).toBe(served.port);
    }
  });

  it("refuses to fail a forged cookie: a fresh pick and a new cookie", async () => {
    apply({ type: "Cookie" });
    const affinity = recordAffinity();
    try {
      for (const forged of ["AAAAAAAAAAAAAAAAAAAAAAAA", "10.244.0.7:8080", "", "%00;;=", "x".repeat(4000)]) {
        const answer = await get(gw.port, "/poll", { Cookie: `wsgate-affinity=${forged}` });
        expect(answer.status).toBe(200);
        expect(answer.setCookie).toHaveLength(1);
        expect(answer.setCookie[0]).not.toContain(forged || "never");
      }
      expect(affinity.results).toEqual(["repicked", "repicked", "miss", "repicked", "repicked"]);
    } finally {
      affinity.stop();
    }
  });

  it("moves a session whose endpoint became unready to another one and reissues the cookie", async () => {
    apply({ type: "Cookie" });
    const first = await get(gw.port, "/poll");
    const cookie = cookiePair(first.setCookie[0]!);
    const pinned = backends.findIndex((b) => b.port === first.port);
    apply({ type: "Cookie" }, (i) => i !== pinned);
    const affinity = recordAffinity();
    try {
      const moved = await get(gw.port, "/poll", { Cookie: cookie });
      expect(moved.status).toBe(200);
      expect(moved.port).not.toBe(first.port);
      expect(moved.setCookie).toHaveLength(1);
      expect(cookiePair(moved.setCookie[0]!)).not.toBe(cookie);
      // The new cookie holds: the session stays on its new endpoint, even once the old one is back.
      apply({ type: "Cookie" });
      for (let i = 0; i < 10; i++) {
        expect((await get(gw.port, "/poll", { Cookie: cookiePair(moved.setCookie[0]!) })).port).toBe(
          moved.port,
        );
      }
      expect(affinity.results[0]).toBe("repicked");
    } finally {
      affinity.stop();
    }
  });

  it("moves a session whose endpoint refuses the upgrade: retried elsewhere, the 101 reissues the cookie", async () => {
    apply({ type: "Cookie" });
    const first = await get(gw.port, "/poll");
    const cookie = cookiePair(first.setCookie[0]!);
    await byPort(first.port).close(); // its port now refuses connections
    const affinity = recordAffinity();
    try {
      const { ws, setCookie } = await open(gw.url("/ws"), { Cookie: cookie });
      const served = backends.find((b) => b.sockets.size === 1)!;
      expect(served.port).not.toBe(first.port);
      expect(setCookie).toHaveLength(1);
      expect(cookiePair(setCookie[0]!)).not.toBe(cookie);
      expect(affinity.results).toEqual(["repicked"]);
      await closeClient(ws);
    } finally {
      affinity.stop();
    }
  });

  it("moves a session whose endpoint is terminating (new requests only)", async () => {
    apply({ type: "Cookie" });
    const first = await get(gw.port, "/poll");
    const cookie = cookiePair(first.setCookie[0]!);
    const pinned = backends.findIndex((b) => b.port === first.port);
    gw.apply([
      ...serviceWithEndpoints(
        "apps",
        "chat",
        backends.map((b, i) => ({ port: b.port, terminating: i === pinned })),
      ),
      simpleRoute("apps", "chat", "chat", { sessionAffinity: { type: "Cookie" } }),
    ]);
    const moved = await get(gw.port, "/poll", { Cookie: cookie });
    expect(moved.port).not.toBe(first.port);
    expect(moved.setCookie).toHaveLength(1);
  });

  it("refuses to follow a stale cookie of another gateway key (a restarted standalone gateway): fresh pick", async () => {
    apply({ type: "Cookie" });
    const other = await startTestGateway();
    try {
      other.apply([
        ...serviceWithEndpoints(
          "apps",
          "chat",
          backends.map((b) => ({ port: b.port })),
        ),
        simpleRoute("apps", "chat", "chat", { sessionAffinity: { type: "Cookie" } }),
      ]);
      const foreign = await get(other.port, "/poll");
      const answer = await get(gw.port, "/poll", { Cookie: cookiePair(foreign.setCookie[0]!) });
      expect(answer.status).toBe(200);
      expect(answer.setCookie).toHaveLength(1);
      expect(answer.setCookie[0]).not.toBe(foreign.setCookie[0]);
    } finally {
      await other.close();
    }
  });

  it("keeps a header's sessions on one endpoint each, and spreads different sessions", async () => {
    apply({ type: "Header", header: { name: "X-Session-Id" } });
    const homes = new Map<string, number>();
    for (let s = 0; s < 12; s++) {
      const id = `user-${s}`;
      const first = await get(gw.port, "/poll", { "X-Session-Id": id });
      expect(first.setCookie).toEqual([]);
      for (let i = 0; i < 5; i++)
        expect((await get(gw.port, "/poll", { "X-Session-Id": id })).port).toBe(first.port);
      homes.set(id, first.port);
    }
    expect(new Set(homes.values()).size).toBeGreaterThan(1);
    const { ws } = await open(gw.url("/ws"), { "X-Session-Id": "user-3" });
    expect(byPort(homes.get("user-3")!).sockets.size).toBe(1);
    await closeClient(ws);
  });

  it("hashes the trusted client identity for ClientAddress, not the proxy's socket address", async () => {
    apply({ type: "ClientAddress" });
    const homes = new Set<number>();
    for (let c = 0; c < 12; c++) {
      const xff = `198.51.100.${c}`;
      const first = await get(gw.port, "/poll", { "X-Forwarded-For": xff });
      for (let i = 0; i < 5; i++)
        expect((await get(gw.port, "/poll", { "X-Forwarded-For": xff })).port).toBe(first.port);
      homes.add(first.port);
    }
    // Every request came from the same socket peer (127.0.0.1): only the client identity spreads them.
    expect(homes.size).toBeGreaterThan(1);
  });

  it("pins an HTTPRoute's sessions by a WebSocketPolicy's sessionAffinity, as a WebSocketRoute's", async () => {
    const parsed = parseManifestText(`${GATEWAY_YAML}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: chat, namespace: apps }
spec:
  parentRefs: [{ name: web }]
  rules: [{ backendRefs: [{ name: chat, port: 80 }] }]
---
apiVersion: wsgate.io/v1alpha1
kind: WebSocketPolicy
metadata: { name: sticky, namespace: apps }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: chat }]
  sessionAffinity: { type: Cookie, cookie: { name: sticky } }
`);
    expect(parsed.errors).toEqual([]);
    gw.apply([
      ...parsed.objects,
      ...serviceWithEndpoints(
        "apps",
        "chat",
        backends.map((b) => ({ port: b.port })),
      ),
    ]);
    const first = await get(gw.port, "/poll");
    expect(first.status).toBe(200);
    expect(first.setCookie[0]).toMatch(/^sticky=/);
    const cookie = cookiePair(first.setCookie[0]!);
    for (let i = 0; i < 20; i++)
      expect((await get(gw.port, "/poll", { Cookie: cookie })).port).toBe(first.port);
    const { ws } = await open(gw.url("/ws"), { Cookie: cookie });
    expect(byPort(first.port).sockets.size).toBe(1);
    await closeClient(ws);
  });

  it("pins an Ingress's sessions by ingress-nginx's affinity: cookie annotations, in nginx's cookie name", async () => {
    const parsed = parseManifestText(`
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: chat
  namespace: apps
  annotations:
    nginx.ingress.kubernetes.io/affinity: cookie
    nginx.ingress.kubernetes.io/session-cookie-max-age: "172800"
spec:
  ingressClassName: wsgate
  rules:
    - http:
        paths:
          - { path: /, pathType: Prefix, backend: { service: { name: chat, port: { number: 80 } } } }
`);
    expect(parsed.errors).toEqual([]);
    gw.apply([
      ...parsed.objects,
      ...serviceWithEndpoints(
        "apps",
        "chat",
        backends.map((b) => ({ port: b.port })),
      ),
    ]);
    const first = await get(gw.port, "/socket.io/?EIO=4&transport=polling");
    expect(first.setCookie[0]).toMatch(/^INGRESSCOOKIE=[A-Za-z0-9_-]{24}; Path=\/; Max-Age=172800;/);
    const cookie = cookiePair(first.setCookie[0]!);
    for (let i = 0; i < 20; i++)
      expect((await get(gw.port, "/socket.io/", { Cookie: cookie })).port).toBe(first.port);
    const { ws } = await open(gw.url("/socket.io/?EIO=4&transport=websocket"), { Cookie: cookie });
    expect(byPort(first.port).sockets.size).toBe(1);
    await closeClient(ws);
  });

  it("refuses to pile a hashed key's connections above the bound: the overflow goes to the next endpoint", async () => {
    apply({ type: "QueryParameter", queryParameter: { name: "sid" }, balanceFactorPercent: 100 });
    const clients: WebSocket[] = [];
    for (let i = 0; i < 6; i++) clients.push((await open(gw.url("/ws?sid=same"))).ws);
    // One key, six connections, three endpoints, c = 1: ceil(1 × 6 / 3) = 2 at most on each.
    expect(backends.map((b) => b.sockets.size).sort()).toEqual([2, 2, 2]);
    await Promise.all(clients.map((ws) => closeClient(ws)));
  });
});
