/**
 * A WebSocket over HTTP/2 gets everything a WebSocket over HTTP/1.1 gets: the SNI check
 * (421), Origin, auth from all four token sources (the subprotocol bearer stripped),
 * maxMessageBytes (1009), endpoint drains (1012, then END_STREAM with the connection
 * left open for the page's other streams), shutdown (GOAWAY, then 1001) and flow
 * control towards a slow reader. Real sockets: Node's http2 client, `ws` backends.
 */
import http2 from "node:http2";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type WebSocket from "ws";
import { BEARER_PROTOCOL_PREFIX } from "../src/dataplane/auth/tokens.js";
import type { StoredObject } from "../src/routing/store.js";
import { jwksOf, keySecret, mint, signingKey, ISSUER, AUDIENCE } from "./helpers/auth.js";
import { startEchoBackend, type EchoBackend } from "./helpers/backends.js";
import { selfSigned, tlsSecret, type TestCertificate } from "./helpers/certs.js";
import { roundTrip } from "./helpers/gateway.js";
import {
  bodyOf,
  connectH2,
  extendedConnect,
  h2Request,
  h2Session,
  startH2Gateway,
  type H2Gateway,
} from "./helpers/h2.js";
import { route, serviceWithEndpoints } from "./helpers/objects.js";

const HOST = "chat.example.com";
let cert: TestCertificate;
let backend: EchoBackend | undefined;
let gw: H2Gateway | undefined;
const sessions: http2.ClientHttp2Session[] = [];

beforeAll(() => {
  cert = selfSigned(HOST, "other.example.com");
});

afterEach(async () => {
  for (const s of sessions.splice(0)) s.destroy();
  await gw?.close();
  await backend?.close();
  gw = backend = undefined;
});

/** A gateway with one route for HOST (spec `extra`) to one echo backend. */
async function setup(extra: Record<string, unknown> = {}, objects: StoredObject[] = []): Promise<H2Gateway> {
  backend = await startEchoBackend();
  gw = await startH2Gateway();
  gw.apply([
    ...serviceWithEndpoints("apps", "echo", [{ port: backend.port }]),
    route("apps", "chat", {
      hostnames: [HOST, "other.example.com"],
      tls: { secretName: "chat-tls" },
      rules: [{ backendRefs: [{ name: "echo", port: 80 }] }],
      ...extra,
    }),
    tlsSecret("apps", "chat-tls", cert),
    ...objects,
  ]);
  return gw;
}

async function session(servername = HOST): Promise<http2.ClientHttp2Session> {
  const s = await h2Session(gw!.port, servername);
  sessions.push(s);
  return s;
}

function closeOf(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) =>
    ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })),
  );
}

function backendSocket(): WebSocket {
  return [...backend!.sockets][0] as WebSocket;
}

/** Polls `check` until it holds; fails after `ms` (a deadline, not a pacing sleep). */
async function until(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("entry", () => {
  it("answers 421 when :authority is not the TLS server name, so that a connection's certificate cannot front another host", async () => {
    await setup();
    const s = await session(HOST);
    const answer = await extendedConnect(s, "other.example.com");
    expect(answer.status).toBe(421);
    expect(await bodyOf(answer.stream)).toMatch(/does not match the TLS server name/);
    const plain = await h2Request(s, { ":authority": "other.example.com", ":path": "/" });
    expect(plain.status).toBe(421);
  });

  it("refuses 400 a request whose Host field differs from its :authority, so that a backend cannot be told another host than the one routed", async () => {
    await setup();
    const s = await session();
    const plain = await h2Request(s, { ":authority": HOST, ":path": "/", host: "other.example.com" });
    expect(plain.status).toBe(400);
    const upgrade = await extendedConnect(s, HOST, "/", { host: "other.example.com" });
    expect(upgrade.status).toBe(400);
    // The same name twice is one Host.
    expect((await h2Request(s, { ":authority": HOST, ":path": "/", host: HOST })).status).toBe(200);
  });

  it("refuses a WebSocket from a disallowed Origin with 403 and lets an allowed one through", async () => {
    await setup({ origins: { allow: ["https://app.example.com"], allowMissing: false } });
    const s = await session();
    const refused = await extendedConnect(s, HOST, "/", { origin: "https://evil.example.net" });
    expect(refused.status).toBe(403);
    await bodyOf(refused.stream);
    const { ws } = await connectH2(s, HOST, "/", { origin: "https://app.example.com" });
    expect((await roundTrip(ws, "ok")).data.toString()).toBe("ok");
  });

  it("refuses a missing Sec-WebSocket-Version with 426, as on HTTP/1.1", async () => {
    await setup();
    const s = await session();
    const answer = await extendedConnect(s, HOST, "/", { "sec-websocket-version": "8" });
    expect(answer.status).toBe(426);
    expect(answer.headers["sec-websocket-version"]).toBe("13");
  });
});

describe("the backend's answer", () => {
  it("passes a backend's refusal of the handshake on as the stream's answer, status and body", async () => {
    backend = await startEchoBackend({
      verifyClient: (_info, done) => done(false, 403, "room closed"),
    });
    gw = await startH2Gateway();
    gw.apply([
      ...serviceWithEndpoints("apps", "echo", [{ port: backend.port }]),
      route("apps", "chat", {
        hostnames: [HOST],
        tls: { secretName: "chat-tls" },
        rules: [{ backendRefs: [{ name: "echo", port: 80 }] }],
      }),
      tlsSecret("apps", "chat-tls", cert),
    ]);
    const s = await session();
    const answer = await extendedConnect(s, HOST);
    expect(answer.status).toBe(403);
    expect(await bodyOf(answer.stream)).toBe("room closed");
  });

  it("carries the client's extension offer to the backend and its choice back in the 200", async () => {
    backend = await startEchoBackend({ perMessageDeflate: true });
    gw = await startH2Gateway();
    gw.apply([
      ...serviceWithEndpoints("apps", "echo", [{ port: backend.port }]),
      route("apps", "chat", {
        hostnames: [HOST],
        tls: { secretName: "chat-tls" },
        rules: [{ backendRefs: [{ name: "echo", port: 80 }] }],
      }),
      tlsSecret("apps", "chat-tls", cert),
    ]);
    const s = await session();
    const answer = await extendedConnect(s, HOST, "/", {
      "sec-websocket-extensions": "permessage-deflate; client_max_window_bits",
    });
    expect(answer.status).toBe(200);
    expect(backend.requests.at(-1)!.headers["sec-websocket-extensions"]).toBe(
      "permessage-deflate; client_max_window_bits",
    );
    expect(answer.headers["sec-websocket-extensions"]).toMatch(/^permessage-deflate/);
    answer.stream.close();
  });
});

describe("auth over HTTP/2", () => {
  const sources = [
    { header: "X-Token", prefix: "Token " },
    { cookie: "session" },
    { query: "access_token" },
    { subprotocol: {} },
  ];

  async function setupAuth(): Promise<Awaited<ReturnType<typeof signingKey>>> {
    const key = await signingKey("ES256", "k1");
    await setup(
      {
        auth: {
          jwt: {
            issuer: ISSUER,
            audiences: [AUDIENCE],
            keys: { secretRef: { name: "jwt-keys", key: "keys" } },
            tokenFrom: sources,
          },
        },
      },
      [keySecret("apps", "jwt-keys", "keys", jwksOf(key))],
    );
    return key;
  }

  it("takes the token from a header, a cookie (split in crumbs), the query and the subprotocol, and refuses 401 without one", async () => {
    const key = await setupAuth();
    const token = await mint(key);
    const s = await session();
    expect((await extendedConnect(s, HOST)).status).toBe(401);
    await connectH2(s, HOST, "/", { "x-token": `Token ${token}` });
    // HTTP/2 lets a client send each cookie as its own field (RFC 9113 §8.2.3).
    await connectH2(s, HOST, "/", { cookie: ["theme=dark", `session=${token}`] });
    expect(backend!.requests.at(-1)!.headers.cookie).toBe(`theme=dark; session=${token}`);
    await connectH2(s, HOST, `/?room=1&access_token=${token}`);
    const bearer = `${BEARER_PROTOCOL_PREFIX}${Buffer.from(token).toString("base64url")}`;
    const { answer } = await connectH2(s, HOST, "/", { "sec-websocket-protocol": `chat.v2, ${bearer}` });
    expect(backend!.requests.at(-1)!.headers["sec-websocket-protocol"]).toBe("chat.v2");
    expect(answer.headers["sec-websocket-protocol"]).toBe("chat.v2");
  });

  it("authenticates plain HTTP/2 requests on the route the same way: 401 without a token, the backend's answer with one", async () => {
    const key = await setupAuth();
    const token = await mint(key);
    const s = await session();
    expect((await h2Request(s, { ":authority": HOST, ":path": "/page" })).status).toBe(401);
    const admitted = await h2Request(s, { ":authority": HOST, ":path": "/page", cookie: `session=${token}` });
    expect(admitted.status).toBe(200);
    expect((JSON.parse(admitted.body) as { path: string }).path).toBe("/page");
  });
});

describe("the frame scanner on an HTTP/2 stream", () => {
  it("closes with 1009 when a client message exceeds maxMessageBytes, which never reaches the backend", async () => {
    await setup({ limits: { maxMessageBytes: 1000 } });
    const s = await session();
    const { ws } = await connectH2(s, HOST);
    await roundTrip(ws, "x".repeat(1000));
    const received: number[] = [];
    backendSocket().on("message", (d: Buffer) => received.push(d.length));
    const backendClose = closeOf(backendSocket());
    const clientClose = closeOf(ws);
    ws.send("y".repeat(1001));
    expect((await clientClose).code).toBe(1009);
    expect((await backendClose).code).toBe(1009);
    expect(received).toEqual([]);
  });

  it("completes a client-initiated close handshake over HTTP/2 with the backend's 1000", async () => {
    await setup();
    const s = await session();
    const { ws } = await connectH2(s, HOST);
    await roundTrip(ws, "bye soon");
    const closed = closeOf(ws);
    ws.close(1000, "done");
    expect((await closed).code).toBe(1000);
    expect(s.closed).toBe(false);
  });

  it("passes a client's Close to the backend and the backend's Close back, then ends the stream cleanly (END_STREAM, NO_ERROR)", async () => {
    await setup();
    const s = await session();
    const answer = await extendedConnect(s, HOST);
    const received: Buffer[] = [];
    answer.stream.on("data", (d: Buffer) => received.push(d));
    const ended = new Promise<void>((resolve) => answer.stream.once("end", () => resolve()));
    const closed = new Promise<number>((resolve) =>
      answer.stream.once("close", () => resolve(answer.stream.rstCode ?? -1)),
    );
    // A masked Close 1000 (zero mask), as a browser sends it.
    answer.stream.write(Buffer.from([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]));
    await ended;
    expect(Buffer.concat(received).toString("hex")).toBe("880203e8");
    answer.stream.end();
    expect(await closed).toBe(http2.constants.NGHTTP2_NO_ERROR);
    expect(s.closed).toBe(false);
  });

  it("pings a quiet HTTP/2 client and does not pass its pongs to the backend", async () => {
    await setup({ keepalive: { interval: "100ms", timeout: "2s" } });
    const s = await session();
    const { ws } = await connectH2(s, HOST);
    const backendPongs: Buffer[] = [];
    backendSocket().on("pong", (d) => backendPongs.push(d));
    let pings = 0;
    await new Promise<void>((resolve) => ws.on("ping", () => ++pings === 3 && resolve()));
    expect((await roundTrip(ws, "alive")).data.toString()).toBe("alive");
    expect(backendPongs).toEqual([]);
  });

  it("closes an idle WebSocket over HTTP/2 with 1001", async () => {
    await setup({ timeouts: { idle: "300ms" } });
    const s = await session();
    const { ws } = await connectH2(s, HOST);
    expect((await closeOf(ws)).code).toBe(1001);
  });

  it("drains with 1012 when the endpoint leaves, ends the stream cleanly, and keeps the HTTP/2 connection for other streams", async () => {
    await setup({ drain: { window: "0s", closeCode: 1012 } });
    const s = await session();
    const { ws, answer } = await connectH2(s, HOST);
    await roundTrip(ws, "before");
    const streamClosed = new Promise<number>((resolve) =>
      answer.stream.once("close", () => resolve(answer.stream.rstCode ?? -1)),
    );
    const clientClose = closeOf(ws);
    const other = await startEchoBackend();
    try {
      gw!.apply([
        ...serviceWithEndpoints("apps", "echo", [{ port: other.port }]),
        route("apps", "chat", {
          hostnames: [HOST, "other.example.com"],
          tls: { secretName: "chat-tls" },
          rules: [{ backendRefs: [{ name: "echo", port: 80 }] }],
          drain: { window: "0s", closeCode: 1012 },
        }),
        tlsSecret("apps", "chat-tls", cert),
      ]);
      expect((await clientClose).code).toBe(1012);
      expect(await streamClosed).toBe(http2.constants.NGHTTP2_NO_ERROR);
      expect(s.closed).toBe(false);
      const { ws: next } = await connectH2(s, HOST);
      expect((await roundTrip(next, "after")).data.toString()).toBe("after");
      next.terminate();
    } finally {
      await other.close();
    }
  });

  it("stops reading the backend while a slow HTTP/2 reader's window is closed, so that nothing is buffered without bound", async () => {
    await setup();
    const s = await session();
    const answer = await extendedConnect(s, HOST);
    expect(answer.status).toBe(200);
    answer.stream.pause();
    await until(() => backend!.sockets.size === 1, "the backend connection");
    const chunk = Buffer.alloc(64 * 1024, 1);
    const count = 256; // 16 MiB
    for (let i = 0; i < count; i++) backendSocket().send(chunk);
    const relay = [...gw!.gateway.connections][0]!.relay;
    await until(() => relay.stalledSince !== undefined, "the relay to pause the backend");
    // Let the gateway run a while after the stall (plain requests through it, on other
    // streams): were a write complete before the client's window took it, the relay would
    // resume and read the backend's 16 MiB at loopback speed meanwhile.
    for (let i = 0; i < 5; i++) {
      expect((await h2Request(s, { ":authority": HOST, ":path": "/ping" })).status).toBe(200);
    }
    const relayedAtStall = relay.stats.bytesToClient;
    if (process.env.WSGATE_REPORT) {
      console.log(`h2 slow reader: ${relayedAtStall} bytes relayed of ${count * chunk.length} sent`);
    }
    expect(relay.stalledSince).toBeDefined();
    expect(relayedAtStall).toBeLessThan(2 * 1024 * 1024);
    // The backend holds the rest: the gateway's read side is paused, not buffering.
    expect(backendSocket().bufferedAmount).toBeGreaterThan(0);
    let received = 0;
    const expected = count * (chunk.length + 10); // 64 KiB payloads have a 10-byte header (unmasked)
    const all = new Promise<void>((resolve) =>
      answer.stream.on("data", (d: Buffer) => {
        received += d.length;
        if (received >= expected) resolve();
      }),
    );
    answer.stream.resume();
    await all;
    expect(received).toBe(expected);
  }, 60_000);
});

describe("flow control from the client", () => {
  it("stops reading a fast HTTP/2 writer while the backend reads nothing, so that its stream's window closes instead of the gateway buffering", async () => {
    await setup();
    const s = await session();
    const answer = await extendedConnect(s, HOST);
    expect(answer.status).toBe(200);
    await until(() => backend!.sockets.size === 1, "the backend connection");
    const raw = (backendSocket() as unknown as { _socket: import("node:net").Socket })._socket;
    raw.pause();
    // 256 masked binary frames of 64 KiB (zero mask): 16 MiB the backend does not read.
    const header = Buffer.from([0x82, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    const frame = Buffer.concat([header, Buffer.alloc(64 * 1024, 3)]);
    let written = 0;
    const writer = (async () => {
      for (let i = 0; i < 256 && !answer.stream.destroyed; i++) {
        written += frame.length;
        if (!answer.stream.write(frame)) await new Promise((r) => answer.stream.once("drain", r));
      }
    })();
    const relay = [...gw!.gateway.connections][0]!.relay;
    await until(() => relay.stalledSince !== undefined, "the relay to pause the client's stream");
    // Let the gateway run on other streams meanwhile: a stream that kept reading would pass
    // the client's 16 MiB on into memory.
    for (let i = 0; i < 5; i++) {
      expect((await h2Request(s, { ":authority": HOST, ":path": "/ping" })).status).toBe(200);
    }
    const taken = relay.stats.bytesFromClient;
    if (process.env.WSGATE_REPORT)
      console.log(`h2 fast writer: ${taken} of ${written} bytes taken while the backend read nothing`);
    expect(relay.stalledSince).toBeDefined();
    expect(taken).toBeLessThan(8 * 1024 * 1024);
    expect(written).toBeLessThan(256 * frame.length);
    raw.resume();
    await writer;
    await until(
      () => relay.stats.bytesFromClient === 256 * frame.length,
      "every byte to reach the backend",
      60_000,
    );
  }, 90_000);
});

describe("shutdown", () => {
  it("sends GOAWAY when the listener closes, so that new streams go elsewhere, and closes open WebSockets with 1001", async () => {
    await setup();
    const s = await session();
    const { ws } = await connectH2(s, HOST);
    await roundTrip(ws, "live");
    const goaway = new Promise<number>((resolve) => s.once("goaway", (code) => resolve(code)));
    const clientClose = closeOf(ws);
    const closing = new Promise<void>((resolve) => gw!.server.close(() => resolve()));
    expect(await goaway).toBe(http2.constants.NGHTTP2_NO_ERROR);
    // The open stream still works after GOAWAY: only new streams are refused.
    expect((await roundTrip(ws, "still")).data.toString()).toBe("still");
    await gw!.gateway.drainAll(0);
    expect((await clientClose).code).toBe(1001);
    await closing;
  });
});
