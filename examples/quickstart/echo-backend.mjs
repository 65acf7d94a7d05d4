// Demo WebSocket echo backends for the quickstart: one per port given on the
// command line (default 9001 9002; 0 picks a free port). Each reply says which
// backend answered. Plain GETs get the quickstart page (page.html), so a browser
// opening http://127.0.0.1:8080/echo/ through wsgate gets it from a backend too.
import { readFileSync } from "node:fs";
import http from "node:http";
import { WebSocketServer } from "ws";

const page = readFileSync(new URL("./page.html", import.meta.url));
const ports = process.argv.slice(2).map(Number);
for (const requested of ports.length > 0 ? ports : [9001, 9002]) {
  const server = http.createServer((req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { Allow: "GET, HEAD" }).end();
      return;
    }
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" });
    res.end(req.method === "HEAD" ? undefined : page);
  });
  const wss = new WebSocketServer({ server, perMessageDeflate: true });
  server.listen(requested, "127.0.0.1", () => {
    const { port } = server.address();
    wss.on("connection", (socket) => {
      socket.on("message", (data, isBinary) =>
        socket.send(isBinary ? data : `[echo:${port}] ${data}`, { binary: isBinary }),
      );
    });
    console.log(`echo backend listening on ws://127.0.0.1:${port}`);
  });
}
