/**
 * Message limits that mean what they say: `maxMessageBytes` bounds the uncompressed
 * message in both directions whether or not permessage-deflate was negotiated — by
 * keeping the extension off the connection (`permessageDeflate: Strip`, the default on
 * a limited route) or by inflating only to count (`Inflate`). A zip bomb costs the
 * proxy the limit, not the bomb. Real sockets, real `ws` peers and raw ones.
 */
import type net from "node:net";
import zlib from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startEchoBackend, type EchoBackend } from "./helpers/backends.js";
import { connect, startTestGateway, type TestGateway } from "./helpers/gateway.js";
import { serviceWithEndpoints, simpleRoute } from "./helpers/objects.js";
import {
  clientFrame,
  eventually,
  rawUpgrade,
  startRawBackend,
  type RawBackend,
} from "./helpers/raw-peers.js";

const LIMIT = 1024;
let gw: TestGateway | undefined;
let echo: EchoBackend | undefined;
let raw: RawBackend | undefined;
const sockets: (WebSocket | net.Socket)[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) {
    if (s instanceof WebSocket) s.terminate();
    else s.destroy();
  }
  await gw?.close();
  await echo?.close();
  await raw?.close();
  gw = echo = raw = undefined;
});

async function gateway(port: number, limits: Record<string, unknown>): Promise<TestGateway> {
  gw = await startTestGateway();
  gw.apply([
    ...serviceWithEndpoints("apps", "echo", [{ port }]),
    simpleRoute("apps", "echo", "echo", { limits }),
  ]);
  return gw;
}

/** A `ws` echo backend that compresses every message when the extension is agreed. */
async function deflatingEcho(): Promise<EchoBackend> {
  echo = await startEchoBackend({ perMessageDeflate: { threshold: 0 } });
  return echo;
}

async function deflatingClient(url: string): Promise<WebSocket> {
  const ws = await connect(url, undefined, { perMessageDeflate: { threshold: 0 } });
  sockets.push(ws);
  return ws;
}

function closeCode(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => ws.once("close", (code) => resolve(code)));
}

describe.each(["Strip", "Inflate"] as const)("permessageDeflate: %s", (mode) => {
  const limits = { maxMessageBytes: LIMIT, permessageDeflate: mode };

  it("refuses a 2,000-byte message from the client on a 1,024-byte limit with 1009, so compression cannot smuggle it past", async () => {
    const backend = await deflatingEcho();
    const gw = await gateway(backend.port, limits);
    const ws = await deflatingClient(gw.url());
    const received: unknown[] = [];
    await eventually(() => backend.sockets.size === 1, "the backend connection");
    [...backend.sockets][0]!.on("message", (m) => received.push(m));
    const closed = closeCode(ws);
    ws.send("a".repeat(2_000));
    expect(await closed).toBe(1009);
    expect(received).toEqual([]);
  });

  it("refuses a 2,000-byte message from the backend on a 1,024-byte limit with 1009", async () => {
    const backend = await deflatingEcho();
    const gw = await gateway(backend.port, limits);
    const ws = await deflatingClient(gw.url());
    const messages: unknown[] = [];
    ws.on("message", (m) => messages.push(m));
    await eventually(() => backend.sockets.size === 1, "the backend connection");
    const closed = closeCode(ws);
    [...backend.sockets][0]!.send("b".repeat(2_000));
    expect(await closed).toBe(1009);
    expect(messages).toEqual([]);
  });

  it("relays messages within the limit unchanged, many in a row (a shared compression context)", async () => {
    const backend = await deflatingEcho();
    const gw = await gateway(backend.port, limits);
    const ws = await deflatingClient(gw.url());
    for (let i = 0; i < 50; i++) {
      const text = `message ${i} `.repeat(60).slice(0, LIMIT);
      const echoed = new Promise<string>((resolve) => ws.once("message", (m) => resolve(String(m))));
      ws.send(text);
      expect(await echoed).toBe(text);
    }
  });
});

describe("the handshake", () => {
  it("removes permessage-deflate from the upstream offer on a limited route by default, so messages cross uncompressed and are counted exactly", async () => {
    const backend = await deflatingEcho();
    const gw = await gateway(backend.port, { maxMessageBytes: LIMIT });
    const ws = await deflatingClient(gw.url());
    expect(backend.requests[0]?.headers["sec-websocket-extensions"]).toBeUndefined();
    expect(ws.extensions).toBe("");
  });

  it("keeps permessage-deflate end to end with Inflate and on routes without a limit", async () => {
    for (const limits of [{ maxMessageBytes: LIMIT, permessageDeflate: "Inflate" }, {}]) {
      const backend = await deflatingEcho();
      const gw = await gateway(backend.port, limits);
      const ws = await deflatingClient(gw.url());
      expect(ws.extensions).toContain("permessage-deflate");
      await gw.close();
      await backend.close();
      ws.terminate();
    }
    gw = echo = undefined;
  });
});

/** `totalBytes` of zeros as one raw-deflate message (the 4-byte sync tail stripped, RFC 7692). */
async function bomb(totalBytes: number): Promise<Buffer> {
  const deflate = zlib.createDeflateRaw({ level: 9 });
  const parts: Buffer[] = [];
  deflate.on("data", (d: Buffer) => parts.push(d));
  const zeros = Buffer.alloc(1024 * 1024);
  for (let written = 0; written < totalBytes; written += zeros.length) deflate.write(zeros);
  await new Promise<void>((resolve) => deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()));
  deflate.close();
  const all = Buffer.concat(parts);
  return all.subarray(0, all.length - 4);
}

describe("zip bomb", () => {
  it("closes a message that inflates to 100 MiB with 1009 after inflating no more than the limit, and the proxy's memory stays flat", async () => {
    const compressed = await bomb(100 * 1024 * 1024);
    // Deflate's best ratio is ~1:1032, so 100 MiB takes ~100 KiB (not 1 KiB) on the wire.
    expect(compressed.length).toBeLessThan(110 * 1024);
    raw = await startRawBackend({ extraHeaders: ["Sec-WebSocket-Extensions: permessage-deflate"] });
    const gw = await gateway(raw.port, { maxMessageBytes: 1024 * 1024, permessageDeflate: "Inflate" });
    const client = rawUpgrade(gw.port, { headers: ["Sec-WebSocket-Extensions: permessage-deflate"] });
    sockets.push(client);
    const fromGateway: Buffer[] = [];
    client.on("data", (d: Buffer) => fromGateway.push(d));
    await eventually(() => gw.gateway.connections.size === 1, "the connection to be established");
    const toBackend: Buffer[] = [];
    raw.sockets[0]!.on("data", (d: Buffer) => toBackend.push(d));

    const frame = clientFrame(0xc2, compressed); // FIN + RSV1 (compressed) + binary
    const before = process.memoryUsage();
    client.write(frame);
    await eventually(() => Buffer.concat(fromGateway).includes(Buffer.from([0x88])), "the gateway's Close");
    const after = process.memoryUsage();

    const answer = Buffer.concat(fromGateway);
    const close = answer.subarray(answer.indexOf(Buffer.from("\r\n\r\n")) + 4);
    expect(close[0]).toBe(0x88);
    expect(close.readUInt16BE(2)).toBe(1009);
    // The backend never got the whole message: the relay stopped inside it.
    expect(Buffer.concat(toBackend).length).toBeLessThan(frame.length);
    const growth = (a: NodeJS.MemoryUsage, b: NodeJS.MemoryUsage): number =>
      b.heapUsed + b.external + b.arrayBuffers - (a.heapUsed + a.external + a.arrayBuffers);
    expect(growth(before, after)).toBeLessThan(8 * 1024 * 1024);
    expect(after.rss - before.rss).toBeLessThan(16 * 1024 * 1024);
  });

  it("refuses a compressed message larger than any honest encoding of the limit at its header, before any of it is relayed", async () => {
    raw = await startRawBackend({ extraHeaders: ["Sec-WebSocket-Extensions: permessage-deflate"] });
    const gw = await gateway(raw.port, { maxMessageBytes: LIMIT, permessageDeflate: "Inflate" });
    const client = rawUpgrade(gw.port, { headers: ["Sec-WebSocket-Extensions: permessage-deflate"] });
    sockets.push(client);
    const fromGateway: Buffer[] = [];
    client.on("data", (d: Buffer) => fromGateway.push(d));
    await eventually(() => gw.gateway.connections.size === 1, "the connection to be established");
    const toBackend: Buffer[] = [];
    raw.sockets[0]!.on("data", (d: Buffer) => toBackend.push(d));
    client.write(clientFrame(0xc2, Buffer.alloc(4 * LIMIT, 0x55)));
    await eventually(
      () => Buffer.concat(fromGateway).includes(Buffer.from([0x88, 0x11, 0x03, 0xf1])),
      "1009",
    );
    expect(toBackend.every((d) => d[0] === 0x88)).toBe(true); // only our Close reached it
  });

  it("still counts uncompressed when a backend accepts permessage-deflate it was never offered (Strip)", async () => {
    raw = await startRawBackend({ extraHeaders: ["Sec-WebSocket-Extensions: permessage-deflate"] });
    const gw = await gateway(raw.port, { maxMessageBytes: LIMIT });
    const client = rawUpgrade(gw.port, { headers: ["Sec-WebSocket-Extensions: permessage-deflate"] });
    sockets.push(client);
    const fromGateway: Buffer[] = [];
    client.on("data", (d: Buffer) => fromGateway.push(d));
    await eventually(() => gw.gateway.connections.size === 1, "the connection to be established");
    expect(raw.requests[0]).not.toMatch(/permessage-deflate/i);
    const message = zlib.deflateRawSync(Buffer.alloc(2_000, 0x61), {
      finishFlush: zlib.constants.Z_SYNC_FLUSH,
    });
    client.write(clientFrame(0xc1, message.subarray(0, message.length - 4)));
    await eventually(() => Buffer.concat(fromGateway).includes(Buffer.from([0x88])), "the gateway's Close");
    const answer = Buffer.concat(fromGateway);
    const close = answer.subarray(answer.indexOf(Buffer.from("\r\n\r\n")) + 4);
    expect(close.readUInt16BE(2)).toBe(1009);
  });

  it("closes with 1007 when a compressed message cannot be inflated", async () => {
    raw = await startRawBackend({ extraHeaders: ["Sec-WebSocket-Extensions: permessage-deflate"] });
    const gw = await gateway(raw.port, { maxMessageBytes: LIMIT, permessageDeflate: "Inflate" });
    const client = rawUpgrade(gw.port, { headers: ["Sec-WebSocket-Extensions: permessage-deflate"] });
    sockets.push(client);
    const fromGateway: Buffer[] = [];
    client.on("data", (d: Buffer) => fromGateway.push(d));
    await eventually(() => gw.gateway.connections.size === 1, "the connection to be established");
    client.write(clientFrame(0xc2, Buffer.from([0xff, 0xff, 0xff, 0xff]))); // BTYPE 11: reserved
    await eventually(() => Buffer.concat(fromGateway).includes(Buffer.from([0x88])), "the gateway's Close");
    const answer = Buffer.concat(fromGateway);
    const close = answer.subarray(answer.indexOf(Buffer.from("\r\n\r\n")) + 4);
    expect(close.readUInt16BE(2)).toBe(1007);
  });
});
