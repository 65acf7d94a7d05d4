/**
 * Forward auth against a real HTTP auth service: it allows (with response headers
 * copied upstream), denies (its answer passed to the client), is slow (503), fails
 * (503) or is down (503); connections to it are pooled.
 */
import type http from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import type WebSocket from "ws";
import { httpGet, startHttpServer, type TestServer } from "./helpers/auth.js";
import { refusedPort, startEchoBackend, type EchoBackend } from "./helpers/backends.js";
import { connect, expectRefusal, startTestGateway, type TestGateway } from "./helpers/gateway.js";
import { serviceWithEndpoints, simpleRoute } from "./helpers/objects.js";

let gw: TestGateway | undefined;
let backend: EchoBackend | undefined;
let auth: TestServer | undefined;
let clients: WebSocket[] = [];
const hung: http.ServerResponse[] = [];

afterEach(async () => {
  for (const c of clients) c.terminate();
  clients = [];
  for (const res of hung.splice(0)) res.destroy();
  await gw?.close();
  await backend?.close();
  await auth?.close();
  gw = backend = auth = undefined;
});

/** The auth service decides by the request's `Cookie`: `user=<name>` is allowed, `slow` hangs, `boom` fails. */
function decide(req: http.IncomingMessage, res: http.ServerResponse): void {
  const cookie = req.headers.cookie ?? "";
  if (cookie.includes("slow")) {
    hung.push(res);
    return;
  }
  if (cookie.includes("boom")) {
    res.writeHead(500).end("internal");
    return;
  }
  const user = /user=(\w+)/.exec(cookie)?.[1];
  if (!user) {
    res.writeHead(401, { "WWW-Authenticate": 'Cookie realm="app"', "Content-Type": "text/plain" });
    res.end("please log in");
    return;
  }
  if (user === "mallory") {
    res.writeHead(403, { "Content-Type": "application/json" }).end('{"error":"banned"}');
    return;
  }
  if (user === "guest") {
    res.writeHead(302, { Location: "https://login.example.com/?rd=x" }).end();
    return;
  }
  res.writeHead(200, { "X-User-Id": user, "X-Internal": "not copied" }).end();
}

async function setup(url?: string, timeout = "2s"): Promise<TestGateway> {
  gw = await startTestGateway();
  backend = await startEchoBackend();
  if (url === undefined) {
    auth = await startHttpServer(decide, "/verify?realm=chat");
    url = auth.url;
  }
  gw.apply([
    ...serviceWithEndpoints("apps", "echo", [{ port: backend.port }]),
    simpleRoute("apps", "echo", "echo", {
      auth: {
        forwardAuth: { url, requestHeaders: ["Cookie"], responseHeaders: ["X-User-Id"], timeout },
      },
    }),
  ]);
  return gw;
}

async function open(url: string, headers: Record<string, string>): Promise<WebSocket> {
  const ws = await connect(url, undefined, { headers });
  clients.push(ws);
  return ws;
}

describe("forward auth", () => {
  it("admits on 2xx, copies responseHeaders upstream over the client's copies, and tells the auth service about the request", async () => {
    const gw = await setup();
    await open(gw.url("/room/7?x=1"), {
      Cookie: "user=alice",
      "X-User-Id": "root",
      Authorization: "Basic x",
    });
    const seen = backend!.requests[0]!;
    expect(seen.headers["x-user-id"]).toBe("alice");
    expect(seen.rawHeaders.filter((h) => h.toLowerCase() === "x-user-id")).toHaveLength(1);
    expect(seen.headers["x-internal"]).toBeUndefined();
    const asked = auth!.requests[0]!;
    expect(asked.method).toBe("GET");
    expect(asked.url).toBe("/verify?realm=chat");
    expect(asked.headers.cookie).toBe("user=alice");
    // Only requestHeaders are copied.
    expect(asked.headers.authorization).toBeUndefined();
    expect(asked.headers["x-forwarded-method"]).toBe("GET");
    expect(asked.headers["x-forwarded-uri"]).toBe("/room/7?x=1");
    expect(asked.headers["x-forwarded-host"]).toBe(`127.0.0.1:${gw.port}`);
  });

  it("passes a 401 with the auth service's body and challenge to the client", async () => {
    const gw = await setup();
    const refusal = await expectRefusal(gw.url(), { headers: { Cookie: "theme=dark" } });
    expect(refusal.status).toBe(401);
    expect(refusal.body).toBe("please log in");
    expect(refusal.headers["www-authenticate"]).toBe('Cookie realm="app"');
    expect(backend!.requests).toHaveLength(0);
  });

  it("passes a 403 and a redirect to a login page on as they came", async () => {
    const gw = await setup();
    const banned = await expectRefusal(gw.url(), { headers: { Cookie: "user=mallory" } });
    expect(banned.status).toBe(403);
    expect(banned.body).toBe('{"error":"banned"}');
    expect(banned.headers["content-type"]).toBe("application/json");
    const guest = await expectRefusal(gw.url(), { headers: { Cookie: "user=guest" } });
    expect(guest.status).toBe(302);
    expect(guest.headers.location).toBe("https://login.example.com/?rd=x");
  });

  it("answers 503 when the auth service does not answer within the timeout", async () => {
    const gw = await setup(undefined, "200ms");
    const refusal = await expectRefusal(gw.url(), { headers: { Cookie: "slow" } });
    expect(refusal.status).toBe(503);
    expect(refusal.body).toBe("the auth service did not answer in time\n");
    expect(backend!.requests).toHaveLength(0);
  });

  it("answers 503 when the auth service fails with a 5xx", async () => {
    const gw = await setup();
    const refusal = await expectRefusal(gw.url(), { headers: { Cookie: "boom" } });
    expect(refusal.status).toBe(503);
    expect(refusal.body).not.toContain("internal");
  });

  it("answers 503 when the auth service is down", async () => {
    const gw = await setup(`http://127.0.0.1:${await refusedPort()}/verify`);
    const refusal = await expectRefusal(gw.url(), { headers: { Cookie: "user=alice" } });
    expect(refusal.status).toBe(503);
    expect(backend!.requests).toHaveLength(0);
  });

  it("keeps connections to the auth service alive and reuses them", async () => {
    const gw = await setup();
    for (let i = 0; i < 5; i++) await open(gw.url(), { Cookie: "user=alice" });
    expect(await expectRefusal(gw.url(), { headers: { Cookie: "user=mallory" } })).toMatchObject({
      status: 403,
    });
    expect(auth!.requests).toHaveLength(6);
    expect(auth!.connections()).toBe(1);
  });

  it("applies to plain HTTP requests on the route", async () => {
    const gw = await setup();
    const denied = await httpGet(gw.port, "/page");
    expect(denied.status).toBe(401);
    expect(denied.body).toBe("please log in");
    expect(denied.headers["www-authenticate"]).toBe('Cookie realm="app"');
    const ok = await httpGet(gw.port, "/page", { Cookie: "user=bob", "X-User-Id": "root" });
    expect(ok.status).toBe(200);
    expect((JSON.parse(ok.body) as { headers: Record<string, string> }).headers["x-user-id"]).toBe("bob");
    expect(auth!.requests.at(-1)!.headers["x-forwarded-method"]).toBe("GET");
    const slow = await httpGet(gw.port, "/page", { Cookie: "boom" });
    expect(slow.status).toBe(503);
  });
});
