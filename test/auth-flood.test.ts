/**
 * Plain HTTP on a route with auth takes a token from the client's `handshakesPerClient`
 * bucket before auth runs, so a client cannot flood JWT verification or the forward-auth
 * service through the polling path; over the rate → 429 with Retry-After. IPv6 clients
 * are counted per /64.
 */
import { afterEach, describe, expect, it } from "vitest";
import { TrustedProxies } from "../src/dataplane/client-identity.js";
import { startHttpServer, type TestServer } from "./helpers/auth.js";
import { startTestGateway, type TestGateway } from "./helpers/gateway.js";
import { serviceWithEndpoints, simpleRoute } from "./helpers/objects.js";
import { getRequest, rawRequest, upgradeRequest } from "./helpers/raw-http.js";
import { startRecordingBackend, type RecordingBackend } from "./helpers/recording-backend.js";

describe("flooding an auth route", () => {
  let gw: TestGateway;
  let backend: RecordingBackend;
  let authService: TestServer;

  afterEach(async () => {
    await gw.close();
    await backend.close();
    await authService.close();
  });

  async function start(limits: Record<string, unknown>, auth = true): Promise<void> {
    backend = await startRecordingBackend();
    authService = await startHttpServer((_req, res) => {
      res.writeHead(200);
      res.end();
    });
    // The peer (127.0.0.1) is a trusted proxy, so X-Forwarded-For names the client.
    gw = await startTestGateway({ trustedProxies: new TrustedProxies(["127.0.0.1"]) });
    gw.apply([
      ...serviceWithEndpoints("apps", "echo", [{ port: backend.port }]),
      simpleRoute("apps", "echo", "echo", {
        limits,
        ...(auth ? { auth: { forwardAuth: { url: authService.url } } } : {}),
      }),
    ]);
  }

  const from = (client: string): string[] => [`X-Forwarded-For: ${client}`];

  it("refuses plain HTTP over the client's rate with 429 and Retry-After so that the auth service is not flooded", async () => {
    await start({ handshakesPerClient: { perSecond: 1, burst: 2 } });
    const answers = [];
    for (let i = 0; i < 5; i++)
      answers.push(await rawRequest(gw.port, getRequest("/poll", "a", from("203.0.113.7"))));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 429, 429, 429]);
    expect(answers[2]!.text).toMatch(/\r\nRetry-After: 1\r\n/i);
    expect(authService.requests).toHaveLength(2);
    // Another client has its own bucket.
    expect((await rawRequest(gw.port, getRequest("/poll", "a", from("203.0.113.8")))).status).toBe(200);
  });

  it("shares the bucket between handshakes and plain requests of one client", async () => {
    await start({ handshakesPerClient: { perSecond: 1, burst: 2 } });
    expect((await rawRequest(gw.port, getRequest("/poll", "a", from("203.0.113.7")))).status).toBe(200);
    expect((await rawRequest(gw.port, upgradeRequest("/ws", "a", from("203.0.113.7")))).status).toBe(101);
    expect((await rawRequest(gw.port, getRequest("/poll", "a", from("203.0.113.7")))).status).toBe(429);
    expect((await rawRequest(gw.port, upgradeRequest("/ws", "a", from("203.0.113.7")))).status).toBe(429);
  });

  it("counts IPv6 clients per /64 so that rotating addresses inside one prefix buys no extra requests", async () => {
    await start({ handshakesPerClient: { perSecond: 1, burst: 2 } });
    const statuses = [];
    for (const client of ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3"]) {
      statuses.push((await rawRequest(gw.port, getRequest("/poll", "a", from(client)))).status);
    }
    expect(statuses).toEqual([200, 200, 429]);
    expect((await rawRequest(gw.port, getRequest("/poll", "a", from("2001:db8:1:3::1")))).status).toBe(200);
  });

  it("leaves plain HTTP on a route without auth unlimited (its connection limits are for upgrades)", async () => {
    await start({ handshakesPerClient: { perSecond: 1, burst: 1 } }, false);
    for (let i = 0; i < 5; i++) {
      expect((await rawRequest(gw.port, getRequest("/page", "a", from("203.0.113.7")))).status).toBe(200);
    }
  });
});
