/**
 * Debian's Chromium, driven by playwright-core (no downloaded browser): the one place
 * the browser tier finds and launches it. A missing Chromium fails the tier with a
 * message that says how to get it — the tier never skips.
 */
import { execFileSync } from "node:child_process";
import { chromium, type Browser, type ConsoleMessage, type Page } from "playwright-core";

/** Debian's `chromium` (`.ci/run` installs it), or WSGATE_CHROMIUM. */
export function chromiumPath(): string {
  if (process.env.WSGATE_CHROMIUM) return process.env.WSGATE_CHROMIUM;
  try {
    return execFileSync("sh", ["-c", "command -v chromium || command -v chromium-browser"], {
      encoding: "utf8",
    }).trim();
  } catch (err) {
    throw new Error("no Chromium: apt-get install chromium (.ci/run does), or set WSGATE_CHROMIUM", {
      cause: err,
    });
  }
}

/** Headless Chromium with extra command-line `args` (e.g. to trust a test CA). */
export function launchChromium(args: readonly string[] = []): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), args: [...args] });
}

/** What a page said on its console and which errors it threw, for assertions and failure messages. */
export interface PageDiary {
  readonly console: string[];
  readonly errors: string[];
}

/** Records `page`'s console lines and uncaught errors from now on. */
export function keepDiary(page: Page): PageDiary {
  const diary: PageDiary = { console: [], errors: [] };
  page.on("console", (m: ConsoleMessage) => diary.console.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (err) => diary.errors.push(err.message));
  return diary;
}
