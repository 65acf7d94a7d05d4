// `npm run bench`: wsgate against a direct connection, nginx and HAProxy, in one
// run. Every workload gets a fresh backend and a fresh proxy; the proxy runs alone
// on CPU 0, client and backend on CPU 1; systems are rotated between rounds and
// each number is the median of the rounds. Writes bench/results/<date>.{md,json}
// and refreshes the results section of docs/benchmarks.md.
//
// Options: --rounds N (3)  --quick (1 short round, for trying changes)
//          --only W1-1k,W2,…  --systems D,W,N,H  --wsgate DIR (another build's root)
//          --no-install  --no-write  --nice N (run measured processes at this nice level)
//          --param W2.window=64 (override a workload parameter; repeatable)
//          --compare DIR (add P: another wsgate build, e.g. a src/ prototype, to the same run)
//          --compare-node-flags="FLAGS" (P runs with these Node/V8 flags; without --compare,
//          P is this build: e.g. "--max-semi-space-size=16" to measure a V8 setting)
//          --compare-args="ARGS" (P's `wsgate serve` gets these extra arguments; without --compare,
//          P is this build: e.g. "--http2=false" to measure a wsgate setting)
// --only W9 runs bench/w9.mjs (WebSockets over HTTP/2 vs HTTP/1.1 through wsgate alone).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import os from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { start, stop, waitForLine, run, tryRun } from "./lib/procs.mjs";
import { CONTEXT, METRICS, markdown, summarize, targets, median } from "./lib/report.mjs";
import {
  PORTS,
  checkPortsFree,
  defineSystems,
  ensurePeers,
  makeCertificate,
  versions,
  waitReady,
  wsgateFeatures,
} from "./lib/systems.mjs";

const here = fileURLToPath(new URL(".", import.meta.url));
const repo = resolve(here, "..");
const { values: args } = parseArgs({
  options: {
    rounds: { type: "string" },
    quick: { type: "boolean", default: false },
    only: { type: "string" },
    systems: { type: "string", default: "D,W,N,H" },
    wsgate: { type: "string", default: repo },
    compare: { type: "string" },
    "compare-node-flags": { type: "string" },
    "compare-args": { type: "string" },
    install: { type: "boolean", default: true },
    "no-install": { type: "boolean", default: false },
    write: { type: "boolean", default: true },
    "no-write": { type: "boolean", default: false },
    nice: { type: "string", default: "0" },
    param: { type: "string", multiple: true, default: [] },
  },
});
const quick = args.quick;
const rounds = Number(args.rounds ?? (quick ? 1 : 3));
const nice = Number(args.nice);
const root = resolve(args.wsgate);
const compareNodeFlags = args["compare-node-flags"]?.split(/\s+/).filter(Boolean) ?? [];
const compareArgs = args["compare-args"]?.split(/\s+/).filter(Boolean) ?? [];
const compare = args.compare
  ? resolve(args.compare)
  : compareNodeFlags.length > 0 || compareArgs.length > 0
    ? root
    : undefined;
const started = Date.now();
const log = (text) => process.stderr.write(`bench: ${text}\n`);

// The whole run stops by itself, whatever happens.
const RUN_LIMIT_MS = 15 * 60_000;
setTimeout(() => {
  log(`run exceeded ${RUN_LIMIT_MS / 60_000} minutes; stopping`);
  process.exit(4);
}, RUN_LIMIT_MS).unref();

/**
 * The workloads. `proxyOnly`: measures the proxy process (nothing to measure for D).
 * Durations are per round and system; `quick` shortens them for trying changes.
 */
const q = (full, short) => (quick ? short : full);
const WORKLOADS = [
  {
    id: "W1-1k",
    client: "latency",
    params: { conns: 100, rate: 1000, size: 64, warmupMs: q(1000, 500), durationMs: q(3000, 1000) },
  },
  {
    id: "W1-10k",
    client: "latency",
    params: { conns: 100, rate: 10000, size: 64, warmupMs: q(1000, 500), durationMs: q(2000, 1000) },
  },
  {
    id: "W2",
    client: "flood",
    params: { conns: 100, window: 16, size: 64, warmupMs: 500, durationMs: q(2000, 1000) },
  },
  {
    id: "W3",
    client: "flood",
    params: { conns: 16, window: 4, size: 16384, warmupMs: 500, durationMs: q(2000, 1000) },
  },
  { id: "W4", client: "idle", proxyOnly: true, params: { conns: 10000, concurrency: 128 } },
  { id: "W5", client: "handshakes", params: { concurrency: 32, warmupMs: 500, durationMs: q(2000, 1000) } },
  {
    id: "W6",
    client: "slowConsumer",
    proxyOnly: true,
    params: { bytes: 100e6, size: 65536, holdMs: q(3000, 1500) },
  },
  {
    id: "W7-hs",
    client: "handshakes",
    secure: true,
    params: { concurrency: 32, warmupMs: 500, durationMs: q(2000, 1000) },
  },
  { id: "W7-idle", client: "idle", secure: true, proxyOnly: true, params: { conns: 2000, concurrency: 64 } },
];
// --param W2.window=64: try other workload parameters without editing this file.
for (const setting of args.param) {
  const m = /^([\w-]+)\.(\w+)=(\d+(?:\.\d+)?(?:e\d+)?)$/.exec(setting);
  const workload = m && WORKLOADS.find((w) => w.id === m[1]);
  if (!workload) throw new Error(`--param ${setting}: expected WORKLOAD.name=number, e.g. W2.window=64`);
  workload.params[m[2]] = Number(m[3]);
}
const only = args.only ? new Set(args.only.split(",")) : undefined;
const workloads = WORKLOADS.filter((w) => !only || only.has(w.id) || only.has(w.id.split("-")[0]));

// CPU placement: the proxy alone on CPU 0; client, backend and this process on CPU 1.
// os.cpus(), not availableParallelism(): run.sh pins this process to CPU 1 already.
const nproc = os.cpus().length;
const pin = nproc >= 2;
const PROXY_CPU = pin ? "0" : undefined;
const LOAD_CPU = pin ? "1" : undefined;
if (!pin) log("fewer than 2 CPUs: running without CPU placement; numbers will mix proxy and load");

function openFileLimit() {
  const m = /Max open files\s+(\d+|unlimited)/.exec(readFileSync("/proc/self/limits", "utf8"));
  return !m || m[1] === "unlimited" ? Infinity : Number(m[1]);
}
const fdLimit = Math.min(openFileLimit(), 65536);
for (const w of workloads) {
  // A proxy holds two descriptors per connection; keep headroom for the rest.
  if (w.client === "idle" && w.params.conns * 2 + 1500 > fdLimit) {
    const conns = Math.max(100, Math.floor((fdLimit - 1500) / 1000) * 500);
    log(
      `open-file limit ${fdLimit}: ${w.id} uses ${conns} connections instead of ${w.params.conns} (raise ulimit -n)`,
    );
    w.params.conns = conns;
  }
}

async function runClient(options, timeoutMs) {
  const child = start([process.execPath, join(here, "client.mjs"), JSON.stringify(options)], {
    cpus: LOAD_CPU,
    nice,
    stdout: "pipe",
    stderrFile: "inherit",
  });
  let out = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (t) => (out += t));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  await child.exited;
  clearTimeout(timer);
  const line = out.trim().split("\n").pop();
  try {
    return JSON.parse(line);
  } catch {
    return { error: `client printed no result (exit ${child.exitCode ?? child.signalCode})` };
  }
}

async function runWorkload(system, workload, ctx) {
  const backend = start(
    [
      process.execPath,
      join(here, "backend.mjs"),
      "--port",
      String(PORTS.backend),
      "--tls-port",
      String(PORTS.backendTls),
      "--cert",
      ctx.certificate.cert,
      "--key",
      ctx.certificate.key,
      "--max-seconds",
      "180",
    ],
    { cpus: LOAD_CPU, nice, stdout: "pipe", stderrFile: "inherit" },
  );
  let proxy;
  try {
    await waitForLine(backend, "ready");
    proxy = system.start({
      cpus: PROXY_CPU,
      nice,
      nodeFlags: system === ctx.systems.P ? compareNodeFlags : [],
    });
    await waitReady(system.port, { handle: proxy });
    const port = workload.secure ? system.tlsPort : system.port;
    // The plain path is up: a TLS listener that does not answer soon will not.
    if (workload.secure) await waitReady(port, { secure: true, handle: proxy, timeoutMs: 3000 });
    const p = workload.params;
    const expectedMs = (p.warmupMs ?? 0) + (p.durationMs ?? 0) + (p.holdMs ?? 0) + 60_000;
    return await runClient(
      {
        workload: workload.client,
        port,
        secure: Boolean(workload.secure),
        pid: proxy.pid,
        backendPid: backend.pid,
        clockTicks: ctx.clockTicks,
        placed: pin,
        timeoutMs: expectedMs,
        params: { ...p, secure: Boolean(workload.secure) },
      },
      expectedMs + 10_000,
    );
  } catch (err) {
    return { error: err.message };
  } finally {
    await proxy?.stop();
    await stop(backend);
  }
}

function machine() {
  const cpus = os.cpus();
  return {
    nproc,
    cpu: cpus[0]?.model.trim() ?? "unknown",
    kernel: os.release(),
    memGiB: Math.round(os.totalmem() / 2 ** 30),
  };
}

function wsgateVersion() {
  const commit = tryRun(["git", "-C", root, "rev-parse", "--short", "HEAD"])?.trim();
  if (!commit) return "(not a git checkout)";
  const dirty = tryRun(["git", "-C", root, "status", "--porcelain", "--", "src"])?.trim();
  return dirty ? `${commit} + uncommitted src/ changes` : commit;
}

function summarizeRouting(runs) {
  const ok = runs.filter((r) => !r.error);
  if (ok.length === 0) return undefined;
  const pick = (f) => median(ok.map(f));
  return {
    routes: ok[0].routes,
    endpoints: ok[0].endpoints,
    accepted: ok[0].accepted,
    compileMs: pick((r) => r.compileMs),
    coldCompileMs: pick((r) => r.coldCompileMs),
    snapshotMs: pick((r) => r.snapshotMs),
    match: Object.fromEntries(
      ["exact", "wildcard", "miss", "mixed"].map((k) => [k, { ns: pick((r) => r.match[k].ns) }]),
    ),
  };
}

/** Replaces the text between the results markers of docs/benchmarks.md. */
function refreshDocs(section) {
  const path = join(repo, "docs/benchmarks.md");
  if (!existsSync(path)) return false;
  const text = readFileSync(path, "utf8");
  const begin = "<!-- results:begin -->";
  const end = "<!-- results:end -->";
  const a = text.indexOf(begin);
  const b = text.indexOf(end);
  if (a < 0 || b < a) return false;
  writeFileSync(path, `${text.slice(0, a + begin.length)}\n${section}${text.slice(b)}`);
  return true;
}

async function main() {
  if (!existsSync(join(root, "dist/cli/main.js"))) {
    throw new Error(`${root}/dist/cli/main.js is missing: run npm run build first (npm run bench does)`);
  }
  await checkPortsFree();
  const peers = ensurePeers({ install: args.install && !args["no-install"], log });
  const skipped = {};
  for (const [id, reason] of Object.entries(peers.skipped)) {
    skipped[id] = reason;
    log(`${id === "N" ? "nginx" : "HAProxy"} skipped: ${reason}`);
  }
  const dir = mkdtempSync(join(os.tmpdir(), "wsgate-bench-"));
  const certificate = makeCertificate(dir);
  const certPem = readFileSync(certificate.cert, "utf8");
  const keyPem = readFileSync(certificate.key, "utf8");
  const features = wsgateFeatures(root);
  const clockTicks = Number(tryRun(["getconf", "CLK_TCK"])?.trim() ?? 100);
  const systems = defineSystems({
    dir,
    root,
    compare,
    compareArgs,
    peers,
    certificate,
    certPem,
    keyPem,
    features,
    fdLimit,
  });
  const notes = [];
  for (const w of workloads) {
    if (w.client === "idle")
      notes.push(`${w.id} held ${w.params.conns} idle connections (open-file limit ${fdLimit}).`);
  }
  if (systems.W.tlsUnavailable) {
    log(systems.W.tlsUnavailable);
    notes.push(systems.W.tlsUnavailable);
  }
  const order = [...args.systems.split(","), ...(compare ? ["P"] : [])].filter(
    (s, i, all) => systems[s] && all.indexOf(s) === i,
  );
  const loadStart = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
  log(
    `${rounds} round(s) of ${workloads.map((w) => w.id).join(" ")} on ${order.join(" ")}; ` +
      `load average ${loadStart}; work dir ${dir}`,
  );

  const ctx = { certificate, clockTicks, systems };
  const results = {};
  const routingRuns = {};
  for (let round = 0; round < rounds; round++) {
    const rotated = [...order.slice(round % order.length), ...order.slice(0, round % order.length)];
    for (const id of rotated) {
      const system = systems[id];
      for (const workload of workloads) {
        if (workload.proxyOnly && id === "D") continue;
        if (workload.secure && !system.tlsPort) continue;
        const t = Date.now();
        const result = await runWorkload(system, workload, ctx);
        ((results[id] ??= {})[workload.id] ??= []).push(result);
        const brief = result.error
          ? `ERROR ${result.error}`
          : Object.entries(result)
              .filter(([, v]) => typeof v === "number")
              .slice(0, 6)
              .map(([k, v]) => `${k}=${v}`)
              .join(" ");
        log(
          `round ${round + 1}/${rounds} ${id} ${workload.id} (${((Date.now() - t) / 1000).toFixed(1)} s): ${brief}`,
        );
      }
    }
    if (!only || only.has("C1") || only.has("C2")) {
      for (const [id, dist] of [
        ["W", join(root, "dist")],
        ...(compare ? [["P", join(compare, "dist")]] : []),
      ]) {
        const routing = (() => {
          try {
            const out = run([process.execPath, join(here, "routing.mjs"), "--dist", dist], {
              cpus: PROXY_CPU,
              nice,
              timeoutMs: 120_000,
            });
            return JSON.parse(out.trim().split("\n").pop());
          } catch (err) {
            return { error: err.message };
          }
        })();
        (routingRuns[id] ??= []).push(routing);
        log(
          `round ${round + 1}/${rounds} ${id} C1/C2: ${routing.error ? `ERROR ${routing.error}` : `compile ${routing.compileMs} ms, match ${routing.matchNs} ns/op`}`,
        );
      }
    }
  }

  const systemIds = order;
  const summary = summarize(results, systemIds);
  const routing = summarizeRouting(routingRuns.W ?? []);
  const routingCompared = compare ? summarizeRouting(routingRuns.P ?? []) : undefined;
  const verdicts = targets(summary, routing);
  const errors = [];
  for (const [id, byWorkload] of Object.entries(results)) {
    for (const [w, runs] of Object.entries(byWorkload)) {
      runs.forEach((r, i) => r.error && errors.push(`${id} ${w} round ${i + 1}: ${r.error}`));
      const lost = runs.filter((r) => r.lost > 0 || r.overflow || r.delivered === false || r.alive < r.conns);
      if (lost.length > 0) errors.push(`${id} ${w}: ${lost.length} round(s) lost messages or connections`);
    }
  }
  if (systems.W.tlsUnavailable === undefined && results.W?.["W7-hs"]?.every((r) => r.error)) {
    notes.push(`wsgate TLS listener failed: ${results.W["W7-hs"][0].error}`);
  }
  for (const e of errors) notes.push(`problem: ${e}`);
  const date = new Date().toISOString();
  const loadEnd = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`;
  const meta = {
    date,
    command,
    rounds,
    durationSeconds: Math.round((Date.now() - started) / 1000),
    machine: machine(),
    versions: {
      node: process.version,
      ...versions(peers),
      wsgate: wsgateVersion(),
    },
    load: { start: loadStart, end: loadEnd },
    placement: pin ? { proxy: PROXY_CPU, clientAndBackend: LOAD_CPU } : "none",
    nice,
  };
  const md = markdown({
    meta,
    summary,
    routing,
    routingCompared,
    systems: systemIds,
    verdicts,
    skipped,
    notes,
  });
  process.stdout.write(`\n${md}`);
  if (args.write && !args["no-write"]) {
    const out = join(repo, "bench/results");
    mkdirSync(out, { recursive: true });
    // A comparison with another build is an experiment: its own files, and the docs stay as they are.
    const day = `${date.slice(0, 10)}${compare ? "-compare" : ""}`;
    writeFileSync(join(out, `${day}.md`), md);
    writeFileSync(
      join(out, `${day}.json`),
      `${JSON.stringify(
        {
          meta,
          workloads: workloads.map(({ id, client, secure, proxyOnly, params }) => ({
            id,
            client,
            secure: Boolean(secure),
            proxyOnly: Boolean(proxyOnly),
            params,
          })),
          metrics: METRICS,
          context: CONTEXT,
          summary,
          routing,
          ...(compare ? { compare, routingCompared } : {}),
          targets: verdicts,
          skipped,
          notes,
          rounds: results,
          routingRounds: routingRuns,
        },
        null,
        2,
      )}\n`,
    );
    const refreshed = !compare && refreshDocs(md.replace(/^# .*\n\n/, ""));
    log(`wrote bench/results/${day}.md and .json${refreshed ? "; refreshed docs/benchmarks.md" : ""}`);
  }
  rmSync(dir, { recursive: true, force: true });
}

// W9 compares two paths of wsgate itself, not the systems: its own script, same options.
if (only?.has("W9")) {
  const w9 = spawnSync(
    process.execPath,
    [
      join(here, "w9.mjs"),
      ...(quick ? ["--quick"] : []),
      ...(args.rounds ? ["--rounds", args.rounds] : []),
      ...(args.write && !args["no-write"] ? [] : ["--no-write"]),
      "--wsgate",
      root,
    ],
    { stdio: "inherit" },
  );
  if (workloads.length === 0 && !only.has("C1") && !only.has("C2")) process.exit(w9.status ?? 1);
}

try {
  await main();
  process.exit(0);
} catch (err) {
  log(`failed: ${err.stack ?? err.message}`);
  process.exit(1);
}
