/**
 * One direction of a relayed connection: bytes from `source` to `dest`, scanned on
 * the way, with backpressure, swallowed frames and frames injected at a boundary.
 *
 * A direction decides what is a violation in its own stream (bad frames, a message over
 * the limit, data that does not inflate) and ends its own sockets' streams when the
 * close handshake calls for it; what concerns the whole connection (clocks, counts, the
 * Close code, who closes) it reports to its {@link FrameObserver}.
 */
import type { Duplex } from "node:stream";
import { FrameScanner, Opcode, type FrameHandler, type FrameInfo } from "./frames.js";
import { compressedBound, type MessageInflater } from "./inflate.js";

type Injection = { frame: Buffer; closes: boolean };

/** What a direction reports to the connection it belongs to (the relay implements it). */
export interface FrameObserver {
  /** The coarse clock (ms). */
  readonly now: number;
  /** A control frame ended; true to swallow it (it is not relayed). */
  frameEnded(fromClient: boolean, frame: Readonly<FrameInfo>): boolean;
  /**
   * A chunk from the source was scanned: `frames` frames began in it and `messages`
   * messages ended, and `bytes` of it were relayed (0 when it was not). Once per chunk,
   * not per frame: 64 B messages arrive a dozen to a chunk (bench W2).
   */
  relayed(fromClient: boolean, bytes: number, frames: number, messages: number): void;
  /**
   * The source sent what may not be relayed; `code` is the Close code it calls for (1009
   * too big, 1007 not inflatable, 1002 a protocol error). Nothing more of this direction
   * is relayed after it.
   */
  violated(fromClient: boolean, code: number, reason: string): void;
}

/** How a direction's frames are checked. */
export interface DirectionOptions {
  readonly allowRsv1: boolean;
  readonly allowRsv23: boolean;
  /** Largest message, summed over its fragments' payloads as sent; 0 = none. */
  readonly maxMessageBytes: number;
}

export class Direction implements FrameHandler {
  readonly scanner: FrameScanner;
  /** Once a Close was injected towards `dest`, nothing else is relayed in this direction. */
  discarding = false;
  /** A frame waiting for the next frame boundary. */
  pending: Injection | undefined;
  /**
   * A Close frame from `source` reached `dest`: nothing may follow it (RFC 6455 §5.5.1),
   * not even a Close or Ping of ours — the peer would see two Close frames.
   */
  closeRelayed = false;
  /** Bytes of `source` fully written to `dest` end on a frame boundary. */
  writtenAtBoundary = true;
  /**
   * When `source` was paused because `dest` stopped accepting bytes (coarse clock);
   * undefined while flowing. A paused socket is not read, so its own FIN or RST goes
   * unseen: the sweeper ends a connection that stays stalled (see `stallTimeoutMs`).
   */
  stalledSince: number | undefined;
  readonly #maxMessageBytes: number;
  /** The Close code the violation the scanner is about to report calls for. */
  #violationCode = 1002;
  /** Set by the scanner callbacks while a chunk is scanned. */
  #cuts: number[] = [];
  #insertAt = -1;
  /** Where a Close frame from `source` ended in the chunk being scanned; -1 for none. */
  #closeEndAt = -1;

  constructor(
    readonly observer: FrameObserver,
    readonly source: Duplex,
    readonly dest: Duplex,
    readonly fromClient: boolean,
    options: DirectionOptions,
    /** Counts compressed messages uncompressed (permessage-deflate on a limited route). */
    readonly inflater?: MessageInflater,
  ) {
    const { allowRsv1, allowRsv23 } = options;
    this.#maxMessageBytes = options.maxMessageBytes;
    const inflates = inflater !== undefined;
    // Without a limit or an inflater there is nothing to check in a frame's header, and
    // data frames' ends matter only while a frame waits to be injected (see `inject`).
    this.scanner = new FrameScanner(
      {
        fromClient,
        allowRsv1,
        allowRsv23,
        payloads: inflates,
        headers: inflates || this.#maxMessageBytes > 0,
      },
      this,
    );
    this.scanner.dataEnds = inflates;
  }

  header(frame: Readonly<FrameInfo>, messageBytes: number): string | undefined {
    const inflater = this.inflater;
    if (inflater) {
      const op = frame.opcode;
      if (op === Opcode.Text || op === Opcode.Binary) inflater.start(frame.rsv1);
      else if (frame.rsv1) return "RSV1 set on a continuation or control frame";
    }
    const max = this.#maxMessageBytes;
    // A compressed message is measured as it inflates; here only its compressed size is
    // checked, against what any honest encoding of `max` bytes could take.
    if (max > 0 && frame.opcode < 8 && messageBytes > (inflater?.compressed ? compressedBound(max) : max)) {
      this.#violationCode = 1009;
      return `message of ${messageBytes} bytes or more over the limit of ${max}`;
    }
    return undefined;
  }

  payload(chunk: Buffer, start: number, end: number, mask: number, position: number): string | undefined {
    const violation = this.inflater?.write(chunk, start, end, mask, position);
    if (violation === undefined) return undefined;
    this.#violationCode = violation.code;
    return violation.reason;
  }

  end(frame: Readonly<FrameInfo>, end: number): void {
    if (this.pending && this.#insertAt < 0) this.#insertAt = end;
    if (frame.opcode < 8) {
      if (frame.fin) this.inflater?.finish();
      return;
    }
    if (frame.opcode === Opcode.Close && this.#closeEndAt < 0) this.#closeEndAt = end;
    if (this.observer.frameEnded(this.fromClient, frame) && frame.start >= 0)
      this.#cuts.push(frame.start, end);
    // A peer's reply to our Close completes its close handshake: end its TCP side.
    if (frame.opcode === Opcode.Close && this.discarding) this.source.end();
  }

  /** Handles a chunk from `source`. */
  data(chunk: Buffer): void {
    const scanner = this.scanner;
    if (this.discarding) {
      // Still scanned: the peer's Close reply ends the close handshake.
      scanner.scan(chunk);
      this.observer.relayed(this.fromClient, 0, scanner.framesStarted, scanner.messagesEnded);
      return;
    }
    this.#cuts.length = 0; // reused: no allocation per chunk
    this.#insertAt = -1;
    this.#closeEndAt = -1;
    const ok = scanner.scan(chunk);
    this.observer.relayed(
      this.fromClient,
      ok ? chunk.length : 0,
      scanner.framesStarted,
      scanner.messagesEnded,
    );
    if (!ok) {
      this.#violated(scanner.error as string);
      return;
    }
    const pending = this.pending;
    if (this.#cuts.length === 0 && this.#insertAt < 0) {
      this.#write(chunk);
    } else {
      // Swallowed frames (our keepalive pongs) and an injection point split the chunk.
      const insertAt = this.#insertAt;
      let from = 0;
      let injected = false;
      const points = this.#cuts;
      for (let i = 0; i <= points.length; i += 2) {
        const cutStart = i < points.length ? (points[i] as number) : chunk.length;
        if (!injected && insertAt >= 0 && insertAt <= cutStart) {
          if (insertAt > from) this.#write(chunk.subarray(from, insertAt));
          from = insertAt;
          injected = true;
          // Source's own Close was written before the insertion point: ours stays behind.
          const closeEndAt = this.#closeEndAt;
          this.#inject(
            pending as Injection,
            this.closeRelayed || (closeEndAt >= 0 && closeEndAt <= insertAt),
          );
          if (this.discarding) return;
        }
        if (cutStart > from) this.#write(chunk.subarray(from, cutStart));
        if (i < points.length) from = points[i + 1] as number;
      }
    }
    this.writtenAtBoundary = this.scanner.atBoundary;
    if (this.#closeEndAt >= 0) this.closeRelayed = true;
  }

  /** The chunk being relayed broke the rules: it is not relayed, nor is anything after it. */
  #violated(reason: string): void {
    // The connection closes first: the Close frames it injects need this direction open.
    this.observer.violated(this.fromClient, this.#violationCode, reason);
    this.discarding = true;
    // A violation found inside a frame (a compressed message measured as it inflates)
    // leaves its receiver holding part of that frame: no Close frame can follow it, so
    // that side's TCP stream ends now instead of after the close timeout.
    if (!this.writtenAtBoundary) this.dest.end();
  }

  /** Sends `frame` to `dest` now if at a frame boundary, else at the next one. */
  inject(frame: Buffer, closes: boolean): void {
    if (this.discarding) return;
    if (this.writtenAtBoundary) this.#inject({ frame, closes }, this.closeRelayed);
    else {
      this.pending = { frame, closes };
      // The next frame boundary is where it goes, whatever kind of frame ends there.
      this.scanner.dataEnds = true;
    }
  }

  #inject(injection: Injection, afterClose: boolean): void {
    this.pending = undefined;
    this.scanner.dataEnds = this.inflater !== undefined;
    if (!afterClose) this.#write(injection.frame);
    if (injection.closes) this.discarding = true;
  }

  #write(buffer: Buffer): void {
    if (buffer.length === 0 || this.dest.destroyed || this.dest.writableEnded) return;
    if (!this.dest.write(buffer) && this.stalledSince === undefined) {
      // One pause and one drain listener per stall, however many writes it spans.
      this.stalledSince = this.observer.now;
      this.source.pause();
      // A closure per stall, not a bound handler per connection (bench W4: heap per idle connection).
      this.dest.once("drain", () => this.#resume());
    }
  }

  #resume(): void {
    this.stalledSince = undefined;
    if (!this.source.destroyed) this.source.resume();
  }
}
