/**
 * TLS session resumption with `--workers 2` (real worker threads on real sockets; they run
 * the built dist/workers/worker-main.js: `npm run build` first). The kernel spreads
 * connections over the workers (`reusePort`), so a returning client's connection lands on
 * any of them: each must accept the tickets the others issued.
 */
import { rmSync } from "node:fs";
import net from "node:net";
import tls from "node:tls";
import { afterAll, beforeAll, expect, it } from "vitest";
import WebSocket from "ws";
import type { RunningGateway } from "../src/cli/serve.js";
import { startEchoBackend, type EchoBackend } from "./helpers/backends.js";
import { selfSigned } from "./helpers/certs.js";
import { scrape } from "./helpers/operator-scene.js";
import { startStandalone, tlsManifestDir } from "./helpers/standalone.js";

const HOST = "chat.example.com";
/** With 16 connections, all landing on one of 2 workers has odds of 1 in 32,768. */
const CONNECTIONS = 16;
let dir: string;
let running: RunningGateway;
let backend: EchoBackend;
const cert = selfSigned(HOST);
const clients: WebSocket[] = [];

beforeAll(async () => {
  backend = await startEchoBackend();
  dir = tlsManifestDir("workers-tls-sessions", HOST, cert, backend.port);
  running = await startStandalone(dir, ["--workers", "2"]);
  await running.workers!.waitForGeneration(1);
});

afterAll(async () => {
  for (const ws of clients) ws.terminate();
  await running.stop(0);
  await backend.close();
  rmSync(dir, { recursive: true, force: true });
});

function tlsOptions(session?: Buffer): tls.ConnectionOptions {
  return {
    host: "127.0.0.1",
    port: running.httpsAddress.port,
    servername: HOST,
    ca: cert.certPem,
    ...(session ? { session } : {}),
  };
}

/** The session ticket a worker issues after a full handshake (TLS 1.3 sends it afterwards). */
function ticket(): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(tlsOptions());
    socket.once("session", (session: Buffer) => {
      resolve(session);
      socket.destroy();
    });
    socket.once("error", reject);
    socket.resume();
  });
}

/** A WebSocket over TLS offering `session`; resolves once open, with whether TLS resumed. */
function resumingWebSocket(session: Buffer): Promise<boolean> {
  return new Promise((resolve, reject) => {
    let socket: tls.TLSSocket | undefined;
    const ws = new WebSocket(`wss://${HOST}:${running.httpsAddress.port}/`, {
      createConnection: () => (socket = tls.connect(tlsOptions(session))) as unknown as net.Socket,
    });
    clients.push(ws);
    ws.once("open", () => resolve(socket!.isSessionReused()));
    ws.once("error", reject);
  });
}

it("resumes a TLS session on whichever worker the connection lands, so that returning clients skip the certificate signature", async () => {
  const session = await ticket();
  const resumed: boolean[] = [];
  for (let i = 0; i < CONNECTIONS; i++) resumed.push(await resumingWebSocket(session));
  expect(resumed).toEqual(Array.from({ length: CONNECTIONS }, () => true));
  // The connections are open: each worker's count shows they landed on both workers.
  await expect
    .poll(
      async () => {
        const metrics = await scrape(`http://127.0.0.1:${running.adminAddress.port}`);
        return [0, 1].map((w) => metrics.sum("wsgate_worker_connections_active", { worker: String(w) }));
      },
      { timeout: 15_000 },
    )
    .toSatisfy(([a, b]: number[]) => a! > 0 && b! > 0 && a! + b! === CONNECTIONS);
});
