/**
 * Active health checks with real backends on port 0: HTTP, TCP and WebSocket
 * probes, thresholds, the balancer skipping failed endpoints, state kept across
 * table swaps. Tests wait on health transitions and on probes seen by backends,
 * never on sleeps.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { WebSocketServer, type WebSocket } from "ws";
import { channels, type EndpointHealthChanged } from "../src/dataplane/events.js";
import { HealthProber } from "../src/dataplane/health.js";
import { probe } from "../src/dataplane/probe.js";
import { Metrics } from "../src/observability/metrics.js";
import { refusedPort } from "./helpers/backends.js";
import {
  closeClient,
  connect,
  expectRefusal,
  startTestGateway,
  type TestGateway,
} from "./helpers/gateway.js";
import { serviceWithEndpoints, simpleRoute } from "./helpers/objects.js";

/** A backend with a WebSocket echo, a `/healthz` whose status the test sets, and counters. */
interface ProbedBackend {
  readonly port: number;
  /** `/healthz` answers this status. */
  healthStatus: number;
  /** Requests seen on `/healthz`, and WebSocket handshakes seen on `/ws-health`. */
  readonly probes: { http: number; ws: number };
  /** Close codes of probe WebSocket connections, as the backend received them. */
  readonly probeCloseCodes: number[];
  /** Application WebSocket connections currently open. */
  readonly sockets: Set<WebSocket>;
  /** Resolves once `count` more probes (of either kind) arrived. */
  moreProbes(count: number): Promise<void>;
  close(): Promise<void>;
}

async function startProbedBackend(options: { websocket?: boolean } = {}): Promise<ProbedBackend> {
  const waiters: { left: number; resolve: () => void }[] = [];
  const seen = (): void => {
    for (const w of [...waiters]) {
      if (--w.left === 0) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  const server = http.createServer((req, res) => {
    if (req.url === "/healthz") {
      backend.probes.http++;
      seen();
      res.writeHead(backend.healthStatus).end();
      return;
    }
    res.writeHead(200).end("page");
  });
  const backend: ProbedBackend = {
    port: 0,
    healthStatus: 200,
    probes: { http: 0, ws: 0 },
    probeCloseCodes: [],
    sockets: new Set(),
    moreProbes: (count) => new Promise((resolve) => waiters.push({ left: count, resolve })),
    async close() {
      for (const s of backend.sockets) s.terminate();
      wss?.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const wss = options.websocket === false ? undefined : new WebSocketServer({ server });
  wss?.on("connection", (socket, req) => {
    if (req.url === "/ws-health") {
      backend.probes.ws++;
      socket.once("close", (code) => backend.probeCloseCodes.push(code));
      seen();
      return;
    }
    backend.sockets.add(socket);
    socket.on("close", () => backend.sockets.delete(socket));
    socket.on("message", (data, isBinary) => socket.send(data, { binary: isBinary }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  (backend as { port: number }).port = (server.address() as AddressInfo).port;
  return backend;
}

/** Resolves with the next health transition matching `predicate`. */
function transition(predicate: (e: EndpointHealthChanged) => boolean): Promise<EndpointHealthChanged> {
  return new Promise((resolve) => {
    const handler = (m: unknown): void => {
      const e = m as EndpointHealthChanged;
      if (!predicate(e)) return;
      channels.endpointHealth.unsubscribe(handler);
      resolve(e);
    };
    channels.endpointHealth.subscribe(handler);
  });
}

const idOf = (port: number): string => `apps/echo:80@127.0.0.1:${port}`;

function check(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    healthCheck: {
      type: "HTTP",
      path: "/healthz",
      // Short enough that thresholds pass quickly, long enough that a probe does not time out
      // on a loaded machine: a timed-out probe flips a good endpoint, or destroys a WebSocket
      // probe before its Close (the backend sees 1006) — neither is what these tests are about.
      interval: "250ms",
      timeout: "200ms",
      healthyThreshold: 2,
      unhealthyThreshold: 3,
      ...extra,
    },
  };
}

let prober: HealthProber;
let gw: TestGateway;
let backends: ProbedBackend[] = [];
let clients: WebSocket[] = [];

beforeEach(async () => {
  prober = new HealthProber();
  gw = await startTestGateway({ health: prober });
  gw.holder.onPublish((p) => prober.update(p.table));
});

afterEach(async () => {
  prober.stop();
  for (const c of clients) c.terminate();
  clients = [];
  await gw.close();
  await Promise.all(backends.map((b) => b.close()));
  backends = [];
});

async function probedBackends(n: number, options: { websocket?: boolean } = {}): Promise<ProbedBackend[]> {
  const started = await Promise.all(Array.from({ length: n }, () => startProbedBackend(options)));
  backends.push(...started);
  return started;
}

async function open(n: number): Promise<void> {
  // Sequential, so least-connections sees each count before the next pick.
  for (let i = 0; i < n; i++) clients.push(await connect(gw.url("/")));
}

describe("HTTP health checks", () => {
  it("takes a failing endpoint out after unhealthyThreshold probes and back after healthyThreshold", async () => {
    const [good, bad] = await probedBackends(2);
    bad!.healthStatus = 500;
    const metrics = new Metrics({
      connections: gw.gateway.connections,
      onPublish: (l) => gw.holder.onPublish(l),
      tables: gw.holder,
      endpointHealthy: (id) => prober.isHealthy(id),
    });
    const down = transition((e) => e.endpoint === idOf(bad!.port) && !e.healthy);
    gw.apply([
      ...serviceWithEndpoints("apps", "echo", [{ port: good!.port }, { port: bad!.port }]),
      simpleRoute("apps", "chat", "echo", check()),
    ]);

    const event = await down;
    expect(event).toMatchObject({
      backend: "apps/echo:80",
      check: "HTTP",
      consecutive: 3,
      detail: "HTTP 500",
    });
    expect(bad!.probes.http).toBe(3);
    expect(prober.isHealthy(idOf(bad!.port))).toBe(false);
    expect(prober.isHealthy(idOf(good!.port))).toBe(true);
    expect(await metrics.registry.getSingleMetricAsString("wsgate_backend_healthy")).toMatch(
      /wsgate_backend_healthy\{namespace="apps",route="chat",backend="apps\/echo:80"\} 1/,
    );

    await open(6);
    expect(good!.sockets.size).toBe(6);
    expect(bad!.sockets.size).toBe(0);

    const up = transition((e) => e.endpoint === idOf(bad!.port) && e.healthy);
    const probesBefore = bad!.probes.http;
    bad!.healthStatus = 204;
    expect(await up).toMatchObject({ healthy: true, consecutive: 2 });
    expect(bad!.probes.http - probesBefore).toBeGreaterThanOrEqual(2);
    expect(await metrics.registry.getSingleMetricAsString("wsgate_backend_healthy")).toMatch(
      /backend="apps\/echo:80"\} 2/,
    );
    // Least-connections now sends new connections to the recovered endpoint.
    await open(1);
    expect(bad!.sockets.size).toBe(1);
    metrics.close();
  });

  it("keeps the verdict across table swaps, and forgets endpoints that left", async () => {
    const [good, bad] = await probedBackends(2);
    bad!.healthStatus = 503;
    const down = transition((e) => e.endpoint === idOf(bad!.port) && !e.healthy);
    const both = serviceWithEndpoints("apps", "echo", [{ port: good!.port }, { port: bad!.port }]);
    gw.apply([...both, simpleRoute("apps", "chat", "echo", check())]);
    await down;

    // A new table (another route added): the same endpoint identity keeps its state.
    const table = gw.apply([
      ...both,
      simpleRoute("apps", "chat", "echo", check()),
      simpleRoute("apps", "other", "echo", {}, "/other"),
    ]);
    expect(table.generation).toBe(2);
    expect(prober.isHealthy(idOf(bad!.port))).toBe(false);
    await open(3);
    expect(bad!.sockets.size).toBe(0);
    // Failing on does not publish a second transition; the good endpoint's probes are the clock.
    const again: EndpointHealthChanged[] = [];
    const record = (m: unknown): void => void again.push(m as EndpointHealthChanged);
    channels.endpointHealth.subscribe(record);
    await bad!.moreProbes(3);
    channels.endpointHealth.unsubscribe(record);
    expect(again).toEqual([]);

    // The endpoint leaves the table: no more probes, no more state.
    gw.apply([
      ...serviceWithEndpoints("apps", "echo", [{ port: good!.port }]),
      simpleRoute("apps", "chat", "echo", check()),
    ]);
    const left = bad!.probes.http;
    expect(prober.view().map((v) => v.endpoint)).toEqual([idOf(good!.port)]);
    await good!.moreProbes(4);
    expect(bad!.probes.http).toBe(left);
  });

  it("sends nothing to an endpoint that is not ready, and keeps its verdict without probing it", async () => {
    const [good, bad] = await probedBackends(2);
    bad!.healthStatus = 500;
    const down = transition((e) => e.endpoint === idOf(bad!.port) && !e.healthy);
    gw.apply([
      ...serviceWithEndpoints("apps", "echo", [{ port: good!.port }, { port: bad!.port }]),
      simpleRoute("apps", "chat", "echo", check()),
    ]);
    await down;
    gw.apply([
      ...serviceWithEndpoints("apps", "echo", [{ port: good!.port }, { port: bad!.port, ready: false }]),
      simpleRoute("apps", "chat", "echo", check()),
    ]);
    const paused = bad!.probes.http;
    await good!.moreProbes(3);
    expect(bad!.probes.http).toBe(paused);
    expect(prober.view().find((v) => v.endpoint === idOf(bad!.port))).toMatchObject({
      healthy: false,
      probing: false,
    });
  });
});

describe("TCP health checks", () => {
  it("fails an endpoint whose port is closed", async () => {
    const [good] = await probedBackends(1);
    const closed = await refusedPort();
    const down = transition((e) => e.endpoint === idOf(closed) && !e.healthy);
    gw.apply([
      ...serviceWithEndpoints("apps", "echo", [{ port: good!.port }, { port: closed }]),
      simpleRoute("apps", "chat", "echo", check({ type: "TCP", unhealthyThreshold: 2 })),
    ]);
    expect(await down).toMatchObject({ check: "TCP", consecutive: 2, detail: "ECONNREFUSED" });
    await open(4);
    expect(good!.sockets.size).toBe(4);
    // No passive ejection happened: the active check kept every handshake off the closed port.
    expect(gw.gateway.states.isEjected(idOf(closed))).toBe(false);
  });

  it("answers 503 when every endpoint fails its check (no fallback to failed endpoints)", async () => {
    const closed = await refusedPort();
    const down = transition((e) => e.endpoint === idOf(closed) && !e.healthy);
    gw.apply([
      ...serviceWithEndpoints("apps", "echo", [{ port: closed }]),
      simpleRoute("apps", "chat", "echo", check({ type: "TCP", unhealthyThreshold: 1 })),
    ]);
    await down;
    const refusal = await expectRefusal(gw.url("/"));
    expect(refusal.status).toBe(503);
    expect(refusal.headers["retry-after"]).toBeDefined();
  });
});

describe("WebSocket health checks", () => {
  it("passes a backend that completes the handshake (and closes it with 1000), fails one that does not", async () => {
    const [wsBackend] = await probedBackends(1);
    const [plain] = await probedBackends(1, { websocket: false });
    const down = transition((e) => e.endpoint === idOf(plain!.port) && !e.healthy);
    const flips: EndpointHealthChanged[] = [];
    const record = (m: unknown): void => void flips.push(m as EndpointHealthChanged);
    channels.endpointHealth.subscribe(record);
    gw.apply([
      ...serviceWithEndpoints("apps", "echo", [{ port: wsBackend!.port }, { port: plain!.port }]),
      simpleRoute("apps", "chat", "echo", check({ type: "WebSocket", path: "/ws-health" })),
    ]);
    expect((await down).check).toBe("WebSocket");
    await wsBackend!.moreProbes(3);
    channels.endpointHealth.unsubscribe(record);
    expect(flips.filter((e) => e.endpoint === idOf(wsBackend!.port))).toEqual([]);
    expect(prober.isHealthy(idOf(wsBackend!.port))).toBe(true);
    await open(2);
    expect(wsBackend!.sockets.size).toBe(2);
    for (const c of clients) await closeClient(c);
    // Probe connections were closed politely, not reset.
    await wsBackend!.moreProbes(1);
    expect(wsBackend!.probeCloseCodes.length).toBeGreaterThan(0);
    expect(new Set(wsBackend!.probeCloseCodes)).toEqual(new Set([1000]));
  });
});

describe("probe()", () => {
  it("reports HTTP status, refused connections and timeouts", async () => {
    const [b] = await probedBackends(1);
    b!.healthStatus = 302;
    expect(
      await probe(
        { address: "127.0.0.1", port: b!.port },
        { type: "HTTP", path: "/healthz", timeoutMs: 1000 },
      ),
    ).toEqual({
      ok: true,
      detail: "HTTP 302",
    });
    b!.healthStatus = 404;
    expect(
      await probe(
        { address: "127.0.0.1", port: b!.port },
        { type: "HTTP", path: "/healthz", timeoutMs: 1000 },
      ),
    ).toEqual({
      ok: false,
      detail: "HTTP 404",
    });
    const closed = await refusedPort();
    expect(
      await probe({ address: "127.0.0.1", port: closed }, { type: "TCP", path: "/", timeoutMs: 1000 }),
    ).toEqual({
      ok: false,
      detail: "ECONNREFUSED",
    });
    // A backend that accepts and never answers.
    const silent = http.createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      const port = (silent.address() as AddressInfo).port;
      expect(
        await probe({ address: "127.0.0.1", port }, { type: "HTTP", path: "/healthz", timeoutMs: 50 }),
      ).toEqual({
        ok: false,
        detail: "timed out after 50ms",
      });
    } finally {
      silent.closeAllConnections();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});
