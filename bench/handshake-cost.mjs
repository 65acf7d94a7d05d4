// The backend leg of a WebSocket handshake alone: `attemptHandshake` (connect, request
// head, the backend's 101, close) of this build against another build's (e.g. the one
// before a change), alternating batches in one process, CPU time per handshake from
// process.cpuUsage(). The backend is a child process (its CPU is not counted), answering
// every request with the same 101. On a loaded machine only the ratio means anything.
// Usage: npm run build && node bench/handshake-cost.mjs --compare DIR [--batches 20] [--batch 500]
import { fork } from "node:child_process";
import { once } from "node:events";
import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  options: {
    compare: { type: "string" },
    batches: { type: "string", default: "20" },
    batch: { type: "string", default: "500" },
    parallel: { type: "string", default: "16" },
    backend: { type: "boolean", default: false },
  },
});

const RESPONSE =
  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
  "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

if (args.backend) {
  const net = await import("node:net");
  const server = net.createServer((socket) => {
    socket.on("error", () => socket.destroy());
    socket.on("data", (chunk) => {
      if (chunk.includes("\r\n\r\n")) socket.write(RESPONSE);
    });
  });
  server.listen(0, "127.0.0.1", () => process.send(server.address().port));
  process.on("disconnect", () => process.exit(0));
} else {
  if (!args.compare) throw new Error("--compare DIR: the other build's root");
  const here = resolve(fileURLToPath(new URL(".", import.meta.url)), "..");
  const load = async (root) =>
    (await import(pathToFileURL(resolve(root, "dist/dataplane/upstream.js")).href)).attemptHandshake;
  const builds = { W: await load(here), P: await load(args.compare) };
  const backend = fork(fileURLToPath(import.meta.url), ["--backend"]);
  const [port] = await once(backend, "message");
  const endpoint = {
    id: `bench/backend:80@127.0.0.1:${port}`,
    backend: "bench/backend:80",
    address: "127.0.0.1",
    port,
    ready: true,
    terminating: false,
    weight: 1,
  };
  const headers = [
    "Host",
    "bench.local",
    "User-Agent",
    "bench",
    "Sec-WebSocket-Key",
    "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version",
    "13",
    "Connection",
    "Upgrade",
    "Upgrade",
    "websocket",
    "X-Forwarded-For",
    "127.0.0.1",
    "X-Forwarded-Proto",
    "http",
    "X-Request-Id",
    "0123456789abcdef",
  ];
  const options = { endpoint, path: "/echo", headers, connectTimeoutMs: 5000, handshakeDeadline: Infinity };

  async function batch(attempt, count) {
    let left = count;
    const worker = async () => {
      while (left-- > 0) {
        const outcome = await attempt({ ...options, handshakeDeadline: Date.now() + 10_000 });
        if (outcome.kind !== "upgraded") throw new Error(`handshake ${outcome.kind}`);
        outcome.socket.destroy();
      }
    };
    const start = process.cpuUsage();
    await Promise.all(Array.from({ length: Number(args.parallel) }, worker));
    const used = process.cpuUsage(start);
    return (used.user + used.system) / count;
  }

  const size = Number(args.batch);
  await batch(builds.W, size); // warm-up, both
  await batch(builds.P, size);
  const samples = { W: [], P: [] };
  for (let i = 0; i < Number(args.batches); i++) {
    for (const key of i % 2 === 0 ? ["W", "P"] : ["P", "W"])
      samples[key].push(await batch(builds[key], size));
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const ratios = samples.W.map((w, i) => w / samples.P[i]);
  const w = median(samples.W);
  const p = median(samples.P);
  console.log(
    `handshake backend leg, CPU µs per handshake (median of ${args.batches} batches of ${size}): ` +
      `W ${w.toFixed(1)}  P ${p.toFixed(1)}  W/P ${(w / p).toFixed(3)} (median of paired ratios ${median(ratios).toFixed(3)})`,
  );
  backend.disconnect();
}
