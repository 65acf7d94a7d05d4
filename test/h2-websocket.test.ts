/**
 * WebSockets over HTTP/2 (RFC 8441) and plain HTTP/2 requests, end to end: Node's
 * `http2` client sends extended CONNECT to the HTTPS listener, real `ws` backends
 * answer over HTTP/1.1, and messages flow both ways through the gateway's relay.
 */
import http2 from "node:http2";
import { Writable } from "node:stream";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { logDataplaneEvents } from "../src/observability/log-events.js";
import { createLogger } from "../src/observability/logger.js";
import { Metrics } from "../src/observability/metrics.js";
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

let cert: TestCertificate;
let backend: EchoBackend;
let gw: H2Gateway;
let session: http2.ClientHttp2Session | undefined;

beforeAll(() => {
  cert = selfSigned("chat.example.com");
});

beforeEach(async () => {
  backend = await startEchoBackend();
  gw = await startH2Gateway();
  gw.apply([
    ...serviceWithEndpoints("apps", "echo", [{ port: backend.port }]),
    route("apps", "chat", {
      hostnames: ["chat.example.com"],
      tls: { secretName: "chat-tls" },
      rules: [{ backendRefs: [{ name: "echo", port: 80 }] }],
    }),
    tlsSecret("apps", "chat-tls", cert),
  ]);
});

afterEach(async () => {
  session?.destroy();
  session = undefined;
  await gw.close();
  await backend.close();
});

describe("extended CONNECT", () => {
  it("carries a WebSocket over an HTTP/2 stream to an HTTP/1.1 backend so that browsers can share their page's connection", async () => {
    session = await h2Session(gw.port, "chat.example.com");
    expect(session.remoteSettings.enableConnectProtocol).toBe(true);
    const { ws, answer } = await connectH2(session, "chat.example.com", "/room?x=1");
    expect(answer.status).toBe(200);
    expect(answer.headers["sec-websocket-accept"]).toBeUndefined();
    expect((await roundTrip(ws, "hello over h2")).data.toString()).toBe("hello over h2");
    expect((await roundTrip(ws, Buffer.alloc(100_000, 7))).data.length).toBe(100_000);
    const upstream = backend.requests.at(-1);
    expect(upstream?.url).toBe("/room?x=1");
    expect(upstream?.headers.host).toBe("chat.example.com");
    expect(upstream?.headers["sec-websocket-key"]).toMatch(/^[A-Za-z0-9+/]{22}==$/);
  });

  it("refuses a CONNECT for another protocol so that wsgate is no tunnel", async () => {
    session = await h2Session(gw.port, "chat.example.com");
    const answer = await extendedConnect(session, "chat.example.com", "/", { ":protocol": "connect-udp" });
    expect(answer.status).toBe(501);
    expect(await bodyOf(answer.stream)).toMatch(/not supported/);
  });
});

describe("observability", () => {
  it("labels each WebSocket with the client's HTTP version in metrics and logs, so that an operator sees which path browsers took", async () => {
    const metrics = new Metrics({ connections: [], onPublish: () => () => {} });
    const lines: string[] = [];
    const logger = createLogger(
      "info",
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          lines.push(chunk.toString());
          callback();
        },
      }),
    );
    const stopLogging = logDataplaneEvents(logger);
    try {
      session = await h2Session(gw.port, "chat.example.com");
      const { ws } = await connectH2(session, "chat.example.com");
      await roundTrip(ws, "two");
      const h1 = new WebSocket(`wss://127.0.0.1:${gw.port}/`, {
        servername: "chat.example.com",
        headers: { Host: "chat.example.com" },
        rejectUnauthorized: false,
      } as WebSocket.ClientOptions);
      await new Promise((resolve, reject) => h1.once("open", resolve).once("error", reject));
      await roundTrip(h1, "one");
      const text = await metrics.registry.metrics();
      expect(text).toMatch(
        /wsgate_connections_http_version_total\{namespace="apps",route="chat",http_version="2"\} 1/,
      );
      expect(text).toMatch(
        /wsgate_connections_http_version_total\{namespace="apps",route="chat",http_version="1.1"\} 1/,
      );
      const closedLogs = (): { httpVersion?: string }[] =>
        lines
          .map((l) => JSON.parse(l) as { event?: string; httpVersion?: string })
          .filter((l) => l.event === "connection_closed");
      const bothClosed = new Promise<void>((resolve) => {
        const check = setInterval(() => {
          if (closedLogs().length >= 2) {
            clearInterval(check);
            resolve();
          }
        }, 10);
      });
      ws.close(1000);
      h1.close(1000);
      await bothClosed;
      expect(
        closedLogs()
          .map((l) => l.httpVersion)
          .sort(),
      ).toEqual(["1.1", "2"]);
      // Refusals say which path too: an upgrade and a plain request refused over HTTP/2.
      const refused = await extendedConnect(session, "chat.example.com", "/x", {
        "sec-websocket-version": "8",
      });
      expect(refused.status).toBe(426);
      expect((await h2Request(session, { ":authority": "nowhere.example.com", ":path": "/" })).status).toBe(
        421,
      );
      const refusals = lines
        .map((l) => JSON.parse(l) as { event?: string; httpVersion?: string; status?: number })
        .filter((l) => l.event === "handshake_rejected" || l.event === "request_rejected");
      expect(refusals.map((l) => [l.event, l.status, l.httpVersion])).toEqual([
        ["handshake_rejected", 426, "2"],
        ["request_rejected", 421, "2"],
      ]);
    } finally {
      stopLogging();
      metrics.close();
    }
  });
});

describe("plain HTTP/2 requests", () => {
  it("proxies a GET to the HTTP/1.1 backend with :authority as its Host", async () => {
    session = await h2Session(gw.port, "chat.example.com");
    const answer = await h2Request(session, {
      ":authority": "chat.example.com",
      ":path": "/page/../app?q=1",
    });
    expect(answer.status).toBe(200);
    const seen = JSON.parse(answer.body) as { path: string; headers: Record<string, string> };
    expect(seen.path).toBe("/app?q=1");
    expect(seen.headers.host).toBe("chat.example.com");
    expect(Object.keys(seen.headers).some((k) => k.startsWith(":"))).toBe(false);
  });

  it("never completes upstream a request body the client reset midway, so that the next request on the pooled backend connection is not read as its rest", async () => {
    session = await h2Session(gw.port, "chat.example.com");
    // The backend answers at once without reading the body: the stream stays open for it.
    const cut = session.request({
      ":method": "POST",
      ":scheme": "https",
      ":authority": "chat.example.com",
      ":path": "/upload",
      "content-length": "10",
    });
    cut.write("abc");
    const status = await new Promise<number>((resolve) =>
      cut.once("response", (h) => resolve(Number(h[":status"]))),
    );
    expect(status).toBe(200);
    cut.close(http2.constants.NGHTTP2_CANCEL);
    await new Promise((resolve) => cut.once("close", resolve));
    for (let i = 0; i < 3; i++) {
      const next = await h2Request(session, { ":authority": "chat.example.com", ":path": `/next${i}` });
      expect(next.status).toBe(200);
      expect((JSON.parse(next.body) as { path: string }).path).toBe(`/next${i}`);
    }
  });
});
