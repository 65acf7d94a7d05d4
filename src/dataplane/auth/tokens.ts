/**
 * Where a bearer token hides in a request. Browsers cannot set `Authorization` on a
 * WebSocket, so real apps use a cookie, a query parameter, or the `Sec-WebSocket-Protocol`
 * bearer form that Kubernetes defined: the client offers
 * `base64url.bearer.authorization.k8s.io.<base64url(token)>` next to its real subprotocol.
 */
import type { IncomingMessage } from "node:http";
import type { TokenSource } from "../../routing/auth-contract.js";

export const BEARER_PROTOCOL_PREFIX = "base64url.bearer.authorization.k8s.io.";

export interface FoundToken {
  readonly token: string;
  readonly source: TokenSource["type"];
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(", ") : value;
}

/** The value of cookie `name` in a Cookie header (RFC 6265 §5.4 syntax, quotes removed). */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const pair of header.split(";")) {
    const eq = pair.indexOf("=");
    if (eq === -1 || pair.slice(0, eq).trim() !== name) continue;
    const value = pair.slice(eq + 1).trim();
    return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
  }
  return undefined;
}

/** The value of query parameter `name` in a request target. */
export function queryValue(url: string | undefined, name: string): string | undefined {
  const q = url?.indexOf("?") ?? -1;
  if (q === -1 || url === undefined) return undefined;
  const hash = url.indexOf("#", q);
  return new URLSearchParams(url.slice(q + 1, hash === -1 ? undefined : hash)).get(name) ?? undefined;
}

function protocols(header: string | string[] | undefined): string[] {
  return (single(header) ?? "")
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean);
}

/**
 * The token of the bearer subprotocol entry: base64url-decoded as Kubernetes sends it,
 * or as is when it already is a compact JWS (base64url has no dots, a JWS has two).
 */
export function bearerFromProtocols(header: string | string[] | undefined): string | undefined {
  const entry = protocols(header).find((p) => p.startsWith(BEARER_PROTOCOL_PREFIX));
  if (entry === undefined) return undefined;
  const payload = entry.slice(BEARER_PROTOCOL_PREFIX.length);
  if (payload.includes(".")) return payload;
  if (!/^[A-Za-z0-9_-]*$/.test(payload)) return "";
  return Buffer.from(payload, "base64url").toString("utf8");
}

/**
 * A Sec-WebSocket-Protocol value without its bearer entries; `undefined` when nothing
 * is left (the header is then dropped, and the backend picks no subprotocol).
 */
export function withoutBearerProtocol(value: string): string | undefined {
  const rest = protocols(value).filter((p) => !p.startsWith(BEARER_PROTOCOL_PREFIX));
  return rest.length > 0 ? rest.join(", ") : undefined;
}

/**
 * The token from the first source present, in `sources` order. A present source with
 * an empty or malformed value still wins (it yields `""`): the client chose it.
 */
export function findToken(req: IncomingMessage, sources: readonly TokenSource[]): FoundToken | undefined {
  for (const source of sources) {
    let token: string | undefined;
    switch (source.type) {
      case "header": {
        const value = single(req.headers[source.name]);
        if (value === undefined) break;
        if (source.prefix === undefined) token = value;
        // Authentication schemes are case-insensitive (RFC 9110 §11.1): "bearer x" is "Bearer x".
        else if (value.slice(0, source.prefix.length).toLowerCase() === source.prefix.toLowerCase()) {
          token = value.slice(source.prefix.length);
        }
        break;
      }
      case "cookie":
        token = cookieValue(single(req.headers.cookie), source.name);
        break;
      case "query":
        token = queryValue(req.url, source.name);
        break;
      case "subprotocol":
        token = bearerFromProtocols(req.headers["sec-websocket-protocol"]);
        break;
    }
    if (token !== undefined) return { token: token.trim(), source: source.type };
  }
  return undefined;
}
