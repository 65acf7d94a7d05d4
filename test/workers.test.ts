/**
 * `wsgate serve --workers 2`: real worker threads on real sockets, composed as the CLI does
 * it (the worker threads run the built dist/workers/worker-main.js: `npm run build` first).
 * What one gateway promises must hold across threads: least-connections, per-client and
 * route limits, table swaps, one /metrics — and a dead worker takes only its own connections.
 */
import { spawn } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { Worker } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import type { RunningGateway } from "../src/cli/serve.js";
import { startEchoBackend, type EchoBackend } from "./helpers/backends.js";
import { closeClient, connect, roundTrip } from "./helpers/gateway.js";
import { MetricSamples } from "./helpers/operator-scene.js";
import { manifestDir, routeYaml, serveArgs, startStandalone } from "./helpers/standalone.js";

let running: RunningGateway | undefined;
let backends: EchoBackend[] = [];
let clients: WebSocket[] = [];
let dir: string | undefined;

afterEach(async () => {
  for (const c of clients) c.terminate();
  clients = [];
  await running?.stop(0);
  running = undefined;
  for (const b of backends) await b.close();
  backends = [];
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/** Service `echo` in `apps` with one EndpointSlice per backend (127.0.0.1, its own port). */
function serviceOf(ports: readonly number[]): string {
  const slices = ports.map(
    (port, i) => `---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: echo-${i}, namespace: apps, labels: { kubernetes.io/service-name: echo } }
addressType: IPv4
ports: [{ name: ws, port: ${port} }]
endpoints: [{ addresses: [127.0.0.1], conditions: { ready: true } }]
`,
  );
  return `apiVersion: v1
kind: Service
metadata: { name: echo, namespace: apps }
spec: { ports: [{ name: ws, port: 80 }] }
${slices.join("")}`;
}

function limitedRoute(name: string, path: string, limits: string): string {
  return `${routeYaml(name, path)}  limits: ${limits}\n`;
}

/** Starts `count` echo backends and a 2-worker gateway on a manifest directory with `files`. */
async function start(
  count: number,
  files: (ports: number[]) => Record<string, string>,
): Promise<RunningGateway> {
  for (let i = 0; i < count; i++) backends.push(await startEchoBackend());
  dir = manifestDir("workers");
  for (const [name, text] of Object.entries(files(backends.map((b) => b.port))))
    writeFileSync(join(dir, name), text);
  running = await startStandalone(dir, ["--workers", "2"]);
  await running.workers!.waitForGeneration(1);
  return running;
}

function url(path: string): string {
  return `ws://127.0.0.1:${running!.httpAddress.port}${path}`;
}

async function open(path: string): Promise<WebSocket> {
  const ws = await connect(url(path));
  clients.push(ws);
  return ws;
}

/** A handshake's outcome: 101, or the status it was refused with. */
function attempt(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url(path));
    ws.once("open", () => {
      clients.push(ws);
      resolve(101);
    });
    ws.once("unexpected-response", (_req, res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once("error", reject);
  });
}

async function metrics(): Promise<MetricSamples> {
  const res = await fetch(`http://127.0.0.1:${running!.adminAddress.port}/metrics`);
  expect(res.status).toBe(200);
  return new MetricSamples(await res.text());
}

/** Polls `check` until it holds; fails with its last value after `deadlineMs`. */
async function until<T>(
  what: string,
  read: () => T | Promise<T>,
  check: (v: T) => boolean,
  deadlineMs = 15_000,
) {
  const deadline = Date.now() + deadlineMs;
  let value = await read();
  while (!check(value)) {
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 25));
    value = await read();
  }
  return value;
}

async function perWorker(): Promise<number[]> {
  const samples = await metrics();
  return [0, 1].map((w) => samples.sum("wsgate_worker_connections_active", { worker: String(w) }));
}

describe("--workers 2", () => {
  it("balances by global connection counts, so that one thread's picks see the other's connections", async () => {
    await start(3, (ports) => ({ "echo.yaml": `${serviceOf(ports)}---\n${routeYaml("chat", "/")}` }));
    // One at a time: with global counts no backend is ever ahead by more than one. Per-thread
    // counts would let both threads pick the same "least loaded" backend.
    for (let i = 0; i < 60; i++) {
      await open("/");
      const sizes = backends.map((b) => b.sockets.size);
      expect(Math.max(...sizes) - Math.min(...sizes), `after ${i + 1}: ${sizes}`).toBeLessThanOrEqual(1);
    }
    const [w0, w1] = await perWorker();
    expect(w0! + w1!).toBe(60);
    expect(Math.min(w0!, w1!), "the kernel spread connections over both workers").toBeGreaterThan(0);
    // Then 240 more, 40 at a time: 300 over 3 backends within ±5%.
    for (let batch = 0; batch < 6; batch++) await Promise.all(Array.from({ length: 40 }, () => open("/")));
    for (const b of backends) {
      expect(b.sockets.size).toBeGreaterThanOrEqual(95);
      expect(b.sockets.size).toBeLessThanOrEqual(105);
    }
    const endpoints = running!.workers!.states.view();
    expect(endpoints.map((e) => e.active).reduce((a, b) => a + b)).toBe(300);
  });

  it("refuses a client's 6th connection with 429 whichever worker it reaches, and frees the slot on close", async () => {
    await start(1, (ports) => ({
      "echo.yaml": `${serviceOf(ports)}---\n${limitedRoute("limited", "/", "{ maxConnectionsPerClient: 5 }")}`,
    }));
    const five = [];
    for (let i = 0; i < 5; i++) five.push(await open("/"));
    // Ten more attempts land on both workers; every one is refused.
    const statuses = [];
    for (let i = 0; i < 10; i++) statuses.push(await attempt("/"));
    expect(statuses).toEqual(Array(10).fill(429));
    await closeClient(five[0]!);
    await until(
      "the closed connection's slot",
      () => running!.workers!.limits.clientConnections("apps/limited", "127.0.0.1"),
      (n) => n === 4,
    );
    expect(await attempt("/")).toBe(101);
    expect(await attempt("/")).toBe(429);
  });

  it("shares one handshake bucket per client, so that two workers do not double handshakesPerClient", async () => {
    await start(1, (ports) => ({
      "echo.yaml": `${serviceOf(ports)}---\n${limitedRoute("rated", "/", "{ handshakesPerClient: { perSecond: 1, burst: 10 } }")}`,
    }));
    const started = Date.now();
    const statuses = [];
    for (let i = 0; i < 30; i++) statuses.push(await attempt("/"));
    const elapsedSeconds = (Date.now() - started) / 1000;
    const admitted = statuses.filter((s) => s === 101).length;
    expect(statuses).toContain(429);
    // One bucket: the burst plus what refilled meanwhile. Two would admit twice that.
    expect(admitted).toBeLessThanOrEqual(10 + Math.ceil(elapsedSeconds));
    expect(admitted).toBeGreaterThanOrEqual(10);
  });

  it("swaps tables in every worker under load without touching a connection", async () => {
    await start(1, (ports) => ({ "echo.yaml": `${serviceOf(ports)}---\n${routeYaml("chat", "/chat")}` }));
    const live = await Promise.all(Array.from({ length: 20 }, () => open("/chat")));
    expect(Math.min(...(await perWorker()))).toBeGreaterThan(0);
    let closed = 0;
    for (const ws of live) ws.on("close", () => closed++);
    // Load: every client keeps a message in flight for the whole swap sequence.
    let pumping = true;
    let echoes = 0;
    const pumps = live.map(async (ws, i) => {
      while (pumping) {
        const answer = await roundTrip(ws, `m${i}`);
        expect(answer.data.toString()).toBe(`m${i}`);
        echoes++;
      }
    });
    for (let g = 1; g <= 5; g++) {
      const next = running!.holder.current.generation + 1;
      writeFileSync(join(dir!, `extra-${g}.yaml`), routeYaml(`extra-${g}`, `/extra-${g}`));
      await running!.holder.waitForGeneration(next);
      await running!.workers!.waitForGeneration(next);
    }
    pumping = false;
    await Promise.all(pumps);
    expect(closed).toBe(0);
    expect(echoes).toBeGreaterThan(20);
    const generations = running!.workers!.view().map((w) => w.generation);
    expect(generations).toEqual([running!.holder.current.generation, running!.holder.current.generation]);
    // The newest route is served by both workers: 20 handshakes on it, wherever they land.
    const fresh = await Promise.all(Array.from({ length: 20 }, () => attempt("/extra-5")));
    expect(fresh).toEqual(Array(20).fill(101));
    const debug = (await (
      await fetch(`http://127.0.0.1:${running!.adminAddress.port}/debug/config`)
    ).json()) as {
      workers: { worker: number; generation: number }[];
    };
    expect(debug.workers.map((w) => w.generation)).toEqual(generations);
  });

  it("restarts a killed worker and loses only its connections; the other worker's stay up", async () => {
    await start(1, (ports) => ({ "echo.yaml": `${serviceOf(ports)}---\n${routeYaml("chat", "/")}` }));
    const live = await Promise.all(Array.from({ length: 20 }, () => open("/")));
    const before = await perWorker();
    expect(Math.min(...before)).toBeGreaterThan(0);
    const closes = live.map((ws) => new Promise<void>((resolve) => ws.once("close", () => resolve())));
    let closedCount = 0;
    for (const c of closes) void c.then(() => closedCount++);

    await running!.workers!.kill(0);
    // The Pod stays ready: the other worker serves while the dead one is replaced.
    expect((await fetch(`http://127.0.0.1:${running!.adminAddress.port}/readyz`)).status).toBe(200);
    await until("the restart", metrics, (m) => m.sum("wsgate_worker_restarts_total") === 1);
    await running!.workers!.waitForGeneration(running!.holder.current.generation);
    await until(
      "worker 0's connections closed",
      () => closedCount,
      (n) => n === before[0],
    );

    const survivors = live.filter((ws) => ws.readyState === WebSocket.OPEN);
    expect(survivors).toHaveLength(before[1]!);
    for (const ws of survivors)
      expect((await roundTrip(ws, "still here")).data.toString()).toBe("still here");
    // The dead worker's connections no longer count for least-connections.
    await until(
      "counts of the dead worker dropped",
      () => running!.workers!.states.view()[0]?.active,
      (n) => n === before[1],
    );
    // The replacement serves: new connections land on both workers again.
    await Promise.all(Array.from({ length: 20 }, () => open("/")));
    const after = await perWorker();
    expect(after[0]).toBeGreaterThan(0);
    expect(after[0]! + after[1]!).toBe(before[1]! + 20);
  });

  it("answers one /metrics with the workers' counters summed under the same names", async () => {
    await start(1, (ports) => ({ "echo.yaml": `${serviceOf(ports)}---\n${routeYaml("chat", "/")}` }));
    const live = await Promise.all(Array.from({ length: 12 }, () => open("/")));
    for (const ws of live) await roundTrip(ws, "x");
    for (const ws of live.slice(0, 6)) await closeClient(ws);
    const samples = await until(
      "6 connections left",
      metrics,
      (m) => m.sum("wsgate_connections_active") === 6,
    );
    const route = { namespace: "apps", route: "chat" };
    expect(samples.sum("wsgate_connections_total", route)).toBe(12);
    expect(samples.sum("wsgate_messages_total", { ...route, direction: "from_client" })).toBe(12);
    expect(samples.sum("wsgate_handshake_duration_seconds_count", route)).toBe(12);
    expect(samples.sum("wsgate_closes_total", route)).toBe(6);
    expect(samples.sum("wsgate_worker_connections_active")).toBe(6);
    const debug = (await (
      await fetch(`http://127.0.0.1:${running!.adminAddress.port}/debug/config`)
    ).json()) as {
      connections: number;
      workers: { connections: number }[];
    };
    expect(debug.connections).toBe(6);
    expect(debug.workers.map((w) => w.connections).reduce((a, b) => a + b)).toBe(6);
    expect(
      samples
        .series("wsgate_worker_connections_active")
        .map((l) => l.worker)
        .sort(),
    ).toEqual(["0", "1"]);
    // Main-thread metrics once, not once per worker.
    expect(samples.sum("wsgate_routing_table_generation")).toBe(running!.holder.current.generation);
    expect(samples.series("wsgate_process_cpu_seconds_total")).toHaveLength(1);
    const text = await (await fetch(`http://127.0.0.1:${running!.adminAddress.port}/metrics`)).text();
    const helps = text.split("\n").filter((l) => l.startsWith("# HELP "));
    expect(new Set(helps).size).toBe(helps.length);
  });
});

it("keeps exact shared counts when two threads admit and release at the same time", async () => {
  const { createLimitsMemory } = await import("../src/workers/shared-limits.js");
  const memory = createLimitsMemory(2, 1024);
  const code = `
    const { parentPort, workerData } = require("node:worker_threads");
    import(workerData.module).then(({ SharedLimits }) => {
      const limits = new SharedLimits(workerData.memory, workerData.worker);
      // Churn: admit and release on many keys, racing the other thread.
      for (let i = 0; i < 20000; i++) {
        const v = limits.admit("apps/churn", "10.9." + (i % 50) + ".1", { maxConnectionsPerClient: 1000 });
        if (v.ok) v.release();
      }
      // Contention for one client's 4 slots: hold every admission.
      let held = 0;
      for (let i = 0; i < 2000; i++) if (limits.admit("apps/tight", "192.0.2.1", { maxConnectionsPerClient: 4 }).ok) held++;
      parentPort.postMessage(held);
    });`;
  const module = new URL("../dist/workers/shared-limits.js", import.meta.url).href;
  const held = await Promise.all(
    [0, 1].map(
      (worker) =>
        new Promise<number>((resolve, reject) => {
          const thread = new Worker(code, { eval: true, workerData: { module, memory, worker } });
          thread.once("message", (n: number) => void thread.terminate().then(() => resolve(n)));
          thread.once("error", reject);
        }),
    ),
  );
  expect(held[0]! + held[1]!).toBe(4);
  const { SharedLimits } = await import("../src/workers/shared-limits.js");
  const view = new SharedLimits(memory, -1);
  expect(view.connections("apps/churn")).toBe(0);
  for (let i = 0; i < 50; i++) expect(view.clientConnections("apps/churn", `10.9.${i}.1`)).toBe(0);
  expect(view.clientConnections("apps/tight", "192.0.2.1")).toBe(4);
});

it("drains every worker's connections with 1001 over --shutdown-drain on SIGTERM, as one cohort", async () => {
  const backend = await startEchoBackend();
  backends.push(backend);
  dir = manifestDir("workers-sigterm");
  writeFileSync(join(dir, "echo.yaml"), `${serviceOf([backend.port])}---\n${routeYaml("echo", "/")}`);
  const proc = spawn(
    process.execPath,
    ["dist/cli/main.js", "serve", ...serveArgs(dir, ["--shutdown-drain", "2s", "--workers", "2"])],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  try {
    const lines = createInterface({ input: proc.stdout! });
    const logged: { event?: string; worker?: number; http?: string; admin?: string; code?: number }[] = [];
    const waiters: (() => void)[] = [];
    lines.on("line", (line) => {
      logged.push(JSON.parse(line) as (typeof logged)[number]);
      for (const wake of waiters.splice(0)) wake();
    });
    const waitFor = async (check: () => boolean): Promise<void> => {
      while (!check()) await new Promise<void>((resolve) => waiters.push(resolve));
    };
    const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
    await waitFor(() => logged.some((l) => l.event === "listening"));
    const listening = logged.find((l) => l.event === "listening")!;
    const admin = `http://${listening.admin}`;
    await until(
      "ready",
      async () => (await fetch(`${admin}/readyz`)).status,
      (s) => s === 200,
    );
    const ws: WebSocket[] = [];
    for (let i = 0; i < 30; i++) ws.push(await connect(`ws://${listening.http}/`));
    clients.push(...ws);
    const closes = ws.map(
      (c) =>
        new Promise<{ code: number; at: number }>((resolve) =>
          c.once("close", (code) => resolve({ code, at: Date.now() })),
        ),
    );
    proc.kill("SIGTERM");
    await waitFor(() => logged.filter((l) => l.event === "draining" && l.worker !== undefined).length === 2);
    expect((await fetch(`${admin}/readyz`)).status).toBe(503);
    const results = await Promise.all(closes);
    expect(results.map((r) => r.code)).toEqual(Array(30).fill(1001));
    const times = results.map((r) => r.at).sort((a, b) => a - b);
    expect(times.at(-1)! - times[0]!).toBeGreaterThanOrEqual(1_200);
    // Both workers took part, and their log lines say which one they come from.
    const closedBy = new Set(logged.filter((l) => l.event === "connection_closed").map((l) => l.worker));
    expect([...closedBy].sort()).toEqual([0, 1]);
    expect(await exited).toBe(0);
  } finally {
    proc.kill("SIGKILL");
  }
});
