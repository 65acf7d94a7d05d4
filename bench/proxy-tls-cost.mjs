// `npm run build && node bench/proxy-tls-cost.mjs --compare DIR`: CPU per TLS + WebSocket
// handshake through wsgate's HTTPS listener behind `--proxy-protocol` (a PROXY v1 header,
// then TLS; no default certificate, the certificate by SNI), for this build and another
// one (DIR: its root, built) in alternating rounds of one run. The W7 benchmark does not
// send PROXY headers; this path builds its TLS sockets itself (src/tls/server.ts).
// Same placement as the benchmark: wsgate alone on CPU 0, client and backend on CPU 1.
// Options: --compare DIR (required)  --rounds N (4)  --seconds S (3)
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import { join, resolve } from "node:path";
import tls from "node:tls";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { start, stop, waitForLine } from "./lib/procs.mjs";
import { PORTS, checkPortsFree, defineSystems, makeCertificate, shebangNodeFlags } from "./lib/systems.mjs";
import { HOST, SERVER_NAME, cpuTicks, sleep } from "./lib/ws.mjs";

const here = fileURLToPath(new URL(".", import.meta.url));
const { values: args } = parseArgs({
  options: {
    compare: { type: "string" },
    rounds: { type: "string", default: "4" },
    seconds: { type: "string", default: "3" },
  },
});
if (!args.compare) throw new Error("--compare DIR: the root of the other (built) wsgate");
const roots = [resolve(here, ".."), resolve(args.compare)];
const pin = os.cpus().length >= 2;
const PROXY_CPU = pin ? "0" : undefined;
const LOAD_CPU = pin ? "1" : undefined;
const log = (text) => process.stderr.write(`proxy-tls-cost: ${text}\n`);
setTimeout(() => {
  log("exceeded 10 minutes; stopping");
  process.exit(4);
}, 10 * 60_000).unref();

const REQUEST = Buffer.from(
  `GET /echo HTTP/1.1\r\nHost: ${SERVER_NAME}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
);

/** One PROXY header + TLS + upgrade; resolves on the 101. */
function handshake(port) {
  return new Promise((resolve, reject) => {
    const raw = net.connect(port, HOST);
    raw.on("error", reject);
    raw.write("PROXY TCP4 203.0.113.7 10.0.0.1 40000 443\r\n");
    const socket = tls.connect({ socket: raw, servername: SERVER_NAME, rejectUnauthorized: false }, () =>
      socket.write(REQUEST),
    );
    socket.on("error", reject);
    socket.once("data", (head) => {
      socket.destroy();
      if (head.toString("latin1").startsWith("HTTP/1.1 101")) resolve();
      else reject(new Error(`answered ${head.toString("latin1").split("\r\n")[0]}`));
    });
  });
}

async function measure(root, manifests) {
  const main = join(root, "dist/cli/main.js");
  const wsgate = start(
    [
      process.execPath,
      ...shebangNodeFlags(main),
      main,
      "serve",
      "--manifests",
      manifests,
      "--http-listen",
      `${HOST}:${PORTS.wsgate}`,
      "--https-listen",
      `${HOST}:${PORTS.wsgateTls}`,
      "--admin-listen",
      `${HOST}:${PORTS.wsgateAdmin}`,
      "--log-level",
      "warn",
      "--workers",
      "1",
      "--shutdown-drain",
      "0s",
      "--proxy-protocol",
    ],
    { cpus: PROXY_CPU, stderrFile: "inherit" },
  );
  try {
    for (let deadline = Date.now() + 15_000; ;) {
      try {
        await handshake(PORTS.wsgateTls);
        break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await sleep(50);
      }
    }
    let stopping = false;
    let measuring = false;
    let count = 0;
    const loop = async () => {
      while (!stopping) {
        await handshake(PORTS.wsgateTls);
        if (measuring) count++;
      }
    };
    const loops = Array.from({ length: 32 }, loop);
    await sleep(500);
    measuring = true;
    const before = cpuTicks(wsgate.pid);
    await sleep(Number(args.seconds) * 1000);
    const after = cpuTicks(wsgate.pid);
    measuring = false;
    stopping = true;
    await Promise.all(loops);
    // /proc ticks are 1/100 s on Linux.
    return { us: Math.round(((after - before) * 10_000) / count), count };
  } finally {
    await stop(wsgate);
  }
}

async function main() {
  await checkPortsFree();
  const dir = mkdtempSync(join(os.tmpdir(), "wsgate-proxy-tls-"));
  const certificate = makeCertificate(dir);
  // defineSystems writes the benchmark's manifests (route, Secret, Service) into dir.
  defineSystems({
    dir,
    root: roots[0],
    peers: {},
    certificate,
    certPem: readFileSync(certificate.cert, "utf8"),
    keyPem: readFileSync(certificate.key, "utf8"),
    features: {},
    fdLimit: 65536,
  });
  const backend = start([process.execPath, join(here, "backend.mjs"), "--port", String(PORTS.backend)], {
    cpus: LOAD_CPU,
    stdout: "pipe",
    stderrFile: "inherit",
  });
  const results = new Map(roots.map((r) => [r, []]));
  try {
    await waitForLine(backend, "ready");
    for (let round = 0; round < Number(args.rounds); round++) {
      for (const root of round % 2 ? [...roots].reverse() : roots) {
        const { us, count } = await measure(root, join(dir, "wsgate-manifests"));
        results.get(root).push(us);
        log(`round ${round + 1} ${root}: ${us} µs per handshake (${count} handshakes)`);
      }
    }
  } finally {
    await stop(backend);
    rmSync(dir, { recursive: true, force: true });
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  for (const [root, xs] of results)
    process.stdout.write(`${root}: median ${median(xs)} µs per handshake (rounds: ${xs.join(", ")})\n`);
}

try {
  await main();
  process.exit(0);
} catch (err) {
  log(`failed: ${err.stack ?? err.message}`);
  process.exit(1);
}
