/** Reading the affinity cookie from a request and writing the `Set-Cookie` that issues it. */
import type { AffinityCookie } from "../../routing/affinity-settings.js";

/**
 * The value of cookie `name` in a `Cookie` header (Node joins several with `; `), or
 * undefined. The first occurrence wins, as in browsers' ordering (most specific path first).
 */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    return value;
  }
  return undefined;
}

/**
 * The `Set-Cookie` header value that pins the session to `token`. HttpOnly always (no
 * script needs it); Secure as configured, else when the client came over TLS.
 */
export function setCookie(cookie: AffinityCookie, token: string, overTls: boolean): string {
  let text = `${cookie.name}=${token}; Path=${cookie.path}`;
  if (cookie.maxAgeSeconds !== undefined) text += `; Max-Age=${cookie.maxAgeSeconds}`;
  text += `; SameSite=${cookie.sameSite}; HttpOnly`;
  if (cookie.secure ?? overTls) text += "; Secure";
  return text;
}
