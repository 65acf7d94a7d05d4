/**
 * Relays an upgraded connection: bytes are piped both ways untouched (payloads are
 * never decoded, so permessage-deflate and masking stay end to end), with
 * backpressure and half-close. A header-only frame scanner per direction knows
 * where frames are, which lets the proxy count messages, enforce
 * `maxMessageBytes`, see close codes, and inject its own Close or Ping frames at a
 * frame boundary — the capability opaque tunnels lack.
 */
import { randomBytes } from "node:crypto";
import type { Duplex } from "node:stream";
import type { CloseInitiator } from "./events.js";
import {
  FrameScanner,
  Opcode,
  closeCodeOf,
  closeFrame,
  controlFrame,
  type FrameHandler,
  type FrameInfo,
} from "./frames.js";

export interface RelayStats {
  bytesFromClient: number;
  bytesToClient: number;
  messagesFromClient: number;
  messagesToClient: number;
}

export interface RelayEnd {
  /** Who started the close: the first Close frame's sender, or whoever ended TCP first. */
  readonly initiator: CloseInitiator;
  /** The first Close frame's code; 1006 when the connection ended without one. */
  readonly code: number;
  readonly error?: string;
}

export interface RelayOptions {
  /** Largest message (sum of its fragments' payloads, as sent on the wire) in either direction; 0 = none. */
  readonly maxMessageBytes: number;
  /** Extensions negotiated in the 101 (Sec-WebSocket-Extensions), which decide the legal RSV bits. */
  readonly extensions: string;
  /**
   * Inflate compressed messages (permessage-deflate negotiated on a route with a limit)
   * only to count their real size against `maxMessageBytes`; nothing inflated is forwarded.
   */
  readonly inflate?: boolean;
  /** How long a proxy-initiated close waits for the peers' Close replies before destroying. */
  readonly closeTimeoutMs: number;
  /** A coarse clock (ms), updated by the sweeper, so frames do not each call Date.now(). */
  readonly clock: { now: number };
}

type Injection = { frame: Buffer; closes: boolean };

/** One direction of the relay: bytes from `source` to `dest`, scanned on the way. */
class Direction implements FrameHandler {
  readonly scanner: FrameScanner;
  /** Once a Close was injected towards `dest`, nothing else is relayed in this direction. */
  discarding = false;
  /** A frame waiting for the next frame boundary. */
  pending: Injection | undefined;
  /** Bytes of `source` fully written to `dest` end on a frame boundary. */
  writtenAtBoundary = true;
  /** Set by the scanner callbacks while a chunk is scanned. */
  #cuts: number[] = [];
  #insertAt = -1;

  constructor(
    readonly relay: RelayedConnection,
    readonly source: Duplex,
    readonly dest: Duplex,
    readonly fromClient: boolean,
    options: { allowRsv1: boolean; allowRsv23: boolean },
  ) {
    this.scanner = new FrameScanner({ fromClient, ...options }, this);
  }

  header(frame: Readonly<FrameInfo>, messageBytes: number): string | undefined {
    return this.relay.onFrameHeader(this, frame, messageBytes);
  }

  end(frame: Readonly<FrameInfo>, end: number): void {
    if (this.pending && this.#insertAt < 0) this.#insertAt = end;
    if (this.relay.onFrameEnd(this, frame) && frame.start >= 0) this.#cuts.push(frame.start, end);
  }

  /** Handles a chunk from `source`. */
  data(chunk: Buffer): void {
    if (this.discarding) {
      // Still scanned: the peer's Close reply ends the close handshake.
      this.scanner.scan(chunk);
      return;
    }
    this.#cuts.length = 0; // reused: no allocation per chunk
    this.#insertAt = -1;
    if (!this.scanner.scan(chunk)) {
      this.relay.onProtocolError(this, this.scanner.error as string);
      return;
    }
    this.relay.count(this, chunk.length);
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
          this.#inject(pending as Injection);
          if (this.discarding) return;
        }
        if (cutStart > from) this.#write(chunk.subarray(from, cutStart));
        if (i < points.length) from = points[i + 1] as number;
      }
    }
    this.writtenAtBoundary = this.scanner.atBoundary;
  }

  /** Sends `frame` to `dest` now if at a frame boundary, else at the next one. */
  inject(frame: Buffer, closes: boolean): void {
    if (this.discarding) return;
    if (this.writtenAtBoundary) this.#inject({ frame, closes });
    else this.pending = { frame, closes };
  }

  #inject(injection: Injection): void {
    this.pending = undefined;
    this.#write(injection.frame);
    if (injection.closes) this.discarding = true;
  }

  #write(buffer: Buffer): void {
    if (buffer.length === 0 || this.dest.destroyed) return;
    if (!this.dest.write(buffer)) {
      this.source.pause();
      this.dest.once("drain", () => this.source.resume());
    }
  }
}

/** An established WebSocket connection between a client and a backend. */
export class RelayedConnection {
  readonly stats: RelayStats = {
    bytesFromClient: 0,
    bytesToClient: 0,
    messagesFromClient: 0,
    messagesToClient: 0,
  };
  /** Last frame seen in either direction (coarse clock), for idle timeouts. */
  lastFrameAt: number;
  /** Last frame from the client (coarse clock), for keepalive. */
  lastClientFrameAt: number;
  readonly #options: RelayOptions;
  readonly #client: Duplex;
  readonly #backend: Duplex;
  readonly #up: Direction;
  readonly #down: Direction;
  readonly #onEnd: (end: RelayEnd) => void;
  #closeCode: number | undefined;
  #initiator: CloseInitiator | undefined;
  #tcpInitiator: CloseInitiator | undefined;
  #error: string | undefined;
  /** The close code a scanner violation calls for: 1009 for an oversized message, else 1002. */
  #violationCode = 1002;
  #open = 2;
  #closing = false;
  #closeTimer: NodeJS.Timeout | undefined;
  /** Payload of the keepalive Ping awaiting the client's Pong. */
  #pingPayload: Buffer | undefined;
  pingSentAt = 0;

  constructor(client: Duplex, backend: Duplex, options: RelayOptions, onEnd: (end: RelayEnd) => void) {
    this.#client = client;
    this.#backend = backend;
    this.#options = options;
    this.#onEnd = onEnd;
    this.lastFrameAt = this.lastClientFrameAt = options.clock.now;
    // permessage-deflate uses RSV1; an extension we do not know may use any RSV bit.
    const names = options.extensions
      .split(",")
      .map((e) => (e.split(";")[0] ?? "").trim().toLowerCase())
      .filter(Boolean);
    const allowRsv1 = names.length > 0;
    const allowRsv23 = names.some((n) => n !== "permessage-deflate");
    this.#up = new Direction(this, client, backend, true, { allowRsv1, allowRsv23 });
    this.#down = new Direction(this, backend, client, false, { allowRsv1, allowRsv23 });
    this.#wire();
  }

  /** True once a proxy-initiated close started. */
  get closing(): boolean {
    return this.#closing;
  }

  /** Relays bytes that arrived with the handshake (client → backend, backend → client). */
  prime(fromClient: Buffer, fromBackend: Buffer): void {
    if (fromBackend.length > 0) this.#down.data(fromBackend);
    if (fromClient.length > 0) this.#up.data(fromClient);
  }

  /**
   * Closes the connection from the proxy: a Close frame to each peer at a frame
   * boundary, then the close handshake, then TCP; destroyed after the close timeout.
   */
  close(code: number, reason: string): void {
    this.closeSides(code, code, reason);
  }

  /**
   * Like {@link close}, with a different code for each side: e.g. 1008 (policy) to a
   * client whose token expired and 1000 (normal) to its backend. Metrics see the client's.
   */
  closeSides(clientCode: number, backendCode: number, reason: string): void {
    if (this.#closing || this.#open < 2) return;
    this.#closing = true;
    this.#closeCode ??= clientCode;
    this.#initiator ??= "proxy";
    this.#down.inject(closeFrame(clientCode, reason, true), true);
    this.#up.inject(closeFrame(backendCode, reason, false), true);
    this.#closeTimer = setTimeout(() => this.destroy(), this.#options.closeTimeoutMs);
    this.#closeTimer.unref();
  }

  /** Sends a keepalive Ping to the client; its Pong is not passed to the backend. */
  ping(): void {
    if (this.#closing) return;
    this.#pingPayload = randomBytes(8);
    this.pingSentAt = this.#options.clock.now;
    this.#down.inject(controlFrame(Opcode.Ping, this.#pingPayload, true), false);
  }

  /** True while a keepalive Ping waits for its Pong. */
  get awaitingPong(): boolean {
    return this.#pingPayload !== undefined;
  }

  destroy(): void {
    this.#client.destroy();
    this.#backend.destroy();
  }

  /** @internal scanner callback: a frame header was read. */
  onFrameHeader(direction: Direction, frame: Readonly<FrameInfo>, messageBytes: number): string | undefined {
    const max = this.#options.maxMessageBytes;
    if (max > 0 && frame.opcode < 8 && messageBytes > max) {
      this.#violationCode = 1009;
      return `message of ${messageBytes} bytes or more over the limit of ${max}`;
    }
    const now = this.#options.clock.now;
    this.lastFrameAt = now;
    if (direction.fromClient) this.lastClientFrameAt = now;
    return undefined;
  }

  /** @internal scanner callback: a frame ended. Returns true to swallow the frame. */
  onFrameEnd(direction: Direction, frame: Readonly<FrameInfo>): boolean {
    const op = frame.opcode;
    if (op < 8) {
      if (frame.fin) {
        if (direction.fromClient) this.stats.messagesFromClient++;
        else this.stats.messagesToClient++;
      }
      return false;
    }
    if (op === Opcode.Close) {
      if (this.#closeCode === undefined) {
        this.#closeCode = closeCodeOf(frame.controlPayload);
        this.#initiator = direction.fromClient ? "client" : "backend";
      }
      // A peer's reply to our Close completes its close handshake: end its TCP side.
      if (direction.discarding) direction.source.end();
      return false;
    }
    if (
      op === Opcode.Pong &&
      direction.fromClient &&
      this.#pingPayload &&
      frame.controlPayload?.equals(this.#pingPayload)
    ) {
      this.#pingPayload = undefined;
      return true;
    }
    return false;
  }

  /** @internal the source of `direction` sent bytes that are not WebSocket frames. */
  onProtocolError(direction: Direction, reason: string): void {
    this.#error ??= `${direction.fromClient ? "client" : "backend"}: ${reason}`;
    const code = this.#violationCode;
    // The offending chunk was not relayed; the other direction is intact.
    this.close(code, code === 1009 ? "message too big" : "protocol error");
    direction.discarding = true;
  }

  /** @internal counts relayed bytes. */
  count(direction: Direction, bytes: number): void {
    if (direction.fromClient) this.stats.bytesFromClient += bytes;
    else this.stats.bytesToClient += bytes;
  }

  #wire(): void {
    const client = this.#client;
    const backend = this.#backend;
    client.on("data", (chunk: Buffer) => this.#up.data(chunk));
    backend.on("data", (chunk: Buffer) => this.#down.data(chunk));
    // A FIN from one side is passed on as a FIN to the other (half-close), so a
    // peer that closes its write side first still receives what is in flight.
    client.on("end", () => {
      this.#tcpInitiator ??= "client";
      backend.end();
    });
    backend.on("end", () => {
      this.#tcpInitiator ??= "backend";
      client.end();
    });
    client.on("error", (err) => {
      this.#tcpInitiator ??= "client";
      this.#error ??= `client: ${err.message}`;
      backend.destroy();
    });
    backend.on("error", (err) => {
      this.#tcpInitiator ??= "backend";
      this.#error ??= `backend: ${err.message}`;
      client.destroy();
    });
    const closed = (who: CloseInitiator, other: Duplex): void => {
      this.#tcpInitiator ??= who;
      other.destroy();
      if (--this.#open === 0) this.#finish();
    };
    client.on("close", () => closed("client", backend));
    backend.on("close", () => closed("backend", client));
  }

  #finish(): void {
    clearTimeout(this.#closeTimer);
    this.#onEnd({
      initiator: this.#initiator ?? this.#tcpInitiator ?? "proxy",
      code: this.#closeCode ?? 1006,
      ...(this.#error ? { error: this.#error } : {}),
    });
  }
}
