/**
 * WebSockets over HTTP/2 (RFC 8441) and plain HTTP/2 requests, end to end: Node's
 * `http2` client sends extended CONNECT to the HTTPS listener, real `ws` backends
 * answer over HTTP/1.1, and messages flow both ways through the gateway's relay.
 */
import http2 from "node:http2";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
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
