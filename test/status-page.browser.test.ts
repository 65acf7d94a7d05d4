/**
 * The status page in a real browser: Debian's Chromium driven by playwright-core
 * loads `/` from a running gateway with live traffic; the numbers the page shows
 * must be the ones `/metrics` exports, and it must follow new traffic by itself.
 * Saves a screenshot to test-output/status-page.png.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterEach, describe, expect, it } from "vitest";
import { launchChromium } from "./browser/chromium.js";
import { scrape, startOperatorScene, type OperatorScene } from "./helpers/operator-scene.js";

let scene: OperatorScene | undefined;
let browser: Browser | undefined;

afterEach(async () => {
  await browser?.close();
  await scene?.close();
  browser = scene = undefined;
});

describe("status page in Chromium", () => {
  it(
    "shows the numbers /metrics exports and follows new traffic without a reload, so that an operator can trust what they see at 3 a.m.",
    { timeout: 90_000 },
    async () => {
      const s = (scene = await startOperatorScene());
      for (const client of ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4", "203.0.113.5"]) {
        await s.open(client);
      }
      await s.refuse("nowhere.example.com", "/x", 404);
      await s.refuse("nowhere.example.com", "/y", 404);
      await s.terminateB();

      browser = await launchChromium();
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const problems: string[] = [];
      const foreign: string[] = [];
      page.on("pageerror", (err) => problems.push(err.message));
      page.on("console", (m) => {
        if (m.type() === "error") problems.push(m.text());
      });
      page.on("request", (r) => {
        if (!r.url().startsWith(s.admin)) foreign.push(r.url());
      });
      await page.goto(`${s.admin}/`);
      await page.locator('[data-route="apps/chat"] tr[data-endpoint]').first().waitFor();

      const metrics = await scrape(s.admin);
      const rows = page.locator('[data-route="apps/chat"] tr[data-endpoint]');
      expect(await rows.count()).toBe(2);
      for (let i = 0; i < 2; i++) {
        const row = rows.nth(i);
        const backend = (await row.locator("td").first().textContent()) ?? "";
        const shown = Number(await row.locator('[data-field="connections"]').textContent());
        expect(shown, backend).toBe(metrics.sum("wsgate_connections_active", { route: "chat", backend }));
        const opened = Number(await row.locator('[data-field="opened"]').textContent());
        expect(opened, backend).toBe(shown);
        const state = await row.locator('[data-field="state"]').textContent();
        expect(state, backend).toBe(
          metrics.sum("wsgate_backend_healthy", { route: "chat", backend }) > 0 ? "ready" : "draining",
        );
        if (state === "draining") {
          expect(await row.locator('[data-field="drain"]').textContent()).toMatch(
            new RegExp(`^${metrics.sum("wsgate_connections_draining", { route: "chat" })} left, \\d+ s$`),
          );
        }
      }
      expect(
        Number(
          await page.locator('#rejections tr[data-reason="no_route"] [data-field="count"]').textContent(),
        ),
      ).toBe(metrics.sum("wsgate_handshake_rejections_total", { reason: "no_route" }));
      expect(Number(await page.locator('#summary [data-field="generation"]').textContent())).toBe(
        metrics.sum("wsgate_routing_table_generation"),
      );
      await expect
        .poll(() => page.locator('[data-route="apps/broken"] [data-condition="ResolvedRefs"]').textContent())
        .toBe("ResolvedRefs: BackendNotFound");

      // New traffic shows up by itself: the same document, updated by its poll.
      await page.evaluate(() => ((globalThis as unknown as { marker: number }).marker = 42));
      await s.open("203.0.113.6");
      await s.open("203.0.113.7");
      const total = (await scrape(s.admin)).sum("wsgate_connections_active");
      expect(total).toBe(7);
      await page.waitForFunction(
        (n) =>
          (
            globalThis as unknown as {
              document: { querySelector(s: string): { textContent: string } | null };
            }
          ).document.querySelector('#summary [data-field="connections"]')?.textContent === String(n),
        total,
        { timeout: 30_000 },
      );
      expect(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker)).toBe(42);

      const out = join(process.cwd(), "test-output");
      mkdirSync(out, { recursive: true });
      await page.screenshot({ path: join(out, "status-page.png"), fullPage: true });
      expect(problems).toEqual([]);
      expect(foreign).toEqual([]);
    },
  );
});
