// What a message limit costs under permessage-deflate: the same messages relayed
// (client → relay → sink, one process) as the two designs of limits.permessageDeflate
// carry them, plus the unlimited passthrough for reference:
//   strip        the extension is removed, messages cross uncompressed; the scanner counts frames
//   inflate      messages cross compressed; the relay inflates each one only to count it
//   passthrough  compressed, no limit: nothing inflated (what a route without a limit does)
// Reported per mode: wire MB/s, plaintext MB/s and CPU µs per message (the process's
// user+system time over the run, so it includes client and sink work, equal in all modes
// except for the bytes they move).
// Usage: npm run build && node bench/deflate-cost.mjs [plaintextMB] [messageBytes]
import { once } from "node:events";
import net from "node:net";
import zlib from "node:zlib";
import { RelayedConnection } from "../dist/dataplane/relay.js";

const totalMB = Number(process.argv[2] ?? 64);
const messageBytes = Number(process.argv[3] ?? 1024);

/** Chat-like JSON messages of about `messageBytes`, all different. */
function messages(count) {
  const words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"];
  const out = [];
  for (let i = 0; i < count; i++) {
    let text = "";
    let j = 0;
    while (text.length < messageBytes - 80)
      text += `${words[(i * 7 + j++ * 3) % words.length]} ${(i * j) % 997} `;
    const json = JSON.stringify({
      type: "message",
      room: `room-${i % 50}`,
      seq: i,
      user: `user-${i % 313}`,
      text,
    });
    out.push(Buffer.from(json.slice(0, messageBytes).padEnd(messageBytes, " ")));
  }
  return out;
}

function maskedFrame(payload, compressed) {
  const n = payload.length;
  const ext = n < 126 ? 0 : n < 65536 ? 2 : 8;
  const frame = Buffer.alloc(2 + ext + 4 + n);
  frame[0] = 0x82 | (compressed ? 0x40 : 0);
  frame[1] = 0x80 | (ext === 0 ? n : ext === 2 ? 126 : 127);
  if (ext === 2) frame.writeUInt16BE(n, 2);
  if (ext === 8) frame.writeBigUInt64BE(BigInt(n), 2);
  const maskAt = 2 + ext;
  frame.writeUInt32BE(0x12345678, maskAt);
  for (let i = 0; i < n; i++) frame[maskAt + 4 + i] = payload[i] ^ frame[maskAt + (i & 3)];
  return frame;
}

/** The messages as a permessage-deflate client sends them: one context, sync flush, tail stripped. */
function compressedStream(plain) {
  const parts = [];
  let history = Buffer.alloc(0);
  for (const m of plain) {
    const dictionary = history.subarray(Math.max(0, history.length - 32768));
    const c = zlib.deflateRawSync(m, {
      finishFlush: zlib.constants.Z_SYNC_FLUSH,
      ...(dictionary.length ? { dictionary } : {}),
    });
    parts.push(maskedFrame(c.subarray(0, c.length - 4), true));
    history = Buffer.concat([history.subarray(Math.max(0, history.length - 32768)), m]);
  }
  return Buffer.concat(parts);
}

const count = Math.ceil((totalMB * (1 << 20)) / messageBytes);
const plain = messages(count);
const wire = {
  strip: Buffer.concat(plain.map((m) => maskedFrame(m, false))),
  inflate: compressedStream(plain),
};
wire.passthrough = wire.inflate;
const optionsFor = {
  strip: { maxMessageBytes: 1 << 20, extensions: "", inflate: false },
  inflate: { maxMessageBytes: 1 << 20, extensions: "permessage-deflate", inflate: true },
  passthrough: { maxMessageBytes: 0, extensions: "permessage-deflate", inflate: false },
};

async function run(mode) {
  const bytes = wire[mode];
  let received = 0;
  let done;
  const finished = new Promise((resolve) => (done = resolve));
  const sink = net.createServer((s) =>
    s.on("data", (d) => {
      received += d.length;
      if (received >= bytes.length) done();
    }),
  );
  sink.listen(0, "127.0.0.1");
  await once(sink, "listening");
  let ended;
  const proxy = net.createServer((client) => {
    const backend = net.connect(sink.address().port, "127.0.0.1");
    const options = { ...optionsFor[mode], closeTimeoutMs: 1000, clock: { now: Date.now() } };
    new RelayedConnection(client, backend, options, (end) => (ended = end));
  });
  proxy.listen(0, "127.0.0.1");
  await once(proxy, "listening");
  const client = net.connect(proxy.address().port, "127.0.0.1");
  await once(client, "connect");
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const step = 1 << 20;
  for (let at = 0; at < bytes.length; at += step)
    if (!client.write(bytes.subarray(at, at + step))) await once(client, "drain");
  await Promise.race([finished, once(client, "close")]);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  client.destroy();
  proxy.close();
  sink.close();
  if (received < bytes.length) throw new Error(`${mode}: relay ended early: ${JSON.stringify(ended)}`);
  return {
    wireMBps: bytes.length / (1 << 20) / seconds,
    plainMBps: (count * messageBytes) / (1 << 20) / seconds,
    cpuUsPerMessage: (cpu.user + cpu.system) / count,
  };
}

const modes = ["strip", "inflate", "passthrough"];
const results = Object.fromEntries(modes.map((m) => [m, []]));
for (let round = 0; round < 3; round++) {
  for (const mode of round % 2 ? [...modes].reverse() : modes) results[mode].push(await run(mode));
}
const median = (xs, key) => xs.map((x) => x[key]).sort((a, b) => a - b)[1];
console.log(
  `${count} messages of ${messageBytes} B (${totalMB} MB plaintext; compressed ${(wire.inflate.length / (1 << 20)).toFixed(1)} MB on the wire), median of 3, client+relay+sink in one process:`,
);
for (const mode of modes) {
  console.log(
    `  ${mode.padEnd(12)} wire ${median(results[mode], "wireMBps").toFixed(0).padStart(5)} MB/s  plaintext ${median(results[mode], "plainMBps").toFixed(0).padStart(5)} MB/s  CPU ${median(results[mode], "cpuUsPerMessage").toFixed(2).padStart(6)} µs/message`,
  );
}
