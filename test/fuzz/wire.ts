/**
 * Raw bytes over a real TCP socket, and readers for what comes back: HTTP/1.1
 * responses (status line, framing by Content-Length, chunked or close) and the
 * WebSocket frames a server sends after a 101. Nothing here trusts the peer.
 */
import net from "node:net";

/** Splits `bytes` at `cuts` (any numbers: taken modulo the length), so one message arrives in pieces. */
export function chunk(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  if (bytes.length < 2 || cuts.length === 0) return [bytes];
  const points = [...new Set(cuts.map((c) => 1 + (c % (bytes.length - 1))))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    pieces.push(bytes.subarray(from, p));
    from = p;
  }
  pieces.push(bytes.subarray(from));
  return pieces;
}

/** A status line as RFC 9112 §4 writes it, on the HTTP/1.1 wire. */
const STATUS_LINE = /^HTTP\/1\.1 ([1-5]\d\d)(?: [\t !-~\x80-\xff]*)?$/;

export type ResponseRead =
  | { state: "incomplete"; statusLine?: string }
  | { state: "invalid"; reason: string }
  | {
      state: "complete";
      status: number;
      statusLine: string;
      /** Offset of the first byte after this response (after the 101's headers: the first frame). */
      end: number;
    };

/** Reads one final response (interim 1xx other than 101 skipped) from the start of `bytes`. */
export function readResponse(bytes: Buffer, method: string, closed: boolean): ResponseRead {
  let offset = 0;
  for (;;) {
    const headerEnd = bytes.indexOf("\r\n\r\n", offset);
    const lineEnd = bytes.indexOf("\r\n", offset);
    const firstLine =
      lineEnd === -1
        ? bytes.subarray(offset).toString("latin1")
        : bytes.subarray(offset, lineEnd).toString("latin1");
    if (lineEnd === -1) {
      const prefixOk = "HTTP/1.1 ".startsWith(firstLine.slice(0, 9)) || STATUS_LINE.test(firstLine);
      if (!prefixOk)
        return { state: "invalid", reason: `not a status line: ${JSON.stringify(firstLine.slice(0, 80))}` };
      return { state: "incomplete" };
    }
    const match = STATUS_LINE.exec(firstLine);
    if (!match)
      return { state: "invalid", reason: `not a status line: ${JSON.stringify(firstLine.slice(0, 80))}` };
    if (headerEnd === -1) return { state: "incomplete", statusLine: firstLine };
    const status = Number(match[1]);
    const bodyStart = headerEnd + 4;
    if (status >= 100 && status < 200 && status !== 101) {
      // An interim answer (100 Continue) may be all there is when the client gave up.
      if (bytes.length === bodyStart) return { state: "incomplete", statusLine: firstLine };
      offset = bodyStart;
      continue;
    }
    const complete = (end: number): ResponseRead => ({
      state: "complete",
      status,
      statusLine: firstLine,
      end,
    });
    if (status === 101 || status === 204 || status === 304 || method === "HEAD") return complete(bodyStart);
    const head = bytes
      .subarray(lineEnd + 2, headerEnd)
      .toString("latin1")
      .toLowerCase();
    const length = /^content-length:[ \t]*(\d+)[ \t]*$/m.exec(head);
    if (/^transfer-encoding:.*chunked/m.test(head)) {
      const end = chunkedEnd(bytes, bodyStart);
      if (end !== undefined) return complete(end);
    } else if (length) {
      const end = bodyStart + Number(length[1]);
      if (bytes.length >= end) return complete(end);
    } else if (closed) {
      return complete(bytes.length);
    }
    return closed ? complete(bytes.length) : { state: "incomplete", statusLine: firstLine };
  }
}

/** The end offset of a chunked body starting at `from`, once all of it has arrived. */
function chunkedEnd(bytes: Buffer, from: number): number | undefined {
  let at = from;
  for (;;) {
    const lineEnd = bytes.indexOf("\r\n", at);
    if (lineEnd === -1) return undefined;
    const size = parseInt(bytes.subarray(at, lineEnd).toString("latin1"), 16);
    if (!Number.isFinite(size)) return undefined;
    if (size === 0) {
      const end = bytes.indexOf("\r\n\r\n", lineEnd);
      return end === -1 ? undefined : end + 4;
    }
    at = lineEnd + 2 + size + 2;
    if (at > bytes.length) return undefined;
  }
}

/** How one request exchange ended. */
export type Answer =
  /** A response with a valid status line (complete, or cut short by a close). */
  | { kind: "status"; status: number; statusLine: string; complete: boolean }
  /** The gateway closed without a byte. */
  | { kind: "closed" }
  /** Bytes that are not an HTTP/1.1 response. */
  | { kind: "garbage"; reason: string }
  /** Neither an answer nor a close before the deadline. */
  | { kind: "hang"; received: string };

export interface Exchange {
  readonly answer: Answer;
  /** The socket, still open, when the answer was a 101 and `keepUpgraded` was set. */
  readonly upgraded?: {
    socket: net.Socket;
    /** The 101's header block. */
    head: string;
    /** Bytes received after the 101 so far. */
    received: () => Buffer;
    closed: Promise<void>;
  };
}

/**
 * Writes the pieces one after another, each flushed (and a turn of the event loop
 * given) before the next is queued, so that they tend to arrive as separate reads.
 */
export async function writePieces(socket: net.Socket, pieces: readonly Buffer[]): Promise<void> {
  for (const piece of pieces) {
    if (socket.destroyed || !socket.writable) return;
    await new Promise<void>((resolve) => socket.write(piece, () => resolve()));
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/**
 * Connects to `port`, sends `pieces` and reads one answer, bounded by `deadlineMs`.
 * The socket is destroyed afterwards unless it was upgraded and `keepUpgraded` is set.
 */
export async function exchange(
  port: number,
  pieces: readonly Buffer[],
  options: {
    method: string;
    deadlineMs: number;
    keepUpgraded?: boolean;
    /** End the client's side (FIN) once everything is written, and still read the answer. */
    halfClose?: boolean;
  },
): Promise<Exchange> {
  const socket = net.connect({ port, host: "127.0.0.1", noDelay: true });
  let received = Buffer.alloc(0);
  let closed = false;
  const closedPromise = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  socket.on("error", () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });

  const answer = await new Promise<Answer>((resolve) => {
    const timer = setTimeout(() => {
      finish({ kind: "hang", received: received.toString("latin1").slice(0, 200) });
    }, options.deadlineMs);
    let done = false;
    const finish = (a: Answer): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.off("data", onData);
      resolve(a);
    };
    const evaluate = (): void => {
      if (received.length === 0) {
        if (closed) finish({ kind: "closed" });
        return;
      }
      const read = readResponse(received, options.method, closed);
      if (read.state === "invalid") return finish({ kind: "garbage", reason: read.reason });
      if (read.state === "complete") {
        return finish({ kind: "status", status: read.status, statusLine: read.statusLine, complete: true });
      }
      if (closed) {
        if (read.statusLine !== undefined) {
          const status = Number(STATUS_LINE.exec(read.statusLine)![1]);
          return finish({ kind: "status", status, statusLine: read.statusLine, complete: false });
        }
        return finish({
          kind: "garbage",
          reason: `closed inside a status line: ${received.toString("latin1")}`,
        });
      }
    };
    const onData = (data: Buffer): void => {
      received = Buffer.concat([received, data]);
      evaluate();
    };
    socket.on("data", onData);
    void closedPromise.then(() => {
      closed = true;
      evaluate();
    });
    void writePieces(socket, pieces).then(() => {
      if (options.halfClose) socket.end();
    });
  });

  if (answer.kind === "status" && answer.status === 101 && options.keepUpgraded && !closed) {
    const read = readResponse(received, options.method, false);
    const end = read.state === "complete" ? read.end : received.length;
    let frames = received.subarray(end);
    socket.on("data", (data: Buffer) => (frames = Buffer.concat([frames, data])));
    const head = received.subarray(0, end).toString("latin1");
    return { answer, upgraded: { socket, head, received: () => frames, closed: closedPromise } };
  }
  socket.destroy();
  return { answer };
}

/** Connects, sends the pieces and leaves at once (a client that gives up mid-request), with a FIN or a RST. */
export async function sendAndLeave(port: number, pieces: readonly Buffer[], reset = false): Promise<void> {
  const socket = net.connect({ port, host: "127.0.0.1", noDelay: true });
  socket.on("error", () => {});
  await new Promise<void>((resolve) => socket.once("connect", resolve));
  await writePieces(socket, pieces);
  if (reset) socket.resetAndDestroy();
  else socket.destroy();
}

/** A frame header as a server sent it. */
export interface ServerFrame {
  readonly fin: boolean;
  readonly rsv: number;
  readonly opcode: number;
  readonly masked: boolean;
  readonly length: number;
  /** The payload, when it arrived whole. */
  readonly payload: Buffer | undefined;
}

/** Parses the frames in `bytes`; the last one may be cut short (the connection ended inside it). */
export function parseServerFrames(bytes: Buffer): ServerFrame[] {
  const frames: ServerFrame[] = [];
  let at = 0;
  while (at + 2 <= bytes.length) {
    const b0 = bytes[at]!;
    const b1 = bytes[at + 1]!;
    let length = b1 & 0x7f;
    let header = 2;
    if (length === 126) {
      if (at + 4 > bytes.length) break;
      length = bytes.readUInt16BE(at + 2);
      header = 4;
    } else if (length === 127) {
      if (at + 10 > bytes.length) break;
      length = Number(bytes.readBigUInt64BE(at + 2));
      header = 10;
    }
    const masked = (b1 & 0x80) !== 0;
    if (masked) header += 4;
    const start = at + header;
    const whole = start + length <= bytes.length;
    frames.push({
      fin: (b0 & 0x80) !== 0,
      rsv: (b0 >> 4) & 0x07,
      opcode: b0 & 0x0f,
      masked,
      length,
      payload: whole ? bytes.subarray(start, start + length) : undefined,
    });
    if (!whole) break;
    at = start + length;
  }
  return frames;
}
