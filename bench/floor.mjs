// What Node alone costs per WebSocket handshake, next to nginx and wsgate in the same run:
// `npm run bench:tls-floor` for W7 (TLS + WebSocket handshakes), `npm run bench:floor` for
// W5 (plain handshakes). The "floor" servers (bench/lib/floor-server.mjs) do strictly
// less than a proxy that routes, limits, counts and relays: some answer the upgrade with
// a fixed 101 themselves (no backend at all), `node-proxy` passes it to the backend and
// pipes the two sockets, nothing else. If a floor costs more than a target's multiple of
// nginx, no change inside wsgate can reach that target on that Node server type.
// Same placement as the benchmark: the server alone on CPU 0, client and backend on CPU 1.
// Options: --workload W7|W5 (W7)  --rounds N (3)  --seconds S (per measurement, 2)  --no-write
//          --only ... (which servers; W7: tls,https,https-sni,h2,W,N; W5: net,http,node-proxy,node-proxy-lean,W,N)
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { median } from "./lib/report.mjs";
import { start, stop, waitForLine, tryRun } from "./lib/procs.mjs";
import {
  PORTS,
  checkPortsFree,
  defineSystems,
  ensurePeers,
  makeCertificate,
  waitReady,
  wsgateFeatures,
} from "./lib/systems.mjs";

const here = fileURLToPath(new URL(".", import.meta.url));
const repo = resolve(here, "..");
const { values: args } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    seconds: { type: "string", default: "2" },
    workload: { type: "string", default: "W7" },
    only: { type: "string" },
    "no-write": { type: "boolean", default: false },
  },
});
const log = (text) => process.stderr.write(`floor: ${text}\n`);
if (args.workload !== "W5" && args.workload !== "W7") throw new Error("--workload: W5 or W7");
const secure = args.workload === "W7";
setTimeout(() => {
  log("exceeded 10 minutes; stopping");
  process.exit(4);
}, 10 * 60_000).unref();

const pin = os.cpus().length >= 2;
const PROXY_CPU = pin ? "0" : undefined;
const LOAD_CPU = pin ? "1" : undefined;
/** The floor servers' port: none of the benchmark's systems uses it. */
const FLOOR_PORT = 28448;

const FLOORS = secure
  ? {
      tls: "bare tls.Server, answers the first chunk with a 101",
      https: "https.Server, 101 from its 'upgrade' event",
      "https-sni": "https.Server choosing its certificate in SNICallback",
      h2: "http2.createSecureServer({ allowHTTP1 }), 101 from 'upgrade'",
    }
  : {
      net: "bare net.Server, answers the first chunk with a 101",
      http: "http.Server, 101 from its 'upgrade' event",
      "node-proxy": "http.Server 'upgrade' → net.connect to the backend, head passed on, sockets piped",
      "node-proxy-lean":
        "as node-proxy, without pipe(): the backend read into one buffer (onread), writes direct",
    };
const only = args.only ?? (secure ? "N,W,h2,https,https-sni,tls" : "N,W,node-proxy-lean,node-proxy,http,net");

async function measure(port, pid, clockTicks) {
  const child = start(
    [
      process.execPath,
      join(here, "client.mjs"),
      JSON.stringify({
        workload: "handshakes",
        port,
        secure,
        pid,
        clockTicks,
        placed: pin,
        timeoutMs: 60_000,
        params: { concurrency: 32, warmupMs: 500, durationMs: Number(args.seconds) * 1000, secure },
      }),
    ],
    { cpus: LOAD_CPU, stdout: "pipe", stderrFile: "inherit" },
  );
  let out = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (t) => (out += t));
  await child.exited;
  return JSON.parse(out.trim().split("\n").pop());
}

async function main() {
  await checkPortsFree();
  const dir = mkdtempSync(join(os.tmpdir(), "wsgate-floor-"));
  const certificate = makeCertificate(dir);
  const peers = ensurePeers({ install: false, log });
  const systems = defineSystems({
    dir,
    root: repo,
    peers,
    certificate,
    certPem: readFileSync(certificate.cert, "utf8"),
    keyPem: readFileSync(certificate.key, "utf8"),
    features: wsgateFeatures(repo),
    fdLimit: 65536,
  });
  const clockTicks = Number(tryRun(["getconf", "CLK_TCK"])?.trim() ?? 100);
  const wanted = only.split(",");
  const servers = wanted.filter((id) => FLOORS[id] || (systems[id] && (!secure || systems[id].tlsPort)));
  const results = {};
  const rounds = Number(args.rounds);
  for (let round = 0; round < rounds; round++) {
    const rotated = [...servers.slice(round % servers.length), ...servers.slice(0, round % servers.length)];
    for (const id of rotated) {
      const backend = start([process.execPath, join(here, "backend.mjs"), "--port", String(PORTS.backend)], {
        cpus: LOAD_CPU,
        stdout: "pipe",
        stderrFile: "inherit",
      });
      let server;
      try {
        await waitForLine(backend, "ready");
        let port;
        if (FLOORS[id]) {
          const child = start(
            [
              process.execPath,
              join(here, "lib/floor-server.mjs"),
              id,
              String(FLOOR_PORT),
              certificate.cert,
              certificate.key,
              String(PORTS.backend),
            ],
            { cpus: PROXY_CPU, stdout: "pipe", stderrFile: "inherit" },
          );
          server = { pid: child.pid, stop: () => stop(child) };
          await waitForLine(child, "ready");
          port = FLOOR_PORT;
        } else {
          server = systems[id].start({ cpus: PROXY_CPU });
          await waitReady(systems[id].port, { handle: server });
          port = secure ? systems[id].tlsPort : systems[id].port;
        }
        await waitReady(port, { secure, timeoutMs: 5000 });
        const result = await measure(port, server.pid, clockTicks);
        (results[id] ??= []).push(result);
        log(
          `round ${round + 1}/${rounds} ${id}: ${result.error ?? `${result.proxyCpuUsPerHandshake} µs/handshake, ${result.perSec}/s`}`,
        );
      } finally {
        await server?.stop();
        await stop(backend);
      }
    }
  }
  const cpu = Object.fromEntries(
    Object.entries(results).map(([id, runs]) => [
      id,
      median(runs.filter((r) => !r.error).map((r) => r.proxyCpuUsPerHandshake)),
    ]),
  );
  const name = (id) => FLOORS[id] ?? systems[id].name;
  const lines = [
    `# ${args.workload} floor — ${new Date().toISOString()}`,
    "",
    `Command: \`npm run bench:floor -- ${process.argv.slice(2).join(" ")}\`; ${rounds} round(s), ` +
      `median; load average at the end ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")}; Node ${process.version} (OpenSSL ${process.versions.openssl}).`,
    "",
    `| server | proxy CPU µs per ${secure ? "TLS + " : ""}WebSocket handshake | ÷ nginx |`,
    "| --- | ---: | ---: |",
    ...servers
      .filter((id) => cpu[id] !== undefined)
      .map((id) => `| ${name(id)} | ${cpu[id]} | ${cpu.N ? (cpu[id] / cpu.N).toFixed(2) : "–"} |`),
    "",
  ];
  const md = lines.join("\n");
  process.stdout.write(`${md}\n`);
  if (!args["no-write"]) {
    const out = join(repo, "bench/results");
    mkdirSync(out, { recursive: true });
    const path = join(out, `${new Date().toISOString().slice(0, 10)}-${secure ? "tls-floor" : "floor"}.md`);
    writeFileSync(path, `${md}\n`);
    log(`wrote ${path}`);
  }
  rmSync(dir, { recursive: true, force: true });
}

try {
  await main();
  process.exit(0);
} catch (err) {
  log(`failed: ${err.stack ?? err.message}`);
  process.exit(1);
}
