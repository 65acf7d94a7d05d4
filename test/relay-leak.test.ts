/**
 * Connections that leaked after a rollout: every way a leg can end — FIN, RST, a
 * peer gone during the backend handshake, a peer that never closes, a peer that
 * stops reading — ends both legs and releases everything the connection held
 * (registry entry, endpoint count, route and client limits). Real sockets only.
 */
import type net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { channels, type ConnectionClosed } from "../src/dataplane/events.js";
import { STALL_TIMEOUT_MS } from "../src/dataplane/relay-setup.js";
import { sweepConnection } from "../src/dataplane/sweeper.js";
import { startTestGateway, type TestGateway } from "./helpers/gateway.js";
import { serviceWithEndpoints, simpleRoute } from "./helpers/objects.js";
import {
  clientFrame,
  eventually,
  rawUpgrade,
  serverFrame,
  startRawBackend,
  type RawBackend,
  type RawBackendOptions,
} from "./helpers/raw-peers.js";

const CLOSE_TIMEOUT_MS = 300;
let gw: TestGateway | undefined;
let backend: RawBackend | undefined;
const clients: net.Socket[] = [];
const closedEvents: ConnectionClosed[] = [];
const onClosed = (m: unknown): void => void closedEvents.push(m as ConnectionClosed);

afterEach(async () => {
  channels.connectionClosed.unsubscribe(onClosed);
  closedEvents.length = 0;
  for (const c of clients.splice(0)) c.destroy();
  await backend?.close();
  await gw?.close();
  gw = backend = undefined;
});

/** A gateway with a limited route to one raw backend. */
async function setup(options: RawBackendOptions): Promise<{ gw: TestGateway; backend: RawBackend }> {
  backend = await startRawBackend(options);
  gw = await startTestGateway({ closeTimeoutMs: CLOSE_TIMEOUT_MS });
  gw.apply([
    ...serviceWithEndpoints("apps", "echo", [{ port: backend.port }]),
    simpleRoute("apps", "echo", "echo", { limits: { maxConnections: 100, maxConnectionsPerClient: 10 } }),
  ]);
  channels.connectionClosed.subscribe(onClosed);
  return { gw, backend };
}

function client(port: number, options: Parameters<typeof rawUpgrade>[1] = {}): net.Socket {
  const socket = rawUpgrade(port, options);
  clients.push(socket);
  return socket;
}

/** Everything the connection held: what a leak keeps above zero. */
function held(gw: TestGateway): { live: number; endpoints: number; route: number; client: number } {
  const g = gw.gateway;
  return {
    live: g.connections.size,
    endpoints: g.states.view().reduce((sum, e) => sum + e.active, 0),
    route: g.limits.connections("apps/echo"),
    client: g.limits.clientConnections("apps/echo", "127.0.0.1"),
  };
}

/**
 * Waits until the relay finished (it does only once both of its sockets closed), then
 * checks that everything is released, that one close was logged, and that the backend
 * saw its leg end (FIN; read once the backend reads again).
 */
async function expectReleased(gw: TestGateway, backend: RawBackend, established = true): Promise<void> {
  const zero = { live: 0, endpoints: 0, route: 0, client: 0 };
  await eventually(() => JSON.stringify(held(gw)) === JSON.stringify(zero), "every count back to zero");
  expect(closedEvents).toHaveLength(established ? 1 : 0);
  const leg = backend.sockets[0] as net.Socket;
  leg.resume();
  await eventually(() => leg.readableEnded || leg.destroyed, "the backend to see its leg end");
}

describe("a client that leaves during the backend handshake", () => {
  it("ends the backend leg and releases every count when the client closed before the 101, so abandoned handshakes do not pin upstream sockets", async () => {
    const { gw, backend } = await setup({ answerAfterMs: 150, onFin: "ignore" });
    const c = client(gw.port);
    await eventually(() => backend.requests.length === 1, "the upstream handshake");
    c.destroy(); // FIN while the gateway waits for the backend's 101
    await expectReleased(gw, backend);
  });

  it("ends the backend leg when the client half-closed before the 101 and the backend never closes, within the close timeout", async () => {
    const { gw, backend } = await setup({ answerAfterMs: 150, onFin: "ignore" });
    const c = client(gw.port, { allowHalfOpen: true });
    await eventually(() => backend.requests.length === 1, "the upstream handshake");
    c.end();
    const started = Date.now();
    await expectReleased(gw, backend);
    expect(Date.now() - started).toBeLessThan(150 + CLOSE_TIMEOUT_MS + 1_000);
  });

  it("relays the bytes a client sent with its request and then ends both legs when it half-closed before the 101", async () => {
    const { gw, backend } = await setup({ answerAfterMs: 100, onFin: "ignore" });
    const c = client(gw.port);
    const frame = clientFrame(0x81, Buffer.from("early"));
    c.end(frame); // a frame right behind the request, then FIN, all before the 101
    await eventually(() => backend.sockets.length === 1, "the upstream handshake");
    const received: Buffer[] = [];
    backend.sockets[0]!.on("data", (d: Buffer) => received.push(d));
    await expectReleased(gw, backend);
    expect(Buffer.concat(received).includes(frame)).toBe(true);
  });

  it("releases everything when the client resets the connection before the 101", async () => {
    const { gw, backend } = await setup({ answerAfterMs: 150, onFin: "ignore" });
    const c = client(gw.port);
    await eventually(() => backend.requests.length === 1, "the upstream handshake");
    c.resetAndDestroy();
    // The reset is seen during the handshake: the connection is never established.
    await expectReleased(gw, backend, false);
  });
});

describe("half-close", () => {
  it("destroys both legs a close timeout after the client's FIN when the backend never answers it, so a silent backend cannot hold the connection", async () => {
    const { gw, backend } = await setup({ onFin: "ignore" });
    const c = client(gw.port);
    await eventually(() => held(gw).live === 1, "the connection to be established");
    c.end();
    await expectReleased(gw, backend);
    expect(closedEvents[0]).toMatchObject({ code: 1006, initiator: "client" });
  });

  it("destroys both legs a close timeout after the backend's FIN when the client never closes its side", async () => {
    const { gw, backend } = await setup({});
    const c = client(gw.port, { allowHalfOpen: true });
    c.resume();
    await eventually(() => held(gw).live === 1, "the connection to be established");
    backend.sockets[0]?.end();
    await expectReleased(gw, backend);
    await eventually(() => c.readableEnded, "the client to get the backend's FIN");
    expect(closedEvents[0]).toMatchObject({ initiator: "backend" });
  });

  it("still passes on what is in flight after a FIN: the client's last message reaches the backend", async () => {
    const { gw, backend } = await setup({ onFin: "ignore" });
    const c = client(gw.port);
    await eventually(() => held(gw).live === 1, "the connection to be established");
    const received: Buffer[] = [];
    backend.sockets[0]?.on("data", (d: Buffer) => received.push(d));
    c.end(clientFrame(0x81, Buffer.from("last words")));
    await expectReleased(gw, backend);
    expect(Buffer.concat(received).length).toBe(2 + 4 + "last words".length);
  });
});

describe("a leg paused by backpressure", () => {
  it("closes a connection whose backend stopped reading once it stalled for the stall timeout, so a client that left meanwhile is not held forever", async () => {
    const { gw, backend } = await setup({ stopReading: true });
    const c = client(gw.port);
    await eventually(() => held(gw).live === 1, "the connection to be established");
    const relay = [...gw.gateway.connections][0]!.relay;
    const chunk = clientFrame(0x82, Buffer.alloc(64 * 1024));
    while (relay.stalledSince === undefined) {
      c.write(chunk);
      await new Promise((resolve) => setImmediate(resolve));
    }
    c.destroy(); // gone while the relay does not read it: nothing reports it
    await new Promise((resolve) => setTimeout(resolve, 2 * CLOSE_TIMEOUT_MS));
    expect(held(gw).live).toBe(1);
    for (const connection of gw.gateway.connections) {
      sweepConnection(connection, relay.stalledSince + STALL_TIMEOUT_MS);
    }
    await expectReleased(gw, backend);
  });

  it("does not close a stalled connection before the stall timeout", async () => {
    const { gw } = await setup({});
    const c = client(gw.port);
    c.pause(); // the client stops reading; the backend keeps sending
    await eventually(() => held(gw).live === 1, "the connection to be established");
    const relay = [...gw.gateway.connections][0]!.relay;
    const frame = serverFrame(0x82, Buffer.alloc(64 * 1024));
    while (relay.stalledSince === undefined) {
      backend!.sockets[0]!.write(frame);
      await new Promise((resolve) => setImmediate(resolve));
    }
    for (const connection of gw.gateway.connections) {
      sweepConnection(connection, relay.stalledSince + STALL_TIMEOUT_MS - 1);
    }
    expect(relay.closing).toBe(false);
  });

  it("releases everything when a client that is not reading resets the connection", async () => {
    const { gw, backend } = await setup({});
    const c = client(gw.port);
    c.pause();
    await eventually(() => held(gw).live === 1, "the connection to be established");
    const relay = [...gw.gateway.connections][0]!.relay;
    const frame = serverFrame(0x82, Buffer.alloc(64 * 1024));
    while (relay.stalledSince === undefined) {
      backend.sockets[0]!.write(frame);
      await new Promise((resolve) => setImmediate(resolve));
    }
    c.resetAndDestroy();
    await expectReleased(gw, backend);
  });
});
