// Slow clients (slowloris) against a real wsgate child process (dist/, standalone
// manifests): N sockets send half a request and then nothing, while good clients
// open WebSockets one after another. Measures how long the slow sockets were held
// (bounded by --header-timeout plus one check interval) and the good clients'
// handshake latency before (baseline) and during the attack.
//
// wsgate runs on CPU 0 and this script on CPU 1 when the machine has two, as in
// `npm run bench`.
//
// Usage: npm run build && node bench/slowloris.mjs [--slow 1000] [--header-timeout 10s]
//                                                  [--baseline-seconds 3] [--clients 2]
// Exits 1 when a slow socket outlived header-timeout + 2 s or the p99 handshake
// during the attack reached 100 ms.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { start, stop, waitForLine } from "./lib/procs.mjs";
import { HOST, openWebSocket, percentile } from "./lib/ws.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values: args } = parseArgs({
  options: {
    slow: { type: "string", default: "1000" },
    "header-timeout": { type: "string", default: "10s" },
    "baseline-seconds": { type: "string", default: "3" },
    clients: { type: "string", default: "2" },
  },
});
const slowCount = Number(args.slow);
const headerTimeoutMs =
  Number.parseFloat(args["header-timeout"]) * (args["header-timeout"].endsWith("ms") ? 1 : 1000);
const twoCpus = cpus().length >= 2;

const freePort = () =>
  new Promise((resolve) => {
    const server = http.createServer();
    server.listen(0, HOST, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

const dir = mkdtempSync(join(tmpdir(), "wsgate-slowloris-"));
const ports = { backend: await freePort(), http: await freePort(), admin: await freePort() };
writeFileSync(
  join(dir, "echo.yaml"),
  `apiVersion: v1
kind: Service
metadata: { name: echo, namespace: bench }
spec: { ports: [{ name: ws, port: 80 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: echo-1, namespace: bench, labels: { kubernetes.io/service-name: echo } }
addressType: IPv4
ports: [{ name: ws, port: ${ports.backend}, protocol: TCP }]
endpoints: [{ addresses: [${HOST}], conditions: { ready: true } }]
---
apiVersion: wsgate.io/v1alpha1
kind: WebSocketRoute
metadata: { name: echo, namespace: bench }
spec:
  rules: [{ backendRefs: [{ name: echo, port: 80 }] }]
`,
);

const backend = start([process.execPath, join(root, "bench/backend.mjs"), "--port", String(ports.backend)], {
  stdout: "pipe",
  ...(twoCpus ? { cpus: "1" } : {}),
});
await waitForLine(backend, "ready");
const wsgate = start(
  [
    process.execPath,
    join(root, "dist/cli/main.js"),
    "serve",
    "--workers",
    "1",
    "--manifests",
    dir,
    "--http-listen",
    `${HOST}:${ports.http}`,
    "--https-listen",
    `${HOST}:0`,
    "--admin-listen",
    `${HOST}:${ports.admin}`,
    "--header-timeout",
    args["header-timeout"],
    "--log-level",
    "warn",
  ],
  { ...(twoCpus ? { cpus: "0" } : {}), stdout: "pipe", stderrFile: "inherit" },
);

async function ready() {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const status = await new Promise((resolve) =>
      http
        .get({ host: HOST, port: ports.admin, path: "/readyz" }, (res) => {
          res.resume();
          resolve(res.statusCode);
        })
        .on("error", () => resolve(0)),
    );
    if (status === 200) return;
    if (Date.now() > deadline) throw new Error("wsgate did not become ready");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Good clients, `clients` in parallel, each opening and closing WebSockets until `stop()`. */
function goodClients() {
  let running = true;
  const latencies = [];
  let failures = 0;
  const loop = async () => {
    while (running) {
      const started = performance.now();
      try {
        const { socket } = await openWebSocket({ port: ports.http, path: "/" });
        latencies.push(performance.now() - started);
        socket.destroy();
      } catch {
        failures++;
      }
    }
  };
  const loops = Array.from({ length: Number(args.clients) }, loop);
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      return { latencies: Float64Array.from(latencies).sort(), failures };
    },
  };
}

function stall() {
  return new Promise((resolve, reject) => {
    const socket = net.connect(ports.http, HOST);
    const closed = new Promise((done) => socket.once("close", () => done(performance.now())));
    socket.on("error", () => undefined);
    socket.on("data", () => undefined);
    socket.once("connect", () => {
      socket.write("GET / HTTP/1.1\r\nHost: bench.local\r\nX-Slow: ");
      resolve({ connectedAt: performance.now(), closed });
    });
    socket.once("error", reject);
  });
}

const fmt = (ms) => ms.toFixed(1);
const summary = (name, { latencies, failures }) =>
  `${name}: ${latencies.length} handshakes, ${failures} failed, p50 ${fmt(percentile(latencies, 50))} ms, ` +
  `p99 ${fmt(percentile(latencies, 99))} ms, max ${fmt(latencies.at(-1) ?? NaN)} ms`;

let failed = false;
try {
  await ready();
  const baselineClients = goodClients();
  await new Promise((resolve) => setTimeout(resolve, Number(args["baseline-seconds"]) * 1000));
  const baseline = await baselineClients.stop();
  console.log(summary("baseline", baseline));

  const attackClients = goodClients();
  const attackStarted = performance.now();
  const stalled = [];
  for (let i = 0; i < slowCount; i += 100) {
    stalled.push(...(await Promise.all(Array.from({ length: Math.min(100, slowCount - i) }, stall))));
  }
  const openedIn = performance.now() - attackStarted;
  const held = Float64Array.from(
    await Promise.all(stalled.map(async (s) => (await s.closed) - s.connectedAt)),
  ).sort();
  const during = await attackClients.stop();
  console.log(
    `slowloris: ${slowCount} sockets opened in ${fmt(openedIn)} ms; held min ${fmt(held[0])} ms, ` +
      `p50 ${fmt(percentile(held, 50))} ms, max ${fmt(held.at(-1))} ms (header timeout ${headerTimeoutMs} ms)`,
  );
  console.log(summary("during attack", during));
  if (held.at(-1) > headerTimeoutMs + 2_000) {
    console.log(`FAIL: a slow socket was held over header-timeout + 2 s`);
    failed = true;
  }
  if (percentile(during.latencies, 99) >= 100) {
    console.log("FAIL: p99 handshake during the attack is 100 ms or more");
    failed = true;
  }
} finally {
  await stop(wsgate);
  await stop(backend);
  rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
