// `npm run bench:profile`: where wsgate spends CPU under W2 (64 B saturation), W3
// (16 KiB messages), W5 (handshakes) and W7 (TLS + WebSocket handshakes), and where
// its memory per idle connection goes under W4. Same
// placement as the benchmark (wsgate on CPU 0, client and backend on CPU 1).
// Writes bench/results/<date>-profile.md (and keeps the raw profiles in a temp dir
// whose path it prints).
// Options: --wsgate DIR (another build's root)  --conns N (W4, default 10000 or what
//          the open-file limit allows)  --seconds S (per CPU profile, default 5)
//          --only W2,W3,W4,W5,W7 (which profiles to take)
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { start, stop, waitForLine } from "./lib/procs.mjs";
import { PORTS, defineSystems, makeCertificate, waitReady, wsgateFeatures } from "./lib/systems.mjs";

const here = fileURLToPath(new URL(".", import.meta.url));
const repo = resolve(here, "..");
const { values: args } = parseArgs({
  options: {
    wsgate: { type: "string", default: repo },
    conns: { type: "string" },
    seconds: { type: "string", default: "5" },
    "no-write": { type: "boolean", default: false },
    only: { type: "string", default: "W2,W3,W4,W5,W7" },
  },
});
const only = new Set(args.only.split(","));
const root = resolve(args.wsgate);
const log = (text) => process.stderr.write(`profile: ${text}\n`);
setTimeout(() => {
  log("profiling exceeded 5 minutes; stopping");
  process.exit(4);
}, 5 * 60_000).unref();

const pin = os.cpus().length >= 2;
const PROXY_CPU = pin ? "0" : undefined;
const LOAD_CPU = pin ? "1" : undefined;
const fdLimit = Math.min(
  Number(/Max open files\s+(\d+)/.exec(readFileSync("/proc/self/limits", "utf8"))?.[1] ?? 1024),
  65536,
);
const conns = Number(args.conns ?? Math.min(10000, Math.floor((fdLimit - 1500) / 1000) * 500));

async function withWsgate(ctx, { nodeFlags, env }, body) {
  const backend = start(
    [process.execPath, join(here, "backend.mjs"), "--port", String(PORTS.backend), "--max-seconds", "120"],
    { cpus: LOAD_CPU, stdout: "pipe", stderrFile: "inherit" },
  );
  await waitForLine(backend, "ready");
  const wsgate = ctx.systems.W.start({ cpus: PROXY_CPU, nodeFlags, env });
  try {
    await waitReady(PORTS.wsgate, { handle: wsgate });
    if (ctx.secure) await waitReady(PORTS.wsgateTls, { secure: true, handle: wsgate });
    return await body(wsgate);
  } finally {
    await wsgate.stop(10_000);
    await stop(backend);
  }
}

async function client(options) {
  const child = start([process.execPath, join(here, "client.mjs"), JSON.stringify(options)], {
    cpus: LOAD_CPU,
    stdout: "pipe",
    stderrFile: "inherit",
  });
  let out = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (t) => (out += t));
  await child.exited;
  return JSON.parse(out.trim().split("\n").pop());
}

/** Self and inclusive time per function of a .cpuprofile, with totals by source file. */
function analyzeCpuProfile(path, [from, to]) {
  const profile = JSON.parse(readFileSync(path, "utf8"));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  // Only the measurement window: not start-up, warm-up or shutdown.
  const counts = new Map();
  let totalSamples = 0;
  let t = profile.startTime;
  profile.samples.forEach((id, i) => {
    t += profile.timeDeltas[i];
    if (t < from || t > to) return;
    counts.set(id, (counts.get(id) ?? 0) + 1);
    totalSamples++;
  });
  const label = (frame) => {
    const url = frame.url
      .replace(/^file:\/\/.*?\/dist\//, "dist/")
      .replace(/^file:\/\/.*\/node_modules\//, "");
    const where = url ? ` ${url}:${frame.lineNumber + 1}` : "";
    return `${frame.functionName || "(anonymous)"}${where}`;
  };
  const file = (frame) => {
    if (!frame.url) return frame.functionName.startsWith("(") ? frame.functionName : "(native)";
    if (frame.url.includes("/dist/")) return frame.url.replace(/^.*\/dist\//, "dist/");
    if (frame.url.includes("/node_modules/"))
      return frame.url.replace(/^.*\/node_modules\/([^/]+).*$/, "npm:$1");
    return frame.url.startsWith("node:") ? frame.url : "(other)";
  };
  const self = new Map();
  const files = new Map();
  const inclusive = new Map();
  const parents = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parents.set(c, n.id);
  for (const [id, count] of counts) {
    const node = byId.get(id);
    const key = label(node.callFrame);
    self.set(key, (self.get(key) ?? 0) + count);
    const f = file(node.callFrame);
    files.set(f, (files.get(f) ?? 0) + count);
    // Inclusive: charge every distinct function on the stack once.
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parents.get(cur)) {
      const k = label(byId.get(cur).callFrame);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + count);
    }
  }
  const top = (map, n) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, count]) => ({ name, pct: Math.round((count / totalSamples) * 1000) / 10 }));
  return { samples: totalSamples, self: top(self, 25), files: top(files, 20), inclusive: top(inclusive, 40) };
}

/** Objects per connection: heap snapshot after minus before, by constructor/type. */
function analyzeHeapSnapshots(before, after, perConnections) {
  const aggregate = (path) => {
    const snap = JSON.parse(readFileSync(path, "utf8"));
    const fields = snap.snapshot.meta.node_fields;
    const types = snap.snapshot.meta.node_types[0];
    const width = fields.length;
    const iType = fields.indexOf("type");
    const iName = fields.indexOf("name");
    const iSize = fields.indexOf("self_size");
    const out = new Map();
    const nodes = snap.nodes;
    for (let i = 0; i < nodes.length; i += width) {
      const type = types[nodes[i + iType]];
      const rawName = snap.strings[nodes[i + iName]];
      const name = type === "object" || type === "closure" || type === "native" ? rawName : `(${type})`;
      const key = `${name.slice(0, 80)}`;
      const entry = out.get(key) ?? { count: 0, size: 0 };
      entry.count++;
      entry.size += nodes[i + iSize];
      out.set(key, entry);
    }
    return out;
  };
  const a = aggregate(before);
  const b = aggregate(after);
  const rows = [];
  for (const [name, entry] of b) {
    const prev = a.get(name) ?? { count: 0, size: 0 };
    const count = (entry.count - prev.count) / perConnections;
    const bytes = (entry.size - prev.size) / perConnections;
    if (bytes > 8)
      rows.push({ name, perConn: Math.round(count * 100) / 100, bytesPerConn: Math.round(bytes) });
  }
  rows.sort((x, y) => y.bytesPerConn - x.bytesPerConn);
  const total = rows.reduce((s, r) => s + r.bytesPerConn, 0);
  return { totalBytesPerConn: total, top: rows.slice(0, 30) };
}

async function main() {
  if (!existsSync(join(root, "dist/cli/main.js"))) throw new Error(`${root}/dist is missing: npm run build`);
  const dir = mkdtempSync(join(os.tmpdir(), "wsgate-profile-"));
  const certificate = makeCertificate(dir);
  const certPem = readFileSync(certificate.cert, "utf8");
  const keyPem = readFileSync(certificate.key, "utf8");
  const systems = defineSystems({
    dir,
    root,
    peers: {},
    certificate,
    certPem,
    keyPem,
    features: wsgateFeatures(root),
    fdLimit,
  });
  const ctx = { systems };
  const seconds = Number(args.seconds);
  const sections = [];

  const cpuWorkloads = [
    [
      "W2",
      "W2 (64 B messages, 100 connections × 16 in flight)",
      "flood",
      { conns: 100, window: 16, size: 64 },
    ],
    [
      "W3",
      "W3 (16 KiB messages, 16 connections × 4 in flight)",
      "flood",
      { conns: 16, window: 4, size: 16384 },
    ],
    ["W5", "W5 (handshakes, 32 in parallel)", "handshakes", { concurrency: 32 }],
    [
      "W7",
      "W7 (TLS + WebSocket handshakes, 32 in parallel)",
      "handshakes",
      { concurrency: 32, secure: true },
    ],
  ].filter(([id]) => only.has(id));
  for (const [id, name, workload, params] of cpuWorkloads) {
    const profDir = join(dir, `cpu-${id}`);
    mkdirSync(profDir);
    log(`${name}: CPU profile for ${seconds} s`);
    const secure = params.secure === true;
    const result = await withWsgate(
      { ...ctx, secure },
      { nodeFlags: ["--cpu-prof", `--cpu-prof-dir=${profDir}`, "--cpu-prof-interval=200"] },
      (wsgate) =>
        client({
          workload,
          port: secure ? PORTS.wsgateTls : PORTS.wsgate,
          secure,
          pid: wsgate.pid,
          params: { ...params, warmupMs: 500, durationMs: seconds * 1000 },
        }),
    );
    const file = readdirSync(profDir).find((f) => f.endsWith(".cpuprofile"));
    if (!file) throw new Error(`no CPU profile written in ${profDir}`);
    sections.push({ name, result, cpu: analyzeCpuProfile(join(profDir, file), result.windowUs) });
  }

  const lines = [`# wsgate profile — ${new Date().toISOString()}`, ""];
  lines.push(`Command: \`npm run bench:profile\`; wsgate at ${root}; raw profiles in ${dir}.`, "");
  for (const s of sections) {
    lines.push(`## ${s.name}`, "");
    lines.push(`Client result: \`${JSON.stringify(s.result)}\``, "");
    // Node marks the isolate idle from libuv's prepare to its check phase, so native work done
    // inside I/O callbacks (OpenSSL's handshake, reads) is sampled as "(idle)": what (idle)
    // holds beyond the core's measured idle time is that native work.
    const idle = s.cpu.files.find((f) => f.name === "(idle)")?.pct ?? 0;
    const busy = s.result.proxyCoreBusy;
    if (typeof busy === "number") {
      const native = Math.max(0, idle - (1 - busy) * 100);
      lines.push(
        `Proxy core busy ${Math.round(busy * 100)} % of the window; "(idle)" ${idle} %, of which ` +
          `≈ ${native.toFixed(1)} % of the window (${Math.round((native / busy) * 10) / 10} % of wsgate's CPU) ` +
          "is native work in I/O callbacks (TLS handshakes, socket reads), which V8 samples as idle.",
        "",
      );
    }
    lines.push(`Samples: ${s.cpu.samples} (200 µs interval). Self time by source:`, "");
    lines.push("| source | self % |", "| --- | ---: |");
    for (const f of s.cpu.files) lines.push(`| ${f.name} | ${f.pct} |`);
    lines.push("", "Top functions by self time:", "", "| function | self % |", "| --- | ---: |");
    for (const f of s.cpu.self) lines.push(`| ${f.name.replaceAll("|", "\\|")} | ${f.pct} |`);
    lines.push("", "Top functions by inclusive time:", "", "| function | inclusive % |", "| --- | ---: |");
    for (const f of s.cpu.inclusive) lines.push(`| ${f.name.replaceAll("|", "\\|")} | ${f.pct} |`);
    lines.push("");
  }
  if (only.has("W4")) lines.push(...(await memoryProfile(ctx)));

  const md = `${lines.join("\n")}\n`;
  process.stdout.write(md);
  if (!args["no-write"]) {
    const out = join(repo, "bench/results");
    mkdirSync(out, { recursive: true });
    const path = join(out, `${new Date().toISOString().slice(0, 10)}-profile.md`);
    writeFileSync(path, md);
    log(`wrote ${path}`);
  }
}

/** W4: process.memoryUsage() and a heap snapshot before and after opening the idle connections. */
async function memoryProfile(ctx) {
  const dir = mkdtempSync(join(os.tmpdir(), "wsgate-memory-"));
  log(`W4: memory of ${conns} idle connections (heap snapshots before and after, in ${dir})`);
  const idle = await withWsgate(
    ctx,
    {
      nodeFlags: ["--expose-gc", "--import", join(here, "lib/mem-probe.mjs")],
      env: { WSGATE_PROBE_DIR: dir, WSGATE_PROBE_SNAPSHOT: "1" },
    },
    (wsgate) =>
      client({
        workload: "idle",
        port: PORTS.wsgate,
        pid: wsgate.pid,
        timeoutMs: 150_000,
        params: { conns, probeDir: dir },
      }),
  );
  const memory = [0, 1].map((i) => JSON.parse(readFileSync(join(dir, `memory-${i}.json`), "utf8")));
  const heap = analyzeHeapSnapshots(memory[0].snapshot, memory[1].snapshot, conns);
  const perConn = (key) => Math.round((memory[1].afterGc[key] - memory[0].afterGc[key]) / conns);
  const lines = [`## W4 (${conns} idle connections)`, ""];
  lines.push(`Client result: \`${JSON.stringify(idle)}\``, "");
  lines.push("Per connection, after a full GC (process.memoryUsage() after − before, ÷ connections):", "");
  const keys = ["rss", "heapTotal", "heapUsed", "external", "arrayBuffers"];
  lines.push(`| ${keys.join(" | ")} |`, `| ${keys.map(() => "---:").join(" | ")} |`);
  lines.push(`| ${keys.map((k) => `${perConn(k)} B`).join(" | ")} |`);
  const spaces = memory[1].spaces.map((space) => {
    const before = memory[0].spaces.find((x) => x.name === space.name)?.used ?? 0;
    return `${space.name} ${Math.round((space.used - before) / conns)} B`;
  });
  lines.push("", `V8 heap spaces, used bytes per connection: ${spaces.join(", ")}.`);
  lines.push(
    "",
    `JS heap objects per connection (heap snapshot diff, total ${heap.totalBytesPerConn} B):`,
    "",
  );
  lines.push("| object | count per connection | bytes per connection |", "| --- | ---: | ---: |");
  for (const r of heap.top)
    lines.push(`| ${r.name.replaceAll("|", "\\|")} | ${r.perConn} | ${r.bytesPerConn} |`);
  lines.push("");
  return lines;
}

try {
  await main();
  process.exit(0);
} catch (err) {
  log(`failed: ${err.stack ?? err.message}`);
  process.exit(1);
}
