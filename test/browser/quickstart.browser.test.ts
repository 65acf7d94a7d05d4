/**
 * The quickstart's browser page (examples/quickstart/page.html), as a newcomer sees it:
 * the example's own echo backend process serves it through a standalone gateway on the
 * example's own manifests (only the backend ports differ, port 0 here), and Chromium
 * watches messages flow.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Browser } from "playwright-core";
import { afterEach, describe, expect, it } from "vitest";
import type { RunningGateway } from "../../src/cli/serve.js";
import { scrape } from "../helpers/operator-scene.js";
import { manifestDir, startStandalone } from "../helpers/standalone.js";
import { keepDiary, launchChromium } from "./chromium.js";
import { tableWhere, writeManifest } from "./scene.js";

const example = (p: string): string =>
  fileURLToPath(new URL(`../../examples/quickstart/${p}`, import.meta.url));

let backends: ChildProcess | undefined;
let running: RunningGateway | undefined;
let browser: Browser | undefined;
let dir: string | undefined;

afterEach(async () => {
  await browser?.close();
  await running?.stop(0);
  backends?.kill("SIGTERM");
  if (dir) rmSync(dir, { recursive: true, force: true });
  browser = running = backends = dir = undefined;
});

/** Starts examples/quickstart/echo-backend.mjs on two free ports; resolves with them. */
function startExampleBackends(): Promise<[number, number]> {
  const child = (backends = spawn(process.execPath, [example("echo-backend.mjs"), "0", "0"], {
    stdio: ["ignore", "pipe", "pipe"],
  }));
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    const timer = setTimeout(
      () => reject(new Error(`echo-backend.mjs did not listen within 30 s: ${out}${err}`)),
      30_000,
    );
    child.stderr!.on("data", (d: Buffer) => (err += String(d)));
    child.stdout!.on("data", (d: Buffer) => {
      out += String(d);
      const ports = [...out.matchAll(/listening on ws:\/\/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));
      if (ports.length === 2) {
        clearTimeout(timer);
        resolve(ports as [number, number]);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`echo-backend.mjs exited ${code}: ${err}`));
    });
  });
}

describe("the quickstart page in Chromium", { timeout: 90_000 }, () => {
  it("shows the page's messages echoed through wsgate by the demo backends, and its reconnect after wsgate restarts, so that a newcomer sees the gateway work in a browser", async () => {
    const [a, b] = await startExampleBackends();
    dir = manifestDir("quickstart");
    const manifests = readFileSync(example("manifests/echo.yaml"), "utf8");
    expect(manifests).toMatch(/9001/);
    expect(manifests).toMatch(/9002/);
    writeManifest(dir, "echo.yaml", manifests.replaceAll("9001", String(a)).replaceAll("9002", String(b)));
    running = await startStandalone(dir);
    await tableWhere(running.holder, (t) => t.match("127.0.0.1", "/echo") !== undefined, "route demo/echo");
    const origin = `http://127.0.0.1:${running.httpAddress.port}`;

    browser = await launchChromium();
    const page = await browser.newPage();
    const diary = keepDiary(page);
    // The address the README gives, with this gateway's port.
    const response = await page.goto(`${origin}/echo/`);
    expect(response?.status()).toBe(200);
    expect(await page.title()).toBe("wsgate quickstart");
    await page.locator('#state[data-state="open"]').waitFor({ timeout: 30_000 });
    expect(await page.locator("#target").textContent()).toBe(
      `ws://127.0.0.1:${running.httpAddress.port}/echo`,
    );

    // The page's own messages come back from one of the two backends, through the gateway.
    const received = page.locator('#log li[data-kind="received"]');
    await received.nth(1).waitFor({ timeout: 30_000 });
    const echoed = new RegExp(`\\[echo:(${a}|${b})\\] hello #\\d+ through wsgate$`);
    for (const text of await received.allTextContents()) expect(text).toMatch(echoed);

    // And what the newcomer types.
    await page.locator("#text").fill("typed in the page");
    await page.locator("#text").press("Enter");
    await page
      .locator('#log li[data-kind="received"]', { hasText: "typed in the page" })
      .waitFor({ timeout: 30_000 });
    expect(
      await page.locator('#log li[data-kind="received"]', { hasText: "typed in the page" }).textContent(),
    ).toMatch(new RegExp(`\\[echo:(${a}|${b})\\] typed in the page$`));

    // The gateway counted what the page shows.
    const shown = await received.count();
    const metrics = await scrape(`http://127.0.0.1:${running.adminAddress.port}`);
    expect(metrics.sum("wsgate_connections_active", { namespace: "demo", route: "echo" })).toBe(1);
    expect(
      metrics.sum("wsgate_messages_total", { route: "echo", direction: "to_client" }),
    ).toBeGreaterThanOrEqual(shown);
    expect(await page.locator('#log li[data-kind="closed"]').count()).toBe(0);

    // wsgate stops (1001) and comes back on the same port: the page says so and reconnects.
    const port = running.httpAddress.port;
    await running.stop(0);
    running = undefined;
    const goingAway = page.locator('#log li[data-kind="closed"]', { hasText: "code 1001" });
    await goingAway.waitFor({ timeout: 30_000 });
    running = await startStandalone(dir, ["--http-listen", `127.0.0.1:${port}`]);
    await tableWhere(running.holder, (t) => t.match("127.0.0.1", "/echo") !== undefined, "route demo/echo");
    const before = await received.count();
    await received.nth(before).waitFor({ timeout: 30_000 });
    expect(await page.locator("#state").getAttribute("data-state")).toBe("open");
    expect(await received.first().textContent()).toMatch(echoed);
    expect(diary.errors).toEqual([]);
  });
});
