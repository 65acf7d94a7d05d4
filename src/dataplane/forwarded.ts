/**
 * The request headers sent upstream: the client's headers minus hop-by-hop ones,
 * plus X-Forwarded-*. Forwarding headers from an untrusted peer are replaced,
 * never passed on; from a trusted proxy they are extended with the peer.
 */
import type { IncomingMessage } from "node:http";
import { FORWARDING_HEADERS, HOP_BY_HOP_HEADERS } from "../api/headers.js";

/** Hop-by-hop headers, proxy credentials, and the forwarding headers we set ourselves. */
const DROPPED = new Set([...HOP_BY_HOP_HEADERS, "proxy-authorization", ...FORWARDING_HEADERS]);

export interface ForwardingContext {
  /** The client as wsgate understands it (see client-identity.ts). */
  readonly clientAddress: string;
  /** The socket peer (or the PROXY protocol source). */
  readonly peerAddress: string;
  /** The peer is in --trusted-proxies: its forwarding headers are believed. */
  readonly peerTrusted: boolean;
  /** `http` or `https`: the scheme the client used to reach the gateway. */
  readonly proto: "http" | "https";
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(", ") : value;
}

/** The X-Forwarded-* values to send upstream. */
export function forwardingHeaders(req: IncomingMessage, ctx: ForwardingContext): [string, string][] {
  const xff = ctx.peerTrusted ? single(req.headers["x-forwarded-for"]) : undefined;
  const proto = (ctx.peerTrusted && single(req.headers["x-forwarded-proto"])) || ctx.proto;
  const host = (ctx.peerTrusted && single(req.headers["x-forwarded-host"])) || req.headers.host;
  const out: [string, string][] = [
    ["X-Forwarded-For", xff ? `${xff}, ${ctx.peerAddress}` : ctx.clientAddress],
    ["X-Forwarded-Proto", proto],
  ];
  if (host) out.push(["X-Forwarded-Host", host]);
  return out;
}

/** Flat `[name, value, name, value…]` headers for the request to the backend. */
export function upstreamHeaders(req: IncomingMessage, ctx: ForwardingContext, upgrade: boolean): string[] {
  const raw = req.rawHeaders;
  const connectionTokens = new Set(
    (req.headers.connection ?? "")
      .split(",")
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean),
  );
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const lower = name.toLowerCase();
    if (DROPPED.has(lower) || connectionTokens.has(lower)) continue;
    out.push(name, raw[i + 1] as string);
  }
  if (upgrade) out.push("Connection", "Upgrade", "Upgrade", "websocket");
  for (const [name, value] of forwardingHeaders(req, ctx)) out.push(name, value);
  return out;
}
