/**
 * Session affinity over HTTPS and HTTP/2 (a browser's page and its WebSocket share one
 * h2 connection): the cookie comes with plain h2 answers and with the 200 that accepts an
 * extended CONNECT (RFC 8441), Secure by default since the client came over TLS, and
 * pins both to one endpoint of three.
 */
import type http2 from "node:http2";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startEchoBackend, type EchoBackend } from "./helpers/backends.js";
import { selfSigned, tlsSecret, type TestCertificate } from "./helpers/certs.js";
import { roundTrip } from "./helpers/gateway.js";
import { connectH2, h2Request, h2Session, startH2Gateway, type H2Gateway } from "./helpers/h2.js";
import { route, serviceWithEndpoints } from "./helpers/objects.js";

const HOST = "chat.example.com";
let cert: TestCertificate;
let backends: EchoBackend[] = [];
let gw: H2Gateway;
let session: http2.ClientHttp2Session | undefined;

beforeAll(() => {
  cert = selfSigned(HOST);
});

beforeEach(async () => {
  backends = await Promise.all([startEchoBackend(), startEchoBackend(), startEchoBackend()]);
  gw = await startH2Gateway();
  gw.apply([
    ...serviceWithEndpoints(
      "apps",
      "echo",
      backends.map((b) => ({ port: b.port })),
    ),
    route("apps", "chat", {
      hostnames: [HOST],
      tls: { secretName: "chat-tls" },
      rules: [{ backendRefs: [{ name: "echo", port: 80 }] }],
      sessionAffinity: { type: "Cookie" },
    }),
    tlsSecret("apps", "chat-tls", cert),
  ]);
  session = await h2Session(gw.port, HOST);
});

afterEach(async () => {
  session?.destroy();
  session = undefined;
  await gw.close();
  await Promise.all(backends.map((b) => b.close()));
});

const setCookies = (h: http2.IncomingHttpHeaders): string[] => {
  const v = h["set-cookie"];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
};

async function poll(cookie?: string): Promise<{ port: number; setCookie: string[] }> {
  const answer = await h2Request(session!, {
    ":authority": HOST,
    ":path": "/socket.io/?EIO=4&transport=polling",
    ...(cookie ? { cookie } : {}),
  });
  expect(answer.status).toBe(200);
  return { port: (JSON.parse(answer.body) as { port: number }).port, setCookie: setCookies(answer.headers) };
}

describe("session affinity over HTTP/2", () => {
  it("issues a Secure cookie on h2 answers and keeps polling and the extended CONNECT on one endpoint", async () => {
    const first = await poll();
    expect(first.setCookie).toHaveLength(1);
    expect(first.setCookie[0]).toMatch(
      /^wsgate-affinity=[A-Za-z0-9_-]{24}; Path=\/; SameSite=Lax; HttpOnly; Secure$/,
    );
    const cookie = first.setCookie[0]!.split(";")[0]!;
    for (let i = 0; i < 10; i++) expect((await poll(cookie)).port).toBe(first.port);
    const { ws, answer } = await connectH2(session!, HOST, "/socket.io/?EIO=4&transport=websocket", {
      cookie,
    });
    expect(setCookies(answer.headers)).toEqual([]);
    expect(backends.find((b) => b.port === first.port)!.sockets.size).toBe(1);
    expect((await roundTrip(ws, "hi")).data.toString()).toBe("hi");
    ws.terminate();
  });

  it("issues the cookie with the 200 of an extended CONNECT that opens a session", async () => {
    const { ws, answer } = await connectH2(session!, HOST, "/ws");
    const issued = setCookies(answer.headers);
    expect(issued).toHaveLength(1);
    const served = backends.find((b) => b.sockets.size === 1)!;
    ws.terminate();
    expect((await poll(issued[0]!.split(";")[0]!)).port).toBe(served.port);
  });
});
