// W9: WebSockets over HTTP/2 (RFC 8441) against WebSockets over HTTP/1.1, through the
// same wsgate build in one run. 1,000 WebSockets over 10 HTTP/2 connections (100
// extended-CONNECT streams each, Node's http2 client) against 1,000 over 1,000 TLS
// connections (HTTP/1.1 upgrades); both on the HTTPS listener, to the bench backend.
// Per mode, a fresh wsgate (one thread, alone on CPU 0 when there are two) is measured:
//   - its RSS once warm and idle, and with every socket open (the cost per socket);
//   - its CPU per message while every socket does `messages` echo round trips.
// Figures are medians over rounds (modes alternate: h1 h2, then h2 h1, …) and the
// verdict is the ratio HTTP/2 ÷ HTTP/1.1 measured in the same run: the machine's load
// moves both sides alike, absolute numbers are only context.
//
// Usage: npm run build && node bench/w9.mjs [--quick] [--rounds N] [--conns 1000]
//          [--sessions 10] [--messages 50] [--size 64] [--wsgate DIR [--label TEXT]] [--no-write]
// Not one of `npm run bench`'s system comparisons (nginx and HAProxy have no RFC 8441):
// it compares two paths of wsgate itself; `npm run bench -- --only W9 [--quick]` runs it
// too. Writes bench/results/<date>-w9.{md,json}.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http2 from "node:http2";
import os from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { start, stop, waitForLine, tryRun } from "./lib/procs.mjs";
import { makeCertificate, waitReady } from "./lib/systems.mjs";
import {
  HOST,
  SERVER_NAME,
  clientFrame,
  cpuTicks,
  openWebSocket,
  pool,
  rssKiB,
  serverFrame,
  sleep,
} from "./lib/ws.mjs";

const here = fileURLToPath(new URL(".", import.meta.url));
const repo = resolve(here, "..");
const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    rounds: { type: "string" },
    conns: { type: "string", default: "1000" },
    sessions: { type: "string", default: "10" },
    messages: { type: "string" },
    size: { type: "string", default: "64" },
    wsgate: { type: "string", default: repo },
    // What the build is, when --wsgate is no git checkout (e.g. "4218eb5 from git archive").
    label: { type: "string" },
    "no-write": { type: "boolean", default: false },
  },
});
const quick = args.quick;
const rounds = Number(args.rounds ?? (quick ? 1 : 3));
const conns = Number(args.conns);
const sessions = Number(args.sessions);
const messages = Number(args.messages ?? (quick ? 20 : 50));
const size = Number(args.size);
const root = resolve(args.wsgate);
const log = (text) => process.stderr.write(`bench W9: ${text}\n`);
const PORTS = { backend: 28201, http: 28280, https: 28643, admin: 28290 };
const HZ = Number(tryRun(["getconf", "CLK_TCK"])?.trim() ?? 100);
const pin = os.cpus().length >= 2;
const PROXY_CPU = pin ? "0" : undefined;
const LOAD_CPU = pin ? "1" : undefined;

setTimeout(() => {
  log("run exceeded 10 minutes; stopping");
  process.exit(4);
}, 10 * 60_000).unref();

function manifests(dir, certificate) {
  const b64 = (file) => readFileSync(file).toString("base64");
  const path = join(dir, "manifests");
  mkdirSync(path, { recursive: true });
  writeFileSync(
    join(path, "w9.yaml"),
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
endpoints: [{ addresses: [${HOST}], conditions: { ready: true } }]
---
apiVersion: v1
kind: Secret
metadata: { name: bench-tls, namespace: bench }
type: kubernetes.io/tls
data: { tls.crt: ${b64(certificate.cert)}, tls.key: ${b64(certificate.key)} }
---
apiVersion: wsgate.io/v1alpha1
kind: WebSocketRoute
metadata: { name: echo, namespace: bench }
spec:
  hostnames: [${SERVER_NAME}]
  tls: { secretName: bench-tls }
  rules: [{ matches: [{ path: { type: PathPrefix, value: / } }], backendRefs: [{ name: echo, port: 80 }] }]
  timeouts: { connect: 5s, idle: 1h }
`,
  );
  return path;
}

/**
 * One open WebSocket, whatever carries it: `write` sends bytes, `onData` sees every
 * received byte count, `close` ends it. Every reply has the same size, so round trips
 * are counted by bytes, as the other workloads do.
 */
function socketOf(write, subscribe, close) {
  let received = 0;
  let waiting;
  subscribe((n) => {
    received += n;
    if (waiting && received >= waiting.bytes) {
      const w = waiting;
      waiting = undefined;
      w.resolve();
    }
  });
  return {
    close,
    /** `count` sequential round trips of one message each. */
    async pingPong(count, out, replyLength) {
      for (let i = 0; i < count; i++) {
        const target = received + replyLength;
        const done = new Promise((resolve) => (waiting = { bytes: target, resolve }));
        write(out);
        await done;
      }
    },
  };
}

/** 1,000 WebSockets over as many TLS connections, each an HTTP/1.1 upgrade. */
async function openHttp1(count) {
  const sockets = [];
  await pool(count, 64, async () => {
    const { socket, rest } = await openWebSocket({ port: PORTS.https, secure: true, timeoutMs: 30_000 });
    let listener;
    sockets.push(
      socketOf(
        (bytes) => socket.write(bytes),
        (l) => (listener = l),
        () => socket.destroy(),
      ),
    );
    socket.on("data", (chunk) => listener(chunk.length));
    if (rest.length > 0) listener(rest.length);
    socket.resume();
  });
  return { sockets, close: () => sockets.forEach((s) => s.close()) };
}

/** 1,000 WebSockets as extended CONNECT streams spread over `sessions` HTTP/2 connections. */
async function openHttp2(count, sessionCount) {
  const opened = [];
  for (let i = 0; i < sessionCount; i++) {
    opened.push(
      await new Promise((resolve, reject) => {
        const session = http2.connect(`https://${HOST}:${PORTS.https}`, {
          servername: SERVER_NAME,
          rejectUnauthorized: false,
        });
        session.once("error", reject);
        // Extended CONNECT waits for the server's SETTINGS (RFC 8441 §4).
        session.once("remoteSettings", (settings) => {
          session.off("error", reject);
          session.on("error", () => {});
          if (!settings.enableConnectProtocol)
            reject(new Error("the server did not enable extended CONNECT"));
          else resolve(session);
        });
      }),
    );
  }
  const sockets = [];
  await pool(count, 64, async (i) => {
    const session = opened[i % sessionCount];
    const stream = session.request({
      ":method": "CONNECT",
      ":protocol": "websocket",
      ":scheme": "https",
      ":authority": SERVER_NAME,
      ":path": "/echo",
      "sec-websocket-version": "13",
    });
    await new Promise((resolve, reject) => {
      stream.once("error", reject);
      stream.once("response", (headers) => {
        if (headers[":status"] === 200) resolve();
        else reject(new Error(`extended CONNECT answered ${headers[":status"]}`));
      });
    });
    stream.on("error", () => {});
    let listener;
    sockets.push(
      socketOf(
        (bytes) => stream.write(bytes),
        (l) => (listener = l),
        () => stream.close(),
      ),
    );
    stream.on("data", (chunk) => listener(chunk.length));
  });
  return {
    sockets,
    close() {
      for (const s of sockets) s.close();
      for (const s of opened) s.destroy();
    },
  };
}

async function measure(mode) {
  const dist = join(root, "dist/cli/main.js");
  const proxy = start(
    [
      process.execPath,
      dist,
      "serve",
      "--manifests",
      context.manifests,
      "--http-listen",
      `${HOST}:${PORTS.http}`,
      "--https-listen",
      `${HOST}:${PORTS.https}`,
      "--admin-listen",
      `${HOST}:${PORTS.admin}`,
      "--workers",
      "1",
      "--shutdown-drain",
      "0s",
      "--log-level",
      "warn",
    ],
    { cpus: PROXY_CPU, stderrFile: "pipe" },
  );
  let stderr = "";
  proxy.stderr.setEncoding("utf8");
  proxy.stderr.on("data", (t) => (stderr = (stderr + t).slice(-4000)));
  const handle = { child: proxy, name: "wsgate", stderr: () => stderr };
  const open = mode === "h2" ? () => openHttp2(conns, sessions) : () => openHttp1(conns);
  const out = clientFrame(size);
  const replyLength = serverFrame(size).length;
  try {
    await waitReady(PORTS.http, { handle, timeoutMs: 30_000 });
    await waitReady(PORTS.https, { secure: true, handle, timeoutMs: 30_000 });
    // Warm-up: the same path with a few sockets, so that the idle figure is of a warm process.
    const warm = await (mode === "h2" ? openHttp2(20, 2) : openHttp1(20));
    await Promise.all(warm.sockets.map((s) => s.pingPong(20, out, replyLength)));
    warm.close();
    await sleep(500);
    const idleRss = rssKiB(proxy.pid);
    const t0 = performance.now();
    const cpu0 = cpuTicks(proxy.pid);
    const all = await open();
    const openSeconds = (performance.now() - t0) / 1000;
    const openCpu = (cpuTicks(proxy.pid) - cpu0) / HZ;
    const openRss = rssKiB(proxy.pid);
    const cpu1 = cpuTicks(proxy.pid);
    const t1 = performance.now();
    await Promise.all(all.sockets.map((s) => s.pingPong(messages, out, replyLength)));
    const seconds = (performance.now() - t1) / 1000;
    const proxySeconds = (cpuTicks(proxy.pid) - cpu1) / HZ;
    const afterRss = rssKiB(proxy.pid);
    all.close();
    const total = all.sockets.length * messages;
    return {
      mode,
      conns: all.sockets.length,
      tcpConnections: mode === "h2" ? sessions : all.sockets.length,
      idleRssMiB: idleRss / 1024,
      openRssMiB: openRss / 1024,
      afterMessagesRssMiB: afterRss / 1024,
      rssPerSocketKiB: (openRss - idleRss) / all.sockets.length,
      openSeconds,
      cpuPerOpenMs: (openCpu * 1000) / all.sockets.length,
      messages: total,
      messagesPerSecond: total / seconds,
      cpuPerMessageUs: (proxySeconds * 1e6) / total,
      proxyCoreBusy: proxySeconds / seconds,
    };
  } catch (err) {
    return { mode, error: `${err.message}${stderr ? ` (wsgate: ${stderr.trim().slice(-500)})` : ""}` };
  } finally {
    await stop(proxy);
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor((s.length - 1) / 2)];
};
const fmt = (x, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : "—");

const dir = mkdtempSync(join(os.tmpdir(), "wsgate-w9-"));
const certificate = makeCertificate(dir);
const context = { manifests: manifests(dir, certificate) };
const backend = start(
  [process.execPath, join(here, "backend.mjs"), "--port", String(PORTS.backend), "--max-seconds", "600"],
  { cpus: LOAD_CPU, stdout: "pipe", stderrFile: "inherit" },
);
const loadStart = os.loadavg().map((l) => l.toFixed(2));
const runs = { h1: [], h2: [] };
try {
  await waitForLine(backend, "ready");
  log(
    `${rounds} round(s): ${conns} WebSockets over ${sessions} HTTP/2 connections vs over ${conns} HTTP/1.1 connections, ${messages} round trips of ${size} B each; load average ${loadStart.join(" ")}`,
  );
  for (let round = 0; round < rounds; round++) {
    for (const mode of round % 2 === 0 ? ["h1", "h2"] : ["h2", "h1"]) {
      const r = await measure(mode);
      runs[mode].push(r);
      log(
        `round ${round + 1} ${mode}: ${r.error ? `ERROR ${r.error}` : `rss/socket ${fmt(r.rssPerSocketKiB)} KiB, cpu/message ${fmt(r.cpuPerMessageUs)} µs, ${fmt(r.messagesPerSecond, 0)} msg/s`}`,
      );
    }
  }
} finally {
  await stop(backend);
  rmSync(dir, { recursive: true, force: true });
}

const FIELDS = [
  ["idleRssMiB", "proxy RSS, warm and idle (MiB)"],
  ["openRssMiB", `proxy RSS with ${conns} WebSockets open (MiB)`],
  ["rssPerSocketKiB", "proxy RSS per open WebSocket (KiB)"],
  ["cpuPerOpenMs", "proxy CPU per WebSocket opened (ms)"],
  ["cpuPerMessageUs", "proxy CPU per message round trip (µs)"],
  ["messagesPerSecond", "round trips per second"],
  ["proxyCoreBusy", "proxy core busy during messages"],
];
const summary = {};
for (const mode of ["h1", "h2"]) {
  const ok = runs[mode].filter((r) => !r.error);
  summary[mode] = Object.fromEntries(FIELDS.map(([k]) => [k, median(ok.map((r) => r[k]))]));
}
const ratio = Object.fromEntries(FIELDS.map(([k]) => [k, summary.h2[k] / summary.h1[k]]));
const loadEnd = os.loadavg().map((l) => l.toFixed(2));
const errors = [...runs.h1, ...runs.h2].filter((r) => r.error).map((r) => `${r.mode}: ${r.error}`);
const date = new Date().toISOString();
const md = `# W9: WebSockets over HTTP/2 vs HTTP/1.1 through wsgate

${date}, \`node bench/w9.mjs${process.argv.length > 2 ? ` ${process.argv.slice(2).join(" ")}` : ""}\`, ${rounds} round(s),
wsgate ${args.label ?? tryRun(["git", "-C", root, "rev-parse", "--short", "HEAD"])?.trim() ?? root}, Node ${process.version},
${os.cpus().length} CPUs (${pin ? "wsgate on CPU 0, client and backend on CPU 1" : "no placement"}),
load average ${loadStart.join(" ")} → ${loadEnd.join(" ")} (other work on the machine moves both columns alike;
read the ratio).

${conns} WebSockets over ${sessions} HTTP/2 connections (extended CONNECT) vs ${conns} over ${conns} TLS
connections (HTTP/1.1 upgrade), both on the HTTPS listener, \`--workers 1\`; then ${messages} sequential
echo round trips of ${size} B on every socket at once.

| | HTTP/1.1 | HTTP/2 | HTTP/2 ÷ HTTP/1.1 |
|---|---:|---:|---:|
${FIELDS.map(([k, label]) => `| ${label} | ${fmt(summary.h1[k], 2)} | ${fmt(summary.h2[k], 2)} | ${fmt(ratio[k], 2)} |`).join("\n")}
${errors.length > 0 ? `\nProblems:\n${errors.map((e) => `- ${e}`).join("\n")}\n` : ""}`;
process.stdout.write(`\n${md}`);
if (!args["no-write"]) {
  const out = join(repo, "bench/results");
  mkdirSync(out, { recursive: true });
  const day = date.slice(0, 10);
  writeFileSync(join(out, `${day}-w9.md`), md);
  writeFileSync(
    join(out, `${day}-w9.json`),
    `${JSON.stringify({ date, rounds, conns, sessions, messages, size, load: { start: loadStart, end: loadEnd }, summary, ratio, runs }, null, 2)}\n`,
  );
  log(`wrote bench/results/${day}-w9.md and .json`);
}
process.exit(errors.length > 0 && runs.h1.every((r) => r.error) ? 1 : 0);
