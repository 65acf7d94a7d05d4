/**
 * Checks that an upgrade request is a well-formed RFC 6455 opening handshake
 * before any backend is bothered with it.
 */
import type { IncomingMessage } from "node:http";

export type HandshakeCheck =
  | { ok: true }
  | {
      ok: false;
      status: 400 | 426;
      reason: "malformed" | "unsupported_version";
      message: string;
      headers?: Record<string, string>;
    };

const KEY_RE = /^[A-Za-z0-9+/]{22}==$/;

function headerHasToken(value: string | undefined, token: string): boolean {
  return value !== undefined && value.split(",").some((v) => v.trim().toLowerCase() === token);
}

export function checkHandshake(req: IncomingMessage): HandshakeCheck {
  if (req.method !== "GET") {
    return { ok: false, status: 400, reason: "malformed", message: "WebSocket handshakes must use GET" };
  }
  if (req.httpVersionMajor !== 1 || req.httpVersionMinor < 1) {
    return { ok: false, status: 400, reason: "malformed", message: "WebSocket handshakes need HTTP/1.1" };
  }
  if (!headerHasToken(req.headers.upgrade, "websocket")) {
    return { ok: false, status: 400, reason: "malformed", message: "only Upgrade: websocket is supported" };
  }
  if (!headerHasToken(req.headers.connection, "upgrade")) {
    return { ok: false, status: 400, reason: "malformed", message: "Connection header must contain Upgrade" };
  }
  const key = req.headers["sec-websocket-key"];
  if (typeof key !== "string" || !KEY_RE.test(key.trim())) {
    return {
      ok: false,
      status: 400,
      reason: "malformed",
      message: "Sec-WebSocket-Key must be 16 bytes in base64",
    };
  }
  if (req.headers["sec-websocket-version"] !== "13") {
    return {
      ok: false,
      status: 426,
      reason: "unsupported_version",
      message: "only WebSocket version 13 is supported",
      headers: { "Sec-WebSocket-Version": "13" },
    };
  }
  return { ok: true };
}

/**
 * The request path without its query string, with dot-segments resolved, so
 * `/public/../admin` cannot reach a route through another route's prefix. Safe to
 * log and to match on (query strings may carry tokens).
 */
export function pathOf(url: string | undefined): string {
  if (!url) return "/";
  const q = url.indexOf("?");
  const path = q === -1 ? url : url.slice(0, q);
  if (!path.startsWith("/")) return "/";
  if (!path.includes(".")) return path;
  try {
    return new URL(path, "http://wsgate.invalid").pathname;
  } catch {
    return path;
  }
}
