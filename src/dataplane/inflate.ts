/**
 * Counting the uncompressed size of permessage-deflate messages (RFC 7692) without
 * keeping what they inflate to. The relay forwards the compressed bytes untouched;
 * this inflater only measures, so `maxMessageBytes` bounds the message the receiver
 * will hold, not its compressed form — and a zip bomb costs the proxy at most the
 * limit in inflate work, never the memory the bomb asks for.
 *
 * It is synchronous (pako's zlib port, driven at the z_stream level): each chunk is
 * measured before it is forwarded, so an oversized message never completes at its
 * receiver. Output goes to one scratch buffer shared by every inflater and is
 * discarded; what an inflater keeps is zlib's window (≤ 2^windowBits bytes), and only
 * once its direction carried a compressed message.
 */
import {
  ZStream,
  Z_BUF_ERROR,
  Z_NO_FLUSH,
  Z_OK,
  Z_STREAM_END,
  zlibInflate,
  zlibInflateInit2,
  zlibInflateReset,
} from "pako";
import { extensionName } from "./relay-setup.js";

/** How one direction's messages were compressed, from the parameters agreed in the 101. */
export interface DeflateDirection {
  /** The sender keeps its LZ77 window across messages (no `*_no_context_takeover`). */
  readonly contextTakeover: boolean;
  /** The sender's window, `*_max_window_bits` (8–15; 15 when absent). */
  readonly windowBits: number;
}

/** The agreed permessage-deflate parameters for each direction. */
export interface DeflateParameters {
  /** Client → backend messages (`client_*` parameters). */
  readonly fromClient: DeflateDirection;
  /** Backend → client messages (`server_*` parameters). */
  readonly fromBackend: DeflateDirection;
}

/**
 * The permessage-deflate parameters a backend accepted in its 101
 * (`Sec-WebSocket-Extensions`), or undefined when it did not accept the extension.
 */
export function deflateParameters(extensions: string): DeflateParameters | undefined {
  const element = extensions.split(",").find((e) => extensionName(e) === "permessage-deflate");
  if (element === undefined) return undefined;
  const params = new Map<string, string>();
  for (const part of element.split(";").slice(1)) {
    const [name = "", value = ""] = part.split("=").map((s) => s.trim().replace(/^"|"$/g, ""));
    if (name) params.set(name.toLowerCase(), value);
  }
  const direction = (who: "client" | "server"): DeflateDirection => {
    const bits = Number(params.get(`${who}_max_window_bits`) || 15);
    return {
      contextTakeover: !params.has(`${who}_no_context_takeover`),
      windowBits: Number.isInteger(bits) && bits >= 8 && bits <= 15 ? bits : 15,
    };
  };
  return { fromClient: direction("client"), fromBackend: direction("server") };
}

/** Why a message cannot pass: 1009 over the limit, 1007 not inflatable. */
export interface InflateViolation {
  readonly code: 1007 | 1009;
  readonly reason: string;
}

/** Output of every inflater goes here and is dropped: only its length is counted. */
const SCRATCH_OUT = new Uint8Array(16 * 1024);
/** Unmasked input, reused; grown to the largest chunk seen. */
let scratchIn = Buffer.allocUnsafe(64 * 1024);
/** The 4 bytes RFC 7692 §7.2.1 has senders strip from each message's end. */
const MESSAGE_TAIL = new Uint8Array([0x00, 0x00, 0xff, 0xff]);

/** Inflates one direction's compressed messages to count them; forwards nothing. */
export class MessageInflater {
  readonly #direction: DeflateDirection;
  readonly #limit: number;
  /** Created with the direction's first compressed message. */
  #stream: ZStream | undefined;
  /** The message in progress is compressed (RSV1 on its first frame). */
  compressed = false;
  /** Uncompressed bytes of the message in progress. */
  #count = 0;
  /** Set once the stream could not be inflated: every later compressed byte fails. */
  #broken: InflateViolation | undefined;

  constructor(direction: DeflateDirection, limit: number) {
    this.#direction = direction;
    this.#limit = limit;
  }

  /** A new message begins; `compressed` is its first frame's RSV1. */
  start(compressed: boolean): void {
    this.compressed = compressed;
    this.#count = 0;
    if (compressed && this.#stream && !this.#direction.contextTakeover) zlibInflateReset(this.#stream);
  }

  /**
   * Measures payload bytes `chunk[start, end)` of the message in progress, unmasking
   * with `mask` (big-endian key, 0 when unmasked) from `position` in the frame.
   */
  write(
    chunk: Buffer,
    start: number,
    end: number,
    mask: number,
    position: number,
  ): InflateViolation | undefined {
    if (!this.compressed || end <= start) return undefined;
    let input: Uint8Array = chunk;
    let from = start;
    const length = end - start;
    if (mask !== 0) {
      if (scratchIn.length < length) scratchIn = Buffer.allocUnsafe(length);
      for (let i = 0; i < length; i++) {
        const key = (mask >>> (24 - 8 * ((position + i) & 3))) & 0xff;
        scratchIn[i] = (chunk[start + i] as number) ^ key;
      }
      input = scratchIn;
      from = 0;
    }
    return this.#inflate(input, from, length);
  }

  /** The message in progress ended (its final frame is complete). */
  finish(): void {
    if (!this.compressed) return;
    // The stripped tail closes the message's last (sync-flushed) block, so the stream is
    // where the sender's is when the next message of a shared context begins.
    const violation = this.#inflate(MESSAGE_TAIL, 0, MESSAGE_TAIL.length);
    if (violation?.code === 1007) this.#broken = violation;
    this.compressed = false;
  }

  #inflate(input: Uint8Array, from: number, length: number): InflateViolation | undefined {
    if (this.#broken) return this.#broken;
    const stream = this.#stream ?? this.#open();
    stream.input = input;
    stream.next_in = from;
    stream.avail_in = length;
    for (;;) {
      stream.output = SCRATCH_OUT;
      stream.next_out = 0;
      stream.avail_out = SCRATCH_OUT.length;
      const status = zlibInflate(stream, Z_NO_FLUSH);
      this.#count += SCRATCH_OUT.length - stream.avail_out;
      if (this.#count > this.#limit) {
        // Stop here: the rest of the bomb is never inflated.
        return { code: 1009, reason: `message inflates to more than the limit of ${this.#limit} bytes` };
      }
      if (status === Z_STREAM_END) {
        // A final block (BFINAL) ends the deflate stream; what follows starts a new one.
        zlibInflateReset(stream);
      } else if (status !== Z_OK && status !== Z_BUF_ERROR) {
        this.#broken = {
          code: 1007,
          reason: `compressed message cannot be inflated: ${stream.msg || status}`,
        };
        return this.#broken;
      }
      if (stream.avail_in === 0 && stream.avail_out > 0) return undefined;
      if (status === Z_BUF_ERROR && stream.avail_out > 0) return undefined;
    }
  }

  #open(): ZStream {
    const stream = new ZStream();
    // Negative window bits: raw deflate, no zlib header (RFC 7692 §7.2).
    zlibInflateInit2(stream, -this.#direction.windowBits);
    this.#stream = stream;
    return stream;
  }
}

/**
 * The largest compressed message an honest encoder can produce from `limit`
 * uncompressed bytes: stored blocks cost 5 bytes each (at most 16 KiB apiece here,
 * to allow small-block encoders) plus a few bytes of framing. Anything larger is
 * refused at its frame header, before any of it is relayed.
 */
export function compressedBound(limit: number): number {
  return limit + 5 * Math.ceil(limit / 16_384) + 64;
}
