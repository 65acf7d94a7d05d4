/**
 * The one normal form of a request path, shared by the compiler (a route's path
 * value must already be in it, or it could never match) and the data plane (every
 * request path is put in it once, at entry, and then matched, authorised, logged
 * and sent upstream in that form).
 *
 * RFC 3986 §6.2.2 normalisation: percent-encoded unreserved characters are decoded,
 * remaining escapes upper-cased, dot segments resolved — after decoding, so `%2e%2e`
 * is a `..` segment too. Beyond the RFC, and as nginx's `merge_slashes` does, empty
 * segments are merged (`//api` is `/api`): many backends resolve `//x` as a host or
 * fold it, and the path they serve must be the path that was matched. Characters
 * outside RFC 3986 `pchar` are percent-encoded, so what goes upstream is a valid path.
 *
 * Refused: backslashes and `%5C` (some servers read them as `/`), `%00`, malformed
 * escapes. An encoded slash (`%2F`) is kept as a byte of its segment and reported,
 * so the data plane can refuse it unless the matched route allows it.
 */

export type PathNormalization =
  | {
      readonly ok: true;
      /** The normal form: starts with `/`, no dot or empty segments, escapes upper case. */
      readonly path: string;
      /** The path holds `%2F`: a `/` inside a segment, which a backend may decode into a separator. */
      readonly encodedSlash: boolean;
    }
  | { readonly ok: false; readonly problem: string };

const HEX = "0123456789ABCDEF";

function hexValue(code: number): number {
  if (code >= 48 && code <= 57) return code - 48; // 0-9
  if (code >= 65 && code <= 70) return code - 55; // A-F
  if (code >= 97 && code <= 102) return code - 87; // a-f
  return -1;
}

/** RFC 3986 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~". */
function isUnreserved(code: number): boolean {
  return (
    (code >= 65 && code <= 90) ||
    (code >= 97 && code <= 122) ||
    (code >= 48 && code <= 57) ||
    code === 45 ||
    code === 46 ||
    code === 95 ||
    code === 126
  );
}

/** RFC 3986 `pchar` without pct-encoded (unreserved, sub-delims, ":" and "@"), by ASCII code. */
const PATH_CHAR = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@") {
  PATH_CHAR[c.charCodeAt(0)] = 1;
}

function isPathChar(code: number): boolean {
  return code < 128 && PATH_CHAR[code] === 1;
}

/**
 * Already normal, the common case: only path characters and `/`, no escapes, no empty,
 * `.` or `..` segment. Returned as is without a second look.
 */
const PLAIN_NORMAL = /^(?:\/(?!\.{1,2}(?:\/|$))[A-Za-z0-9\-._~!$&'()*+,;=:@]+)*\/?$/;

function escape(byte: number): string {
  return `%${HEX[byte >> 4]}${HEX[byte & 15]}`;
}

/** Normalises an origin-form path (no query, no fragment). */
export function normalizePath(raw: string): PathNormalization {
  if (!raw.startsWith("/")) return { ok: false, problem: "the path must start with /" };
  if (PLAIN_NORMAL.test(raw)) return { ok: true, path: raw, encodedSlash: false };
  let text = "";
  for (let i = 0; i < raw.length; i++) {
    const code = raw.charCodeAt(i);
    if (code === 37 /* % */) {
      const hi = hexValue(raw.charCodeAt(i + 1));
      const lo = hexValue(raw.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) return { ok: false, problem: "malformed percent-encoding in the path" };
      const byte = hi * 16 + lo;
      i += 2;
      if (byte === 0) return { ok: false, problem: "encoded NUL (%00) in the path" };
      if (byte === 0x5c) return { ok: false, problem: "encoded backslash (%5C) in the path" };
      text += isUnreserved(byte) ? String.fromCharCode(byte) : escape(byte);
    } else if (code === 92 /* \ */) {
      return { ok: false, problem: "backslash in the path" };
    } else if (code === 47 /* / */ || isPathChar(code)) {
      text += raw[i];
    } else if (code < 0x80) {
      text += escape(code);
    } else {
      // Not reachable through Node's strict parser (it refuses raw non-ASCII), but a path
      // from elsewhere is encoded the way a browser would: UTF-8, then percent-encoded.
      const char = String.fromCodePoint(raw.codePointAt(i) as number);
      for (const byte of Buffer.from(char, "utf8")) text += escape(byte);
      i += char.length - 1;
    }
  }
  const path = removeDotSegments(text);
  // Judged on the result: a `..` may have removed the segment that held it.
  return { ok: true, path, encodedSlash: path.includes("%2F") };
}

/** RFC 3986 §5.2.4 on an absolute path, with empty segments merged as well. */
function removeDotSegments(path: string): string {
  const parts = path.split("/");
  const kept: string[] = [];
  let trailingSlash = false;
  for (let k = 1; k < parts.length; k++) {
    const segment = parts[k] as string;
    const last = k === parts.length - 1;
    if (segment === "" || segment === ".") {
      trailingSlash ||= last;
      continue;
    }
    if (segment === "..") {
      kept.pop();
      trailingSlash ||= last;
      continue;
    }
    kept.push(segment);
  }
  return `/${kept.join("/")}${trailingSlash && kept.length > 0 ? "/" : ""}`;
}

/**
 * Why a route's path value is not in normal form (it could never match a request,
 * which is always normalised), or `undefined` when it is.
 */
export function pathValueProblem(value: string): string | undefined {
  const normal = normalizePath(value);
  if (!normal.ok) return normal.problem;
  if (normal.encodedSlash) return "an encoded slash (%2F) cannot be matched";
  if (normal.path !== value) return `not in normal form; write ${normal.path}`;
  return undefined;
}
