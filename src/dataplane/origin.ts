/**
 * Origin checks against cross-site WebSocket hijacking: browsers always send
 * `Origin` on a WebSocket handshake, and a page on another site must not be able
 * to ride the user's cookies into the backend.
 */
import type { Origins } from "../api/route.js";

export type OriginVerdict = { ok: true } | { ok: false; message: string };

/** `scheme://host[:port]` with the default port dropped and the host lower-cased, or undefined. */
function normalize(origin: string): string | undefined {
  try {
    const url = new URL(origin);
    if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
    if (url.pathname !== "/" || url.search || url.hash || url.username) return undefined;
    return url.origin;
  } catch {
    return undefined;
  }
}

/**
 * Checks an Origin header. Entries are exact origins or `scheme://*.domain[:port]`,
 * which matches any subdomain depth of `domain` (not `domain` itself); scheme and
 * port must match exactly.
 */
export function checkOrigin(policy: Origins, header: string | undefined): OriginVerdict {
  if (header === undefined || header === "") {
    return policy.allowMissing ? { ok: true } : { ok: false, message: "Origin header required" };
  }
  const origin = normalize(header.trim());
  if (!origin) return { ok: false, message: `Origin ${JSON.stringify(header)} is not allowed` };
  const url = new URL(origin);
  for (const entry of policy.allow) {
    const wildcard = entry.indexOf("://*.");
    if (wildcard === -1) {
      if (normalize(entry) === origin) return { ok: true };
      continue;
    }
    const pattern = normalize(entry.replace("://*.", "://wildcard."));
    if (!pattern) continue;
    const p = new URL(pattern);
    const suffix = p.hostname.slice("wildcard".length); // ".example.com"
    if (
      p.protocol === url.protocol &&
      p.port === url.port &&
      url.hostname.endsWith(suffix) &&
      url.hostname.length > suffix.length
    ) {
      return { ok: true };
    }
  }
  return { ok: false, message: `Origin ${origin} is not allowed` };
}
