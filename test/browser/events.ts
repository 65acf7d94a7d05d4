/**
 * Reading the test page's own record of its WebSocket (SOCKET_PAGE's `window.wsEvents`):
 * the tests wait on it instead of on time.
 */
import type { Page } from "playwright-core";
import type { PageEvent } from "./page.js";

/** The events the page recorded so far. */
export function pageEvents(page: Page): Promise<PageEvent[]> {
  return page.evaluate(() => (globalThis as unknown as { wsEvents?: PageEvent[] }).wsEvents ?? []);
}

/**
 * Resolves with the page's events once it recorded `count` events of `type`; fails after
 * 30 s with what the page did record.
 */
export async function untilEvents(page: Page, type: PageEvent["type"], count = 1): Promise<PageEvent[]> {
  try {
    await page.waitForFunction(
      ([t, n]) =>
        ((globalThis as unknown as { wsEvents?: { type: string }[] }).wsEvents ?? []).filter(
          (e) => e.type === t,
        ).length >= (n as number),
      [type, count] as const,
      { timeout: 30_000 },
    );
  } catch (err) {
    throw new Error(
      `the page never recorded ${count} "${type}" events: ${JSON.stringify(await pageEvents(page))}`,
      {
        cause: err,
      },
    );
  }
  return pageEvents(page);
}

/** The page's events of one type. */
export function ofType<T extends PageEvent["type"]>(
  events: PageEvent[],
  type: T,
): Extract<PageEvent, { type: T }>[] {
  return events.filter((e): e is Extract<PageEvent, { type: T }> => e.type === type);
}
