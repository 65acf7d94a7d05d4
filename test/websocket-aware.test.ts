/**
 * What makes wsgate WebSocket-aware, with real sockets: frame accounting, protocol
 * garbage, message limits, idle/lifetime/keepalive, injected frames at frame
 * boundaries, and draining spread over a window.
 */
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { channels, type ConnectionClosed } from "../src/dataplane/events.js";
import { startEchoBackend, type EchoBackend } from "./helpers/backends.js";
import { connect, gatewayClosed, roundTrip, startTestGateway, type TestGateway } from "./helpers/gateway.js";
import { serviceWithEndpoints, simpleRoute } from "./helpers/objects.js";

let gw: TestGateway | undefined;
let backends: EchoBackend[] = [];
let clients: WebSocket[] = [];

afterEach(async () => {
  for (const c of clients) c.terminate();
  clients = [];
  await gw?.close();
  gw = undefined;
  await Promise.all(backends.map((b) => b.close()));
  backends = [];
});

/** A gateway with one route to `n` echo backends, with `extra` route settings. */
async function setup(
  extra: Record<string, unknown> = {},
  n = 1,
): Promise<{ gw: TestGateway; backends: EchoBackend[] }> {
  gw = await startTestGateway();
  backends = await Promise.all(Array.from({ length: n }, () => startEchoBackend()));
  gw.apply([
    ...serviceWithEndpoints(
      "apps",
      "echo",
      backends.map((b) => ({ port: b.port })),
    ),
    simpleRoute("apps", "echo", "echo", extra),
  ]);
  return { gw, backends };
}

async function open(url: string, options: WebSocket.ClientOptions = {}): Promise<WebSocket> {
  const ws = await connect(url, undefined, options);
  clients.push(ws);
  return ws;
}

function closeOf(ws: WebSocket): Promise<{ code: number; reason: string; at: number }> {
  return new Promise((resolve) =>
    ws.once("close", (code, reason) => resolve({ code, reason: reason.toString(), at: Date.now() })),
  );
}

function nextClosedEvent(): Promise<ConnectionClosed> {
  return new Promise((resolve) => {
    const handler = (m: unknown): void => {
      channels.connectionClosed.unsubscribe(handler);
      resolve(m as ConnectionClosed);
    };
    channels.connectionClosed.subscribe(handler);
  });
}

function backendSocket(b: EchoBackend): WebSocket {
  return [...b.sockets][0] as WebSocket;
}

/** The raw TCP socket under a `ws` WebSocket, to write bytes no well-behaved peer would. */
function rawSocket(ws: WebSocket): import("node:net").Socket {
  return (ws as unknown as { _socket: import("node:net").Socket })._socket;
}

describe("frame accounting", () => {
  it("counts messages each way and reports the first close code and who sent it", async () => {
    const { gw, backends } = await setup();
    const ws = await open(gw.url());
    for (const m of ["a", "b", "c"]) await roundTrip(ws, m);
    const closed = nextClosedEvent();
    backendSocket(backends[0]!).close(4002, "done");
    const event = await closed;
    expect(event).toMatchObject({
      messagesFromClient: 3,
      messagesToClient: 3,
      code: 4002,
      initiator: "backend",
    });
  });

  it("reports 1006 when a connection ends without a Close frame", async () => {
    const { gw } = await setup();
    const ws = await open(gw.url());
    const closed = nextClosedEvent();
    ws.terminate();
    expect(await closed).toMatchObject({ code: 1006, initiator: "client" });
  });
});

describe("protocol garbage", () => {
  it("closes both sides with 1002 when the client sends an unmasked frame", async () => {
    const { gw, backends } = await setup();
    const ws = await open(gw.url());
    const peer = backendSocket(backends[0]!);
    const backendClose = closeOf(peer);
    const clientClose = closeOf(ws);
    rawSocket(ws).write(Buffer.from([0x81, 0x02, 0x68, 0x69])); // unmasked "hi"
    expect((await backendClose).code).toBe(1002);
    expect((await clientClose).code).toBe(1002);
  });

  it("closes both sides with 1002 when the backend sends a reserved opcode", async () => {
    const { gw, backends } = await setup();
    const ws = await open(gw.url());
    const clientClose = closeOf(ws);
    const backendClose = closeOf(backendSocket(backends[0]!));
    rawSocket(backendSocket(backends[0]!)).write(Buffer.from([0x83, 0x00]));
    expect((await clientClose).code).toBe(1002);
    expect((await backendClose).code).toBe(1002);
  });
});

describe("maxMessageBytes", () => {
  it("closes both sides with 1009 when the client sends an oversized message, which never reaches the backend", async () => {
    const { gw, backends } = await setup({ limits: { maxMessageBytes: 1000 } });
    const ws = await open(gw.url());
    await roundTrip(ws, "x".repeat(1000));
    const peer = backendSocket(backends[0]!);
    const received: number[] = [];
    peer.on("message", (d: Buffer) => received.push(d.length));
    const backendClose = closeOf(peer);
    const clientClose = closeOf(ws);
    ws.send("y".repeat(1001));
    expect((await clientClose).code).toBe(1009);
    expect((await backendClose).code).toBe(1009);
    expect(received).toEqual([]);
  });

  it("closes with 1009 when the backend sends an oversized message", async () => {
    const { gw, backends } = await setup({ limits: { maxMessageBytes: 1000 } });
    const ws = await open(gw.url());
    const messages: number[] = [];
    ws.on("message", (d: Buffer) => messages.push(d.length));
    const clientClose = closeOf(ws);
    backendSocket(backends[0]!).send(Buffer.alloc(5000));
    expect((await clientClose).code).toBe(1009);
    expect(messages).toEqual([]);
  });

  it("counts a fragmented message as the sum of its fragments", async () => {
    const { gw } = await setup({ limits: { maxMessageBytes: 1000 } });
    const ws = await open(gw.url());
    const clientClose = closeOf(ws);
    ws.send(Buffer.alloc(600), { fin: false });
    ws.send(Buffer.alloc(600), { fin: true });
    expect((await clientClose).code).toBe(1009);
  });
});

describe("timeouts and keepalive", () => {
  it("closes an idle connection with 1001", async () => {
    const { gw, backends } = await setup({ timeouts: { idle: "200ms" } });
    // The idle clock starts when the proxy establishes the connection, before the client
    // sees the 101: a later start would measure less than the timeout under load.
    const started = Date.now();
    const ws = await open(gw.url());
    const backendClose = closeOf(backendSocket(backends[0]!));
    const close = await closeOf(ws);
    expect(close.code).toBe(1001);
    expect(close.at - started).toBeGreaterThanOrEqual(190);
    expect((await backendClose).code).toBe(1001);
  });

  it("closes at the maximum lifetime, with ±10% jitter, even when busy", async () => {
    const { gw } = await setup({ timeouts: { maxLifetime: "300ms", idle: "0s" } });
    // The lifetime starts when the proxy establishes the connection, before the client sees it open.
    const started = Date.now();
    const ws = await open(gw.url());
    const chatter = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send("busy"), 20);
    try {
      const close = await closeOf(ws);
      expect(close.code).toBe(1001);
      expect(close.at - started).toBeGreaterThanOrEqual(270);
    } finally {
      clearInterval(chatter);
    }
  });

  it("pings a quiet client and does not pass its pongs to the backend", async () => {
    const { gw, backends } = await setup({ keepalive: { interval: "100ms", timeout: "100ms" } });
    const ws = await open(gw.url());
    const peer = backendSocket(backends[0]!);
    const backendPongs: Buffer[] = [];
    peer.on("pong", (d) => backendPongs.push(d));
    let pings = 0;
    await new Promise<void>((resolve) => ws.on("ping", () => ++pings === 3 && resolve()));
    // The connection survived three keepalive rounds, answered by the client's automatic pongs.
    expect(ws.readyState).toBe(WebSocket.OPEN);
    expect((await roundTrip(ws, "alive")).data.toString()).toBe("alive");
    expect(backendPongs).toEqual([]);
  });

  it("closes a client that does not answer keepalive pings with 1001", async () => {
    const { gw } = await setup({ keepalive: { interval: "100ms", timeout: "100ms" } });
    const ws = await open(gw.url(), { autoPong: false });
    expect((await closeOf(ws)).code).toBe(1001);
  });
});

describe("draining", () => {
  it("closes the connections of a removed endpoint with the drain code, after a whole in-flight message", async () => {
    const { gw, backends } = await setup({ drain: { window: "0s", closeCode: 1012 } }, 2);
    const [gone, stays] = backends as [EchoBackend, EchoBackend];
    const ws = await open(gw.url());
    const onGone = gone.sockets.size === 1;
    const [leaving, remaining] = onGone ? [gone, stays] : [stays, gone];
    const big = Buffer.alloc(8 * 1024 * 1024, 7);
    const received = new Promise<number>((resolve) => ws.once("message", (d: Buffer) => resolve(d.length)));
    const close = closeOf(ws);
    backendSocket(leaving).send(big);
    // Wait until the proxy is relaying the frame (a signal, polled per event-loop turn)…
    const live = [...gw.gateway.connections][0]!;
    while (live.relay.stats.bytesToClient === 0) await new Promise((resolve) => setImmediate(resolve));
    // …then the endpoint leaves while the 8 MiB frame is on its way: the Close waits for the frame's end.
    gw.apply([
      ...serviceWithEndpoints("apps", "echo", [{ port: remaining.port }]),
      simpleRoute("apps", "echo", "echo", { drain: { window: "0s", closeCode: 1012 } }),
    ]);
    expect(await received).toBe(big.length);
    expect((await close).code).toBe(1012);
  });

  it("spreads the closes of 100 connections over the drain window instead of a burst", async () => {
    const { gw, backends } = await setup({ drain: { window: "2s", closeCode: 1012 } }, 1);
    const extra = await startEchoBackend();
    backends.push(extra);
    const opened: WebSocket[] = [];
    for (let i = 0; i < 100; i++) opened.push(await open(gw.url()));
    const closes = opened.map((ws) => closeOf(ws));
    const started = Date.now();
    // The only endpoint is replaced by another: its 100 connections drain.
    gw.apply([
      ...serviceWithEndpoints("apps", "echo", [{ port: extra.port }]),
      simpleRoute("apps", "echo", "echo", { drain: { window: "2s", closeCode: 1012 } }),
    ]);
    const results = await Promise.all(closes);
    expect(results.every((r) => r.code === 1012)).toBe(true);
    const buckets = [0, 0, 0, 0];
    for (const r of results) buckets[Math.min(3, Math.floor((r.at - started) / 500))]!++;
    // Even spacing puts ~25 in each 500 ms bucket; a burst would put them all in one.
    for (const b of buckets) {
      expect(b).toBeGreaterThanOrEqual(10);
      expect(b).toBeLessThanOrEqual(40);
    }
    console.log(`drain spread of 100 connections over 2s, closes per 500 ms bucket: ${buckets.join(", ")}`);
  });

  it("drains a terminating endpoint but keeps an unready one's connections", async () => {
    const { gw, backends } = await setup({ drain: { window: "0s", closeCode: 4000 } }, 1);
    const ws = await open(gw.url());
    const port = backends[0]!.port;
    const route = simpleRoute("apps", "echo", "echo", { drain: { window: "0s", closeCode: 4000 } });
    gw.apply([...serviceWithEndpoints("apps", "echo", [{ port, ready: false }]), route]);
    expect((await roundTrip(ws, "unready but kept")).data.toString()).toBe("unready but kept");
    const close = closeOf(ws);
    gw.apply([...serviceWithEndpoints("apps", "echo", [{ port, ready: false, terminating: true }]), route]);
    expect((await close).code).toBe(4000);
  });

  it("leaves connections alone when their route is removed", async () => {
    const { gw } = await setup({ drain: { window: "0s" } });
    const ws = await open(gw.url());
    gw.apply(serviceWithEndpoints("apps", "echo", [{ port: backends[0]!.port }]));
    gw.gateway.reconcile(gw.holder.current);
    expect((await roundTrip(ws, "route gone, socket kept")).data.toString()).toBe("route gone, socket kept");
    expect([...gw.gateway.connections].every((c) => c.drainAt === undefined)).toBe(true);
  });

  it("drains everything with 1001 on shutdown, spread over the window", async () => {
    const { gw } = await setup();
    const opened: WebSocket[] = [];
    for (let i = 0; i < 20; i++) opened.push(await open(gw.url()));
    const closes = opened.map((ws) => closeOf(ws));
    const started = Date.now();
    const allClosed = gatewayClosed(20);
    await gw.gateway.drainAll(400);
    await allClosed;
    const results = await Promise.all(closes);
    expect(results.every((r) => r.code === 1001)).toBe(true);
    const spreadMs = Math.max(...results.map((r) => r.at)) - Math.min(...results.map((r) => r.at));
    expect(spreadMs).toBeGreaterThanOrEqual(250);
    expect(Date.now() - started).toBeLessThan(400 + 2_000);
  });
});
