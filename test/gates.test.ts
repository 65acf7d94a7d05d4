/**
 * Handshake gates with real sockets: Origin, connection and rate limits, client
 * identity through trusted proxies, and the PROXY protocol.
 */
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type WebSocket from "ws";
import { TrustedProxies } from "../src/dataplane/client-identity.js";
import { startEchoBackend, type EchoBackend } from "./helpers/backends.js";
import {
  connect,
  expectRefusal,
  gatewayClosed,
  startTestGateway,
  type TestGateway,
  type TestGatewayOptions,
} from "./helpers/gateway.js";
import { serviceWithEndpoints, simpleRoute } from "./helpers/objects.js";

let gw: TestGateway | undefined;
let backend: EchoBackend | undefined;
let clients: WebSocket[] = [];

afterEach(async () => {
  for (const c of clients) c.terminate();
  clients = [];
  await gw?.close();
  await backend?.close();
  gw = undefined;
  backend = undefined;
});

async function setup(extra: Record<string, unknown>, options: TestGatewayOptions = {}): Promise<TestGateway> {
  gw = await startTestGateway(options);
  backend = await startEchoBackend();
  gw.apply([
    ...serviceWithEndpoints("apps", "echo", [{ port: backend.port }]),
    simpleRoute("apps", "echo", "echo", extra),
  ]);
  return gw;
}

async function open(
  url: string,
  headers: Record<string, string> = {},
  options: WebSocket.ClientOptions = {},
): Promise<WebSocket> {
  const ws = await connect(url, undefined, { headers, ...options });
  clients.push(ws);
  return ws;
}

describe("Origin", () => {
  const origins = {
    origins: { allow: ["https://app.example.com", "https://*.example.org"], allowMissing: false },
  };

  it.each([
    ["https://app.example.com", 101],
    ["https://a.b.example.org", 101],
    ["https://evil.example.com", 403],
    ["http://app.example.com", 403],
    ["https://app.example.com:8443", 403],
    ["null", 403],
  ])("Origin %s → %d", async (origin, expected) => {
    const gw = await setup(origins);
    if (expected === 101) {
      await open(gw.url(), { Origin: origin });
    } else {
      expect((await expectRefusal(gw.url(), { headers: { Origin: origin } })).status).toBe(expected);
    }
  });

  it("refuses a missing Origin before contacting any backend, unless allowMissing", async () => {
    const gw = await setup(origins);
    expect((await expectRefusal(gw.url())).status).toBe(403);
    expect(backend!.requests).toHaveLength(0);
    gw.apply([
      ...serviceWithEndpoints("apps", "echo", [{ port: backend!.port }]),
      simpleRoute("apps", "echo", "echo", { origins: { ...origins.origins, allowMissing: true } }),
    ]);
    await open(gw.url());
  });
});

describe("limits", () => {
  it("answers 503 with Retry-After over the route's maxConnections, and admits again after a close", async () => {
    const gw = await setup({ limits: { maxConnections: 2 } });
    const [first] = [await open(gw.url()), await open(gw.url())];
    const refusal = await expectRefusal(gw.url());
    expect(refusal.status).toBe(503);
    expect(Number(refusal.headers["retry-after"])).toBeGreaterThan(0);
    const closed = gatewayClosed(1);
    first!.close();
    await closed;
    await open(gw.url());
  });

  it("answers 429 over maxConnectionsPerClient, counting clients by their forwarded address behind a trusted proxy", async () => {
    const gw = await setup(
      { limits: { maxConnectionsPerClient: 2 } },
      { trustedProxies: new TrustedProxies(["127.0.0.0/8"]) },
    );
    await open(gw.url(), { "X-Forwarded-For": "198.51.100.1" });
    await open(gw.url(), { "X-Forwarded-For": "198.51.100.1" });
    expect((await expectRefusal(gw.url(), { headers: { "X-Forwarded-For": "198.51.100.1" } })).status).toBe(
      429,
    );
    // Another client behind the same proxy has its own allowance.
    await open(gw.url(), { "X-Forwarded-For": "198.51.100.2" });
  });

  it("ignores X-Forwarded-For from an untrusted peer when counting clients", async () => {
    const gw = await setup({ limits: { maxConnectionsPerClient: 1 } });
    await open(gw.url(), { "X-Forwarded-For": "198.51.100.1" });
    expect((await expectRefusal(gw.url(), { headers: { "X-Forwarded-For": "198.51.100.2" } })).status).toBe(
      429,
    );
  });

  it("answers 429 with Retry-After when a client's handshake rate exceeds its token bucket", async () => {
    const gw = await setup({ limits: { handshakesPerClient: { perSecond: 1, burst: 2 } } });
    await open(gw.url());
    await open(gw.url());
    const refusal = await expectRefusal(gw.url());
    expect(refusal.status).toBe(429);
    expect(Number(refusal.headers["retry-after"])).toBeGreaterThanOrEqual(1);
  });
});

describe("forwarding headers", () => {
  it("extends the chain from a trusted proxy", async () => {
    const gw = await setup({}, { trustedProxies: new TrustedProxies(["127.0.0.1"]) });
    await open(gw.url(), { "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https" });
    const seen = backend!.requests[0]!.headers;
    expect(seen["x-forwarded-for"]).toBe("203.0.113.9, 127.0.0.1");
    expect(seen["x-forwarded-proto"]).toBe("https");
  });

  it("replaces a spoofed chain from an untrusted peer", async () => {
    const gw = await setup({});
    await open(gw.url(), { "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https" });
    const seen = backend!.requests[0]!.headers;
    expect(seen["x-forwarded-for"]).toBe("127.0.0.1");
    expect(seen["x-forwarded-proto"]).toBe("http");
  });
});

describe("PROXY protocol", () => {
  /** A ws client whose TCP connection starts with `header`. */
  function viaLoadBalancer(gw: TestGateway, header: Buffer): Promise<WebSocket> {
    return open(
      gw.url(),
      {},
      {
        createConnection: () => {
          const socket = net.connect(gw.port, "127.0.0.1");
          socket.write(header);
          return socket;
        },
      },
    );
  }

  it("takes the client address from a v1 header", async () => {
    const gw = await setup({}, { proxyProtocol: true });
    await viaLoadBalancer(gw, Buffer.from("PROXY TCP4 203.0.113.7 10.0.0.1 51234 8080\r\n"));
    expect(backend!.requests[0]!.headers["x-forwarded-for"]).toBe("203.0.113.7");
  });

  it("takes the client address from a v2 header (IPv4 and IPv6)", async () => {
    const gw = await setup({}, { proxyProtocol: true });
    const signature = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
    const v4 = Buffer.concat([
      signature,
      Buffer.from([0x21, 0x11, 0x00, 0x0c, 198, 51, 100, 23, 10, 0, 0, 1, 0xc8, 0x22, 0x1f, 0x90]),
    ]);
    await viaLoadBalancer(gw, v4);
    expect(backend!.requests[0]!.headers["x-forwarded-for"]).toBe("198.51.100.23");
    const address = Buffer.alloc(36);
    Buffer.from([0x20, 0x01, 0x0d, 0xb8]).copy(address, 0);
    address[15] = 0x07;
    const v6 = Buffer.concat([signature, Buffer.from([0x21, 0x21, 0x00, 0x24]), address]);
    await viaLoadBalancer(gw, v6);
    expect(backend!.requests[1]!.headers["x-forwarded-for"]).toBe("2001:db8::7");
  });

  it("drops a connection without a PROXY header", async () => {
    const gw = await setup({}, { proxyProtocol: true });
    const socket = net.connect(gw.port, "127.0.0.1");
    socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    const received: Buffer[] = [];
    socket.on("data", (d) => received.push(d));
    await new Promise((resolve) => socket.once("close", resolve));
    expect(Buffer.concat(received).length).toBe(0);
    expect(backend!.requests).toHaveLength(0);
  });
});
