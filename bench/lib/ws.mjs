// Minimal WebSocket plumbing for the benchmark's load generator and backend:
// pre-built frames (the client's frames are masked once, at build time, so the
// client never masks in the hot loop), the opening handshake over raw sockets, and
// /proc readers for the proxy's CPU time and RSS. Nothing here decodes payloads:
// every message of a run has the same size, so peers count messages by bytes.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import net from "node:net";
import tls from "node:tls";

/** Every benchmark process talks to this address only. */
export const HOST = "127.0.0.1";
/** Host header and SNI name: the route's hostname and the certificate's name. */
export const SERVER_NAME = "bench.local";

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT = createHash("sha1").update(`${KEY}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");

function headerLength(payload, masked) {
  return 2 + (payload < 126 ? 0 : payload < 65536 ? 2 : 8) + (masked ? 4 : 0);
}

function frame(payload, masked) {
  const head = headerLength(payload, masked);
  const buf = Buffer.alloc(head + payload);
  buf[0] = 0x82; // FIN + binary
  const len7 = payload < 126 ? payload : payload < 65536 ? 126 : 127;
  buf[1] = (masked ? 0x80 : 0) | len7;
  if (len7 === 126) buf.writeUInt16BE(payload, 2);
  if (len7 === 127) buf.writeBigUInt64BE(BigInt(payload), 2);
  if (masked) buf.writeUInt32BE(0x5a3c96e1, head - 4);
  // Payload bytes are arbitrary (nobody unmasks them); a pattern keeps them non-zero.
  for (let i = head; i < buf.length; i++) buf[i] = (i * 31) & 0xff;
  return buf;
}

/** A masked binary frame as a client sends it. */
export const clientFrame = (payload) => frame(payload, true);
/** An unmasked binary frame as a server sends it. */
export const serverFrame = (payload) => frame(payload, false);
/** `count` copies of `buf`, back to back. */
export const repeat = (buf, count) => Buffer.concat(Array.from({ length: count }, () => buf));

/** The 101 a backend answers; `Sec-WebSocket-Accept` is fixed because the client's key is. */
export function acceptResponse(key) {
  const accept =
    key === KEY
      ? ACCEPT
      : createHash("sha1").update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
  return Buffer.from(
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
  );
}

const requests = new Map();
function upgradeRequest(path) {
  let request = requests.get(path);
  if (!request) {
    request = Buffer.from(
      `GET ${path} HTTP/1.1\r\nHost: ${SERVER_NAME}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    requests.set(path, request);
  }
  return request;
}

const CRLFCRLF = Buffer.from("\r\n\r\n");
const STATUS_101 = Buffer.from("HTTP/1.1 101");

/**
 * Opens a WebSocket: TCP (or TLS) connect, upgrade request, 101. Resolves with the
 * socket paused (attach a `data` listener, then `resume()`) and the bytes that came
 * after the 101. Rejects on anything else, and after `timeoutMs`.
 */
export function openWebSocket({ port, path = "/echo", secure = false, timeoutMs = 10_000 }) {
  return new Promise((resolve, reject) => {
    const socket = secure
      ? tls.connect({ host: HOST, port, servername: SERVER_NAME, rejectUnauthorized: false })
      : net.connect({ host: HOST, port, noDelay: true });
    let head;
    const fail = (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    const timer = setTimeout(() => fail(new Error(`handshake timed out after ${timeoutMs} ms`)), timeoutMs);
    socket.once("error", fail);
    socket.once(secure ? "secureConnect" : "connect", () => {
      if (secure) socket.setNoDelay(true);
      socket.write(upgradeRequest(path));
    });
    const onData = (chunk) => {
      head = head ? Buffer.concat([head, chunk]) : chunk;
      const end = head.indexOf(CRLFCRLF);
      if (end < 0) return;
      socket.off("data", onData);
      socket.pause();
      clearTimeout(timer);
      if (!head.subarray(0, STATUS_101.length).equals(STATUS_101)) {
        fail(new Error(`expected 101, got: ${head.toString("latin1", 0, head.indexOf("\r\n"))}`));
        return;
      }
      socket.off("error", fail);
      socket.on("error", () => socket.destroy());
      resolve({ socket, rest: head.subarray(end + 4) });
    };
    socket.on("data", onData);
  });
}

/** Runs `task(i)` for i in [0, count) with at most `concurrency` in flight. */
export async function pool(count, concurrency, task) {
  let next = 0;
  const worker = async () => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(count, concurrency) }, worker));
}

/** User + system CPU time of a process in clock ticks (all its threads, dead ones included). */
export function cpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

/** Busy clock ticks per CPU (everything but idle and iowait), from /proc/stat. */
export function cpuBusyTicks() {
  const busy = [];
  for (const line of readFileSync("/proc/stat", "latin1").split("\n")) {
    const m = /^cpu(\d+) (.*)$/.exec(line);
    if (!m) continue;
    const [user, nice, system, , , irq, softirq, steal] = m[2].trim().split(/\s+/).map(Number);
    busy[Number(m[1])] = user + nice + system + irq + softirq + steal;
  }
  return busy;
}

/** Resident set size of a process in KiB. */
export function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "latin1"));
  return m ? Number(m[1]) : NaN;
}

/** Percentile (0..100) of a sorted typed array. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
