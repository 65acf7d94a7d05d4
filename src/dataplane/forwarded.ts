/**
 * The request headers sent upstream: the client's headers minus hop-by-hop ones,
 * plus X-Forwarded-*. Client-supplied forwarding headers are replaced, never passed
 * on: until trusted proxies are configurable, every peer is untrusted.
 */
import type { IncomingMessage } from "node:http";

/** Hop-by-hop headers (RFC 9110 §7.6.1) and forwarding headers we set ourselves. */
const DROPPED = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-forwarded-host",
  "x-forwarded-port",
  "x-real-ip",
  "forwarded",
]);

export interface ForwardingContext {
  readonly clientAddress: string;
  /** `http` or `https`: the scheme the client used to reach the gateway. */
  readonly proto: "http" | "https";
}

/** Flat `[name, value, name, value…]` headers for an upgrade request to the backend. */
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
  out.push("X-Forwarded-For", ctx.clientAddress, "X-Forwarded-Proto", ctx.proto);
  if (req.headers.host) out.push("X-Forwarded-Host", req.headers.host);
  return out;
}
