/**
 * The HTTPS listener with `--http2`: what it offers (ALPN h2 + http/1.1, or http/1.1 only
 * with --http2=false), how long an HTTP/2 connection may sit without requests (as
 * --header-timeout and the keep-alive timeout bound HTTP/1.1), PROXY protocol in front
 * of HTTP/2, and plain requests with bodies and trailers.
 */
import http from "node:http";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import net from "node:net";
import tls from "node:tls";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { parseServeConfig } from "../src/config/config.js";
import type { StoredObject } from "../src/routing/store.js";
import { startEchoBackend, type EchoBackend } from "./helpers/backends.js";
import { selfSigned, tlsSecret, type TestCertificate } from "./helpers/certs.js";
import { roundTrip } from "./helpers/gateway.js";
import {
  connectH2,
  h2Request,
  h2Session,
  startH2Gateway,
  type H2Gateway,
  type H2GatewayOptions,
} from "./helpers/h2.js";
import { FrameType, frame, rawH2 } from "./helpers/h2-frames.js";
import { route, serviceWithEndpoints } from "./helpers/objects.js";

const HOST = "chat.example.com";
let cert: TestCertificate;
let backend: { port: number; close(): Promise<void> } | undefined;
let gw: H2Gateway | undefined;
const cleanups: (() => void)[] = [];

beforeAll(() => {
  cert = selfSigned(HOST);
});

afterEach(async () => {
  for (const c of cleanups.splice(0)) c();
  await gw?.close();
  await backend?.close();
  gw = backend = undefined;
});

function objects(port: number): StoredObject[] {
  return [
    ...serviceWithEndpoints("apps", "echo", [{ port }]),
    route("apps", "chat", {
      hostnames: [HOST],
      tls: { secretName: "chat-tls" },
      rules: [{ backendRefs: [{ name: "echo", port: 80 }] }],
    }),
    tlsSecret("apps", "chat-tls", cert),
  ];
}

async function setup(options: H2GatewayOptions = {}): Promise<H2Gateway> {
  const echo: EchoBackend = await startEchoBackend();
  backend = echo;
  gw = await startH2Gateway(options);
  gw.apply(objects(echo.port));
  return gw;
}

function alpnOf(port: number, offered: string[]): Promise<string | false | null> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      { host: "127.0.0.1", port, servername: HOST, ALPNProtocols: offered, rejectUnauthorized: false },
      () => {
        resolve(socket.alpnProtocol);
        socket.end();
      },
    );
    socket.once("error", reject);
  });
}

describe("--http2", () => {
  it("is on by default; --http2=false and WSGATE_HTTP2=false turn it off", () => {
    expect(parseServeConfig(["--manifests", "/m"], {}).http2).toBe(true);
    expect(parseServeConfig(["--manifests", "/m", "--http2=false"], {}).http2).toBe(false);
    expect(parseServeConfig(["--manifests", "/m", "--http2"], { WSGATE_HTTP2: "false" }).http2).toBe(true);
    expect(parseServeConfig(["--manifests", "/m"], { WSGATE_HTTP2: "false" }).http2).toBe(false);
  });

  it("offers h2 first and still http/1.1, so that HTTP/1.1 clients and their upgrades are served as before", async () => {
    await setup();
    expect(await alpnOf(gw!.port, ["h2", "http/1.1"])).toBe("h2");
    expect(await alpnOf(gw!.port, ["http/1.1"])).toBe("http/1.1");
  });

  it("offers http/1.1 only with --http2=false", async () => {
    await setup({ http2: false });
    expect(await alpnOf(gw!.port, ["h2", "http/1.1"])).toBe("http/1.1");
  });
});

describe("HTTP/1.1 on the HTTP/2 listener", () => {
  it("answers 408 and closes an HTTP/1.1 client whose request headers stall past --header-timeout, as without --http2", async () => {
    await setup({ headerTimeoutMs: 1_000 });
    const started = Date.now();
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = tls.connect(
        {
          host: "127.0.0.1",
          port: gw!.port,
          servername: HOST,
          ALPNProtocols: ["http/1.1"],
          rejectUnauthorized: false,
        },
        () => socket.write(`GET / HTTP/1.1\r\nHost: ${HOST}\r\n`),
      );
      let text = "";
      socket.on("data", (c: Buffer) => (text += c.toString("latin1")));
      socket.once("close", () => resolve(text));
      socket.once("error", reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });
});

describe("HTTP/2 connections without requests", () => {
  it("closes a connection that opens no stream within --header-timeout, however many PINGs it sends", async () => {
    await setup({ headerTimeoutMs: 1_000, keepAliveTimeout: 60_000 });
    const c = await rawH2(gw!.port, HOST);
    cleanups.push(() => c.socket.destroy());
    // Traffic, but never a request: the bound is on requests, not bytes.
    const pinger = setInterval(() => c.socket.write(frame(FrameType.PING, 0, 0, Buffer.alloc(8))), 100);
    cleanups.push(() => clearInterval(pinger));
    const started = Date.now();
    expect(await c.goaway).toBe(http2.constants.NGHTTP2_NO_ERROR);
    await c.closed;
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it("closes a connection with GOAWAY once it had no open stream for the keep-alive timeout, and not while a WebSocket is open on it", async () => {
    await setup({ headerTimeoutMs: 10_000, keepAliveTimeout: 300 });
    const s = await h2Session(gw!.port, HOST);
    cleanups.push(() => s.destroy());
    const goaway = new Promise<number>((resolve) => s.once("goaway", (code) => resolve(code)));
    let away = false;
    void goaway.then(() => (away = true));
    const { ws } = await connectH2(s, HOST);
    // Many keep-alive timeouts pass with the WebSocket open and quiet; it stays usable.
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 300));
      expect((await roundTrip(ws, `still ${i}`)).data.toString()).toBe(`still ${i}`);
    }
    expect(away).toBe(false);
    // The WebSocket's stream ends (the client resets it): the connection is idle from then on.
    ws.terminate();
    expect(await goaway).toBe(http2.constants.NGHTTP2_NO_ERROR);
  });
});

describe("PROXY protocol in front of HTTP/2", () => {
  it("reads the client from the PROXY header, then serves HTTP/2 and WebSockets over it", async () => {
    await setup({ proxyProtocol: true });
    const s = http2.connect(`https://127.0.0.1:${gw!.port}`, {
      createConnection: () => {
        const raw = net.connect(gw!.port, "127.0.0.1");
        raw.write("PROXY TCP4 203.0.113.60 10.0.0.1 40000 443\r\n");
        return tls.connect({
          socket: raw,
          servername: HOST,
          ALPNProtocols: ["h2"],
          rejectUnauthorized: false,
        });
      },
    });
    cleanups.push(() => s.destroy());
    s.on("error", () => {});
    await new Promise((resolve) => s.once("remoteSettings", resolve));
    const { ws } = await connectH2(s, HOST);
    expect((await roundTrip(ws, "via lb")).data.toString()).toBe("via lb");
    const echo = backend as EchoBackend;
    expect(echo.requests.at(-1)!.headers["x-forwarded-for"]).toBe("203.0.113.60");
  });
});

describe("plain HTTP/2 requests with bodies", () => {
  it("streams a request body to the HTTP/1.1 backend and its answer back; request trailers are not passed on", async () => {
    // A backend that echoes what it read, and the trailers it saw.
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        res.setHeader("x-trailers", JSON.stringify(req.trailers));
        res.end(Buffer.concat(chunks));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    backend = {
      port: (server.address() as AddressInfo).port,
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
    gw = await startH2Gateway();
    gw.apply(objects(backend.port));
    const s = await h2Session(gw.port, HOST);
    cleanups.push(() => s.destroy());
    const body = Buffer.alloc(300_000, 5);
    const stream = s.request(
      { ":method": "POST", ":scheme": "https", ":authority": HOST, ":path": "/upload" },
      { waitForTrailers: true },
    );
    stream.on("wantTrailers", () => stream.sendTrailers({ "x-checksum": "abc" }));
    stream.end(body);
    const [status, trailersSeen, received] = await new Promise<[number, string, Buffer]>(
      (resolve, reject) => {
        const chunks: Buffer[] = [];
        let headers: http2.IncomingHttpHeaders = {};
        stream.once("response", (h) => (headers = h));
        stream.on("data", (c: Buffer) => chunks.push(c));
        stream.once("end", () =>
          resolve([Number(headers[":status"]), String(headers["x-trailers"]), Buffer.concat(chunks)]),
        );
        stream.once("error", reject);
      },
    );
    expect(status).toBe(200);
    expect(received.equals(body)).toBe(true);
    expect(trailersSeen).toBe("{}");
  });
});

describe("plain HTTP/2 answers", () => {
  it("passes on a chunked backend answer without its connection-specific fields, which HTTP/2 forbids", async () => {
    const server = http.createServer((_req, res) => {
      // No Content-Length: Node answers chunked, with Connection: keep-alive and Keep-Alive.
      res.setHeader("x-app", "yes");
      res.write("part one, ");
      setImmediate(() => res.end("part two"));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    backend = {
      port: (server.address() as AddressInfo).port,
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
    gw = await startH2Gateway();
    gw.apply(objects(backend.port));
    const s = await h2Session(gw.port, HOST);
    cleanups.push(() => s.destroy());
    const answer = await h2Request(s, { ":authority": HOST, ":path": "/stream" });
    expect(answer.status).toBe(200);
    expect(answer.body).toBe("part one, part two");
    expect(answer.headers["x-app"]).toBe("yes");
    for (const name of ["transfer-encoding", "connection", "keep-alive"])
      expect(answer.headers[name]).toBeUndefined();
  });
});
