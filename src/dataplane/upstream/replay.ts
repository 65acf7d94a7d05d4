/**
 * Hands a backend's answer the fast path did not take to Node's own HTTP client, by
 * replay: `http.request` gets a stream that first yields the bytes already read, then
 * the socket's, and swallows the request head Node writes (the gateway wrote it
 * already). So a non-101 answer, a 1xx interim answer, an odd 101 or a malformed head
 * gets exactly Node's treatment — bodies, framing, limits and errors included.
 */
import http from "node:http";
import type { Socket } from "node:net";
import { Duplex } from "node:stream";

/** How Node's client ended the replayed exchange. */
export interface ReplayHandlers {
  /** Node took the answer as an upgrade; `socket` is the backend's own, detached from the replay. */
  upgraded(response: http.IncomingMessage, socket: Socket, head: Buffer): void;
  /** Node read another answer (its body still streaming). */
  answered(response: http.IncomingMessage): void;
  failed(error: Error): void;
}

/**
 * The backend's socket as Node's client sees it in a replay: reads are `received` then the
 * socket's bytes and end; writes are dropped; destroying it destroys the socket.
 */
class ReplayStream extends Duplex {
  readonly #socket: Socket;
  #released = false;
  readonly #onData = (chunk: Buffer): void => {
    if (!this.push(chunk)) this.#socket.pause();
  };
  readonly #onEnd = (): void => void this.push(null);
  readonly #onError = (error: Error): void => void this.destroy(error);
  /** A socket closed without an error ends the answer as its FIN would: Node decides what that means. */
  readonly #onClose = (): void => {
    if (!this.readableEnded) this.push(null);
  };

  constructor(socket: Socket, received: Buffer) {
    super({ allowHalfOpen: true });
    this.#socket = socket;
    if (received.length > 0) this.push(received);
    if (socket.readableEnded) this.push(null);
    else {
      socket.on("data", this.#onData);
      socket.on("end", this.#onEnd);
    }
    socket.on("error", this.#onError);
    socket.on("close", this.#onClose);
  }

  override _read(): void {
    if (!this.#released) this.#socket.resume();
  }

  override _write(
    _chunk: unknown,
    _encoding: BufferEncoding,
    callback: (error?: Error | null) => void,
  ): void {
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // Once released, the socket belongs to the relay: Node's client no longer holds it.
    if (!this.#released) {
      this.#detach();
      this.#socket.destroy();
    }
    callback(error);
  }

  /**
   * Gives the socket back, with what this stream had read from it but not yet passed on:
   * the socket is left as Node's client leaves an upgraded one (no listeners of ours, not
   * flowing, its buffered bytes kept for the next reader).
   */
  release(): { socket: Socket; unread: Buffer | null } {
    this.#released = true;
    this.#detach();
    leaveUnread(this.#socket);
    return { socket: this.#socket, unread: this.read() as Buffer | null };
  }

  #detach(): void {
    this.#socket.off("data", this.#onData);
    this.#socket.off("end", this.#onEnd);
    this.#socket.off("error", this.#onError);
    this.#socket.off("close", this.#onClose);
  }
}

/**
 * Leaves a socket as Node's client leaves an upgraded one: neither flowing nor paused, so
 * the next reader's `data` listener starts it and nothing it buffered is lost.
 */
export function leaveUnread(socket: Socket): void {
  (socket as { readableFlowing: boolean | null }).readableFlowing = null;
}

/**
 * Lets Node's client read the answer on `socket`, starting with `received`. Returns the
 * request, for the caller to destroy on a deadline.
 */
export function replayAnswer(
  socket: Socket,
  received: Buffer,
  path: string,
  headers: readonly string[],
  handlers: ReplayHandlers,
): http.ClientRequest {
  const stream = new ReplayStream(socket, received);
  const request = http.request({
    method: "GET",
    path,
    headers: headers as string[],
    setHost: false,
    createConnection: () => stream as unknown as Socket,
  });
  request.on("upgrade", (response, _stream, head: Buffer) => {
    const { socket: backend, unread } = stream.release();
    handlers.upgraded(response, backend, unread ? Buffer.concat([head, unread]) : head);
  });
  request.on("response", (response) => handlers.answered(response));
  request.on("error", (error) => handlers.failed(error));
  request.end();
  return request;
}
