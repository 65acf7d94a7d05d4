// Bare Node.js servers that do strictly less than any WebSocket proxy: bench/floor.mjs
// runs them to show what Node's sockets, HTTP parser and TLS stack alone cost per
// handshake, below anything wsgate adds. Most answer the upgrade with a fixed 101
// themselves (no routing, no backend, no relay); `node-proxy` passes the upgrade to the
// backend and pipes the two sockets, checking nothing.
// Usage: node bench/lib/floor-server.mjs KIND PORT CERT KEY BACKEND_PORT
//   W7 kinds: tls (tls.Server, raw bytes) | https (https.Server) | h2 (http2 secure
//   server with allowHTTP1, as wsgate's default listener) | https-sni (https.Server
//   choosing its context in an SNICallback, as wsgate does)
//   W5 kinds: net (net.Server, raw bytes) | http (http.Server) | node-proxy
import { readFileSync } from "node:fs";
import http from "node:http";
import http2 from "node:http2";
import https from "node:https";
import net from "node:net";
import tls from "node:tls";
import { HOST, acceptResponse } from "./ws.mjs";

const [kind, port, certPath, keyPath, backendPort] = process.argv.slice(2);
const tlsKind = ["tls", "https", "https-sni", "h2"].includes(kind);
const cert = tlsKind ? readFileSync(certPath) : undefined;
const key = tlsKind ? readFileSync(keyPath) : undefined;
const base = { minVersion: "TLSv1.2", cert, key };
const KEY_HEADER = "sec-websocket-key";

const answer = (req, socket) => socket.end(acceptResponse(req.headers[KEY_HEADER]));
/** The request head passed on as it came, and what the client sent after it. */
const passHead = (req, head, backend) => {
  let text = `${req.method} ${req.url} HTTP/1.1\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) text += `${raw[i]}: ${raw[i + 1]}\r\n`;
  backend.write(`${text}\r\n`, "latin1");
  if (head.length > 0) backend.write(head);
};
/** The least a proxy does: the request head passed on as it came, then both sockets piped. */
const passOn = (req, socket, head) => {
  const backend = net.connect(Number(backendPort), HOST);
  backend.setNoDelay(true);
  passHead(req, head, backend);
  const end = () => {
    socket.destroy();
    backend.destroy();
  };
  for (const s of [socket, backend]) s.on("error", end).on("close", end);
  backend.pipe(socket);
  socket.pipe(backend);
};
/** passOn without streams' pipe(): the backend read into one reused buffer, writes direct. */
const READ = Buffer.alloc(65536);
const passOnLean = (req, socket, head) => {
  const backend = net.connect({
    port: Number(backendPort),
    host: HOST,
    noDelay: true,
    onread: { buffer: READ, callback: (n, buf) => void socket.write(Buffer.from(buf.subarray(0, n))) },
  });
  passHead(req, head, backend);
  const end = () => {
    socket.destroy();
    backend.destroy();
  };
  socket.on("data", (chunk) => backend.write(chunk));
  for (const s of [socket, backend]) s.on("error", end).on("close", end).on("end", end);
};
let server;
if (kind === "node-proxy-lean") {
  server = http.createServer().on("upgrade", passOnLean);
} else if (kind === "net") {
  // The client sends one small request: answer its first chunk, as a proxy would after parsing it.
  const response = acceptResponse("dGhlIHNhbXBsZSBub25jZQ==");
  server = net.createServer((socket) => socket.once("data", () => socket.end(response)));
} else if (kind === "http") {
  server = http.createServer().on("upgrade", answer);
} else if (kind === "node-proxy") {
  server = http.createServer().on("upgrade", passOn);
} else if (kind === "tls") {
  // The client sends one small request: answer its first chunk, as a proxy would after parsing it.
  const response = acceptResponse("dGhlIHNhbXBsZSBub25jZQ==");
  server = tls.createServer(base, (socket) => socket.once("data", () => socket.end(response)));
} else if (kind === "https") {
  server = https.createServer({ ...base, ALPNProtocols: ["http/1.1"] }).on("upgrade", answer);
} else if (kind === "https-sni") {
  const context = tls.createSecureContext(base);
  server = https
    .createServer({
      minVersion: "TLSv1.2",
      ALPNProtocols: ["http/1.1"],
      SNICallback: (_name, callback) => callback(null, context),
    })
    .on("upgrade", answer);
} else if (kind === "h2") {
  server = http2
    .createSecureServer({ ...base, ALPNProtocols: ["h2", "http/1.1"], allowHTTP1: true })
    .on("upgrade", answer);
} else {
  process.stderr.write(`unknown kind ${kind}\n`);
  process.exit(2);
}
server.listen(Number(port), "127.0.0.1", () => process.stdout.write("ready\n"));
process.on("SIGTERM", () => process.exit(0));
