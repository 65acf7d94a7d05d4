/**
 * Raw TCP peers for relay tests: a WebSocket backend and client that do exactly what
 * a test says at the socket level (answer late, ignore FIN, stop reading, reset),
 * which `ws` peers never do.
 */
import { createHash } from "node:crypto";
import net from "node:net";
import type { AddressInfo } from "node:net";

/** The key every raw handshake uses, and the accept value a backend answers with. */
export const HANDSHAKE_KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT = createHash("sha1")
  .update(`${HANDSHAKE_KEY}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
  .digest("base64");

export interface RawBackendOptions {
  /** Delay before the 101 (ms); the handshake window a client can leave in. */
  readonly answerAfterMs?: number;
  /** On the client's FIN: `end` answers with FIN (as `ws` does), `ignore` keeps its side open. */
  readonly onFin?: "end" | "ignore";
  /** After the 101, stop reading: the relay's writes to it back up. */
  readonly stopReading?: boolean;
  /** Extra 101 headers, e.g. `Sec-WebSocket-Extensions: permessage-deflate`. */
  readonly extraHeaders?: readonly string[];
}

export interface RawBackend {
  readonly port: number;
  /** Upgrade requests seen (their header blocks). */
  readonly requests: string[];
  /** Accepted sockets, in order. */
  readonly sockets: net.Socket[];
  /** Resolves when the n-th accepted socket (0-based) has closed. */
  closed(n: number): Promise<void>;
  close(): Promise<void>;
}

export async function startRawBackend(options: RawBackendOptions = {}): Promise<RawBackend> {
  const sockets: net.Socket[] = [];
  const requests: string[] = [];
  const closedWaiters = new Map<net.Socket, Promise<void>>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.push(socket);
    closedWaiters.set(socket, new Promise((resolve) => socket.once("close", () => resolve())));
    socket.on("error", () => {});
    let text = "";
    const onData = (chunk: Buffer): void => {
      text += chunk.toString("latin1");
      const end = text.indexOf("\r\n\r\n");
      if (end < 0) return;
      socket.off("data", onData);
      requests.push(text.slice(0, end));
      if (options.stopReading) socket.pause();
      else socket.resume(); // keeps reading (and discarding) frames
      const answer = (): void => {
        if (socket.destroyed) return;
        const extra = (options.extraHeaders ?? []).map((h) => `${h}\r\n`).join("");
        socket.write(
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            `Sec-WebSocket-Accept: ${ACCEPT}\r\n${extra}\r\n`,
        );
      };
      if (options.answerAfterMs) setTimeout(answer, options.answerAfterMs);
      else answer();
    };
    socket.on("data", onData);
    socket.on("end", () => {
      if ((options.onFin ?? "end") === "end") socket.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    sockets,
    closed: (n) => closedWaiters.get(sockets[n] as net.Socket) as Promise<void>,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Sends a WebSocket upgrade request for `path` over a raw socket. With
 * `allowHalfOpen`, the client's side stays open after the gateway's FIN (a client
 * that never closes).
 */
export function rawUpgrade(
  port: number,
  options: { path?: string; headers?: readonly string[]; allowHalfOpen?: boolean } = {},
): net.Socket {
  const socket = net.connect({ port, host: "127.0.0.1", allowHalfOpen: options.allowHalfOpen ?? false });
  socket.on("error", () => {});
  const extra = (options.headers ?? []).map((h) => `${h}\r\n`).join("");
  socket.write(
    `GET ${options.path ?? "/"} HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${HANDSHAKE_KEY}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`,
  );
  return socket;
}

/** A masked client frame (RFC 6455 §5.2) with the given first byte and payload. */
export function clientFrame(b0: number, payload: Buffer): Buffer {
  const n = payload.length;
  const lengthBytes = n < 126 ? [n] : n < 65536 ? [126, n >> 8, n & 0xff] : [127, 0, 0, 0, 0, ...u32(n)];
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const header = Buffer.from([b0, 0x80 | (lengthBytes[0] as number), ...lengthBytes.slice(1)]);
  const body = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) body[i] = (payload[i] as number) ^ (mask[i & 3] as number);
  return Buffer.concat([header, mask, body]);
}

/** An unmasked server frame with the given first byte and payload. */
export function serverFrame(b0: number, payload: Buffer): Buffer {
  const n = payload.length;
  const lengthBytes = n < 126 ? [n] : n < 65536 ? [126, n >> 8, n & 0xff] : [127, 0, 0, 0, 0, ...u32(n)];
  return Buffer.concat([Buffer.from([b0, ...lengthBytes]), payload]);
}

function u32(n: number): number[] {
  return [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

/** Polls `condition` every 10 ms until it holds, or fails after `ms` naming `what`. */
export async function eventually(condition: () => boolean, what: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
