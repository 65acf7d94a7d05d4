// Connects through wsgate, sends a message and prints the echo.
// Usage: node examples/quickstart/client.mjs [ws://127.0.0.1:8080/echo] [message]
import WebSocket from "ws";

const url = process.argv[2] ?? "ws://127.0.0.1:8080/echo";
const message = process.argv[3] ?? "hello through wsgate";
const socket = new WebSocket(url);
socket.on("open", () => socket.send(message));
socket.on("message", (data) => {
  console.log(String(data));
  socket.close(1000);
});
socket.on("unexpected-response", (_req, res) => {
  console.error(`handshake refused: HTTP ${res.statusCode}`);
  process.exitCode = 1;
});
socket.on("error", (err) => {
  console.error(`error: ${err.message}`);
  process.exitCode = 1;
});
