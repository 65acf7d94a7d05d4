/**
 * Rebalancing with `wsgate serve --manifests DIR --workers 2` (worker threads from the
 * built dist/: `npm run build` first): counts are global, each worker closes only its
 * own connections within its half of the route's rate, so the route as a whole still
 * settles within the bound and never exceeds maxClosesPerSecond. The scale-out is a
 * manifest reload; the log lines and the metric are the standalone user's view.
 */
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import type { RunningGateway } from "../src/cli/serve.js";
import { startServe } from "../src/cli/serve.js";
import { parseServeConfig } from "../src/config/config.js";
import { rebalanceChannels, type RebalanceStateChanged } from "../src/dataplane/rebalance/events.js";
import { createLogger } from "../src/observability/logger.js";
import { startEchoBackend, type EchoBackend } from "./helpers/backends.js";
import { MetricSamples } from "./helpers/operator-scene.js";
import { eventually } from "./helpers/raw-peers.js";
import { ReconnectingClients } from "./helpers/reconnecting-clients.js";
import { manifestDir, routeYaml, serveArgs } from "./helpers/standalone.js";

let running: RunningGateway | undefined;
let backends: EchoBackend[] = [];
let crowd: ReconnectingClients | undefined;
let dir: string | undefined;
let unsubscribe: (() => void) | undefined;

afterEach(async () => {
  unsubscribe?.();
  unsubscribe = undefined;
  crowd?.close();
  crowd = undefined;
  await running?.stop(0);
  running = undefined;
  await Promise.all(backends.map((b) => b.close()));
  backends = [];
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/** Service `echo` in `apps` with one EndpointSlice per backend (127.0.0.1, its own port). */
function manifest(serving: readonly EchoBackend[]): string {
  const slices = serving.map(
    (b, i) => `---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: echo-${i}, namespace: apps, labels: { kubernetes.io/service-name: echo } }
addressType: IPv4
ports: [{ name: ws, port: ${b.port} }]
endpoints: [{ addresses: [127.0.0.1], conditions: { ready: true } }]
`,
  );
  return `apiVersion: v1
kind: Service
metadata: { name: echo, namespace: apps }
spec: { ports: [{ name: ws, port: 80 }] }
${slices.join("")}---
${routeYaml("echo", "/")}  rebalance: { maxSkewPercent: 120, maxClosesPerSecond: 20, minConnectionAge: 1s }
`;
}

const spread = (): number[] => backends.map((b) => b.sockets.size);
const total = (): number => spread().reduce((a, b) => a + b, 0);

describe("rebalancing with --workers 2", () => {
  it("settles a scale-out from 2 to 4 endpoints within the bound, the route's closes within maxClosesPerSecond across both workers", async () => {
    backends = await Promise.all(Array.from({ length: 4 }, () => startEchoBackend()));
    dir = manifestDir("rebalance-workers");
    writeFileSync(join(dir, "echo.yaml"), manifest(backends.slice(0, 2)));
    const lines: { event?: string; worker?: number; route?: string; closes?: number; time?: string }[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split("\n")) if (line) lines.push(JSON.parse(line));
        done();
      },
    });
    // What the main thread publishes for cluster mode's Events: the workers' reports folded per route.
    const routeEvents: RebalanceStateChanged[] = [];
    const onState = (m: unknown): void => void routeEvents.push(m as RebalanceStateChanged);
    rebalanceChannels.state.subscribe(onState);
    unsubscribe = () => rebalanceChannels.state.unsubscribe(onState);
    running = await startServe(
      parseServeConfig(serveArgs(dir, ["--workers", "2"]), {}),
      createLogger("debug", sink),
    );
    await running.workers!.waitForGeneration(1);

    crowd = new ReconnectingClients(`ws://127.0.0.1:${running.httpAddress.port}/`);
    await crowd.connect(100);
    await eventually(() => total() === 100, "100 connections on the backends", 15_000);
    // Global least-connections across both threads: an even split.
    expect(spread()).toEqual([50, 50, 0, 0]);

    const generation = running.holder.current.generation;
    writeFileSync(join(dir, "echo.yaml"), manifest(backends));
    await running.holder.waitForGeneration(generation + 1);
    // Mean 25, bound 30: 20 closes from each old endpoint, 40 at 20/s across the workers.
    await eventually(
      () => crowd!.open === 100 && total() === 100 && spread().every((n) => n <= 30),
      "every endpoint within 120% of the mean",
      1_000 + (100 / 20) * 1000 + 30_000,
    );
    const after = spread();
    const closes = crowd.closes;
    expect(closes.length).toBeGreaterThanOrEqual(40);
    expect(closes.length).toBeLessThanOrEqual(50);
    expect(closes.every((c) => c.code === 1012)).toBe(true);
    // The rate of the route as a whole, where it is decided: each worker logs the closes of
    // each step when it sends them (debug level). The clients here run on another thread
    // than the senders, so their receipt times would also measure this thread's stalls.
    const sentTimes = (): number[] =>
      lines
        .filter((l) => l.event === "rebalance_closes" && l.route === "apps/echo")
        .flatMap((l) => Array.from({ length: l.closes ?? 0 }, () => Date.parse(l.time ?? "")));
    await eventually(() => sentTimes().length === closes.length, "a log line for every close", 10_000);
    const sent = sentTimes();
    for (const t of sent) expect(sent.filter((u) => u >= t && u < t + 1000).length).toBeLessThanOrEqual(20);
    const first = Math.min(...sent);
    const buckets: number[] = [];
    for (const t of sent) {
      const i = Math.floor((t - first) / 1000);
      buckets[i] = (buckets[i] ?? 0) + 1;
    }
    // One /metrics: the workers' counters summed.
    const text = await (await fetch(`http://127.0.0.1:${running.adminAddress.port}/metrics`)).text();
    expect(
      new MetricSamples(text).sum("wsgate_rebalance_closes_total", { namespace: "apps", route: "echo" }),
    ).toBe(closes.length);
    // The standalone story in the log: each worker that moved connections says when it started and ended.
    await eventually(
      () => lines.some((l) => l.event === "rebalance_ended"),
      "a rebalance_ended log line",
      10_000,
    );
    const started = lines.filter((l) => l.event === "rebalance_started");
    expect(started.length).toBeGreaterThanOrEqual(1);
    expect(started.every((l) => l.route === "apps/echo" && typeof l.worker === "number")).toBe(true);
    // One story per route, whichever workers moved connections: start, end, and all the closes.
    await eventually(() => routeEvents.at(-1)?.state === "ended", "the route's end event", 10_000);
    expect(routeEvents.map((e) => e.state)).toEqual(
      routeEvents.map((_, i) => (i % 2 === 0 ? "started" : "ended")),
    );
    expect(routeEvents.filter((e) => e.state === "ended").reduce((sum, e) => sum + e.closes, 0)).toBe(
      closes.length,
    );
    console.log(
      `rebalance --workers 2, 100 connections 2→4 endpoints, 20 closes/s: after ${after.join("/")}; ` +
        `${closes.length} closes, sent per second ${buckets.map((b) => b ?? 0).join(", ")}; route events ${routeEvents.map((e) => e.state).join(", ")}`,
    );
  }, 60_000);
});
