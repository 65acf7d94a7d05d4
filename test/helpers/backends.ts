/**
 * Real WebSocket backends on 127.0.0.1, port 0, for data-plane tests.
 */
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { WebSocketServer, type ServerOptions, type WebSocket } from "ws";

export interface EchoBackend {
  readonly port: number;
  readonly server: WebSocketServer;
  /** Sockets currently open on this backend. */
  readonly sockets: Set<WebSocket>;
  /** Upgrade requests seen, with their headers. */
  readonly requests: http.IncomingMessage[];
  close(): Promise<void>;
}

/** An echo server: text and binary messages come back as they were sent. */
export async function startEchoBackend(
  options: Omit<ServerOptions, "port" | "server"> = {},
): Promise<EchoBackend> {
  const httpServer = http.createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(
      JSON.stringify({
        path: req.url,
        headers: req.headers,
        port: (httpServer.address() as AddressInfo).port,
      }),
    );
  });
  const server = new WebSocketServer({ server: httpServer, maxPayload: 64 * 1024 * 1024, ...options });
  const sockets = new Set<WebSocket>();
  const requests: http.IncomingMessage[] = [];
  server.on("connection", (socket, req) => {
    sockets.add(socket);
    requests.push(req);
    socket.on("close", () => sockets.delete(socket));
    socket.on("message", (data, isBinary) => socket.send(data, { binary: isBinary }));
  });
  await new Promise<void>((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
  return {
    port: (httpServer.address() as AddressInfo).port,
    server,
    sockets,
    requests,
    async close() {
      for (const s of sockets) s.terminate();
      server.close();
      httpServer.closeAllConnections();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
    },
  };
}

/** A port on 127.0.0.1 where nothing listens: connects to it are refused. */
export async function refusedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A TCP server that accepts connections and never answers: a hung backend. */
export async function startSilentBackend(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on("error", () => {});
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
