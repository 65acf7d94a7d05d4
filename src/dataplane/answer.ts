/**
 * Passes a backend's own non-101 answer to a handshake (e.g. 403 from the app)
 * on to the client, then closes: the backend's word stands, and is not retried.
 */
import type http from "node:http";
import type { Duplex } from "node:stream";
import { writeRejection } from "./reject.js";

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
    const body = Buffer.concat(chunks);
    const raw = response.rawHeaders;
    let text = `HTTP/1.1 ${response.statusCode ?? 502} ${response.statusMessage ?? ""}\r\n`;
    for (let i = 0; i < raw.length; i += 2) {
      const lower = (raw[i] as string).toLowerCase();
      if (lower === "content-length" || lower === "transfer-encoding" || lower === "connection") continue;
      text += `${raw[i]}: ${raw[i + 1]}\r\n`;
    }
    text += `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
    socket.once("finish", () => socket.destroy());
    socket.end(Buffer.concat([Buffer.from(text), body]));
    response.destroy();
  });
  response.once("error", () => writeRejection(socket, 502, "backend failed while answering the handshake"));
}
