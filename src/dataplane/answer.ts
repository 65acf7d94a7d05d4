/**
 * Passes a backend's own non-101 answer to a handshake (e.g. 403 from the app)
 * on to the client, then closes: the backend's word stands, and is not retried.
 */
import type http from "node:http";
import type { Duplex } from "node:stream";
import { writeAnswer, writeRejection } from "./reject.js";

/** Largest backend rejection body passed on to the client. */
const MAX_ANSWER_BODY = 64 * 1024;

export function passOnAnswer(response: http.IncomingMessage, socket: Duplex): void {
  const chunks: Buffer[] = [];
  let size = 0;
  response.on("data", (chunk: Buffer) => {
    if (size < MAX_ANSWER_BODY) chunks.push(chunk.subarray(0, MAX_ANSWER_BODY - size));
    size += chunk.length;
  });
  response.once("end", () => {
    const raw = response.rawHeaders;
    const headers: [string, string][] = [];
    for (let i = 0; i < raw.length; i += 2) headers.push([raw[i] as string, raw[i + 1] as string]);
    writeAnswer(socket, response.statusCode ?? 502, response.statusMessage, headers, Buffer.concat(chunks));
    response.destroy();
  });
  response.once("error", () => writeRejection(socket, 502, "backend failed while answering the handshake"));
}
