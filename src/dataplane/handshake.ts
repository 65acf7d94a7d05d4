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
      reason: "malformed" | "unsupported_version" | "bad_request";
      message: string;
      headers?: Record<string, string>;
    };

const KEY_RE = /^[A-Za-z0-9+/]{22}==$/;

function headerHasToken(value: string | undefined, token: string): boolean {
  if (value === undefined) return false;
  // The usual value is the token alone (`websocket`, `Upgrade`): no split, no closure (bench W5).
  if (value.length === token.length && value.toLowerCase() === token) return true;
  return value.split(",").some((v) => v.trim().toLowerCase() === token);
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
  // A body the proxy would not relay (bytes after the headers belong to the WebSocket
  // stream): the backend would wait for them, or read them as frames.
  const length = req.headers["content-length"];
  if (req.headers["transfer-encoding"] !== undefined || (length !== undefined && Number(length) !== 0)) {
    return {
      ok: false,
      status: 400,
      reason: "bad_request",
      message: "a WebSocket handshake must not carry a body",
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
