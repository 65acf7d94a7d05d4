/**
 * Honest rejections: every refused handshake gets a real HTTP response before the
 * socket goes away, never a bare reset (as ws's abortHandshake does).
 */
import { STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";

export function writeRejection(
  socket: Duplex,
  status: number,
  message: string,
  headers: Readonly<Record<string, string>> = {},
): void {
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  const body = `${message}\n`;
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}`,
    "Connection: close",
    "Content-Type: text/plain; charset=utf-8",
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  socket.once("finish", () => socket.destroy());
  socket.end(`${lines.join("\r\n")}\r\n\r\n${body}`);
}

/** Headers of a passed-on answer that describe its framing or connection: we set our own. */
const FRAMING_HEADERS = new Set(["content-length", "transfer-encoding", "connection", "keep-alive"]);

/** True for a header that must not be copied from a buffered answer we re-frame. */
export function isFramingHeader(name: string): boolean {
  return FRAMING_HEADERS.has(name.toLowerCase());
}

/**
 * Writes a complete answer someone else gave — a backend's or an auth service's
 * refusal, body already buffered — on a raw socket, re-framed with our own
 * Content-Length and `Connection: close`, then closes the socket.
 */
export function writeAnswer(
  socket: Duplex,
  status: number,
  statusMessage: string | undefined,
  headers: Iterable<readonly [string, string]>,
  body: Buffer,
): void {
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  let text = `HTTP/1.1 ${status} ${statusMessage || STATUS_CODES[status] || ""}\r\n`;
  for (const [name, value] of headers) if (!isFramingHeader(name)) text += `${name}: ${value}\r\n`;
  text += `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
  socket.once("finish", () => socket.destroy());
  socket.end(Buffer.concat([Buffer.from(text, "latin1"), body]));
}
