/**
 * The known HTTP/2 floods against the HTTPS listener, from a client that writes frames
 * by hand: each is cut off (GOAWAY, connection closed) long before the flood ends, and
 * the process grows by a bounded amount of memory (measured, never timed). The HTTP/2
 * limits themselves (concurrent streams, header list size) are announced and enforced.
 */
import type http2 from "node:http2";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { HTTP2_LIMITS } from "../src/tls/server.js";
import { startEchoBackend, type EchoBackend } from "./helpers/backends.js";
import { selfSigned, tlsSecret } from "./helpers/certs.js";
import { h2Request, h2Session, startH2Gateway, type H2Gateway } from "./helpers/h2.js";
import { Flag, FrameType, flood, frame, getFields, hpack, rawH2, type RawH2 } from "./helpers/h2-frames.js";
import { route, serviceWithEndpoints } from "./helpers/objects.js";

const HOST = "chat.example.com";
/**
 * What a flood may add to the resident memory of this process (the test client and the
 * gateway share it, and V8 keeps the heap it grew): a bound, not a figure — a flood that
 * is not cut off runs on to its full size.
 */
const MEMORY_BOUND = 160 * 1024 * 1024;

let backend: EchoBackend;
let gw: H2Gateway;
const open: RawH2[] = [];

beforeAll(async () => {
  backend = await startEchoBackend();
  gw = await startH2Gateway();
  gw.apply([
    ...serviceWithEndpoints("apps", "echo", [{ port: backend.port }]),
    route("apps", "chat", {
      hostnames: [HOST],
      tls: { secretName: "chat-tls" },
      rules: [{ backendRefs: [{ name: "echo", port: 80 }] }],
    }),
    tlsSecret("apps", "chat-tls", selfSigned(HOST)),
  ]);
});

afterEach(() => {
  for (const c of open.splice(0)) c.socket.destroy();
});

afterAll(async () => {
  await gw.close();
  await backend.close();
});

/** The server side of the next HTTP/2 connection, closed when the session is. */
function nextSessionClosed(): Promise<void> {
  return new Promise((resolve) => {
    gw.server.once("session", (session: http2.ServerHttp2Session) => session.once("close", () => resolve()));
  });
}

async function connectRaw(): Promise<RawH2> {
  const c = await rawH2(gw.port, HOST);
  open.push(c);
  return c;
}

/** The gateway still serves a well-behaved HTTP/2 client. */
async function stillServes(): Promise<void> {
  const s = await h2Session(gw.port, HOST);
  try {
    expect((await h2Request(s, { ":authority": HOST, ":path": "/after" })).status).toBe(200);
  } finally {
    s.destroy();
  }
}

describe("HTTP/2 limits", () => {
  it("announces extended CONNECT, its stream limit and header list size in SETTINGS", async () => {
    const s = await h2Session(gw.port, HOST);
    try {
      expect(s.remoteSettings.enableConnectProtocol).toBe(true);
      expect(s.remoteSettings.maxConcurrentStreams).toBe(HTTP2_LIMITS.maxConcurrentStreams);
      expect(s.remoteSettings.maxHeaderListSize).toBe(HTTP2_LIMITS.maxHeaderListSize);
    } finally {
      s.destroy();
    }
  });

  it("refuses streams beyond maxConcurrentStreams, so that one connection cannot hold unbounded requests", async () => {
    const c = await connectRaw();
    const extra = 20;
    // Requests without END_STREAM stay open (their body never comes).
    const total = HTTP2_LIMITS.maxConcurrentStreams + extra;
    await flood(c.socket, total, (i) =>
      frame(
        FrameType.HEADERS,
        Flag.END_HEADERS,
        1 + 2 * i,
        hpack([...getFields(HOST, "/slow"), ["content-length", "10"]]),
      ),
    );
    const deadline = Date.now() + 20_000;
    const refused = (): number =>
      c.received.filter((f) => f.type === FrameType.RST_STREAM && f.payload.readUInt32BE(0) === 0x7).length;
    while (refused() < extra && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    // REFUSED_STREAM (0x7) for each stream past the limit, none for those within it.
    expect(refused()).toBe(extra);
  });
});

describe("floods", () => {
  it("cuts off a rapid reset flood (CVE-2023-44487) with GOAWAY, so that cancelled requests cannot cost the gateway without bound", async () => {
    const c = await connectRaw();
    const closed = nextSessionClosed();
    const before = process.memoryUsage().rss;
    const attempts = 100_000;
    const sent = await flood(c.socket, attempts, (i) =>
      Buffer.concat([
        frame(
          FrameType.HEADERS,
          Flag.END_HEADERS | Flag.END_STREAM,
          1 + 2 * i,
          hpack(getFields(HOST, "/reset")),
        ),
        frame(FrameType.RST_STREAM, 0, 1 + 2 * i, Buffer.from([0, 0, 0, 8])),
      ]),
    );
    const code = await c.goaway;
    await closed;
    const grown = process.memoryUsage().rss - before;
    if (process.env.WSGATE_REPORT) {
      console.log(
        `rapid reset: GOAWAY code ${code} after ${sent} of ${attempts} HEADERS+RST pairs; rss +${(grown / 1048576).toFixed(1)} MiB`,
      );
    }
    expect(sent).toBeLessThan(attempts);
    expect(grown).toBeLessThan(MEMORY_BOUND);
    await stillServes();
  }, 60_000);

  it("cuts off a CONTINUATION flood (CVE-2024-27316 family): an endless header block ends the connection", async () => {
    const c = await connectRaw();
    const closed = nextSessionClosed();
    const before = process.memoryUsage().rss;
    const attempts = 100_000;
    const field = hpack([["x-flood", "a".repeat(200)]]);
    const sent = await flood(c.socket, attempts, (i) =>
      i === 0
        ? frame(FrameType.HEADERS, 0, 1, hpack(getFields(HOST, "/continuation")))
        : frame(FrameType.CONTINUATION, 0, 1, field),
    );
    await closed;
    const grown = process.memoryUsage().rss - before;
    if (process.env.WSGATE_REPORT) {
      console.log(
        `CONTINUATION flood: closed after ${sent} of ${attempts} frames; rss +${(grown / 1048576).toFixed(1)} MiB`,
      );
    }
    expect(sent).toBeLessThan(attempts);
    expect(grown).toBeLessThan(MEMORY_BOUND);
    await stillServes();
  }, 60_000);

  it.each([
    ["SETTINGS", () => frame(FrameType.SETTINGS, 0, 0)],
    ["PING", () => frame(FrameType.PING, 0, 0, Buffer.alloc(8, 1))],
  ] as const)(
    "cuts off a %s flood from a client that never reads the acknowledgements",
    async (kind, make) => {
      const c = await connectRaw();
      const closed = nextSessionClosed();
      // A client that reads nothing: every ACK the flood asks for stays queued at the gateway.
      c.socket.pause();
      const before = process.memoryUsage().rss;
      const attempts = 1_000_000;
      const sent = await flood(c.socket, attempts, make);
      await closed;
      const grown = process.memoryUsage().rss - before;
      if (process.env.WSGATE_REPORT) {
        console.log(
          `${kind} flood: closed after ${sent} of ${attempts} frames; rss +${(grown / 1048576).toFixed(1)} MiB`,
        );
      }
      expect(sent).toBeLessThan(attempts);
      expect(grown).toBeLessThan(MEMORY_BOUND);
      await stillServes();
    },
    60_000,
  );
});
