/**
 * The known HTTP/2 floods against the HTTPS listener of a real `wsgate serve` child
 * process (the built CLI: `npm run build` first), from a client that writes frames by
 * hand: each is cut off (GOAWAY, connection closed) long before the flood ends, and the
 * gateway process's resident memory (/proc/PID/status) grows by a bounded amount —
 * measured, never timed. The HTTP/2 limits themselves (concurrent streams, header list
 * size) are announced and enforced.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import type { Server } from "node:http";
import { createInterface } from "node:readline";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { HTTP2_LIMITS } from "../src/tls/server.js";
import { startEchoBackend, type EchoBackend } from "./helpers/backends.js";
import { selfSigned } from "./helpers/certs.js";
import { h2Request, h2Session } from "./helpers/h2.js";
import { Flag, FrameType, flood, frame, getFields, hpack, rawH2, type RawH2 } from "./helpers/h2-frames.js";
import { serveArgs, tlsManifestDir } from "./helpers/standalone.js";

const HOST = "chat.example.com";
/**
 * What a flood may add to the gateway's resident memory: a bound, not a figure (those
 * are printed with WSGATE_REPORT=1) — a flood that is not cut off runs on to its full
 * size, tens of MiB of frames.
 */
const MEMORY_BOUND = 48 * 1024 * 1024;

let backend: EchoBackend;
let child: ChildProcess;
let dir: string;
let port: number;
let backendRequests = 0;
const open: RawH2[] = [];

beforeAll(async () => {
  backend = await startEchoBackend();
  // Plain requests the backend served: what a flood of streams cost beyond the gateway.
  (backend.server as unknown as { _server: Server })._server.on("request", () => backendRequests++);
  dir = tlsManifestDir("h2-floods", HOST, selfSigned(HOST), backend.port);
  child = spawn(process.execPath, ["dist/cli/main.js", "serve", ...serveArgs(dir)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout! });
  const https = await new Promise<string>((resolve) =>
    lines.on("line", (line: string) => {
      const parsed = JSON.parse(line) as { event?: string; https?: string };
      if (parsed.event === "listening" && parsed.https) resolve(parsed.https);
    }),
  );
  port = Number(https.split(":").at(-1));
}, 60_000);

afterEach(() => {
  for (const c of open.splice(0)) c.socket.destroy();
});

afterAll(async () => {
  child?.kill("SIGKILL");
  await backend?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The gateway process's resident memory (VmRSS), in bytes. */
function gatewayRss(): number {
  const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!kb) throw new Error("no VmRSS in /proc/PID/status");
  return Number(kb[1]) * 1024;
}

async function connectRaw(): Promise<RawH2> {
  const c = await rawH2(port, HOST);
  open.push(c);
  return c;
}

/** The gateway still serves a well-behaved HTTP/2 client. */
async function stillServes(): Promise<void> {
  const s = await h2Session(port, HOST);
  try {
    expect((await h2Request(s, { ":authority": HOST, ":path": "/after" })).status).toBe(200);
  } finally {
    s.destroy();
  }
}

describe("HTTP/2 limits", () => {
  it("announces extended CONNECT, its stream limit and header list size in SETTINGS", async () => {
    const s = await h2Session(port, HOST);
    try {
      expect(s.remoteSettings.enableConnectProtocol).toBe(true);
      expect(s.remoteSettings.maxConcurrentStreams).toBe(HTTP2_LIMITS.maxConcurrentStreams);
      expect(s.remoteSettings.maxHeaderListSize).toBe(HTTP2_LIMITS.maxHeaderListSize);
      // Each stream 64 KiB, the connection 1 MiB: a page's WebSockets do not share 64 KiB.
      expect(s.remoteSettings.initialWindowSize).toBe(65_535);
      const deadline = Date.now() + 10_000;
      while ((s.state.remoteWindowSize ?? 0) < HTTP2_LIMITS.connectionWindowBytes && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(s.state.remoteWindowSize).toBe(HTTP2_LIMITS.connectionWindowBytes);
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

describe("HTTP/2 header list size", () => {
  it("resets a stream whose header list exceeds the announced size, and serves the connection's next request", async () => {
    const s = await h2Session(port, HOST);
    try {
      const big = h2Request(s, {
        ":authority": HOST,
        ":path": "/",
        "x-big": "a".repeat(HTTP2_LIMITS.maxHeaderListSize),
      });
      await expect(big).rejects.toMatchObject({ code: "ERR_HTTP2_STREAM_ERROR" });
      expect((await h2Request(s, { ":authority": HOST, ":path": "/next" })).status).toBe(200);
    } finally {
      s.destroy();
    }
  });
});

describe("floods", () => {
  it("cuts off a rapid reset flood (CVE-2023-44487) with GOAWAY, so that cancelled requests cannot cost the gateway without bound", async () => {
    const c = await connectRaw();
    const before = gatewayRss();
    const requestsBefore = backendRequests;
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
    await c.closed;
    const grown = gatewayRss() - before;
    const served = backendRequests - requestsBefore;
    if (process.env.WSGATE_REPORT) {
      console.log(
        `rapid reset: GOAWAY code ${code} after ${sent} of ${attempts} HEADERS+RST pairs written, ${served} reached the backend; rss +${(grown / 1048576).toFixed(1)} MiB`,
      );
    }
    expect(sent).toBeLessThan(attempts);
    // The reset budget (HTTP2_LIMITS): a burst, then a rate — a few hundred, not 100,000.
    expect(served).toBeLessThan(2_000);
    expect(grown).toBeLessThan(MEMORY_BOUND);
    await stillServes();
  }, 60_000);

  it("cuts off a CONTINUATION flood (CVE-2024-27316 family): an endless header block ends the connection", async () => {
    const c = await connectRaw();
    const before = gatewayRss();
    const attempts = 100_000;
    const field = hpack([["x-flood", "a".repeat(200)]]);
    const sent = await flood(c.socket, attempts, (i) =>
      i === 0
        ? frame(FrameType.HEADERS, 0, 1, hpack(getFields(HOST, "/continuation")))
        : frame(FrameType.CONTINUATION, 0, 1, field),
    );
    await c.closed;
    const grown = gatewayRss() - before;
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
      // A client that reads nothing: every ACK the flood asks for stays queued at the gateway.
      c.socket.pause();
      const before = gatewayRss();
      const attempts = 1_000_000;
      const sent = await flood(c.socket, attempts, make);
      await c.closed;
      const grown = gatewayRss() - before;
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
