/**
 * Relays an upgraded connection: bytes are piped both ways untouched (payloads are
 * never rewritten, so permessage-deflate and masking stay end to end), with
 * backpressure and half-close. On a route with a message limit where
 * permessage-deflate was negotiated, compressed payloads are inflated only to be
 * counted (inflate.ts); the inflated bytes are dropped. A header-only frame scanner per direction knows
 * where frames are, which lets the proxy count messages, enforce
 * `maxMessageBytes`, see close codes, and inject its own Close or Ping frames at a
 * frame boundary — the capability opaque tunnels lack.
 */
import { randomBytes } from "node:crypto";
import type { Duplex } from "node:stream";
import { Direction, type FrameObserver } from "./direction.js";
import type { CloseInitiator } from "./events.js";
import { Opcode, closeCodeOf, closeFrame, controlFrame, type FrameInfo } from "./frames.js";
import { MessageInflater, deflateParameters } from "./inflate.js";

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
  /**
   * How long a proxy-initiated close waits for the peers' Close replies before destroying;
   * also how long the other side has to finish once one side ended its TCP stream (FIN).
   */
  readonly closeTimeoutMs: number;
  /**
   * How long a side may accept no bytes while the relay holds bytes for it (its peer is
   * paused meanwhile) before the connection is closed; 0 = never. A paused socket is not
   * read, so without this deadline a peer that vanished while paused is never noticed.
   */
  readonly stallTimeoutMs?: number;
  /** A coarse clock (ms), updated by the sweeper, so frames do not each call Date.now(). */
  readonly clock: { now: number };
}

/**
 * An established WebSocket connection between a client and a backend. Its two
 * {@link Direction}s report to it through {@link FrameObserver}; it never reads their state
 * beyond what a stall and an injection need.
 */
export class RelayedConnection implements FrameObserver {
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
  #tcpKeepAlive = false;
  #initiator: CloseInitiator | undefined;
  #tcpInitiator: CloseInitiator | undefined;
  #error: string | undefined;
  #open = 2;
  /** Which legs have emitted (or, before the relay started, had emitted) 'close'. */
  readonly #legClosed = { client: false, backend: false };
  #closing = false;
  #closeTimer: NodeJS.Timeout | undefined;
  /** Armed by the first FIN of either side: the other side's time to finish. */
  #halfCloseTimer: NodeJS.Timeout | undefined;
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
    // No extension (the common answer) needs no split (bench W5: allocation per handshake).
    const names =
      options.extensions === ""
        ? NO_EXTENSIONS
        : options.extensions
            .split(",")
            .map((e) => (e.split(";")[0] ?? "").trim().toLowerCase())
            .filter(Boolean);
    const allowRsv1 = names.length > 0;
    const allowRsv23 = names.some((n) => n !== "permessage-deflate");
    const limit = options.maxMessageBytes;
    const checks = { allowRsv1, allowRsv23, maxMessageBytes: limit };
    const deflate = options.inflate && limit > 0 ? deflateParameters(options.extensions) : undefined;
    this.#up = new Direction(
      this,
      client,
      backend,
      true,
      checks,
      deflate && new MessageInflater(deflate.fromClient, limit),
    );
    this.#down = new Direction(
      this,
      backend,
      client,
      false,
      checks,
      deflate && new MessageInflater(deflate.fromBackend, limit),
    );
    this.#wire();
  }

  /** The coarse clock, for the directions. */
  get now(): number {
    return this.#options.clock.now;
  }

  /**
   * Since when a side has accepted no bytes while the relay holds some for it (the
   * earlier of the two directions); undefined while both flow.
   */
  get stalledSince(): number | undefined {
    const up = this.#up.stalledSince;
    const down = this.#down.stalledSince;
    if (up === undefined) return down;
    return down === undefined ? up : Math.min(up, down);
  }

  /** How long a stall may last before the sweeper closes the connection (0 = forever). */
  get stallTimeoutMs(): number {
    return this.#options.stallTimeoutMs ?? 0;
  }

  /** True once a proxy-initiated close started. */
  get closing(): boolean {
    return this.#closing;
  }

  /**
   * Starts the relay, once its owner has registered it: relays the bytes that arrived
   * with the handshake (client → backend, backend → client), then catches up with what
   * either socket did before the relay listened. A client's FIN during the backend
   * handshake was already read (the HTTP server keeps reading an upgraded socket, and
   * its sockets allow half-open), so its 'end' event is gone: without this the backend
   * leg stayed open forever and the client's counts were never released.
   */
  prime(fromClient: Buffer, fromBackend: Buffer): void {
    if (fromBackend.length > 0) this.#down.data(fromBackend);
    if (fromClient.length > 0) this.#up.data(fromClient);
    const client = this.#client;
    const backend = this.#backend;
    if (client.closed) this.#closed("client");
    else if (client.readableEnded) this.#ended("client");
    if (backend.closed) this.#closed("backend");
    else if (backend.readableEnded) this.#ended("backend");
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

  /** Ends both legs now; the relay finishes once both have closed. */
  destroy(): void {
    this.#client.destroy();
    this.#backend.destroy();
  }

  /** {@link FrameObserver}: a control frame ended; sees Close codes, swallows our keepalive's Pong. */
  frameEnded(fromClient: boolean, frame: Readonly<FrameInfo>): boolean {
    const op = frame.opcode;
    if (op === Opcode.Close) {
      if (this.#closeCode === undefined) {
        this.#closeCode = closeCodeOf(frame.controlPayload);
        this.#initiator = fromClient ? "client" : "backend";
      }
      return false;
    }
    if (
      op === Opcode.Pong &&
      fromClient &&
      this.#pingPayload &&
      frame.controlPayload?.equals(this.#pingPayload)
    ) {
      this.#pingPayload = undefined;
      return true;
    }
    return false;
  }

  /** {@link FrameObserver}: a side broke the protocol or a limit; the connection closes with `code`. */
  violated(fromClient: boolean, code: number, reason: string): void {
    this.#error ??= `${fromClient ? "client" : "backend"}: ${reason}`;
    // The offending chunk was not relayed; the other direction is intact.
    this.close(
      code,
      code === 1009 ? "message too big" : code === 1007 ? "invalid compressed data" : "protocol error",
    );
  }

  /**
   * {@link FrameObserver}: counts relayed bytes and messages; a frame that began is
   * activity for the idle and keepalive clocks.
   */
  relayed(fromClient: boolean, bytes: number, frames: number, messages: number): void {
    const stats = this.stats;
    if (fromClient) {
      stats.bytesFromClient += bytes;
      stats.messagesFromClient += messages;
    } else {
      stats.bytesToClient += bytes;
      stats.messagesToClient += messages;
    }
    if (frames > 0) {
      const now = this.#options.clock.now;
      this.lastFrameAt = now;
      if (fromClient) this.lastClientFrameAt = now;
    }
  }

  /** True once TCP keepalive is on for both legs. */
  get tcpKeepAliveArmed(): boolean {
    return this.#tcpKeepAlive;
  }

  /**
   * TCP keepalive on both legs: a peer that vanished without FIN or RST (a node gone, a NAT
   * entry dropped) is found by the kernel even when no frame is due. Armed by the sweeper once
   * the connection is {@link TCP_KEEPALIVE_MS} old, not at the handshake: the four setsockopt
   * calls were ~3% of the CPU of a handshake (W5 profile), and a connection that ends sooner
   * never needed them. A peer gone from the start is found after 30–60 s instead of 30 s.
   */
  armTcpKeepAlive(): void {
    if (this.#tcpKeepAlive) return;
    this.#tcpKeepAlive = true;
    keepAlive(this.#client);
    keepAlive(this.#backend);
  }

  #wire(): void {
    const client = this.#client;
    const backend = this.#backend;
    client.on("data", (chunk: Buffer) => this.#up.data(chunk));
    backend.on("data", (chunk: Buffer) => this.#down.data(chunk));
    client.on("end", () => this.#ended("client"));
    backend.on("end", () => this.#ended("backend"));
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
    client.on("close", () => this.#closed("client"));
    backend.on("close", () => this.#closed("backend"));
  }

  /**
   * A side sent FIN. It is passed on as a FIN to the other side (half-close), so a peer
   * that closes its write side first still receives what is in flight — for
   * `closeTimeoutMs`: then both legs are destroyed, so a peer that never closes (or a
   * client that is long gone) cannot hold the other leg and its counts forever.
   */
  #ended(who: CloseInitiator): void {
    this.#tcpInitiator ??= who;
    const other = who === "client" ? this.#backend : this.#client;
    if (!other.destroyed) other.end();
    if (this.#halfCloseTimer === undefined && this.#open > 0) {
      this.#halfCloseTimer = setTimeout(() => this.destroy(), this.#options.closeTimeoutMs);
      this.#halfCloseTimer.unref();
    }
  }

  /** A leg closed (once per leg): the other is destroyed, and the relay ends with the second. */
  #closed(who: "client" | "backend"): void {
    if (this.#legClosed[who]) return;
    this.#legClosed[who] = true;
    this.#tcpInitiator ??= who;
    (who === "client" ? this.#backend : this.#client).destroy();
    if (--this.#open === 0) this.#finish();
  }

  #finish(): void {
    clearTimeout(this.#closeTimer);
    clearTimeout(this.#halfCloseTimer);
    this.#onEnd({
      initiator: this.#initiator ?? this.#tcpInitiator ?? "proxy",
      code: this.#closeCode ?? 1006,
      ...(this.#error ? { error: this.#error } : {}),
    });
  }
}

const NO_EXTENSIONS: readonly string[] = [];

/** Turns on TCP keepalive where the stream is a socket (a TLS socket passes it on to TCP). */
function keepAlive(stream: Duplex): void {
  (stream as Duplex & { setKeepAlive?: (on: boolean, delayMs: number) => void }).setKeepAlive?.(
    true,
    TCP_KEEPALIVE_MS,
  );
}

/**
 * Idle time before the kernel's first keepalive probe on a relayed socket; also the age at
 * which the sweeper arms it ({@link RelayedConnection.armTcpKeepAlive}).
 */
export const TCP_KEEPALIVE_MS = 30_000;
