/**
 * The backend a browser reaches through wsgate: plain GETs get the test page (so the page
 * itself is served through the gateway, as an app's pages are), upgrades get a `ws` echo
 * server that picks `chat.v1` when offered (and permessage-deflate on paths ending in
 * `/deflate`) and records each handshake it saw. A second,
 * bare static server serves the same page from another origin.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import { SOCKET_PAGE } from "./page.js";

export interface AppBackend {
  readonly port: number;
  /** Upgrade requests that reached the backend, with their headers. */
  readonly upgrades: http.IncomingMessage[];
  readonly sockets: Set<WebSocket>;
  close(): Promise<void>;
}

function servePage(res: http.ServerResponse): void {
  res.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" });
  res.end(SOCKET_PAGE);
}

async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

export async function startAppBackend(): Promise<AppBackend> {
  const server = http.createServer((_req, res) => servePage(res));
  const handleProtocols = (offered: Set<string>): string | false =>
    offered.has("chat.v1") ? "chat.v1" : false;
  // Paths ending in /deflate negotiate permessage-deflate; the others none (ws's default).
  const plain = new WebSocketServer({ noServer: true, handleProtocols });
  const deflate = new WebSocketServer({ noServer: true, handleProtocols, perMessageDeflate: true });
  server.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const wss = new URL(req.url ?? "/", "http://app").pathname.endsWith("/deflate") ? deflate : plain;
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req));
  });
  const upgrades: http.IncomingMessage[] = [];
  const sockets = new Set<WebSocket>();
  const onConnection = (socket: WebSocket, req: http.IncomingMessage): void => {
    upgrades.push(req);
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("message", (data, isBinary) =>
      socket.send(isBinary ? data : `echo: ${String(data)}`, { binary: isBinary }),
    );
  };
  plain.on("connection", onConnection);
  deflate.on("connection", onConnection);
  const port = await listen(server);
  return {
    port,
    upgrades,
    sockets,
    async close() {
      for (const s of sockets) s.terminate();
      plain.close();
      deflate.close();
      await closeServer(server);
    },
  };
}

/** A static server for the page alone: another origin than the gateway's. */
export async function startForeignOrigin(): Promise<{ origin: string; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => servePage(res));
  const port = await listen(server);
  return { origin: `http://127.0.0.1:${port}`, close: () => closeServer(server) };
}
