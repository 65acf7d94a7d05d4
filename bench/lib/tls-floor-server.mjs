// A bare Node.js TLS server that answers a WebSocket upgrade with a fixed 101 and
// nothing else: no routing, no backend, no relay. bench/tls-floor.mjs runs it to show
// what Node's TLS stack alone costs per handshake, below anything wsgate adds.
// Usage: node bench/lib/tls-floor-server.mjs KIND PORT CERT KEY
//   KIND: tls (tls.Server, raw bytes) | https (https.Server) | h2 (http2 secure
//   server with allowHTTP1, as wsgate's default listener) | https-sni (https.Server
//   choosing its context in an SNICallback, as wsgate does)
import { readFileSync } from "node:fs";
import http2 from "node:http2";
import https from "node:https";
import tls from "node:tls";
import { acceptResponse } from "./ws.mjs";

const [kind, port, certPath, keyPath] = process.argv.slice(2);
const cert = readFileSync(certPath);
const key = readFileSync(keyPath);
const base = { minVersion: "TLSv1.2", cert, key };
const KEY_HEADER = "sec-websocket-key";

const answer = (req, socket) => socket.end(acceptResponse(req.headers[KEY_HEADER]));
let server;
if (kind === "tls") {
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
