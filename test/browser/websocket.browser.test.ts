/**
 * WebSockets from a real page: Debian's Chromium (playwright-core) loads a page served
 * through a standalone gateway and opens a WebSocket through it — over HTTP/1.1 on the
 * plain listener, and over HTTP/2 on the HTTPS listener (certificate from a test CA,
 * trusted by its key), where Chromium carries the socket inside the page's own connection
 * (RFC 8441). Each test waits on the page's own record of its socket (test/browser/page.ts),
 * never on time.
 */
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTestCa } from "../helpers/test-ca.js";
import { startForeignOrigin } from "./app.js";
import {
  documentProtocol,
  handshakeStatuses,
  keepDiary,
  launchChromium,
  trustForHost,
  type PageDiary,
} from "./chromium.js";
import { ofType, untilEvents } from "./events.js";
import { socketFragment } from "./page.js";
import { startBrowserScene, TLS_HOST, type BrowserScene } from "./scene.js";

interface Transport {
  readonly name: string;
  /** What the page's document comes over (`nextHopProtocol`). */
  readonly alpn: string;
  /** The handshake answer's status as Chromium's network layer sees it. */
  readonly handshake: number;
  /** The gateway's `http_version` label for this path (`wsgate_connections_http_version_total`). */
  readonly httpVersion: string;
  /** What Chromium writes to the page's console when a handshake is answered 401. */
  readonly unauthorizedConsole: RegExp;
  /** The Chromium this transport's tests share (launched once). */
  browser(): Promise<Browser>;
  scene(): Promise<BrowserScene>;
}

const leaf = (() => {
  let cert: { certPem: string; keyPem: string } | undefined;
  return () => (cert ??= createTestCa("wsgate browser test CA").issue([TLS_HOST]));
})();

const TRANSPORTS: Transport[] = [
  {
    name: "HTTP/1.1",
    alpn: "http/1.1",
    handshake: 101,
    httpVersion: "1.1",
    unauthorizedConsole: /HTTP Authentication failed/,
    browser: () => sharedBrowser("plain", []),
    scene: () => startBrowserScene(),
  },
  {
    name: "HTTP/2",
    alpn: "h2",
    handshake: 200,
    httpVersion: "2",
    // Chromium 148 gives no reason for a refused stream; the gateway's metrics do below.
    unauthorizedConsole: /WebSocket connection to 'wss:\/\/[^']+\/secure\/ws' failed/,
    browser: () => sharedBrowser("tls", trustForHost(TLS_HOST, leaf().certPem)),
    scene: () => startBrowserScene({ tls: leaf() }),
  },
];

const browsers = new Map<string, Promise<Browser>>();
function sharedBrowser(key: string, args: string[]): Promise<Browser> {
  let browser = browsers.get(key);
  if (!browser) browsers.set(key, (browser = launchChromium(args)));
  return browser;
}

let scene: BrowserScene | undefined;
let context: BrowserContext | undefined;
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  await context?.close();
  for (const c of cleanups.splice(0)) await c();
  await scene?.close();
  context = scene = undefined;
});

afterAll(async () => {
  for (const b of browsers.values()) await (await b).close();
});

describe.each(TRANSPORTS)("WebSockets from Chromium over $name", { timeout: 90_000 }, (transport) => {
  async function open(): Promise<{ scene: BrowserScene; context: BrowserContext; browser: Browser }> {
    const browser = await transport.browser();
    scene = await transport.scene();
    context = await browser.newContext();
    return { scene, context, browser };
  }

  /** A page of `context` with its handshake statuses recorded, loaded at `/app/` + `fragment`. */
  async function load(
    c: BrowserContext,
    s: BrowserScene,
    fragment: string,
  ): Promise<{ page: Page; statuses: number[]; diary: PageDiary }> {
    const page = await c.newPage();
    const diary = keepDiary(page);
    const statuses = await handshakeStatuses(page);
    const response = await page.goto(`${s.origin}/app/${fragment}`);
    expect(response?.status()).toBe(200);
    expect(await documentProtocol(page)).toBe(transport.alpn);
    return { page, statuses, diary };
  }

  /** The gateway's own account of the path: one WebSocket on `route`, with this HTTP version. */
  async function expectGatewayPath(s: BrowserScene, route: string): Promise<void> {
    const metrics = await s.metrics();
    expect(metrics.series("wsgate_connections_http_version_total").filter((l) => l.route === route)).toEqual([
      { namespace: "apps", route, http_version: transport.httpVersion },
    ]);
    expect(metrics.sum("wsgate_connections_http_version_total", { route })).toBe(1);
  }

  beforeAll(async () => {
    // Launch before the first test's clock starts: a cold Chromium on a loaded machine is slow.
    await transport.browser();
  }, 90_000);

  it("carries messages both ways and the backend's subprotocol to a page served through the gateway, so that browser apps work behind wsgate unchanged", async () => {
    const { scene, context } = await open();
    const { page, statuses, diary } = await load(
      context,
      scene,
      socketFragment({ ws: "/app/ws", protocols: ["chat.v1", "chat.v0"], send: ["hello", "again"] }),
    );
    const events = await untilEvents(page, "message", 2);
    expect(ofType(events, "open")).toEqual([
      { type: "open", protocol: "chat.v1", extensions: expect.any(String) },
    ]);
    expect(ofType(events, "message").map((m) => m.data)).toEqual(["echo: hello", "echo: again"]);
    expect(statuses).toEqual([transport.handshake]);
    // What reached the backend is the browser's handshake, as HTTP/1.1 whatever the client spoke.
    expect(scene.app.upgrades).toHaveLength(1);
    expect(scene.app.upgrades[0]!.httpVersion).toBe("1.1");
    expect(scene.app.upgrades[0]!.headers.origin).toBe(scene.origin);
    expect(scene.app.upgrades[0]!.headers["user-agent"]).toMatch(/Chrome/);
    await expectGatewayPath(scene, "page");
    const metrics = await scene.metrics();
    expect(metrics.sum("wsgate_connections_active", { route: "page" })).toBe(1);
    expect(metrics.sum("wsgate_messages_total", { route: "page", direction: "from_client" })).toBe(2);
    expect(metrics.sum("wsgate_messages_total", { route: "page", direction: "to_client" })).toBe(2);
    expect(diary.errors).toEqual([]);
  });

  it("authenticates the page's WebSocket with the session cookie its login set, and refuses it without one, so that a browser session is all a page needs", async () => {
    const { scene, context, browser } = await open();
    await context.addCookies([{ name: "session", value: await scene.token(), url: scene.origin }]);
    const { page, statuses } = await load(
      context,
      scene,
      socketFragment({ ws: "/secure/ws", protocols: ["chat.v1"], send: ["hi"] }),
    );
    const events = await untilEvents(page, "message");
    expect(ofType(events, "message").map((m) => m.data)).toEqual(["echo: hi"]);
    expect(statuses).toEqual([transport.handshake]);
    expect(scene.app.upgrades).toHaveLength(1);
    expect(scene.app.upgrades[0]!.headers["x-user-id"]).toBe("alice");
    await expectGatewayPath(scene, "secure");

    const anonymous = await browser.newContext();
    cleanups.push(() => anonymous.close());
    const { page: refused, diary } = await load(
      anonymous,
      scene,
      socketFragment({ ws: "/secure/ws", protocols: ["chat.v1"] }),
    );
    const failed = await untilEvents(refused, "close");
    expect(ofType(failed, "open")).toEqual([]);
    expect(ofType(failed, "close")[0]!.code).toBe(1006);
    expect(diary.console.join("\n")).toMatch(transport.unauthorizedConsole);
    expect(scene.logs("handshake_rejected")).toEqual([
      expect.objectContaining({
        route: "apps/secure",
        status: 401,
        reason: "unauthorized",
        httpVersion: transport.httpVersion,
      }),
    ]);
    expect(
      (await scene.metrics()).sum("wsgate_handshake_rejections_total", {
        route: "secure",
        reason: "unauthorized",
      }),
    ).toBe(1);
    expect(scene.app.upgrades).toHaveLength(1);
  });

  it("authenticates the bearer subprotocol a page offers next to its real one and strips it before the backend, so that the token never reaches the app", async () => {
    const { scene, context } = await open();
    const { page, statuses } = await load(
      context,
      scene,
      socketFragment({ ws: "/secure/ws", protocols: ["chat.v1"], bearer: await scene.token(), send: ["hi"] }),
    );
    const events = await untilEvents(page, "message");
    expect(ofType(events, "open")[0]!.protocol).toBe("chat.v1");
    expect(ofType(events, "message").map((m) => m.data)).toEqual(["echo: hi"]);
    expect(statuses).toEqual([transport.handshake]);
    const seen = scene.app.upgrades[0]!.headers;
    expect(seen["sec-websocket-protocol"]).toBe("chat.v1");
    expect(seen["x-user-id"]).toBe("alice");
    expect(seen.cookie).toBeUndefined();
    await expectGatewayPath(scene, "secure");
  });

  it("refuses a page from another origin with 403 before any backend sees it, so that no other site can ride a user's session (cross-site WebSocket hijacking)", async () => {
    const { scene, context } = await open();
    const foreign = await startForeignOrigin();
    cleanups.push(() => foreign.close());
    const page = await context.newPage();
    const diary = keepDiary(page);
    const target = new URL("/app/ws", scene.origin);
    target.protocol = target.protocol === "https:" ? "wss:" : "ws:";
    // The foreign page first fetches from the gateway's origin, so that over HTTP/2 its
    // socket rides an existing connection as a page's own would.
    await page.goto(
      `${foreign.origin}/${socketFragment({ ws: target.href, protocols: ["chat.v1"], send: ["steal"], warm: `${scene.origin}/app/` })}`,
    );
    const events = await untilEvents(page, "close");
    expect(ofType(events, "open")).toEqual([]);
    expect(ofType(events, "error")).toHaveLength(1);
    expect(ofType(events, "close")[0]!.code).toBe(1006);
    // Chromium tells the page's console why; the gateway's metrics say which gate.
    expect(diary.console.join("\n")).toMatch(/Unexpected response code: 403/);
    expect(
      (await scene.metrics()).sum("wsgate_handshake_rejections_total", { route: "page", reason: "origin" }),
    ).toBe(1);
    // Its log line says which path the refused handshake came over: over HTTP/2 the foreign
    // page's socket rode the connection its fetch opened.
    expect(scene.logs("handshake_rejected")).toEqual([
      expect.objectContaining({
        route: "apps/page",
        status: 403,
        reason: "origin",
        httpVersion: transport.httpVersion,
      }),
    ]);
    expect(scene.app.upgrades).toHaveLength(0);
  });

  it("closes a page's WebSocket with 1012 when its backend endpoint drains, so that the page knows to reconnect rather than report an error", async () => {
    const { scene, context } = await open();
    const { page } = await load(
      context,
      scene,
      socketFragment({ ws: "/app/ws", protocols: ["chat.v1"], send: ["before"] }),
    );
    await untilEvents(page, "message");
    await scene.terminateApp();
    const events = await untilEvents(page, "close");
    expect(ofType(events, "error")).toEqual([]);
    expect(ofType(events, "close")[0]).toMatchObject({ code: 1012, wasClean: true });
    expect((await scene.metrics()).sum("wsgate_closes_total", { route: "page", code: "1012" })).toBe(1);
    await expectGatewayPath(scene, "page");
  });

  it("relays the permessage-deflate Chromium and the backend negotiate, compressed frames untouched, so that a page's traffic stays as small as the two ends made it", async () => {
    const { scene, context } = await open();
    const big = "wsgate ".repeat(2_000); // 14,000 bytes that compress well
    const { page, statuses } = await load(
      context,
      scene,
      socketFragment({ ws: "/app/deflate", protocols: ["chat.v1"], send: [big] }),
    );
    const events = await untilEvents(page, "message");
    expect(ofType(events, "open")[0]!.extensions).toMatch(/^permessage-deflate/);
    expect(ofType(events, "message")[0]!.data).toBe(`echo: ${big}`);
    expect(statuses).toEqual([transport.handshake]);
    expect(scene.app.upgrades[0]!.headers["sec-websocket-extensions"]).toMatch(/permessage-deflate/);
    // What crossed the gateway was compressed: far fewer bytes than the message.
    const metrics = await scene.metrics();
    const fromClient = metrics.sum("wsgate_bytes_total", { route: "page", direction: "from_client" });
    const toClient = metrics.sum("wsgate_bytes_total", { route: "page", direction: "to_client" });
    expect(fromClient).toBeGreaterThan(0);
    expect(fromClient).toBeLessThan(1_000);
    expect(toClient).toBeGreaterThan(0);
    expect(toClient).toBeLessThan(1_000);
    expect(metrics.sum("wsgate_messages_total", { route: "page", direction: "from_client" })).toBe(1);
    await expectGatewayPath(scene, "page");
  });

  it("closes a page's WebSocket with 1009 when it sends a message over the route's maxMessageBytes, compressed or not, so that one page cannot push unbounded messages to a backend", async () => {
    const { scene, context } = await open();
    // 100,000 bytes: as they are, and compressed by Chromium to a few hundred (a zip bomb's shape).
    for (const path of ["/app/ws", "/app/deflate"]) {
      const { page } = await load(
        context,
        scene,
        socketFragment({ ws: path, protocols: ["chat.v1"], sendBytes: 100_000 }),
      );
      const events = await untilEvents(page, "close");
      expect(ofType(events, "open"), path).toHaveLength(1);
      expect(ofType(events, "open")[0]!.extensions, path).toMatch(
        path.endsWith("/deflate") ? /^permessage-deflate/ : /^$/,
      );
      expect(ofType(events, "message"), path).toEqual([]);
      expect(ofType(events, "close")[0], path).toMatchObject({ code: 1009 });
    }
    expect(scene.app.upgrades[1]!.headers["sec-websocket-extensions"]).toMatch(/permessage-deflate/);
    const metrics = await scene.metrics();
    expect(metrics.sum("wsgate_closes_total", { route: "page", code: "1009" })).toBe(2);
    expect(
      metrics.sum("wsgate_connections_http_version_total", {
        route: "page",
        http_version: transport.httpVersion,
      }),
    ).toBe(2);
  });

  it("closes a page's WebSocket with 1001 when the gateway shuts down, so that the page reconnects to another replica", async () => {
    const { scene, context } = await open();
    const { page } = await load(
      context,
      scene,
      socketFragment({ ws: "/app/ws", protocols: ["chat.v1"], send: ["before"] }),
    );
    await untilEvents(page, "message");
    await expectGatewayPath(scene, "page");
    await scene.shutdown(0);
    const events = await untilEvents(page, "close");
    expect(ofType(events, "error")).toEqual([]);
    expect(ofType(events, "close")[0]).toMatchObject({ code: 1001, wasClean: true });
  });
});

describe("WebSockets from Chromium over HTTPS with --http2=false", { timeout: 90_000 }, () => {
  it("serves the page and its WebSocket over HTTP/1.1 (ALPN, 101) when HTTP/2 is turned off, so that the off switch leaves browsers working", async () => {
    const cert = leaf();
    const browser = await sharedBrowser("tls", trustForHost(TLS_HOST, cert.certPem));
    scene = await startBrowserScene({ tls: cert, args: ["--http2=false"] });
    context = await browser.newContext();
    const page = await context.newPage();
    const statuses = await handshakeStatuses(page);
    await page.goto(
      `${scene.origin}/app/${socketFragment({ ws: "/app/ws", protocols: ["chat.v1"], send: ["hello"] })}`,
    );
    expect(await documentProtocol(page)).toBe("http/1.1");
    const events = await untilEvents(page, "message");
    expect(ofType(events, "message").map((m) => m.data)).toEqual(["echo: hello"]);
    expect(statuses).toEqual([101]);
    const metrics = await scene.metrics();
    expect(metrics.sum("wsgate_connections_http_version_total", { route: "page", http_version: "1.1" })).toBe(
      1,
    );
    expect(metrics.sum("wsgate_connections_http_version_total", { route: "page", http_version: "2" })).toBe(
      0,
    );
  });
});
