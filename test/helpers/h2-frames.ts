/**
 * HTTP/2 frames built by hand (RFC 9113 §4, HPACK literals without Huffman, RFC 7541
 * §6.2.2), for clients no library would be: floods of resets, CONTINUATION, SETTINGS
 * and PING, written straight onto a TLS connection that negotiated `h2`.
 */
import tls from "node:tls";

export const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

export const FrameType = {
  DATA: 0,
  HEADERS: 1,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;

export const Flag = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;

/** One frame: the 9-byte header, then `payload`. */
export function frame(
  type: number,
  flags: number,
  streamId: number,
  payload: Buffer = Buffer.alloc(0),
): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([header, payload]);
}

/** An HPACK integer with an `n`-bit prefix whose high bits are `first` (RFC 7541 §5.1). */
export function hpackInteger(value: number, n: number, first = 0): Buffer {
  const max = (1 << n) - 1;
  if (value < max) return Buffer.from([first | value]);
  const out = [first | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return Buffer.from(out);
}

/** Header fields as HPACK "literal without indexing, new name" representations. */
export function hpack(fields: readonly (readonly [string, string])[]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of fields) {
    parts.push(Buffer.from([0x00]));
    parts.push(hpackInteger(Buffer.byteLength(name), 7), Buffer.from(name, "latin1"));
    parts.push(hpackInteger(Buffer.byteLength(value), 7), Buffer.from(value, "latin1"));
  }
  return Buffer.concat(parts);
}

/** The request fields of a GET. */
export function getFields(authority: string, path = "/"): [string, string][] {
  return [
    [":method", "GET"],
    [":scheme", "https"],
    [":authority", authority],
    [":path", path],
  ];
}

export interface RawH2 {
  readonly socket: tls.TLSSocket;
  /** Frames the server sent, parsed as they arrive. */
  readonly received: { type: number; flags: number; streamId: number; payload: Buffer }[];
  /** Resolves with the GOAWAY error code once one arrives. */
  readonly goaway: Promise<number>;
  /** Resolves once the connection closed. */
  readonly closed: Promise<void>;
}

/** A TLS connection that negotiated `h2`, the client preface and an empty SETTINGS sent. */
export function rawH2(port: number, servername: string): Promise<RawH2> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: "127.0.0.1",
      port,
      servername,
      ALPNProtocols: ["h2"],
      rejectUnauthorized: false,
    });
    const received: RawH2["received"] = [];
    let resolveGoaway: (code: number) => void = () => {};
    const goaway = new Promise<number>((r) => (resolveGoaway = r));
    const closed = new Promise<void>((r) => socket.once("close", () => r()));
    let buffer = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      while (buffer.length >= 9) {
        const length = buffer.readUIntBE(0, 3);
        if (buffer.length < 9 + length) break;
        const f = {
          type: buffer[3] as number,
          flags: buffer[4] as number,
          streamId: buffer.readUInt32BE(5) & 0x7fffffff,
          payload: buffer.subarray(9, 9 + length),
        };
        buffer = buffer.subarray(9 + length);
        // Only what tests read is kept: not every DATA frame of a flood.
        if (f.type !== FrameType.DATA) received.push(f);
        if (f.type === FrameType.GOAWAY) resolveGoaway(f.payload.readUInt32BE(4));
      }
    });
    socket.on("error", () => {});
    socket.once("secureConnect", () => {
      if (socket.alpnProtocol !== "h2")
        return reject(new Error(`ALPN ${String(socket.alpnProtocol)}, not h2`));
      socket.write(Buffer.concat([PREFACE, frame(FrameType.SETTINGS, 0, 0)]));
      resolve({ socket, received, goaway, closed });
    });
    socket.once("error", reject);
  });
}

/** Writes `make(i)` for i < count, waiting for drain when the socket's buffer is full; stops once it closed. */
export async function flood(
  socket: tls.TLSSocket,
  count: number,
  make: (i: number) => Buffer,
): Promise<number> {
  let sent = 0;
  for (; sent < count; sent++) {
    if (socket.destroyed || !socket.writable) break;
    if (!socket.write(make(sent))) {
      const go = await new Promise<boolean>((resolve) => {
        const onDrain = (): void => {
          socket.off("close", onClose);
          resolve(true);
        };
        const onClose = (): void => {
          socket.off("drain", onDrain);
          resolve(false);
        };
        socket.once("drain", onDrain);
        socket.once("close", onClose);
      });
      if (!go) break;
    }
  }
  return sent;
}
