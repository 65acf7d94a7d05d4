/**
 * The answer to an extended CONNECT, translated from HTTP/1.1. The upgrade pipeline
 * answers every handshake by writing an HTTP/1.1 response head to the client's socket
 * (its own refusals, a backend's or auth service's answer passed on, the backend's 101).
 * On an HTTP/2 stream that head becomes the stream's HEADERS: `101 Switching Protocols`
 * is `:status 200` (RFC 8441 §5), connection-specific fields (RFC 9113 §8.2.2) and
 * `Sec-WebSocket-Accept` (which answers the gateway's own key, not the client's) are
 * dropped, everything else — the negotiated `Sec-WebSocket-Protocol` and `-Extensions`,
 * a refusal's `Retry-After` or `WWW-Authenticate` — is kept.
 */
import type { OutgoingHttpHeaders } from "node:http2";

/** Where the head ends: the first empty line. */
const HEAD_END = Buffer.from("\r\n\r\n");
/** A head this long without its end is no head the pipeline writes. */
export const MAX_HEAD_BYTES = 64 * 1024;

/** Fields of a connection, not of a message: never sent on HTTP/2. */
const CONNECTION_SPECIFIC = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "te",
  "http2-settings",
]);

/** Fields Node's HTTP/2 layer refuses more than once: the first one stands. */
const SINGLE_VALUE = new Set([
  "age",
  "authorization",
  "content-encoding",
  "content-language",
  "content-length",
  "content-location",
  "content-md5",
  "content-range",
  "content-type",
  "date",
  "dnt",
  "etag",
  "expires",
  "from",
  "host",
  "if-match",
  "if-modified-since",
  "if-none-match",
  "if-range",
  "if-unmodified-since",
  "last-modified",
  "location",
  "max-forwards",
  "proxy-authorization",
  "range",
  "referer",
  "retry-after",
  "tk",
  "upgrade-insecure-requests",
  "user-agent",
  "x-content-type-options",
]);

/** A field name as RFC 9110 allows it (a token). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export interface TranslatedHead {
  /** The HTTP/2 response headers, `:status` included. */
  readonly headers: OutgoingHttpHeaders;
  /** The handshake succeeded: the stream carries WebSocket frames from now on. */
  readonly upgraded: boolean;
}

/**
 * Finds the end of a response head in `buffer`: the offset just past the empty line,
 * or -1 while it is incomplete.
 */
export function headEnd(buffer: Buffer): number {
  const at = buffer.indexOf(HEAD_END);
  return at === -1 ? -1 : at + HEAD_END.length;
}

/**
 * Translates one HTTP/1.1 response head (status line, fields, the empty line; latin1) into
 * the HTTP/2 answer to an extended CONNECT. Undefined for a head that is no response
 * (the caller answers 502).
 */
export function translateHead(head: string): TranslatedHead | undefined {
  const lines = head.split("\r\n");
  const status = /^HTTP\/1\.[01] ([1-9][0-9]{2})(?: .*)?$/.exec(lines[0] ?? "");
  if (!status) return undefined;
  const code = Number(status[1]);
  // 101 is the only 1xx the pipeline writes as an answer; any other is no final answer.
  if (code < 200 && code !== 101) return undefined;
  const upgraded = code === 101;
  const headers: OutgoingHttpHeaders = { ":status": upgraded ? 200 : code };
  for (const line of lines.slice(1)) {
    if (line === "") continue;
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (!TOKEN.test(name) || CONNECTION_SPECIFIC.has(name)) continue;
    // The accept value answers the key the gateway sent upstream; the client sent none.
    if (name === "sec-websocket-accept") continue;
    // RFC 9110 §9.3.6: a 2xx answer to CONNECT has no content framing.
    if (upgraded && name === "content-length") continue;
    const seen = headers[name];
    if (seen === undefined) headers[name] = value;
    else if (SINGLE_VALUE.has(name)) continue;
    else headers[name] = Array.isArray(seen) ? [...seen, value] : [String(seen), value];
  }
  return { headers, upgraded };
}
