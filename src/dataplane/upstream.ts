/**
 * One attempt at a WebSocket handshake with one endpoint. The outcome says whether
 * the caller may retry on another endpoint: only failures before the backend said
 * anything are retryable — once it answered (101 or not), the answer stands.
 *
 * The gateway writes the request head itself and reads a clean 101 itself
 * (`upstream/response-head.ts`); every other answer is replayed into Node's HTTP client
 * (`upstream/replay.ts`), so only the common case skips Node's client, and only where a
 * differential fuzz test shows both read the same (bench W5: CPU per handshake).
 */
import type http from "node:http";
import type { Socket } from "node:net";
import type { BackendTls, Endpoint } from "../routing/table.js";
import { connectEndpoint } from "./backend-tls.js";
import { upgradeRequestHead } from "./upstream/request-head.js";
import { leaveUnread, replayAnswer } from "./upstream/replay.js";
import { BackendHeadReader, type BackendHead } from "./upstream/response-head.js";

export type { BackendHead } from "./upstream/response-head.js";

export type AttemptOutcome =
  | { kind: "upgraded"; response: BackendHead; socket: Socket; head: Buffer }
  | { kind: "answered"; response: http.IncomingMessage }
  /**
   * No answer: refused, reset, unreachable, or not connected within the connect budget. Retryable.
   * `tlsFailed`: TCP connected, but the TLS handshake with a TLS backend did not complete
   * (its certificate failed verification, or the port speaks no TLS).
   */
  | { kind: "unreachable"; error: Error; timedOut: boolean; tlsFailed?: boolean }
  /** Connected, but no answer before the handshake deadline. Not retried. */
  | { kind: "timeout" };

export interface AttemptOptions {
  readonly endpoint: Endpoint;
  /** The backend's TLS settings: the connection is TLS, verified before the request is sent. */
  readonly tls?: BackendTls | undefined;
  readonly path: string;
  readonly headers: readonly string[];
  /** Time left to establish TCP (Infinity: no limit); the connect budget is shared by all attempts. */
  readonly connectTimeoutMs: number;
  /** Absolute time (ms since epoch, Date.now()) by which the backend must answer; Infinity: no limit. */
  readonly handshakeDeadline: number;
}

export function attemptHandshake(options: AttemptOptions): Promise<AttemptOutcome> {
  return new Promise((resolve) => new Attempt(options, resolve));
}

/** One attempt's state: its socket, its one timer, and how far the backend got. */
class Attempt {
  readonly #options: AttemptOptions;
  readonly #resolve: (outcome: AttemptOutcome) => void;
  readonly #socket: Socket;
  readonly #reader = new BackendHeadReader();
  #timer: NodeJS.Timeout | undefined;
  #settled = false;
  #connected = false;
  #secured = false;
  /** Node's client, once the answer is replayed into it. */
  #replay: http.ClientRequest | undefined;

  readonly #onData = (chunk: Buffer): void => this.#read(chunk);
  readonly #onEnd = (): void => this.#toNode();
  readonly #onError = (error: Error): void => this.#fail(error);
  /** `on` and removed when detached, not `once`: no wrapper per attempt (bench W5). */
  readonly #onConnect = (): void => {
    this.#connected = true;
    if (this.#timer === undefined) this.#armHandshakeTimer();
  };

  constructor(options: AttemptOptions, resolve: (outcome: AttemptOutcome) => void) {
    this.#options = options;
    this.#resolve = resolve;
    const { endpoint } = options;
    // Throws Node's own error for a head Node would refuse to send, before connecting.
    const head = upgradeRequestHead(options.path, options.headers);
    const socket = connectEndpoint(endpoint, options.tls);
    this.#socket = socket;
    // One timer per attempt: armed for the connect budget (which never ends after the
    // handshake deadline); if it fires once connected, it is re-armed for the deadline.
    // An infinite budget (a route timeout of 0s) sets no timer at all.
    if (Number.isFinite(options.connectTimeoutMs)) {
      this.#timer = setTimeout(() => this.#onTimer(), Math.max(1, options.connectTimeoutMs));
    }
    if (options.tls) socket.once("secureConnect", () => (this.#secured = true));
    socket.on("connect", this.#onConnect);
    socket.on("data", this.#onData);
    socket.on("end", this.#onEnd);
    socket.on("error", this.#onError);
    // Held by the socket until it connects (and, for TLS, until it is secured), as Node's
    // client's write was: one write of the whole head.
    socket.write(head, "latin1");
  }

  #onTimer(): void {
    if (this.#connected) {
      this.#armHandshakeTimer();
      return;
    }
    const { endpoint } = this.#options;
    this.#abandon({
      kind: "unreachable",
      error: new Error(`connect to ${endpoint.id} timed out`),
      timedOut: true,
    });
  }

  /** Connected: the backend must answer by the handshake deadline (none when it is infinite). */
  #armHandshakeTimer(): void {
    const deadline = this.#options.handshakeDeadline;
    if (!Number.isFinite(deadline)) {
      this.#timer = undefined;
      return;
    }
    const left = deadline - Date.now();
    this.#timer = setTimeout(() => this.#abandon({ kind: "timeout" }), Math.max(1, left));
  }

  #read(chunk: Buffer): void {
    const scan = this.#reader.push(chunk);
    if (scan.kind === "more") return;
    if (scan.kind === "replay") {
      this.#toNode();
      return;
    }
    this.#detach();
    // As Node's client leaves an upgraded socket: the next reader's `data` listener starts it.
    leaveUnread(this.#socket);
    this.#settle({ kind: "upgraded", response: scan.head, socket: this.#socket, head: scan.rest });
  }

  /** The answer is not the fast path's: Node's client reads it from the first byte on. */
  #toNode(): void {
    this.#detach();
    const socket = this.#socket;
    this.#replay = replayAnswer(socket, this.#reader.received(), this.#options.path, this.#options.headers, {
      upgraded: (response, backend, head) => {
        if (this.#settled) backend.destroy();
        else this.#settle({ kind: "upgraded", response, socket: backend, head });
      },
      answered: (response) => {
        if (this.#settled) response.destroy();
        else this.#settle({ kind: "answered", response });
      },
      failed: (error) => this.#fail(error),
    });
  }

  #fail(error: Error): void {
    // After the outcome, an error belongs to whoever holds the answer now.
    if (this.#settled) return;
    const tlsFailed = this.#options.tls !== undefined && this.#connected && !this.#secured;
    this.#socket.destroy();
    this.#settle({ kind: "unreachable", error, timedOut: false, ...(tlsFailed ? { tlsFailed } : {}) });
  }

  /** A deadline passed: the attempt ends with `outcome`, and its connection with it. */
  #abandon(outcome: AttemptOutcome): void {
    if (this.#replay) this.#replay.destroy();
    this.#socket.destroy();
    this.#settle(outcome);
  }

  #detach(): void {
    this.#socket.off("connect", this.#onConnect);
    this.#socket.off("data", this.#onData);
    this.#socket.off("end", this.#onEnd);
    this.#socket.off("error", this.#onError);
  }

  #settle(outcome: AttemptOutcome): void {
    if (this.#settled) return;
    this.#settled = true;
    clearTimeout(this.#timer);
    this.#resolve(outcome);
  }
}
