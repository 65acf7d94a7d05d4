/**
 * A bounded reader for the backend's answer to an upgrade, with one fast path: a clean
 * `HTTP/1.1 101` head. Everything else — another status, 1xx interim answers, bare LF,
 * obs-fold, control or non-ASCII bytes, framing headers, a head near Node's size limit —
 * is handed to Node's own HTTP client parser by replay (see `replay.ts`), so answers,
 * bodies, framing and errors keep Node's behaviour exactly and this reader never has to
 * get framing right. It only says "upgraded, with these headers" where Node's client
 * would say the very same: `test/fuzz/backend-head.fuzz.test.ts` feeds both the same bytes.
 */
import http from "node:http";

/**
 * What the gateway reads of a backend's 101: satisfied by Node's `IncomingMessage` and by
 * the fast path's own result.
 */
export interface BackendHead {
  readonly statusCode?: number | undefined;
  readonly statusMessage?: string | undefined;
  /** Names and values as received, in order, case kept: `[name, value, name, value…]`. */
  readonly rawHeaders: string[];
}

/** What a reader made of the bytes so far. */
export type HeadScan =
  /** The head is not complete yet, and nothing disqualified it from the fast path. */
  | { readonly kind: "more" }
  /** A clean 101; `rest` is what followed the head (the backend's first frames). */
  | { readonly kind: "upgraded"; readonly head: BackendHead; readonly rest: Buffer }
  /** Not for the fast path: Node's parser must read these bytes. */
  | { readonly kind: "replay" };

const MORE: HeadScan = Object.freeze({ kind: "more" });
const REPLAY: HeadScan = Object.freeze({ kind: "replay" });

const STATUS_LINE = Buffer.from("HTTP/1.1 101 ", "latin1");
const CR = 0x0d;
const LF = 0x0a;
const COLON = 0x3a;
const SP = 0x20;
const HTAB = 0x09;
/** Fewer pairs than Node's client keeps (`maxHeaderPairs`, 2000 entries): none is dropped. */
const MAX_PAIRS = 500;

/** tchar (RFC 9110 §5.6.2), by byte. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  TCHAR[c.charCodeAt(0)] = 1;
}
/** A strict token list, as llhttp reads `Connection` (`Upgrade`, `keep-alive, Upgrade`). */
const TOKEN_LIST = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?: *, *[!#$%&'*+\-.^_`|~0-9A-Za-z]+)*$/;

/**
 * Reads one backend's answer head from successive chunks. Holds at most `limit` bytes:
 * past that the bytes go to Node's parser, which applies its own limit (the gateway's
 * memory is bounded either way).
 */
export class BackendHeadReader {
  readonly #limit: number;
  #chunks: Buffer[] = [];
  #length = 0;
  /** Bytes already searched for the end of the head (minus the 3 a terminator may straddle). */
  #scanned = 0;

  /** @param limit Largest head taken on the fast path; Node's `http.maxHeaderSize` by default. */
  constructor(limit: number = http.maxHeaderSize) {
    // Node counts a head's bytes without its status line prefix and separators: a head
    // shorter than the limit is within Node's limit too.
    this.#limit = limit;
  }

  /** Everything received so far (what a replay starts with). */
  received(): Buffer {
    if (this.#chunks.length > 1) this.#chunks = [Buffer.concat(this.#chunks, this.#length)];
    return this.#chunks[0] ?? Buffer.alloc(0);
  }

  /** Takes the next chunk from the backend. */
  push(chunk: Buffer): HeadScan {
    this.#chunks.push(chunk);
    this.#length += chunk.length;
    const bytes = this.#chunks.length === 1 ? chunk : this.received();
    // Early verdicts: a status line that is not `HTTP/1.1 101 ` is Node's, at once.
    const prefix = Math.min(bytes.length, STATUS_LINE.length);
    if (bytes.compare(STATUS_LINE, 0, prefix, 0, prefix) !== 0) return REPLAY;
    const end = this.#findEnd(bytes);
    if (end === -2) return REPLAY;
    if (end === -1) return this.#length >= this.#limit ? REPLAY : MORE;
    if (end > this.#limit) return REPLAY;
    const head = parseHead(bytes, end);
    return head ? { kind: "upgraded", head, rest: bytes.subarray(end) } : REPLAY;
  }

  /**
   * The offset just past the head's empty line; -1: not there yet; -2: a bare LF (Node
   * reads it as a line end, this reader does not).
   */
  #findEnd(bytes: Buffer): number {
    let i = Math.max(this.#scanned, 1);
    for (; i < bytes.length; i++) {
      if (bytes[i] !== LF) continue;
      if (bytes[i - 1] !== CR) return -2;
      if (i >= 3 && bytes[i - 2] === LF && bytes[i - 3] === CR) return i + 1;
    }
    this.#scanned = i;
    return -1;
  }
}

/**
 * The head in `bytes[0, end)` (ending CRLF CRLF, no bare LF), when it is a 101 Node's
 * client takes as an upgrade with exactly these headers; undefined otherwise. Decoded
 * once (one latin1 string; a decode per name and value cost more than the parse).
 */
function parseHead(bytes: Buffer, end: number): BackendHead | undefined {
  const text = bytes.toString("latin1", 0, end);
  let lineEnd = text.indexOf("\r", STATUS_LINE.length);
  // Every CR must end a line (a lone CR is Node's to judge).
  if (text.charCodeAt(lineEnd + 1) !== LF) return undefined;
  // The reason phrase: printable ASCII only (HTAB and obs-text go to Node).
  for (let i = STATUS_LINE.length; i < lineEnd; i++) {
    const c = text.charCodeAt(i);
    if (c < SP || c > 0x7e) return undefined;
  }
  const statusMessage = text.slice(STATUS_LINE.length, lineEnd);
  const rawHeaders: string[] = [];
  let upgrade = false;
  let connectionUpgrade = false;
  let start = lineEnd + 2;
  const last = end - 2; // the empty line
  while (start < last) {
    lineEnd = text.indexOf("\r", start);
    if (text.charCodeAt(lineEnd + 1) !== LF) return undefined;
    // The name: one or more tchar, then a colon at once (no space before it).
    let i = start;
    while (i < lineEnd && TCHAR[text.charCodeAt(i)] === 1) i++;
    if (i === start || i === lineEnd || text.charCodeAt(i) !== COLON) return undefined;
    const name = text.slice(start, i);
    i++;
    let c = text.charCodeAt(i);
    while (i < lineEnd && (c === SP || c === HTAB)) c = text.charCodeAt(++i);
    let valueEnd = lineEnd;
    c = text.charCodeAt(valueEnd - 1);
    while (valueEnd > i && (c === SP || c === HTAB)) c = text.charCodeAt(--valueEnd - 1);
    for (let j = i; j < valueEnd; j++) {
      c = text.charCodeAt(j);
      if ((c < SP && c !== HTAB) || c > 0x7e) return undefined;
    }
    const value = text.slice(i, valueEnd);
    const lower = name.length >= 7 && name.length <= 17 ? name.toLowerCase() : "";
    if (lower === "upgrade") upgrade = true;
    else if (lower === "connection") {
      if (!TOKEN_LIST.test(value)) return undefined;
      if (hasUpgradeToken(value)) connectionUpgrade = true;
    } else if (lower === "content-length" || lower === "transfer-encoding" || lower === "proxy-connection") {
      // Framing headers (and llhttp's alias of Connection): Node decides what they mean.
      return undefined;
    }
    rawHeaders.push(name, value);
    if (rawHeaders.length > 2 * MAX_PAIRS) return undefined;
    start = lineEnd + 2;
  }
  // Without both, Node's client does not take a 101 as an upgrade.
  if (!upgrade || !connectionUpgrade) return undefined;
  return { statusCode: 101, statusMessage, rawHeaders };
}

/** True when a token list (already checked by TOKEN_LIST) names `upgrade`, in any case. */
function hasUpgradeToken(list: string): boolean {
  // The usual value is `Upgrade` alone: no split (bench W5).
  if (list.length === 7) return list.toLowerCase() === "upgrade";
  for (const token of list.split(",")) {
    if (token.trim().toLowerCase() === "upgrade") return true;
  }
  return false;
}

/**
 * The `Sec-WebSocket-Extensions` the backend answered: every such header's value, joined
 * with `, ` as Node's `IncomingMessage.headers` joins repeated headers.
 */
export function answeredExtensions(head: BackendHead): string {
  const raw = head.rawHeaders;
  let out: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length !== 24 || name.toLowerCase() !== "sec-websocket-extensions") continue;
    out = out === undefined ? (raw[i + 1] as string) : `${out}, ${raw[i + 1] as string}`;
  }
  // A fresh string: the relay keeps it for the connection's life, and a slice of the
  // fast path's head would keep the whole head alive with it.
  return out === undefined ? "" : Buffer.from(out, "latin1").toString("latin1");
}
