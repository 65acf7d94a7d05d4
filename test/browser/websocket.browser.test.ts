/**
 * WebSockets from a real page, over HTTP/1.1: Debian's Chromium (playwright-core) loads a
 * page served through a standalone gateway and opens a WebSocket through it. Each test
 * waits on the page's own record of its socket (test/browser/page.ts), never on time.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Browser, BrowserContext } from "playwright-core";
import { startForeignOrigin } from "./app.js";
import { keepDiary, launchChromium } from "./chromium.js";
import { ofType, untilEvents } from "./events.js";
import { socketFragment } from "./page.js";
import { startBrowserScene, type BrowserScene } from "./scene.js";

let browser: Browser;
let scene: BrowserScene | undefined;
let context: BrowserContext | undefined;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
});

afterEach(async () => {
  await context?.close();
  for (const c of cleanups.splice(0)) await c();
  await scene?.close();
  context = scene = undefined;
});

async function open(): Promise<{ scene: BrowserScene; context: BrowserContext }> {
  scene = await startBrowserScene();
  context = await browser.newContext();
  return { scene, context };
}

describe("WebSockets from Chromium over HTTP/1.1", { timeout: 90_000 }, () => {
  it("carries messages both ways and the backend's subprotocol to a page served through the gateway, so that browser apps work behind wsgate unchanged", async () => {
    const { scene, context } = await open();
    const page = await context.newPage();
    const diary = keepDiary(page);
    const response = await page.goto(
      `${scene.origin}/app/${socketFragment({ ws: "/app/ws", protocols: ["chat.v1", "chat.v0"], send: ["hello", "again"] })}`,
    );
    expect(response?.status()).toBe(200);
    const events = await untilEvents(page, "message", 2);
    expect(ofType(events, "open")).toEqual([
      { type: "open", protocol: "chat.v1", extensions: expect.any(String) },
    ]);
    expect(ofType(events, "message").map((m) => m.data)).toEqual(["echo: hello", "echo: again"]);
    // What reached the backend is the browser's own handshake, relayed.
    expect(scene.app.upgrades).toHaveLength(1);
    expect(scene.app.upgrades[0]!.headers.origin).toBe(scene.origin);
    expect(scene.app.upgrades[0]!.headers["user-agent"]).toMatch(/Chrome/);
    const metrics = await scene.metrics();
    expect(metrics.sum("wsgate_connections_active", { route: "page" })).toBe(1);
    expect(metrics.sum("wsgate_messages_total", { route: "page", direction: "from_client" })).toBe(2);
    expect(metrics.sum("wsgate_messages_total", { route: "page", direction: "to_client" })).toBe(2);
    expect(diary.errors).toEqual([]);
  });

  it("authenticates the page's WebSocket with the session cookie its login set, and refuses it without one, so that a browser session is all a page needs", async () => {
    const { scene, context } = await open();
    await context.addCookies([{ name: "session", value: await scene.token(), url: scene.origin }]);
    const page = await context.newPage();
    await page.goto(
      `${scene.origin}/app/${socketFragment({ ws: "/secure/ws", protocols: ["chat.v1"], send: ["hi"] })}`,
    );
    const events = await untilEvents(page, "message");
    expect(ofType(events, "message").map((m) => m.data)).toEqual(["echo: hi"]);
    expect(scene.app.upgrades).toHaveLength(1);
    expect(scene.app.upgrades[0]!.headers["x-user-id"]).toBe("alice");

    const anonymous = await browser.newContext();
    cleanups.push(() => anonymous.close());
    const refused = await anonymous.newPage();
    const diary = keepDiary(refused);
    await refused.goto(`${scene.origin}/app/${socketFragment({ ws: "/secure/ws", protocols: ["chat.v1"] })}`);
    const failed = await untilEvents(refused, "close");
    expect(ofType(failed, "open")).toEqual([]);
    expect(ofType(failed, "close")[0]!.code).toBe(1006);
    // Chromium reports a 401 to the page's console as an authentication failure.
    expect(diary.console.join("\n")).toMatch(/HTTP Authentication failed/);
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
    const page = await context.newPage();
    await page.goto(
      `${scene.origin}/app/${socketFragment({ ws: "/secure/ws", protocols: ["chat.v1"], bearer: await scene.token(), send: ["hi"] })}`,
    );
    const events = await untilEvents(page, "message");
    expect(ofType(events, "open")[0]!.protocol).toBe("chat.v1");
    expect(ofType(events, "message").map((m) => m.data)).toEqual(["echo: hi"]);
    const seen = scene.app.upgrades[0]!.headers;
    expect(seen["sec-websocket-protocol"]).toBe("chat.v1");
    expect(seen["x-user-id"]).toBe("alice");
    expect(seen.cookie).toBeUndefined();
  });

  it("refuses a page from another origin with 403 before any backend sees it, so that no other site can ride a user's session (cross-site WebSocket hijacking)", async () => {
    const { scene, context } = await open();
    const foreign = await startForeignOrigin();
    cleanups.push(() => foreign.close());
    const page = await context.newPage();
    const diary = keepDiary(page);
    const target = `ws://127.0.0.1:${scene.running.httpAddress.port}/app/ws`;
    await page.goto(
      `${foreign.origin}/${socketFragment({ ws: target, protocols: ["chat.v1"], send: ["steal"] })}`,
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
    expect(scene.app.upgrades).toHaveLength(0);
  });

  it("closes a page's WebSocket with 1012 when its backend endpoint drains, so that the page knows to reconnect rather than report an error", async () => {
    const { scene, context } = await open();
    const page = await context.newPage();
    await page.goto(
      `${scene.origin}/app/${socketFragment({ ws: "/app/ws", protocols: ["chat.v1"], send: ["before"] })}`,
    );
    await untilEvents(page, "message");
    await scene.terminateApp();
    const events = await untilEvents(page, "close");
    expect(ofType(events, "error")).toEqual([]);
    expect(ofType(events, "close")[0]).toMatchObject({ code: 1012, wasClean: true });
    expect((await scene.metrics()).sum("wsgate_closes_total", { route: "page", code: "1012" })).toBe(1);
  });
});
