/**
 * Debian's Chromium, driven by playwright-core (no downloaded browser): the one place
 * the browser tier finds and launches it. A missing Chromium fails the tier with a
 * message that says how to get it — the tier never skips.
 */
import { execFileSync } from "node:child_process";
import { createHash, X509Certificate } from "node:crypto";
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

/**
 * Chromium arguments that make it trust `certPem` (by the SHA-256 of its public key, as
 * certificate pinning does: no system trust store or NSS database is touched) and resolve
 * `host` to 127.0.0.1, so a page can load `https://host:PORT/` from a test gateway.
 */
export function trustForHost(host: string, certPem: string): string[] {
  const spki = new X509Certificate(certPem).publicKey.export({ type: "spki", format: "der" });
  return [
    `--ignore-certificate-errors-spki-list=${createHash("sha256").update(spki).digest("base64")}`,
    `--host-resolver-rules=MAP ${host} 127.0.0.1`,
  ];
}

/**
 * The status of each WebSocket handshake answer `page` received, as Chromium's network
 * layer saw it (DevTools protocol): 101 over HTTP/1.1, 200 over HTTP/2 (RFC 8441).
 */
export async function handshakeStatuses(page: Page): Promise<number[]> {
  const statuses: number[] = [];
  const cdp = await page.context().newCDPSession(page);
  cdp.on("Network.webSocketHandshakeResponseReceived", (e) => statuses.push(e.response.status));
  await cdp.send("Network.enable");
  return statuses;
}

/** The protocol (ALPN) the page's own document was loaded over: `http/1.1` or `h2`. */
export async function documentProtocol(page: Page): Promise<string> {
  // A string: this project's TypeScript has no DOM types, the page has them all.
  return String(await page.evaluate('performance.getEntriesByType("navigation")[0].nextHopProtocol'));
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
