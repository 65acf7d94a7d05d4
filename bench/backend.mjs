// The benchmark's backend: a raw-socket WebSocket server cheap enough not to be
// the bottleneck. It walks frame headers only (payloads are skipped, never
// unmasked) and answers each data frame with a pre-built frame of the same size,
// batched per chunk. Paths:
//   /echo                    one reply per message, same size (the default)
//   /push?bytes=N&size=S     after the 101, sends N payload bytes in S-byte
//                            messages as fast as the socket takes them
// Usage: node bench/backend.mjs --port P [--tls-port P --cert F --key F] [--max-seconds S]
// Prints "ready" once listening. Exits by itself after --max-seconds.
import { readFileSync } from "node:fs";
import net from "node:net";
import tls from "node:tls";
import { parseArgs } from "node:util";
import { HOST, acceptResponse, repeat, serverFrame } from "./lib/ws.mjs";

const { values: args } = parseArgs({
  options: {
    port: { type: "string" },
    "tls-port": { type: "string" },
    cert: { type: "string" },
    key: { type: "string" },
    "max-seconds": { type: "string", default: "300" },
  },
});

/** Per payload size: a block of pre-built reply frames to slice from. */
const replies = new Map();
function replyBlock(size) {
  let block = replies.get(size);
  if (!block) {
    const one = serverFrame(size);
    const copies = Math.max(1, Math.min(1024, Math.floor((1 << 20) / one.length)));
    block = { frameLength: one.length, copies, bytes: repeat(one, copies) };
    replies.set(size, block);
  }
  return block;
}

function writeReplies(socket, size, count) {
  const block = replyBlock(size);
  while (count > 0) {
    const n = Math.min(count, block.copies);
    socket.write(n === block.copies ? block.bytes : block.bytes.subarray(0, n * block.frameLength));
    count -= n;
  }
}

const CLOSE_REPLY = Buffer.from([0x88, 0x02, 0x03, 0xe8]); // Close 1000

/** Walks client frames; replies to data frames in batches of equal size. */
function echo(socket) {
  const header = Buffer.alloc(14);
  let headerLength = 0;
  let headerNeeded = 2;
  let skip = 0;
  let frameSize = 0;
  let opcode = 0;
  let runSize = -1;
  let runCount = 0;
  const flush = () => {
    if (runCount > 0) writeReplies(socket, runSize, runCount);
    runCount = 0;
  };
  const frameDone = () => {
    if (opcode === 0x8) {
      flush();
      socket.end(CLOSE_REPLY);
      return;
    }
    if (opcode >= 0x8) return; // ping/pong: nothing to answer in this benchmark
    if (frameSize !== runSize) {
      flush();
      runSize = frameSize;
    }
    runCount++;
  };
  return (chunk) => {
    let offset = 0;
    const length = chunk.length;
    while (offset < length) {
      if (skip > 0) {
        const take = Math.min(skip, length - offset);
        offset += take;
        skip -= take;
        if (skip === 0) frameDone();
        continue;
      }
      while (offset < length && headerLength < headerNeeded) {
        header[headerLength++] = chunk[offset++];
        if (headerLength === 2) {
          const len7 = header[1] & 0x7f;
          headerNeeded = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (header[1] & 0x80 ? 4 : 0);
        }
      }
      if (headerLength < headerNeeded) break;
      const len7 = header[1] & 0x7f;
      frameSize =
        len7 === 126 ? header.readUInt16BE(2) : len7 === 127 ? Number(header.readBigUInt64BE(2)) : len7;
      opcode = header[0] & 0x0f;
      headerLength = 0;
      headerNeeded = 2;
      skip = frameSize;
      if (skip === 0) frameDone();
    }
    flush();
  };
}

/** Sends `bytes` of payload in `size`-byte messages, respecting backpressure. */
function push(socket, bytes, size) {
  const block = replyBlock(size);
  let frames = Math.ceil(bytes / size);
  const pump = () => {
    while (frames > 0) {
      const n = Math.min(frames, block.copies);
      frames -= n;
      const ok = socket.write(
        n === block.copies ? block.bytes : block.bytes.subarray(0, n * block.frameLength),
      );
      if (!ok) {
        socket.once("drain", pump);
        return;
      }
    }
  };
  pump();
}

const CRLFCRLF = Buffer.from("\r\n\r\n");

function onConnection(socket) {
  socket.setNoDelay(true);
  socket.on("error", () => socket.destroy());
  socket.on("end", () => socket.end());
  let head;
  const onHead = (chunk) => {
    head = head ? Buffer.concat([head, chunk]) : chunk;
    const end = head.indexOf(CRLFCRLF);
    if (end < 0) {
      if (head.length > 16384) socket.destroy();
      return;
    }
    socket.off("data", onHead);
    const text = head.toString("latin1", 0, end);
    const target = text.slice(text.indexOf(" ") + 1, text.indexOf(" HTTP/"));
    const key = /\r\nsec-websocket-key:\s*(\S+)/i.exec(text)?.[1];
    if (!key) {
      socket.end("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
      return;
    }
    socket.write(acceptResponse(key));
    const url = new URL(target, "http://backend");
    const onFrames = echo(socket);
    socket.on("data", onFrames);
    const rest = head.subarray(end + 4);
    if (rest.length > 0) onFrames(rest);
    if (url.pathname === "/push") {
      push(socket, Number(url.searchParams.get("bytes") ?? 0), Number(url.searchParams.get("size") ?? 65536));
    }
  };
  socket.on("data", onHead);
}

const servers = [];
const plain = net.createServer({ noDelay: true, backlog: 4096 }, onConnection);
servers.push([plain, Number(args.port)]);
if (args["tls-port"]) {
  const secure = tls.createServer(
    { cert: readFileSync(args.cert), key: readFileSync(args.key) },
    onConnection,
  );
  secure.on("tlsClientError", () => {});
  servers.push([secure, Number(args["tls-port"])]);
}
await Promise.all(
  servers.map(
    ([server, port]) =>
      new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen({ port, host: HOST, backlog: 4096 }, resolve);
      }),
  ),
);
process.stdout.write("ready\n");
setTimeout(() => process.exit(0), Number(args["max-seconds"]) * 1000);
process.on("SIGTERM", () => process.exit(0));
