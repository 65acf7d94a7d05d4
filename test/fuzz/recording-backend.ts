/**
 * A backend that records every request the gateway delivers to it — plain HTTP and
 * WebSocket upgrades, with the request target and headers exactly as received — so
 * the fuzz can check what reached a backend, not only what the client was told.
 * WebSocket messages are echoed; protocol errors are the backend's own business.
 */
import http from "node:http";
import type net from "node:net";
import type { AddressInfo } from "node:net";
import { WebSocketServer, type WebSocket } from "ws";

/** One request as the backend saw it. */
export interface Delivery {
  /** Which backend received it (one backend per route of the fixture). */
  readonly backend: string;
  readonly kind: "http" | "upgrade";
  readonly method: string;
  /** `req.url`: the request target as the gateway sent it. */
  readonly target: string;
  readonly rawHeaders: readonly string[];
  readonly headers: http.IncomingHttpHeaders;
}

export interface RecordingBackend {
  readonly name: string;
  readonly port: number;
  /** Everything delivered since the last `take()`. */
  take(): Delivery[];
  /** Bytes the backend's own HTTP parser could not read (the gateway sent something malformed). */
  takeUnparsed(): string[];
  /** WebSocket connections currently open on this backend (the relays' backend legs). */
  openWebSockets(): number;
  close(): Promise<void>;
}

/** A request whose target contains this is answered SLOW_MS late: a slow backend, for clients that leave meanwhile. */
export const SLOW_MARKER = "slow";
const SLOW_MS = 150;

function later(req: http.IncomingMessage, answer: () => void): void {
  if (req.url?.includes(SLOW_MARKER)) setTimeout(answer, SLOW_MS);
  else answer();
}

/** Starts a recording echo backend on 127.0.0.1, port 0. */
export async function startRecordingBackend(name: string): Promise<RecordingBackend> {
  let deliveries: Delivery[] = [];
  let unparsed: string[] = [];
  const sockets = new Set<net.Socket>();
  const clients = new Set<WebSocket>();
  const record = (kind: Delivery["kind"], req: http.IncomingMessage): void => {
    deliveries.push({
      backend: name,
      kind,
      method: req.method ?? "",
      target: req.url ?? "",
      rawHeaders: [...req.rawHeaders],
      headers: { ...req.headers },
    });
  };

  const server = http.createServer((req, res) => {
    record("http", req);
    // Read the body whole before answering, as an application would.
    req.resume();
    req.on("error", () => res.destroy());
    req.on("end", () =>
      later(req, () => {
        res.writeHead(200, { "Content-Type": "text/plain" });
        res.end(`${name}\n`);
      }),
    );
  });
  // Accepts permessage-deflate when offered, so the gateway's handling of it is exercised.
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024, perMessageDeflate: true });
  server.on("upgrade", (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    record("upgrade", req);
    socket.on("error", () => socket.destroy());
    later(req, () =>
      wss.handleUpgrade(req, socket, head, (ws) => {
        clients.add(ws);
        ws.on("error", () => ws.terminate());
        ws.on("close", () => clients.delete(ws));
        ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
      }),
    );
  });
  server.on("clientError", (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: net.Socket) => {
    // ECONNRESET and friends are the gateway hanging up, not a malformed request.
    if (err.code?.startsWith("HPE_"))
      unparsed.push(`${err.code}: ${err.rawPacket?.toString("latin1") ?? ""}`);
    socket.destroy();
  });
  server.on("connection", (socket: net.Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));

  return {
    name,
    port: (server.address() as AddressInfo).port,
    take() {
      const taken = deliveries;
      deliveries = [];
      return taken;
    },
    takeUnparsed() {
      const taken = unparsed;
      unparsed = [];
      return taken;
    },
    openWebSockets: () => clients.size,
    async close() {
      for (const ws of clients) ws.terminate();
      wss.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
