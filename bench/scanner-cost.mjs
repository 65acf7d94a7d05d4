// The frame scanner's cost: the same relay measured with the scanning relay
// (RelayedConnection) and with a plain pipe, alternating, in one run.
// Usage: npm run build && node bench/scanner-cost.mjs [MB] [payloadBytes]
import { once } from "node:events";
import net from "node:net";
import { RelayedConnection } from "../dist/dataplane/relay.js";

const totalMB = Number(process.argv[2] ?? 200);
const payload = Number(process.argv[3] ?? 64);

/** Masked client frames of `payload` bytes, repeated into a ~1 MiB block. */
function block() {
  const ext = payload < 126 ? 0 : payload < 65536 ? 2 : 8;
  const frame = Buffer.alloc(2 + ext + 4 + payload);
  frame[0] = 0x82;
  frame[1] = 0x80 | (ext === 0 ? payload : ext === 2 ? 126 : 127);
  if (ext === 2) frame.writeUInt16BE(payload, 2);
  if (ext === 8) frame.writeBigUInt64BE(BigInt(payload), 2);
  frame.writeUInt32BE(0x12345678, 2 + ext);
  const count = Math.max(1, Math.floor((1 << 20) / frame.length));
  return { bytes: Buffer.concat(Array(count).fill(frame)), frames: count };
}

async function run(mode) {
  const { bytes, frames } = block();
  const rounds = Math.ceil((totalMB * (1 << 20)) / bytes.length);
  const target = rounds * bytes.length;
  let received = 0;
  let done;
  const finished = new Promise((resolve) => (done = resolve));
  const sink = net.createServer((s) =>
    s.on("data", (d) => {
      received += d.length;
      if (received >= target) done();
    }),
  );
  sink.listen(0, "127.0.0.1");
  await once(sink, "listening");
  const proxy = net.createServer((client) => {
    const backend = net.connect(sink.address().port, "127.0.0.1");
    if (mode === "pipe") client.pipe(backend);
    else {
      const options = {
        maxMessageBytes: 0,
        extensions: "",
        closeTimeoutMs: 1000,
        clock: { now: Date.now() },
      };
      new RelayedConnection(client, backend, options, () => {});
    }
  });
  proxy.listen(0, "127.0.0.1");
  await once(proxy, "listening");
  const client = net.connect(proxy.address().port, "127.0.0.1");
  await once(client, "connect");
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) if (!client.write(bytes)) await once(client, "drain");
  await finished;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  client.destroy();
  proxy.close();
  sink.close();
  return { MBps: target / (1 << 20) / seconds, framesPerSec: (rounds * frames) / seconds };
}

const results = { pipe: [], scanner: [] };
for (let round = 0; round < 3; round++) {
  for (const mode of round % 2 ? ["scanner", "pipe"] : ["pipe", "scanner"])
    results[mode].push(await run(mode));
}
const median = (xs, key) => xs.map((x) => x[key]).sort((a, b) => a - b)[1];
const pipe = median(results.pipe, "MBps");
const scanner = median(results.scanner, "MBps");
console.log(
  `payload ${payload} B, ${totalMB} MB per run, median of 3 (client, relay and sink in one process):`,
);
console.log(
  `  plain pipe:     ${pipe.toFixed(0)} MB/s  ${(median(results.pipe, "framesPerSec") / 1e6).toFixed(2)} M frames/s`,
);
console.log(
  `  scanning relay: ${scanner.toFixed(0)} MB/s  ${(median(results.scanner, "framesPerSec") / 1e6).toFixed(2)} M frames/s`,
);
console.log(`  scanning/pipe throughput: ${(scanner / pipe).toFixed(2)}`);
