/**
 * An HTTP/2 request as the rest of the gateway reads requests: HTTP/1.1 header lists.
 * The pipeline (canonical request, gates, auth, the headers sent upstream) reads
 * `rawHeaders` and `headers`; on HTTP/2 those carry pseudo-headers (`:authority`,
 * `:path`, …) that are no headers at all and must never reach a backend, and no Host.
 * The view turns `:authority` into the Host — the one the canonical request, routing
 * and the SNI check (421) use — and joins cookie crumbs (RFC 9113 §8.2.3), so the
 * request is canonicalised exactly once, by the same code as on HTTP/1.1.
 */
import type { IncomingHttpHeaders } from "node:http";

/**
 * HTTP/1.1 raw headers (`[name, value, …]`) for HTTP/2 raw headers: pseudo-headers
 * dropped, `:authority` first as `host` (a client's own `host` header is kept too, so
 * one that differs is refused by the canonical request as a second Host; an identical
 * one is dropped as redundant), `cookie` crumbs joined with `; `.
 */
export function http1RawHeaders(raw: readonly string[]): string[] {
  let authority: string | undefined;
  const cookies: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    if (name.startsWith(":")) {
      if (name === ":authority") authority = value;
      continue;
    }
    const lower = name.toLowerCase();
    if (lower === "cookie") cookies.push(value);
    else if (lower === "host" && authority !== undefined && value === authority) continue;
    else rest.push(name, value);
  }
  const out: string[] = authority !== undefined ? ["host", authority] : [];
  out.push(...rest);
  if (cookies.length > 0) out.push("cookie", cookies.join("; "));
  return out;
}

/** The header object Node builds from raw headers: lower-case names, repeats joined as HTTP/1.1 does. */
export function headerObjectOf(raw: readonly string[]): IncomingHttpHeaders {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    const value = raw[i + 1] as string;
    const seen = out[name];
    if (seen === undefined) out[name] = name === "set-cookie" ? [value] : value;
    else if (Array.isArray(seen)) seen.push(value);
    else if (name === "cookie") out[name] = `${seen}; ${value}`;
    // Node keeps the first of headers that may appear once, and joins the others with ", ".
    else if (!SINGLE_VALUE.has(name)) out[name] = `${seen}, ${value}`;
  }
  return out;
}

/** Headers Node's HTTP/1.1 parser keeps only once (the first wins). */
const SINGLE_VALUE = new Set([
  "age",
  "authorization",
  "content-length",
  "content-type",
  "etag",
  "expires",
  "from",
  "host",
  "if-modified-since",
  "if-unmodified-since",
  "last-modified",
  "location",
  "max-forwards",
  "proxy-authorization",
  "referer",
  "retry-after",
  "server",
  "user-agent",
]);

/** What an HTTP/2 compatibility request exposes that the view replaces. */
interface ViewableRequest {
  readonly rawHeaders: string[];
  readonly headers: IncomingHttpHeaders;
  /** Its stream (Node's `Http2ServerRequest.stream`). */
  readonly stream?: { once(event: "close", listener: () => void): unknown };
  readonly readableEnded?: boolean;
  once?(event: "end", listener: () => void): unknown;
  on?(event: "error", listener: (err: Error) => void): unknown;
  listenerCount?(event: "error"): number;
  destroy?(error?: Error): unknown;
}

/**
 * A request body cut short must never look complete upstream. Node's HTTP/2
 * compatibility layer ends the request (`end`) when its stream closes, whether or not
 * the client sent END_STREAM — a reset in the middle of a body included — and a body
 * piped to a pooled backend connection would then end early: the connection goes back
 * to the pool while the backend still waits for the declared rest, and reads the next
 * client's request as that body (a desync between clients). A stream that closes
 * before its request ended destroys the request with ECONNRESET instead, as an HTTP/1.1
 * client that vanishes does, so the upstream request is destroyed too.
 */
function abortCutBodies(req: ViewableRequest): void {
  const { stream } = req;
  if (!stream || !req.once || !req.destroy) return;
  let ended = req.readableEnded === true;
  req.once("end", () => (ended = true));
  stream.once("close", () => {
    if (ended) return;
    const err = new Error("the HTTP/2 stream closed before the request body ended") as NodeJS.ErrnoException;
    err.code = "ECONNRESET";
    // A request nobody reads (answered by the gateway itself: 404, 401, …) has no error
    // listener: an unhandled 'error' would end the process. Whoever pipes it listens.
    if (req.listenerCount?.("error") === 0) req.on?.("error", () => {});
    req.destroy?.(err);
  });
}

/**
 * Gives an HTTP/2 compatibility request (`Http2ServerRequest`) the HTTP/1.1 view of its
 * headers, as own writable properties (its own accessors have no setter, and the plain
 * HTTP path replaces `headers` with those sent upstream). `url` stays `:path`.
 */
export function presentAsHttp1(req: ViewableRequest): void {
  const raw = http1RawHeaders(req.rawHeaders);
  for (const [name, value] of [
    ["rawHeaders", raw],
    ["headers", headerObjectOf(raw)],
  ] as const) {
    Object.defineProperty(req, name, { value, writable: true, configurable: true, enumerable: true });
  }
  abortCutBodies(req);
}
