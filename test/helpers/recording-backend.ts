/**
 * A backend that records every request it receives, plain HTTP and WebSocket upgrades
 * alike, exactly as it arrived: the request line's target and the raw headers. What a
 * backend received is what the edge tests judge.
 */
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { WebSocketServer } from "ws";
import { startTestGateway, type TestGateway } from "./gateway.js";
import { serviceWithEndpoints, simpleRoute } from "./objects.js";

export interface Received {
  readonly kind: "http" | "upgrade";
  readonly method: string;
  /** The request target as sent on the request line. */
  readonly target: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
  /** The body of a plain request. */
  readonly body: string;
}

export interface RecordingBackend {
  readonly port: number;
  readonly received: Received[];
  /** TCP connections open on the backend right now. */
  openSockets(): number;
  close(): Promise<void>;
}

export async function startRecordingBackend(): Promise<RecordingBackend> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.setEncoding("latin1");
    req.on("data", (c: string) => (body += c));
    req.on("end", () => {
      const { method = "", url = "", headers, rawHeaders } = req;
      received.push({ kind: "http", method, target: url, headers, rawHeaders, body });
      res.writeHead(200, { "Content-Type": "text/plain" });
      res.end("served\n");
    });
  });
  const sockets = new Set<Socket>();
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  const wss = new WebSocketServer({ server });
  wss.on("connection", (ws, req) => {
    const { method = "", url = "", headers, rawHeaders } = req;
    received.push({ kind: "upgrade", method, target: url, headers, rawHeaders, body: "" });
    ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    received,
    openSockets: () => sockets.size,
    async close() {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A test gateway whose one route (`apps/echo`, path `/`) leads to one recording backend. */
export async function startGatewayToRecordingBackend(): Promise<{
  gw: TestGateway;
  backend: RecordingBackend;
  close(): Promise<void>;
}> {
  const backend = await startRecordingBackend();
  const gw = await startTestGateway();
  gw.apply([
    ...serviceWithEndpoints("apps", "echo", [{ port: backend.port }]),
    simpleRoute("apps", "echo", "echo"),
  ]);
  return {
    gw,
    backend,
    async close() {
      await gw.close();
      await backend.close();
    },
  };
}
