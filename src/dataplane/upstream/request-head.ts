/**
 * The upgrade request head the gateway writes to a backend itself, byte for byte what
 * Node's `http.request({ method: "GET", path, headers, setHost: false }).end()` writes:
 * the request line, the flat headers in order as given, `Connection: close` only when no
 * `Connection` header is given, and the zero chunk when a `Transfer-Encoding: chunked`
 * header asks for chunked framing. Building it by hand saves a `ClientRequest` per
 * handshake (bench W5); `request-head.test.ts` compares the bytes with Node's.
 */
import http from "node:http";

/** RFC 9110 token: what Node's `validateHeaderName` accepts. */
const TOKEN = /^[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+$/;
/** A byte Node's `validateHeaderValue` refuses (ERR_INVALID_CHAR). */
const INVALID_VALUE_CHAR = /[^\t\x20-\x7e\x80-\xff]/;
/** A path character Node's ClientRequest refuses (ERR_UNESCAPED_CHARACTERS). */
const INVALID_PATH_CHAR = /[^\u0021-\u00ff]/;
const CHUNKED = /(?:^|\W)chunked(?:$|\W)/i;

/**
 * The request head for `GET path` with `headers` (flat `[name, value, …]`), as a latin1
 * string. Throws Node's own errors (`ERR_INVALID_HTTP_TOKEN`, `ERR_INVALID_CHAR`,
 * `ERR_UNESCAPED_CHARACTERS`) for what Node's client would refuse to send.
 */
export function upgradeRequestHead(path: string, headers: readonly string[]): string {
  if (INVALID_PATH_CHAR.test(path)) {
    // Node's own error, from Node itself: the request is never sent.
    http.request({ path, createConnection: refuseToConnect });
  }
  // The pieces are joined once: `+=` per header made four intermediate strings of each
  // line, then a flat copy of the whole head when it was written (bench W5: ~1.3 KB per
  // handshake). Sized up front, so the array is never grown.
  const parts = new Array<string>(headers.length * 2 + 4);
  parts[0] = `GET ${path} HTTP/1.1\r\n`;
  let n = 1;
  let connection = false;
  let chunked = false;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    const value = headers[i + 1] as string;
    if (!TOKEN.test(name)) http.validateHeaderName(name);
    if (INVALID_VALUE_CHAR.test(value)) http.validateHeaderValue(name, value);
    // Only names of these lengths can be one of the two Node acts on (its matchHeader).
    if (name.length === 10 || name.length === 17) {
      const lower = name.toLowerCase();
      if (lower === "connection") connection = true;
      else if (lower === "transfer-encoding" && CHUNKED.test(value)) chunked = true;
    }
    parts[n++] = name;
    parts[n++] = ": ";
    parts[n++] = value;
    parts[n++] = "\r\n";
  }
  if (!connection) parts[n++] = "Connection: close\r\n";
  parts[n++] = chunked ? "\r\n0\r\n\r\n" : "\r\n";
  parts.length = n;
  return parts.join("");
}

function refuseToConnect(): never {
  throw new Error("unreachable: Node validates the path before it connects");
}
