// Memory that comes back: cycles of connections opened, used and closed through a
// real wsgate child process (dist/, standalone manifests), with the heap measured
// after a forced GC at the end of every cycle. A leak shows as heap that grows cycle
// after cycle; heap growth without a leak shows as RSS that climbs while the heap
// after GC stays flat.
//
// wsgate runs unmodified: `node --expose-gc --import bench/lib/mem-probe.mjs`, the
// bench-only preload that, on SIGUSR2, runs gc() and writes process.memoryUsage()
// (plus a heap snapshot with --snapshots) to the run directory. Nothing in wsgate's
// own code can force a GC or expose its heap.
//
// Usage: npm run bench:soak [-- --cycles 10 --connections 2000 --messages 3
//                              --concurrency 200 --snapshots --out DIR]
// Exits 1 when the heap used after cycle N is not within 5% of cycle 3, or when a
// connection is left open in wsgate after a cycle.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { start, stop, waitForLine } from "./lib/procs.mjs";
import { HOST, clientFrame, openWebSocket, pool } from "./lib/ws.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values: args } = parseArgs({
  options: {
    cycles: { type: "string", default: "10" },
    connections: { type: "string", default: "2000" },
    messages: { type: "string", default: "3" },
    concurrency: { type: "string", default: "200" },
    snapshots: { type: "boolean", default: false },
    out: { type: "string" },
  },
});
const cycles = Number(args.cycles);
const connections = Number(args.connections);
const messages = Number(args.messages);
const concurrency = Number(args.concurrency);
const dir = args.out ?? mkdtempSync(join(tmpdir(), "wsgate-soak-"));
mkdirSync(dir, { recursive: true });

const freePort = () =>
  new Promise((resolve) => {
    const server = http.createServer();
    server.listen(0, HOST, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

const ports = { backend: await freePort(), http: await freePort(), admin: await freePort() };
writeFileSync(
  join(dir, "soak.yaml"),
  `apiVersion: v1
kind: Service
metadata: { name: echo, namespace: soak }
spec:
  ports: [{ name: ws, port: 80, targetPort: ${ports.backend} }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: echo-1
  namespace: soak
  labels: { kubernetes.io/service-name: echo }
addressType: IPv4
ports: [{ name: ws, port: ${ports.backend}, protocol: TCP }]
endpoints:
  - addresses: [${HOST}]
    conditions: { ready: true }
---
apiVersion: wsgate.io/v1alpha1
kind: WebSocketRoute
metadata: { name: echo, namespace: soak }
spec:
  rules:
    - matches: [{ path: { type: PathPrefix, value: / } }]
      backendRefs: [{ name: echo, port: 80 }]
  limits: { maxMessageBytes: 1048576, maxConnectionsPerClient: 100000 }
`,
);

const backend = start(
  [
    process.execPath,
    join(root, "bench/backend.mjs"),
    "--port",
    String(ports.backend),
    "--max-seconds",
    "7200",
  ],
  {
    stdout: "pipe",
  },
);
await waitForLine(backend, "ready");

const wsgate = start(
  [
    process.execPath,
    "--expose-gc",
    "--import",
    join(root, "bench/lib/mem-probe.mjs"),
    join(root, "dist/cli/main.js"),
    "serve",
    "--workers",
    "1",
    "--manifests",
    dir,
    "--http-listen",
    `${HOST}:${ports.http}`,
    "--admin-listen",
    `${HOST}:${ports.admin}`,
    "--log-level",
    "warn",
  ],
  {
    env: { WSGATE_PROBE_DIR: dir, ...(args.snapshots ? { WSGATE_PROBE_SNAPSHOT: "1" } : {}) },
    stderrFile: "inherit",
  },
);

const get = (path) =>
  new Promise((resolve, reject) => {
    http
      .get({ host: HOST, port: ports.admin, path }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode, body }));
      })
      .on("error", reject);
  });

async function until(condition, what, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await condition()) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** wsgate_connections_active summed over series. */
async function activeConnections() {
  const { body } = await get("/metrics");
  let sum = 0;
  for (const line of body.split("\n"))
    if (line.startsWith("wsgate_connections_active")) sum += Number(line.split(" ").pop());
  return sum;
}

await until(async () => (await get("/readyz")).status === 200, "wsgate ready");

const MESSAGE = 64;
const request = clientFrame(MESSAGE);
const replyBytes = 2 + MESSAGE;
const CLOSE = Buffer.from([0x88, 0x82, 0x01, 0x02, 0x03, 0x04, 0x03 ^ 0x01, 0xe8 ^ 0x02]); // masked Close 1000

/** One client: open, `messages` round trips, close handshake, wait for TCP close. */
async function session() {
  const { socket, rest } = await openWebSocket({ port: ports.http, path: "/" });
  let received = rest.length;
  let wanted = 0;
  let onEnough;
  socket.on("data", (chunk) => {
    received += chunk.length;
    if (received >= wanted) onEnough?.();
  });
  socket.resume();
  for (let i = 1; i <= messages; i++) {
    wanted = i * replyBytes;
    const enough = new Promise((resolve) => (onEnough = resolve));
    socket.write(request);
    if (received < wanted) await enough;
  }
  const closed = new Promise((resolve) => socket.once("close", resolve));
  socket.end(CLOSE);
  await closed;
}

async function probe(index) {
  wsgate.kill("SIGUSR2");
  const file = join(dir, `memory-${index}.json`);
  await until(() => existsSync(file), `memory report ${index}`);
  await until(() => {
    try {
      return JSON.parse(readFileSync(file, "utf8"));
    } catch {
      return false;
    }
  }, `memory report ${index} written`);
  return JSON.parse(readFileSync(file, "utf8"));
}

const MiB = (n) => (n / 1024 / 1024).toFixed(1);
const rows = [];
const baseline = await probe(0);
console.log(
  `soak: ${cycles} cycles × ${connections} connections × ${messages} messages (concurrency ${concurrency}); run dir ${dir}`,
);
console.log(`before:   heapUsed ${MiB(baseline.afterGc.heapUsed)} MiB  rss ${MiB(baseline.afterGc.rss)} MiB`);
console.log("cycle  seconds  heapUsed(after gc) MiB  external MiB  rss MiB  rss before gc MiB  left open");
for (let cycle = 1; cycle <= cycles; cycle++) {
  const started = Date.now();
  await pool(connections, concurrency, session);
  // Every relay must have ended by itself: the client's close handshake, nothing else.
  let left = 0;
  try {
    await until(async () => (left = await activeConnections()) === 0, "connections to close", 10_000);
  } catch {
    // reported below
  }
  const report = await probe(cycle);
  const row = {
    cycle,
    seconds: (Date.now() - started) / 1000,
    heapUsed: report.afterGc.heapUsed,
    external: report.afterGc.external,
    rss: report.afterGc.rss,
    rssBeforeGc: report.beforeGc.rss,
    left,
  };
  rows.push(row);
  console.log(
    `${String(cycle).padStart(5)}  ${row.seconds.toFixed(1).padStart(7)}  ${MiB(row.heapUsed).padStart(22)}  ${MiB(row.external).padStart(12)}  ${MiB(row.rss).padStart(7)}  ${MiB(row.rssBeforeGc).padStart(17)}  ${left}`,
  );
}

await stop(wsgate);
await stop(backend);
writeFileSync(join(dir, "soak.json"), JSON.stringify({ cycles, connections, messages, rows }, null, 2));

const third = rows[Math.min(2, rows.length - 1)];
const last = rows[rows.length - 1];
const drift = (last.heapUsed - third.heapUsed) / third.heapUsed;
const leftOpen = rows.some((r) => r.left !== 0);
console.log(
  `heap used after GC: cycle ${third.cycle} ${MiB(third.heapUsed)} MiB → cycle ${last.cycle} ${MiB(last.heapUsed)} MiB (${(drift * 100).toFixed(2)}%)`,
);
// With --snapshots every probe also writes a heap snapshot, whose own full GCs flush
// unused bytecode: the heap then only shrinks, so only growth counts as failure there.
const outOfBounds = args.snapshots ? drift > 0.05 : Math.abs(drift) > 0.05;
if (outOfBounds || leftOpen) {
  console.log(leftOpen ? "FAIL: connections left open after a cycle" : "FAIL: heap not within 5% of cycle 3");
  process.exit(1);
}
console.log("ok: heap within 5% of cycle 3, no connection left open");
