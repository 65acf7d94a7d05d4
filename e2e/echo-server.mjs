// The e2e demo backend: a WebSocket echo server that says which Pod it is.
// It runs from the wsgate image (whose /app/node_modules has `ws`), mounted from a
// ConfigMap at /app/e2e-echo/, so the e2e needs no second image and no registry.
//
//   "whoami" → the Pod's name;
//   "whence" → JSON { pod, node, peer }: its node (NODE_NAME) and the address the
//   gateway's connection came from (a gateway Pod's IP on the same node, its node's
//   IP across nodes, where the CNI masquerades), for placement checks;
//   anything else → echoed back unchanged.
//   GET /healthz → 200 (readiness).
//   SIGTERM → stop accepting, keep serving open sockets until they close (the
//   gateway drains them over the route's drain window), then exit.
import http from "node:http";
import { WebSocketServer } from "ws";

const pod = process.env.POD_NAME ?? "unknown";
const node = process.env.NODE_NAME ?? "unknown";
const port = Number(process.env.PORT ?? 8080);
const graceMs = Number(process.env.SHUTDOWN_GRACE_MS ?? 55_000);

const server = http.createServer((req, res) => {
  res.writeHead(req.url === "/healthz" ? 200 : 404, { "Content-Type": "text/plain" });
  res.end(req.url === "/healthz" ? `ok ${pod}\n` : "not found\n");
});
const wss = new WebSocketServer({ server });
wss.on("connection", (socket, req) => {
  const peer = (req.socket.remoteAddress ?? "").replace(/^::ffff:/, "");
  socket.on("message", (data, isBinary) => {
    if (!isBinary && String(data) === "whoami") socket.send(pod);
    else if (!isBinary && String(data) === "whence") socket.send(JSON.stringify({ pod, node, peer }));
    else socket.send(data, { binary: isBinary });
  });
});

server.listen(port, () =>
  console.log(JSON.stringify({ event: "listening", pod, port: server.address().port })),
);

process.once("SIGTERM", () => {
  console.log(JSON.stringify({ event: "sigterm", pod, open: wss.clients.size }));
  server.close();
  const exit = () => {
    console.log(JSON.stringify({ event: "exit", pod, open: wss.clients.size }));
    process.exit(0);
  };
  const check = setInterval(() => {
    if (wss.clients.size === 0) exit();
  }, 100);
  setTimeout(() => {
    clearInterval(check);
    exit();
  }, graceMs).unref();
});
