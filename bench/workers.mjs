// `npm run bench:workers` — W8: wsgate with --workers 1 and --workers 2 in one run.
// W2 (64 B echo flood) and W5 (handshake loop) per worker count, and W4 (idle connections,
// RSS per connection) at 10,000 and 50,000 connections as far as the open-file limit
// allows. Nothing is pinned: with workers the proxy is meant to use every core, so on a
// 2-core machine it shares them with the load generator — read the proxy CPU per message
// and per handshake (the proxy's own CPU time), and the throughput, side by side.
// The cost of handing a big table to a worker (clone + rebuild) is measured here too.
//
// Options: --rounds N (3)  --quick  --no-write (do not refresh docs/benchmarks.md)
//          --only W2,W5,W4,T (T: the table hand-over)
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import { start, stop, waitForLine } from "./lib/procs.mjs";
import { median } from "./lib/report.mjs";
import { waitReady } from "./lib/systems.mjs";

const here = fileURLToPath(new URL(".", import.meta.url));
const repo = resolve(here, "..");
const { values: args } = parseArgs({
  options: {
    rounds: { type: "string" },
    quick: { type: "boolean", default: false },
    "no-write": { type: "boolean", default: false },
    only: { type: "string", default: "W2,W5,W4,T" },
  },
});
const quick = args.quick;
const only = new Set(args.only.split(","));
const rounds = Number(args.rounds ?? (quick ? 1 : 3));
const log = (text) => process.stderr.write(`bench:workers: ${text}\n`);
setTimeout(() => {
  log("run exceeded 15 minutes; stopping");
  process.exit(4);
}, 15 * 60_000).unref();

// Own ports, so that this can run next to `npm run bench`.
const PORTS = { backend: 28101, wsgate: 28180, wsgateTls: 28181, admin: 28190 };
const HZ = 100;

function openFileLimit() {
  const m = /Max open files\s+(\d+|unlimited)/.exec(readFileSync("/proc/self/limits", "utf8"));
  return !m || m[1] === "unlimited" ? Infinity : Number(m[1]);
}

const dir = mkdtempSync(join(os.tmpdir(), "wsgate-bench-workers-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
const manifests = join(dir, "manifests");
mkdirSync(manifests);
writeFileSync(
  join(manifests, "bench.yaml"),
  `apiVersion: v1
kind: Service
metadata: { name: echo, namespace: bench }
spec: { ports: [{ name: ws, port: 80 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: echo-1, namespace: bench, labels: { kubernetes.io/service-name: echo } }
addressType: IPv4
ports: [{ name: ws, port: ${PORTS.backend} }]
endpoints: [{ addresses: [127.0.0.1], conditions: { ready: true } }]
---
apiVersion: wsgate.io/v1alpha1
kind: WebSocketRoute
metadata: { name: echo, namespace: bench }
spec:
  rules: [{ backendRefs: [{ name: echo, port: 80 }] }]
`,
);

const WORKLOADS = [
  {
    id: "W2",
    client: "flood",
    params: { conns: 100, window: 16, size: 64, warmupMs: 500, durationMs: quick ? 1000 : 2000 },
  },
  {
    id: "W5",
    client: "handshakes",
    params: { concurrency: 32, warmupMs: 500, durationMs: quick ? 1000 : 2000 },
  },
];
const fdLimit = Math.min(openFileLimit(), 1 << 20);
// The proxy holds two descriptors per connection; the client one.
const idleCounts = [10_000, 50_000].map((wanted) => ({
  wanted,
  conns: Math.min(wanted, Math.floor((fdLimit - 1500) / 2 / 500) * 500),
}));

async function runClient(options, timeoutMs) {
  const child = start([process.execPath, join(here, "client.mjs"), JSON.stringify(options)], {
    stdout: "pipe",
    stderrFile: "inherit",
  });
  let out = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (t) => (out += t));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  await child.exited;
  clearTimeout(timer);
  try {
    return JSON.parse(out.trim().split("\n").pop());
  } catch {
    return { error: `client printed no result (exit ${child.exitCode ?? child.signalCode})` };
  }
}

async function measure(workers, client, params) {
  const backend = start(
    [process.execPath, join(here, "backend.mjs"), "--port", String(PORTS.backend), "--max-seconds", "240"],
    { stdout: "pipe", stderrFile: "inherit" },
  );
  let proxy;
  try {
    await waitForLine(backend, "ready");
    proxy = start(
      [
        process.execPath,
        join(repo, "dist/cli/main.js"),
        "serve",
        "--manifests",
        manifests,
        "--http-listen",
        `127.0.0.1:${PORTS.wsgate}`,
        "--https-listen",
        `127.0.0.1:${PORTS.wsgateTls}`,
        "--admin-listen",
        `127.0.0.1:${PORTS.admin}`,
        "--log-level",
        "warn",
        "--shutdown-drain",
        "0s",
        "--workers",
        String(workers),
      ],
      { stderrFile: "inherit" },
    );
    await waitReady(PORTS.wsgate, { timeoutMs: 60_000 });
    // Every worker must serve before the clock starts: readiness says so.
    for (let i = 0; i < 600; i++) {
      const res = await fetch(`http://127.0.0.1:${PORTS.admin}/readyz`).catch(() => undefined);
      if (res?.status === 200) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const expectedMs = (params.warmupMs ?? 0) + (params.durationMs ?? 0) + 120_000;
    return await runClient(
      {
        workload: client,
        port: PORTS.wsgate,
        pid: proxy.pid,
        backendPid: backend.pid,
        clockTicks: HZ,
        timeoutMs: expectedMs,
        params,
      },
      expectedMs + 10_000,
    );
  } catch (err) {
    return { error: err.message };
  } finally {
    if (proxy) await stop(proxy);
    await stop(backend);
  }
}

/** Handing a table of `routes` routes × `perRoute` endpoints to a worker: clone, rebuild, acknowledge. */
async function tableTransfer(routes, perRoute) {
  const { buildTable, withEndpoints } = await import(pathToFileURL(join(repo, "dist/routing/table.js")).href);
  const { TableEncoder } = await import(pathToFileURL(join(repo, "dist/workers/table-transfer.js")).href);
  const built = [];
  for (let r = 0; r < routes; r++) {
    const endpoints = Array.from({ length: perRoute }, (_, e) => ({
      id: `ns${r % 100}/svc${r}:80@10.${(r >> 8) & 255}.${r & 255}.${e}:8080`,
      backend: `ns${r % 100}/svc${r}:80`,
      address: `10.${(r >> 8) & 255}.${r & 255}.${e}`,
      port: 8080,
      ready: true,
      terminating: false,
      weight: 1,
    }));
    built.push({
      namespace: `ns${r % 100}`,
      name: `route-${r}`,
      key: `ns${r % 100}/route-${r}`,
      hostnames: [`host-${r}.example.com`],
      rules: [
        {
          key: `ns${r % 100}/route-${r}#0`,
          matches: [{ type: "PathPrefix", value: "/ws" }],
          backends: [{ key: `ns${r % 100}/svc${r}:80`, weight: 1, endpoints }],
        },
      ],
      settings: {
        policy: "LeastConnections",
        timeouts: { connectMs: 5000, handshakeMs: 10000, idleMs: 3600000, maxLifetimeMs: 0 },
        limits: {},
        drain: { windowMs: 30000, closeCode: 1012 },
      },
    });
  }
  let table = buildTable(1, built, new Map());
  const worker = new Worker(
    `const { parentPort, workerData } = require("node:worker_threads");
     const { performance } = require("node:perf_hooks");
     import(workerData).then(({ TableDecoder }) => {
       let decoder = new TableDecoder(false);
       parentPort.on("message", (m) => {
         if (m === "reset") return void (decoder = new TableDecoder(false));
         const t0 = performance.now();
         const t = decoder.decode(m);
         parentPort.postMessage({ generation: t.generation, rebuildMs: performance.now() - t0 });
       });
       parentPort.postMessage("ready");
     });`,
    { eval: true, workerData: pathToFileURL(join(repo, "dist/workers/table-transfer.js")).href },
  );
  const next = () => new Promise((r) => worker.once("message", r));
  await next();
  /** Encodes, clones and sends one table; times each step. */
  const handOver = async (encoder) => {
    const t0 = performance.now();
    const message = encoder.encode(table);
    const t1 = performance.now();
    structuredClone(message);
    const t2 = performance.now();
    const reply = next();
    worker.postMessage(message);
    const { rebuildMs } = await reply;
    return { cloneMs: t2 - t1, encodeMs: t1 - t0, rebuildMs, publishToServedMs: performance.now() - t2 };
  };
  const full = [];
  const delta = [];
  for (let i = 0; i < (quick ? 3 : 7); i++) {
    // A worker's first table: everything travels.
    worker.postMessage("reset");
    const encoder = new TableEncoder();
    table = buildTable(table.generation + 1, table.routes, new Map());
    full.push(await handOver(encoder));
    // Then one Service's endpoints change (the endpoint path: one route rebuilt, the rest reused).
    const routesNow = [...table.routes];
    const r = i * 37;
    const old = routesNow[r];
    const endpoints = [...old.rules[0].backends[0].endpoints.slice(1), old.rules[0].backends[0].endpoints[0]];
    routesNow[r] = {
      ...old,
      rules: [{ ...old.rules[0], backends: [{ ...old.rules[0].backends[0], endpoints }] }],
    };
    table = withEndpoints(table, table.generation + 1, routesNow);
    delta.push(await handOver(encoder));
  }
  await worker.terminate();
  const pick = (samples, f) => Math.round(median(samples.map(f)) * 10) / 10;
  return {
    routes,
    endpoints: routes * perRoute,
    cloneMs: pick(full, (s) => s.cloneMs),
    rebuildMs: pick(full, (s) => s.rebuildMs),
    publishToServedMs: pick(full, (s) => s.publishToServedMs),
    deltaCloneMs: pick(delta, (s) => s.cloneMs),
    deltaRebuildMs: pick(delta, (s) => s.rebuildMs),
    deltaPublishToServedMs: pick(delta, (s) => s.publishToServedMs + s.encodeMs),
  };
}

const started = Date.now();
const results = {};
for (let round = 1; round <= rounds; round++) {
  for (const workers of round % 2 ? [1, 2] : [2, 1]) {
    for (const w of WORKLOADS.filter((w) => only.has(w.id))) {
      log(`round ${round}/${rounds}: ${w.id} --workers ${workers}`);
      const r = await measure(workers, w.client, w.params);
      if (r.error) log(`  ${r.error}`);
      ((results[`${w.id}`] ??= {})[workers] ??= []).push(r);
    }
  }
}
const measuredIdle = new Set();
for (const { wanted, conns } of idleCounts) {
  if (conns < wanted)
    log(`open-file limit ${fdLimit}: W4 at ${wanted} uses ${conns} connections (raise ulimit -n)`);
  if (!only.has("W4") || measuredIdle.has(conns)) continue; // the limit made it the same run as a smaller one
  measuredIdle.add(conns);
  for (const workers of [1, 2]) {
    log(`W4 ${conns} idle connections, --workers ${workers}`);
    const r = await measure(workers, "idle", { conns, concurrency: 128 });
    if (r.error) log(`  ${r.error}`);
    ((results[`W4-${wanted}`] ??= {})[workers] ??= []).push({ ...r, wanted });
  }
}
log("table hand-over to a worker: 10,000 routes, 50,000 endpoints");
const transfer = only.has("T") ? await tableTransfer(10_000, 5) : undefined;

const m = (id, workers, field) => median((results[id]?.[workers] ?? []).map((r) => r?.[field]));
const fmt = (v, digits = 1) => (v === undefined || Number.isNaN(v) ? "—" : Number(v).toFixed(digits));
const ratio = (a, b) => (a === undefined || b === undefined || b === 0 ? "—" : `${(a / b).toFixed(2)}×`);
const lines = [];
lines.push(
  `W8 (\`npm run bench:workers\`, ${rounds} round(s), median; ${Math.round((Date.now() - started) / 1000)} s; ` +
    `${os.cpus().length} × ${os.cpus()[0]?.model.trim()}, load average ${os.loadavg()[0].toFixed(1)} at the end). ` +
    "Nothing pinned: the proxy and the load generator share the cores.",
);
lines.push("");
lines.push("| metric | unit | --workers 1 | --workers 2 | 2 / 1 |");
lines.push("| --- | --- | ---: | ---: | ---: |");
const row = (label, unit, id, field, digits) => {
  const a = m(id, 1, field);
  const b = m(id, 2, field);
  lines.push(`| ${label} | ${unit} | ${fmt(a, digits)} | ${fmt(b, digits)} | ${ratio(b, a)} |`);
};
row("W2 throughput, 64 B messages ↑", "msg/s", "W2", "msgPerSec", 0);
row("W2 proxy CPU per message ↓", "µs", "W2", "proxyCpuUsPerMsg", 2);
row("W5 handshakes ↑", "1/s", "W5", "perSec", 0);
row("W5 proxy CPU per handshake ↓", "µs", "W5", "proxyCpuUsPerHandshake", 0);
row("W5 handshake p99 ↓", "µs", "W5", "p99Us", 0);
for (const { wanted, conns } of idleCounts) {
  if (!results[`W4-${wanted}`]) continue;
  row(`W4 RSS per idle connection (${conns} conns) ↓`, "KiB", `W4-${wanted}`, "rssPerConnKiB", 2);
  row(`W4 RSS total with ${conns} conns ↓`, "MiB", `W4-${wanted}`, "rssAfterMiB", 1);
}
lines.push("");
if (transfer)
  lines.push(
    `Table hand-over to a worker (${transfer.routes} routes, ${transfer.endpoints} endpoints), whole: structured clone ` +
      `${transfer.cloneMs} ms, rebuild in the worker ${transfer.rebuildMs} ms, publish → served ${transfer.publishToServedMs} ms. ` +
      `One Service's endpoints changed (the endpoint path): clone ${transfer.deltaCloneMs} ms, rebuild ` +
      `${transfer.deltaRebuildMs} ms, publish → served ${transfer.deltaPublishToServedMs} ms.`,
  );
const skippedIdle = only.has("W4") ? idleCounts.filter((c) => c.conns < c.wanted) : [];
for (const c of skippedIdle)
  lines.push(`- W4 at ${c.wanted}: the open-file limit (${fdLimit}) allowed ${c.conns} connections.`);
const section = `${lines.join("\n")}\n`;
process.stdout.write(section);
writeFileSync(
  join(repo, "bench/results", `workers-${new Date().toISOString().slice(0, 16).replace(":", "")}.json`),
  JSON.stringify({ results, transfer }, null, 1),
);
if (!args["no-write"]) {
  const path = join(repo, "docs/benchmarks.md");
  const begin = "<!-- workers:begin -->";
  const end = "<!-- workers:end -->";
  if (existsSync(path)) {
    const text = readFileSync(path, "utf8");
    const a = text.indexOf(begin);
    const b = text.indexOf(end);
    if (a !== -1 && b > a) {
      writeFileSync(path, `${text.slice(0, a + begin.length)}\n${section}${text.slice(b)}`);
      log("docs/benchmarks.md W8 section refreshed");
    } else log(`docs/benchmarks.md has no ${begin} … ${end} markers: not refreshed`);
  }
}
