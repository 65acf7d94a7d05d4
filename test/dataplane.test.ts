/**
 * The data plane with real sockets: real `ws` clients → the gateway on port 0 →
 * real `ws` backends on port 0.
 */
import http from "node:http";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { channels, type EndpointEjected } from "../src/dataplane/events.js";
import { refusedPort, startEchoBackend, startSilentBackend, type EchoBackend } from "./helpers/backends.js";
import {
  closeClient,
  connect,
  expectRefusal,
  gatewayClosed,
  roundTrip,
  startTestGateway,
  type TestGateway,
} from "./helpers/gateway.js";
import { route, serviceWithEndpoints, simpleRoute } from "./helpers/objects.js";

let gw: TestGateway;
let backends: EchoBackend[] = [];
let clients: WebSocket[] = [];

beforeEach(async () => {
  gw = await startTestGateway();
});

afterEach(async () => {
  for (const c of clients) c.terminate();
  clients = [];
  await gw.close();
  await Promise.all(backends.map((b) => b.close()));
  backends = [];
});

async function echoBackends(
  n: number,
  options: Parameters<typeof startEchoBackend>[0] = {},
): Promise<EchoBackend[]> {
  const started = await Promise.all(Array.from({ length: n }, () => startEchoBackend(options)));
  backends.push(...started);
  return started;
}

async function open(n: number, path = "/", protocols?: string[]): Promise<WebSocket[]> {
  const opened: WebSocket[] = [];
  // Sequential, so least-connections sees each count before the next pick.
  for (let i = 0; i < n; i++) opened.push(await connect(gw.url(path), protocols));
  clients.push(...opened);
  return opened;
}

describe("relaying frames end to end", () => {
  beforeEach(async () => {
    const [b] = await echoBackends(1);
    gw.apply([
      ...serviceWithEndpoints("apps", "echo", [{ port: b!.port }]),
      simpleRoute("apps", "echo", "echo"),
    ]);
  });

  it("echoes text and binary messages", async () => {
    const [ws] = await open(1);
    const text = await roundTrip(ws!, "hello");
    expect(text.isBinary).toBe(false);
    expect(text.data.toString()).toBe("hello");
    const bytes = Buffer.from([0, 1, 2, 255, 254]);
    const binary = await roundTrip(ws!, bytes);
    expect(binary.isBinary).toBe(true);
    expect(Buffer.compare(binary.data, bytes)).toBe(0);
  });

  it("relays a 16 MiB message intact", async () => {
    const [ws] = await open(1);
    const big = Buffer.alloc(16 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big[i] = i % 251;
    const reply = await roundTrip(ws!, big);
    expect(reply.data.length).toBe(big.length);
    expect(Buffer.compare(reply.data, big)).toBe(0);
  });

  it("relays fragmented messages as one message", async () => {
    const [ws] = await open(1);
    const reply = new Promise<Buffer>((resolve) => ws!.once("message", (d) => resolve(d as Buffer)));
    ws!.send("frag-", { fin: false });
    ws!.send("ment-", { fin: false });
    ws!.send("ed", { fin: true });
    expect((await reply).toString()).toBe("frag-ment-ed");
  });

  it("relays pings and pongs both ways", async () => {
    const [ws] = await open(1);
    const pong = new Promise<Buffer>((resolve) => ws!.once("pong", resolve));
    ws!.ping("from-client");
    expect((await pong).toString()).toBe("from-client");

    const backendSocket = [...backends[0]!.sockets][0]!;
    const backendPong = new Promise<Buffer>((resolve) => backendSocket.once("pong", resolve));
    backendSocket.ping("from-backend");
    expect((await backendPong).toString()).toBe("from-backend");
  });

  it("passes close codes from the client to the backend", async () => {
    const [ws] = await open(1);
    const backendSocket = [...backends[0]!.sockets][0]!;
    const seen = new Promise<[number, string]>((resolve) =>
      backendSocket.once("close", (code, reason) => resolve([code, reason.toString()])),
    );
    ws!.close(4001, "client-bye");
    expect(await seen).toEqual([4001, "client-bye"]);
  });

  it("passes close codes from the backend to the client", async () => {
    const [ws] = await open(1);
    const seen = new Promise<[number, string]>((resolve) =>
      ws!.once("close", (code, reason) => resolve([code, reason.toString()])),
    );
    [...backends[0]!.sockets][0]!.close(4002, "backend-bye");
    expect(await seen).toEqual([4002, "backend-bye"]);
  });
});

describe("negotiation end to end", () => {
  it("lets the backend choose the subprotocol and negotiates permessage-deflate with the client", async () => {
    const [b] = await echoBackends(1, {
      perMessageDeflate: { threshold: 0 },
      handleProtocols: (protocols) => (protocols.has("chat.v2") ? "chat.v2" : false),
    });
    gw.apply([
      ...serviceWithEndpoints("apps", "echo", [{ port: b!.port }]),
      simpleRoute("apps", "echo", "echo"),
    ]);
    const ws = await connect(gw.url("/"), ["chat.v1", "chat.v2"], { perMessageDeflate: { threshold: 0 } });
    clients.push(ws);
    expect(ws.protocol).toBe("chat.v2");
    expect(ws.extensions).toContain("permessage-deflate");
    expect(b!.requests[0]!.headers["sec-websocket-extensions"]).toContain("permessage-deflate");
    const payload = "compressible ".repeat(1000);
    expect((await roundTrip(ws, payload)).data.toString()).toBe(payload);
  });

  it("forwards the handshake with X-Forwarded-* set by the gateway, not the client", async () => {
    const [b] = await echoBackends(1);
    gw.apply([
      ...serviceWithEndpoints("apps", "echo", [{ port: b!.port }]),
      simpleRoute("apps", "echo", "echo"),
    ]);
    const ws = await connect(gw.url("/chat?room=1"), undefined, {
      headers: { "X-Forwarded-For": "6.6.6.6", Forwarded: "for=6.6.6.6", "X-Custom": "kept" },
    });
    clients.push(ws);
    const seen = b!.requests[0]!;
    expect(seen.url).toBe("/chat?room=1");
    expect(seen.headers["x-forwarded-for"]).toBe("127.0.0.1");
    expect(seen.headers.forwarded).toBeUndefined();
    expect(seen.headers["x-forwarded-proto"]).toBe("http");
    expect(seen.headers["x-forwarded-host"]).toBe(`127.0.0.1:${gw.port}`);
    expect(seen.headers["x-custom"]).toBe("kept");
  });
});

describe("least-connections balancing", () => {
  it("spreads 300 connections over 3 backends within ±10%", async () => {
    const bs = await echoBackends(3);
    gw.apply([
      ...serviceWithEndpoints(
        "apps",
        "echo",
        bs.map((b) => ({ port: b.port })),
      ),
      simpleRoute("apps", "echo", "echo"),
    ]);
    await open(300);
    for (const b of bs) {
      expect(b.sockets.size).toBeGreaterThanOrEqual(90);
      expect(b.sockets.size).toBeLessThanOrEqual(110);
    }
  });

  it("sends new connections first to the backend whose connections closed", async () => {
    const bs = await echoBackends(3);
    gw.apply([
      ...serviceWithEndpoints(
        "apps",
        "echo",
        bs.map((b) => ({ port: b.port })),
      ),
      simpleRoute("apps", "echo", "echo"),
    ]);
    await open(30);
    const first = bs[0]!;
    // Close 6 of the connections that landed on the first backend (from its side).
    const firstSockets = [...first.sockets].slice(0, 6);
    const closed = gatewayClosed(6);
    const gone = firstSockets.map((s) => new Promise((resolve) => s.once("close", resolve)));
    for (const s of firstSockets) s.close(1000);
    await Promise.all([closed, ...gone]);
    expect(first.sockets.size).toBe(4);
    await open(6);
    expect(bs.map((b) => b.sockets.size)).toEqual([10, 10, 10]);
  });

  it("respects backendRef weights", async () => {
    const [heavy, light] = await echoBackends(2);
    gw.apply([
      ...serviceWithEndpoints("apps", "heavy", [{ port: heavy!.port }]),
      ...serviceWithEndpoints("apps", "light", [{ port: light!.port }]),
      route("apps", "weighted", {
        rules: [
          {
            backendRefs: [
              { name: "heavy", port: 80, weight: 3 },
              { name: "light", port: 80, weight: 1 },
            ],
          },
        ],
      }),
    ]);
    await open(200);
    expect(heavy!.sockets.size).toBeGreaterThanOrEqual(145);
    expect(heavy!.sockets.size).toBeLessThanOrEqual(155);
    expect(light!.sockets.size).toBe(200 - heavy!.sockets.size);
  });

  it("gives an unready endpoint nothing", async () => {
    const [ready, unready] = await echoBackends(2);
    gw.apply([
      ...serviceWithEndpoints("apps", "echo", [{ port: ready!.port }, { port: unready!.port, ready: false }]),
      simpleRoute("apps", "echo", "echo"),
    ]);
    await open(20);
    expect(ready!.sockets.size).toBe(20);
    expect(unready!.requests).toHaveLength(0);
  });

  it("gives a terminating endpoint no new connections", async () => {
    const [live, leaving] = await echoBackends(2);
    gw.apply([
      ...serviceWithEndpoints("apps", "echo", [
        { port: live!.port },
        { port: leaving!.port, ready: true, terminating: true },
      ]),
      simpleRoute("apps", "echo", "echo"),
    ]);
    await open(10);
    expect(live!.sockets.size).toBe(10);
    expect(leaving!.requests).toHaveLength(0);
  });
});

describe("passive health", () => {
  it("retries a refused connect on another endpoint and ejects the refusing one", async () => {
    const [alive] = await echoBackends(1);
    const dead = await refusedPort();
    gw.apply([
      ...serviceWithEndpoints("apps", "echo", [{ port: dead }, { port: alive!.port }]),
      simpleRoute("apps", "echo", "echo"),
    ]);
    const ejections: EndpointEjected[] = [];
    const onEject = (m: unknown): void => void ejections.push(m as EndpointEjected);
    channels.endpointEjected.subscribe(onEject);
    try {
      const opened = await open(10);
      expect(opened.every((ws) => ws.readyState === WebSocket.OPEN)).toBe(true);
      expect(alive!.sockets.size).toBe(10);
      // Only the first attempt reached the dead endpoint: after that it was ejected.
      expect(ejections).toHaveLength(1);
      expect(ejections[0]!.endpoint).toBe(`apps/echo:80@127.0.0.1:${dead}`);
      expect(gw.gateway.states.isEjected(`apps/echo:80@127.0.0.1:${dead}`)).toBe(true);
    } finally {
      channels.endpointEjected.unsubscribe(onEject);
    }
  });

  it("answers 502 when every endpoint refuses", async () => {
    const dead = [await refusedPort(), await refusedPort()];
    gw.apply([
      ...serviceWithEndpoints(
        "apps",
        "echo",
        dead.map((port) => ({ port })),
      ),
      simpleRoute("apps", "echo", "echo"),
    ]);
    const refusal = await expectRefusal(gw.url("/"));
    expect(refusal.status).toBe(502);
  });
});

describe("rejections are real HTTP responses", () => {
  it("answers 404 when no route matches", async () => {
    const [b] = await echoBackends(1);
    gw.apply([
      ...serviceWithEndpoints("apps", "echo", [{ port: b!.port }]),
      simpleRoute("apps", "echo", "echo", {}, "/ws"),
    ]);
    const refusal = await expectRefusal(gw.url("/other"));
    expect(refusal.status).toBe(404);
    expect(refusal.body).toContain("no route");
  });

  it("answers 503 with Retry-After when no endpoint is ready", async () => {
    gw.apply([...serviceWithEndpoints("apps", "echo", []), simpleRoute("apps", "echo", "echo")]);
    const refusal = await expectRefusal(gw.url("/"));
    expect(refusal.status).toBe(503);
    expect(Number(refusal.headers["retry-after"])).toBeGreaterThan(0);
  });

  it("answers 504 when the backend accepts TCP but never answers the handshake", async () => {
    const silent = await startSilentBackend();
    try {
      gw.apply([
        ...serviceWithEndpoints("apps", "echo", [{ port: silent.port }]),
        simpleRoute("apps", "echo", "echo", { timeouts: { handshake: "300ms" } }),
      ]);
      const refusal = await expectRefusal(gw.url("/"));
      expect(refusal.status).toBe(504);
    } finally {
      await silent.close();
    }
  });

  it("passes on a backend's own refusal (status and body)", async () => {
    const [b] = await echoBackends(1, {
      verifyClient: (_info, cb) => cb(false, 403, "not for you"),
    });
    gw.apply([
      ...serviceWithEndpoints("apps", "echo", [{ port: b!.port }]),
      simpleRoute("apps", "echo", "echo"),
    ]);
    const refusal = await expectRefusal(gw.url("/"));
    expect(refusal.status).toBe(403);
  });

  it("answers 400 to a malformed handshake and 426 to an unsupported version", async () => {
    const [b] = await echoBackends(1);
    gw.apply([
      ...serviceWithEndpoints("apps", "echo", [{ port: b!.port }]),
      simpleRoute("apps", "echo", "echo"),
    ]);
    const raw = (headers: Record<string, string>): Promise<http.IncomingMessage> =>
      new Promise((resolve, reject) => {
        const req = http.request({
          host: "127.0.0.1",
          port: gw.port,
          path: "/",
          headers: { Connection: "Upgrade", Upgrade: "websocket", ...headers },
        });
        req.on("response", resolve);
        req.on("upgrade", () => reject(new Error("upgraded")));
        req.on("error", reject);
        req.end();
      });
    expect((await raw({ "Sec-WebSocket-Version": "13" })).statusCode).toBe(400);
    const old = await raw({ "Sec-WebSocket-Version": "8", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==" });
    expect(old.statusCode).toBe(426);
    expect(old.headers["sec-websocket-version"]).toBe("13");
    expect(b!.requests).toHaveLength(0);
  });
});

describe("table swaps never touch established connections", () => {
  it("keeps 100 open connections working through a route edit", async () => {
    const bs = await echoBackends(2);
    const service = serviceWithEndpoints(
      "apps",
      "echo",
      bs.map((b) => ({ port: b.port })),
    );
    gw.apply([...service, simpleRoute("apps", "echo", "echo")]);
    const opened = await open(100);
    const before = gw.holder.current.generation;
    gw.apply([
      ...service,
      simpleRoute("apps", "echo", "echo", { hostnames: ["chat.example.com"], timeouts: { connect: "1s" } }),
    ]);
    expect(gw.holder.current.generation).toBe(before + 1);
    const replies = await Promise.all(opened.map((ws, i) => roundTrip(ws, `still-${i}`)));
    expect(replies.map((r) => r.data.toString())).toEqual(opened.map((_, i) => `still-${i}`));
  });

  it("stops new handshakes with 404 after a route is removed, leaving open ones alone", async () => {
    const [b] = await echoBackends(1);
    const service = serviceWithEndpoints("apps", "echo", [{ port: b!.port }]);
    gw.apply([...service, simpleRoute("apps", "echo", "echo")]);
    const [ws] = await open(1);
    gw.apply(service);
    expect((await expectRefusal(gw.url("/"))).status).toBe(404);
    expect((await roundTrip(ws!, "after removal")).data.toString()).toBe("after removal");
  });

  it("keeps a connection whose endpoint left the table, and counts it until it closes", async () => {
    const [b, other] = await echoBackends(2);
    gw.apply([
      ...serviceWithEndpoints("apps", "echo", [{ port: b!.port }]),
      simpleRoute("apps", "echo", "echo"),
    ]);
    const [ws] = await open(1);
    const id = `apps/echo:80@127.0.0.1:${b!.port}`;
    gw.apply([
      ...serviceWithEndpoints("apps", "echo", [{ port: other!.port }]),
      simpleRoute("apps", "echo", "echo"),
    ]);
    expect((await roundTrip(ws!, "orphan")).data.toString()).toBe("orphan");
    expect(gw.gateway.states.active(id)).toBe(1);
    const closed = gatewayClosed(1);
    await closeClient(ws!);
    await closed;
    expect(gw.gateway.states.active(id)).toBe(0);
  });
});

describe("plain HTTP on a matched route", () => {
  it("proxies the request and replaces client-sent forwarding headers", async () => {
    const [b] = await echoBackends(1);
    gw.apply([
      ...serviceWithEndpoints("apps", "echo", [{ port: b!.port }]),
      simpleRoute("apps", "echo", "echo"),
    ]);
    const response = await fetch(`http://127.0.0.1:${gw.port}/socket.io/?EIO=4&transport=polling`, {
      headers: { "X-Forwarded-For": "6.6.6.6" },
    });
    expect(response.status).toBe(200);
    const seen = (await response.json()) as { path: string; headers: Record<string, string> };
    expect(seen.path).toBe("/socket.io/?EIO=4&transport=polling");
    expect(seen.headers["x-forwarded-for"]).toBe("127.0.0.1");
  });

  it("answers 404 and 503 like the upgrade path", async () => {
    gw.apply([...serviceWithEndpoints("apps", "echo", []), simpleRoute("apps", "echo", "echo", {}, "/app")]);
    expect((await fetch(`http://127.0.0.1:${gw.port}/nothing`)).status).toBe(404);
    const unavailable = await fetch(`http://127.0.0.1:${gw.port}/app`);
    expect(unavailable.status).toBe(503);
    expect(unavailable.headers.get("retry-after")).toBe("5");
  });
});
