/**
 * A header-only WebSocket frame scanner (RFC 6455 §5.2) and frame builders.
 *
 * The relay pipes bytes untouched; this scanner walks the same bytes to know
 * where frames begin and end, without copying or unmasking payloads (only the
 * ≤125-byte payloads of control frames are read, to learn close codes and match
 * pongs; data payloads are shown, in place, to a handler that asks for them, which
 * the inflater does to count compressed messages). It is correct for any split of
 * the byte stream into chunks.
 */
import { randomFillSync } from "node:crypto";

export const Opcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;

/** What the scanner knows about the frame it is in, reused between frames (no allocation per frame). */
export interface FrameInfo {
  fin: boolean;
  /** RSV1: under permessage-deflate, set on the first frame of a compressed message. */
  rsv1: boolean;
  opcode: number;
  masked: boolean;
  payloadLength: number;
  /** Offset of the frame's first byte in the current chunk, or -1 if it began in an earlier chunk. */
  start: number;
  /** For control frames, once the frame is complete: its (unmasked) payload. */
  controlPayload: Buffer | undefined;
}

/**
 * Receives scanner events; return a string from `header` to declare a protocol violation.
 * Without `headers` (ScannerOptions) `header` is not called, and while
 * {@link FrameScanner.dataEnds} is false `end` is called for control frames only: a relay
 * with nothing to check per data frame then pays no call per frame (bench W2).
 */
export interface FrameHandler {
  /** A frame header was read completely. `messageBytes` includes this frame's payload. */
  header(frame: Readonly<FrameInfo>, messageBytes: number): string | undefined;
  /** A frame ended at `end` (exclusive offset in the current chunk). */
  end(frame: Readonly<FrameInfo>, end: number): void;
  /**
   * With `payloads`: data-frame payload bytes `chunk[start, end)`, still masked with
   * `mask` (big-endian key; 0 for unmasked frames) from offset `position` of the frame's
   * payload. Return a string to declare a violation.
   */
  payload?(chunk: Buffer, start: number, end: number, mask: number, position: number): string | undefined;
}

export interface ScannerOptions {
  /** Frames from a client must be masked, frames from a server must not be (RFC 6455 §5.1). */
  readonly fromClient: boolean;
  /** RSV1 is legal when permessage-deflate was negotiated. */
  readonly allowRsv1: boolean;
  /** RSV2/RSV3 are legal only under an extension we do not know. */
  readonly allowRsv23: boolean;
  /** Show data-frame payloads to the handler's `payload` (costs a call per payload piece). */
  readonly payloads?: boolean;
  /** Call the handler's `header` for every frame (default true); false when it has nothing to check. */
  readonly headers?: boolean;
}

const MAX_SAFE_LENGTH = 2 ** 53 - 1;

/** A frame header's total size, known from its second byte (RFC 6455 §5.2). */
function headerSize(b1: number): number {
  const len7 = b1 & 0x7f;
  return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (b1 & 0x80 ? 4 : 0);
}

export class FrameScanner {
  readonly #options: ScannerOptions;
  readonly #handler: FrameHandler;
  /** Allocated the first time a header straddles two chunks (rare), to keep idle connections small. */
  #header: Buffer | undefined;
  #headerLength = 0;
  #headerNeeded = 2;
  #remaining = 0;
  #inPayload = false;
  #control: Buffer | undefined;
  #controlFill = 0;
  /** The current frame's mask key, big-endian (kept for control frames, and data frames with `payloads`). */
  #mask = 0;
  /** Payload bytes of the current data frame already shown to the handler. */
  #position = 0;
  readonly #payloads: boolean;
  readonly #headers: boolean;
  /**
   * Call the handler's `end` for data frames too (control frames always). The handler
   * turns it on while it needs data frames' boundaries, e.g. to inject a frame after one.
   */
  dataEnds = true;
  /** Frames whose header was accepted during the last {@link scan} call. */
  framesStarted = 0;
  /** Messages (data frames with FIN) that ended during the last {@link scan} call. */
  messagesEnded = 0;
  #inFragmentedMessage = false;
  #messageBytes = 0;
  #error: string | undefined;
  readonly frame: FrameInfo = {
    fin: true,
    rsv1: false,
    opcode: 0,
    masked: false,
    payloadLength: 0,
    start: -1,
    controlPayload: undefined,
  };

  constructor(options: ScannerOptions, handler: FrameHandler) {
    this.#options = options;
    this.#handler = handler;
    this.#payloads = options.payloads === true && handler.payload !== undefined;
    this.#headers = options.headers !== false;
  }

  /** True between frames: a frame injected now would not cut another in two. */
  get atBoundary(): boolean {
    return !this.#inPayload && this.#headerLength === 0;
  }

  /** The protocol violation that stopped the scanner, if any. */
  get error(): string | undefined {
    return this.#error;
  }

  /**
   * Scans a chunk. Returns false (and sets {@link error}) on a protocol violation;
   * the rest of the stream must then not be relayed.
   */
  scan(chunk: Buffer): boolean {
    this.framesStarted = 0;
    this.messagesEnded = 0;
    if (this.#error) return false;
    let offset = 0;
    const length = chunk.length;
    while (offset < length) {
      if (this.#inPayload) {
        const take = Math.min(this.#remaining, length - offset);
        if (this.#control) this.#captureControl(chunk, offset, take);
        else if (this.#payloads) {
          const handler = this.#handler as Required<FrameHandler>;
          const violation = handler.payload(chunk, offset, offset + take, this.#mask, this.#position);
          if (violation) return this.#fail(violation);
          this.#position += take;
        }
        offset += take;
        this.#remaining -= take;
        if (this.#remaining === 0) this.#finishFrame(offset);
        continue;
      }
      if (this.#headerLength === 0) {
        this.frame.start = offset;
        // Fast path: the whole header is in this chunk, so it is parsed in place.
        if (length - offset >= 2) {
          const size = headerSize(chunk[offset + 1] as number);
          if (length - offset >= size) {
            if (!this.#parseHeader(chunk, offset)) return false;
            offset += size;
            if (this.#remaining === 0) this.#finishFrame(offset);
            continue;
          }
        }
      }
      // Slow path: a header straddling chunks is copied until complete.
      const header = (this.#header ??= Buffer.alloc(14));
      while (offset < length && this.#headerLength < this.#headerNeeded) {
        header[this.#headerLength++] = chunk[offset++] as number;
        if (this.#headerLength === 2) this.#headerNeeded = headerSize(header[1] as number);
      }
      if (this.#headerLength < this.#headerNeeded) break;
      if (!this.#parseHeader(header, 0)) return false;
      if (this.#remaining === 0) this.#finishFrame(offset);
    }
    // A frame that continues into the next chunk did not start there.
    this.frame.start = -1;
    return true;
  }

  #fail(reason: string): false {
    this.#error = reason;
    return false;
  }

  /** Parses the complete header that starts at `h[at]`. */
  #parseHeader(h: Buffer, at: number): boolean {
    const b0 = h[at] as number;
    const b1 = h[at + 1] as number;
    const frame = this.frame;
    frame.fin = (b0 & 0x80) !== 0;
    frame.rsv1 = (b0 & 0x40) !== 0;
    frame.opcode = b0 & 0x0f;
    frame.masked = (b1 & 0x80) !== 0;
    frame.controlPayload = undefined;
    const len7 = b1 & 0x7f;
    let length = len7;
    let pos = 2;
    if (len7 === 126) {
      length = h.readUInt16BE(at + 2);
      pos = 4;
    } else if (len7 === 127) {
      const high = h.readUInt32BE(at + 2);
      if (high > 0x1fffff) return this.#fail("frame length over 2^53");
      length = high * 2 ** 32 + h.readUInt32BE(at + 6);
      pos = 10;
      if (length > MAX_SAFE_LENGTH) return this.#fail("frame length over 2^53");
    }
    frame.payloadLength = length;
    // The mask key is kept only for payloads that are read: control frames, and data
    // frames when the handler asked for payloads.
    this.#mask = frame.masked && ((b0 & 0x0f) >= 0x8 || this.#payloads) ? h.readUInt32BE(at + pos) : 0;
    this.#position = 0;
    this.#headerLength = 0;
    this.#headerNeeded = 2;

    if (frame.masked !== this.#options.fromClient) {
      return this.#fail(
        this.#options.fromClient ? "unmasked frame from the client" : "masked frame from the server",
      );
    }
    if ((b0 & 0x40) !== 0 && !this.#options.allowRsv1)
      return this.#fail("RSV1 set without a negotiated extension");
    if ((b0 & 0x30) !== 0 && !this.#options.allowRsv23)
      return this.#fail("RSV2/RSV3 set without a negotiated extension");

    const op = frame.opcode;
    if (op >= 0x8) {
      if (op > Opcode.Pong) return this.#fail(`reserved control opcode ${op}`);
      if (!frame.fin) return this.#fail("fragmented control frame");
      if (length > 125) return this.#fail("control frame payload over 125 bytes");
      if (op === Opcode.Close && length === 1) return this.#fail("close frame with a 1-byte payload");
      this.#control = Buffer.allocUnsafe(length);
      this.#controlFill = 0;
    } else {
      this.#control = undefined;
      if (op === Opcode.Continuation) {
        if (!this.#inFragmentedMessage) return this.#fail("continuation frame outside a message");
      } else if (op === Opcode.Text || op === Opcode.Binary) {
        if (this.#inFragmentedMessage) return this.#fail("new message inside a fragmented message");
        this.#messageBytes = 0;
      } else {
        return this.#fail(`reserved data opcode ${op}`);
      }
      this.#messageBytes += length;
      this.#inFragmentedMessage = !frame.fin;
    }
    if (this.#headers) {
      const violation = this.#handler.header(frame, op >= 0x8 ? length : this.#messageBytes);
      if (violation) return this.#fail(violation);
    }
    this.framesStarted++;
    this.#remaining = length;
    this.#inPayload = length > 0;
    return true;
  }

  #captureControl(chunk: Buffer, offset: number, take: number): void {
    const control = this.#control as Buffer;
    const masked = this.frame.masked;
    const mask = this.#mask;
    for (let i = 0; i < take; i++) {
      const byte = chunk[offset + i] as number;
      const at = this.#controlFill++;
      control[at] = masked ? byte ^ ((mask >>> (24 - 8 * (at & 3))) & 0xff) : byte;
    }
  }

  #finishFrame(end: number): void {
    this.#inPayload = false;
    const frame = this.frame;
    if (this.#control) {
      frame.controlPayload = this.#control;
      this.#control = undefined;
    } else {
      if (frame.fin) this.messagesEnded++;
      if (!this.dataEnds) return;
    }
    this.#handler.end(frame, end);
  }
}

/** The close code in a Close frame's payload; 1005 (no status) when it carries none. */
export function closeCodeOf(payload: Buffer | undefined): number {
  return payload && payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
}

/**
 * Builds a complete control frame: unmasked when sent to a client (we act as the
 * server), masked with a fresh key when sent to a backend (we act as the client).
 */
export function controlFrame(opcode: number, payload: Buffer, toClient: boolean): Buffer {
  if (payload.length > 125) throw new Error("control frame payload over 125 bytes");
  const headerLength = toClient ? 2 : 6;
  const frame = Buffer.allocUnsafe(headerLength + payload.length);
  frame[0] = 0x80 | opcode;
  frame[1] = (toClient ? 0 : 0x80) | payload.length;
  if (toClient) {
    payload.copy(frame, 2);
  } else {
    const mask = frame.subarray(2, 6);
    randomFillSync(mask);
    for (let i = 0; i < payload.length; i++) frame[6 + i] = (payload[i] as number) ^ (mask[i & 3] as number);
  }
  return frame;
}

/** A Close frame with `code` and a short UTF-8 reason (truncated to fit 125 bytes). */
export function closeFrame(code: number, reason: string, toClient: boolean): Buffer {
  const text = Buffer.from(reason, "utf8").subarray(0, 123);
  const payload = Buffer.allocUnsafe(2 + text.length);
  payload.writeUInt16BE(code, 0);
  text.copy(payload, 2);
  return controlFrame(Opcode.Close, payload, toClient);
}
