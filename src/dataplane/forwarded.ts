/**
 * The request headers sent upstream, built by one function for both paths (upgrade
 * and plain HTTP): the client's headers minus hop-by-hop ones (and what `Connection`
 * lists), minus headers the client may not send (forwarding headers, identity headers
 * that routes fill from auth, names with `_`), plus the canonical Host and
 * X-Forwarded-*. Forwarding headers from an untrusted peer are replaced, never passed
 * on; from a trusted proxy they are extended with the peer.
 */
import type { IncomingMessage, OutgoingHttpHeaders } from "node:http";
import { FORWARDING_HEADERS, HOP_BY_HOP_HEADERS, UNNOMINABLE_HEADERS } from "../api/headers.js";
import type { CanonicalRequest } from "./canonical.js";

/** Hop-by-hop headers, the forwarding headers we set ourselves, and Host (the canonical one is sent). */
const DROPPED = new Set([...HOP_BY_HOP_HEADERS, ...FORWARDING_HEADERS, "host"]);
const UNNOMINABLE = new Set(UNNOMINABLE_HEADERS);

export interface ForwardingContext {
  /** The client as wsgate understands it (see client-identity.ts). */
  readonly clientAddress: string;
  /** The socket peer (or the PROXY protocol source). */
  readonly peerAddress: string;
  /** The peer is in --trusted-proxies: its forwarding headers are believed. */
  readonly peerTrusted: boolean;
  /**
   * The trusted peer's X-Forwarded-For is the identity header (`--client-address-header`),
   * so the chain is passed on, extended with the peer. Otherwise a client-sent
   * X-Forwarded-For would ride through a proxy that never checked it: it is replaced.
   */
  readonly extendForwardedFor: boolean;
  /** `http` or `https`: the scheme the client used to reach the gateway. */
  readonly proto: "http" | "https";
}

/** Which client headers never reach a backend, whatever the route. */
export interface ClientHeaderPolicy {
  /** Lower-case headers some route fills from auth (the table's `identityHeaders`): a client cannot forge them. */
  readonly identityHeaders: ReadonlySet<string>;
  /**
   * Keep client header names containing `_` (`--underscores-in-headers`). Off by default,
   * as nginx's `underscores_in_headers off`: many servers fold `_` into `-`, so `X_User_Id`
   * would be read as `X-User-Id`.
   */
  readonly underscores: boolean;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(", ") : value;
}

/**
 * Appends the X-Forwarded-* headers to send upstream to `out` (flat `[name, value…]`):
 * pushed in place rather than returned as pairs, one array less per request (bench W5).
 */
function pushForwardingHeaders(
  out: string[],
  req: IncomingMessage,
  request: CanonicalRequest,
  ctx: ForwardingContext,
): void {
  const xff = ctx.extendForwardedFor ? single(req.headers["x-forwarded-for"]) : undefined;
  const proto = (ctx.peerTrusted && single(req.headers["x-forwarded-proto"])) || ctx.proto;
  const host = (ctx.peerTrusted && single(req.headers["x-forwarded-host"])) || request.authority;
  const chain = xff
    ? `${xff}, ${ctx.peerAddress}`
    : ctx.clientAddress === ctx.peerAddress
      ? ctx.clientAddress
      : `${ctx.clientAddress}, ${ctx.peerAddress}`;
  out.push("X-Forwarded-For", chain, "X-Forwarded-Proto", proto);
  if (host) out.push("X-Forwarded-Host", host);
}

const NOTHING_NOMINATED: ReadonlySet<string> = new Set();

/**
 * The headers a `Connection` value nominates for removal, lower case. `Upgrade` alone —
 * what nearly every WebSocket client sends — names a header that is dropped anyway, so it
 * costs no split and no Set (bench W5: allocation per handshake).
 */
function nominatedBy(connection: string | string[] | undefined): ReadonlySet<string> {
  const value = single(connection);
  if (value === undefined || value === "Upgrade" || value === "upgrade") return NOTHING_NOMINATED;
  return new Set(
    value
      .split(",")
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean),
  );
}

/** True for a client header that may go upstream. */
function forwardable(lower: string, nominated: ReadonlySet<string>, policy: ClientHeaderPolicy): boolean {
  if (DROPPED.has(lower)) return false;
  if (nominated.has(lower) && !UNNOMINABLE.has(lower)) return false;
  if (policy.identityHeaders.has(lower)) return false;
  return policy.underscores || !lower.includes("_");
}

/**
 * Flat `[name, value, name, value…]` headers for the request to the backend, the same on
 * both paths. An upgrade gets `Connection: Upgrade` and `Upgrade: websocket`; a plain
 * request with a chunked body gets `Transfer-Encoding: chunked` (the body is re-framed).
 */
export function upstreamHeaders(
  req: IncomingMessage,
  request: CanonicalRequest,
  ctx: ForwardingContext,
  policy: ClientHeaderPolicy,
  upgrade: boolean,
): string[] {
  const raw = req.rawHeaders;
  const nominated = nominatedBy(req.headers.connection);
  const out: string[] = ["Host", request.authority];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (forwardable(name.toLowerCase(), nominated, policy)) out.push(name, raw[i + 1] as string);
  }
  if (upgrade) out.push("Connection", "Upgrade", "Upgrade", "websocket");
  else if (req.headers["transfer-encoding"] !== undefined) out.push("Transfer-Encoding", "chunked");
  pushForwardingHeaders(out, req, request, ctx);
  return out;
}

/**
 * Flat headers as the object http-proxy-3 copies from `req.headers`: repeated names become
 * arrays (sent as repeated lines), except Cookie, joined with `; ` (RFC 6265 §5.4).
 */
export function headerObject(flat: readonly string[]): OutgoingHttpHeaders {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i < flat.length; i += 2) {
    const name = (flat[i] as string).toLowerCase();
    const value = flat[i + 1] as string;
    const seen = out[name];
    if (seen === undefined) out[name] = value;
    else if (name === "cookie") out[name] = `${seen as string}; ${value}`;
    else out[name] = Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  return out;
}
