// Demo WebSocket echo backends for the quickstart: one per port given on the
// command line (default 9001 9002). Each reply says which backend answered.
import { WebSocketServer } from "ws";

const ports = process.argv.slice(2).map(Number);
for (const port of ports.length > 0 ? ports : [9001, 9002]) {
  const server = new WebSocketServer({ host: "127.0.0.1", port, perMessageDeflate: true });
  server.on("connection", (socket) => {
    socket.on("message", (data, isBinary) =>
      socket.send(isBinary ? data : `[echo:${port}] ${data}`, { binary: isBinary }),
    );
  });
  server.on("listening", () => console.log(`echo backend listening on ws://127.0.0.1:${port}`));
}
