/**
 * A real Socket.IO v4 client and server through wsgate: each session starts with HTTP
 * long-polling and then upgrades to a WebSocket, and every request of it must reach the
 * backend that holds the session (Socket.IO answers 400 "Session ID unknown" elsewhere).
 * Three backends without affinity break sessions (the control: the test can fail);
 * `sessionAffinity: { type: Cookie }` carries 20 of 20 through the upgrade.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Server } from "socket.io";
import { io } from "socket.io-client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "./helpers/gateway.js";
import { serviceWithEndpoints, simpleRoute } from "./helpers/objects.js";

interface SocketIoBackend {
  readonly port: number;
  close(): Promise<void>;
}

/** A Socket.IO server that answers `whoami` with its own port. */
async function startSocketIoBackend(): Promise<SocketIoBackend> {
  const server = http.createServer();
  const ioServer = new Server(server, { transports: ["polling", "websocket"] });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  ioServer.on("connection", (socket) => {
    socket.on("whoami", (ack: (port: number) => void) => ack(port));
  });
  return {
    port,
    async close() {
      await ioServer.close();
      server.closeAllConnections();
    },
  };
}

/** How one session went: true once it upgraded to a WebSocket and answered over it. */
function session(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = io(url, {
      transports: ["polling", "websocket"],
      withCredentials: true, // the Node client keeps cookies only then
      forceNew: true,
      reconnection: false,
      timeout: 10_000,
    });
    let settled = false;
    const settle = (ok: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      socket.disconnect();
      resolve(ok);
    };
    // Failed sessions may go quiet instead of erroring (an upgrade probe refused, polling on).
    const deadline = setTimeout(() => settle(false), 15_000);
    socket.on("connect_error", () => settle(false));
    socket.on("disconnect", () => settle(false));
    socket.on("connect", () => {
      const engine = socket.io.engine;
      const answer = (): void => {
        socket.timeout(10_000).emit("whoami", (err: Error | null) => settle(err === null));
      };
      if (engine.transport.name === "websocket") answer();
      else engine.once("upgrade", answer);
    });
  });
}

async function sessions(url: string, count: number): Promise<number> {
  const outcomes = await Promise.all(Array.from({ length: count }, () => session(url)));
  return outcomes.filter(Boolean).length;
}

let backends: SocketIoBackend[] = [];
let gw: TestGateway;

function apply(extra: Record<string, unknown>): void {
  gw.apply([
    ...serviceWithEndpoints(
      "apps",
      "chat",
      backends.map((b) => ({ port: b.port })),
    ),
    simpleRoute("apps", "chat", "chat", extra),
  ]);
}

describe("Socket.IO v4 through wsgate, three backends", () => {
  beforeEach(async () => {
    backends = await Promise.all([startSocketIoBackend(), startSocketIoBackend(), startSocketIoBackend()]);
    gw = await startTestGateway();
  });
  afterEach(async () => {
    await gw.close();
    await Promise.all(backends.map((b) => b.close()));
  });

  it("breaks sessions without affinity (the control)", async () => {
    apply({});
    const ok = await sessions(`http://127.0.0.1:${gw.port}`, 20);
    console.log(`Socket.IO without affinity: ${ok} of 20 sessions upgraded and answered`);
    expect(ok).toBeLessThan(20);
  });

  it("carries 20 of 20 sessions through polling and the upgrade with Cookie affinity", async () => {
    apply({ sessionAffinity: { type: "Cookie" } });
    const ok = await sessions(`http://127.0.0.1:${gw.port}`, 20);
    console.log(`Socket.IO with sessionAffinity Cookie: ${ok} of 20 sessions upgraded and answered`);
    expect(ok).toBe(20);
  });
});
