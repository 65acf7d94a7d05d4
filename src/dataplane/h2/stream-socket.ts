/**
 * An extended CONNECT stream (RFC 8441) as the socket of an HTTP/1.1 upgrade, so one
 * pipeline serves WebSockets on both protocols: the handshake's answer, written as an
 * HTTP/1.1 head, becomes the stream's HEADERS (response-head.ts), and every byte after
 * it — the WebSocket frames of the relay, or a refusal's body — becomes DATA. The
 * client's DATA is read as the socket's bytes; its END_STREAM is the socket's end (FIN).
 *
 * Flow control: a write is complete only once the HTTP/2 layer took it within the
 * client's window, so a slow reader makes `write()` return false and the relay pauses
 * the backend, exactly as a full TCP socket does. Reading pauses the stream when the
 * relay does not keep up, which stops the client's window updates.
 */
import http2 from "node:http2";
import { Duplex } from "node:stream";
import { MAX_HEAD_BYTES, headEnd, translateHead } from "./response-head.js";

const { NGHTTP2_CANCEL, NGHTTP2_NO_ERROR } = http2.constants;

/** The part of a server stream the socket uses (Node's `ServerHttp2Stream`). */
export type ConnectStream = http2.ServerHttp2Stream;

export class StreamSocket extends Duplex {
  readonly #stream: ConnectStream;
  /** Head bytes written before its end was seen; undefined once the head was answered. */
  #pendingHead: Buffer | undefined = Buffer.alloc(0);
  #upgraded = false;
  #bytesWritten = 0;

  constructor(stream: ConnectStream) {
    // Half-open as the HTTP server's upgraded sockets: the client's END_STREAM does not end our side.
    super({ allowHalfOpen: true });
    this.#stream = stream;
    stream.on("data", (chunk: Buffer) => {
      if (!this.push(chunk)) stream.pause();
    });
    stream.once("end", () => this.push(null));
    stream.on("error", (err) => this.destroy(err));
    stream.once("close", () => {
      if (this.destroyed) return;
      const code = stream.rstCode ?? NGHTTP2_NO_ERROR;
      if (code !== NGHTTP2_NO_ERROR) {
        const err = new Error(`HTTP/2 stream reset (code ${code})`) as NodeJS.ErrnoException;
        err.code = "ERR_HTTP2_STREAM_RESET";
        this.destroy(err);
      } else this.destroy();
    });
    // The relay's and the handshake's listeners come and go; an error with none attached
    // between them must not end the process.
    this.on("error", () => {});
  }

  /** True once the backend accepted and `:status 200` was sent. */
  get upgraded(): boolean {
    return this.#upgraded;
  }

  /** Bytes handed to the stream, head included (the pipeline asks whether it answered yet). */
  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  override _read(): void {
    if (this.#stream.isPaused()) this.#stream.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.#bytesWritten += chunk.length;
    const pending = this.#pendingHead;
    if (pending === undefined) {
      this.#stream.write(chunk, done);
      return;
    }
    const buffer = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    const end = headEnd(buffer);
    if (end === -1) {
      if (buffer.length > MAX_HEAD_BYTES) return done(this.#answerBadGateway());
      this.#pendingHead = buffer;
      return done();
    }
    this.#pendingHead = undefined;
    const failure = this.#respond(buffer.subarray(0, end).toString("latin1"));
    if (failure) return done(failure);
    const rest = buffer.subarray(end);
    if (rest.length > 0) this.#stream.write(rest, done);
    else done();
  }

  override _final(done: (error?: Error | null) => void): void {
    if (this.#pendingHead !== undefined) {
      // Ended without a complete answer: nothing the client could use was written.
      this.#pendingHead = undefined;
      this.#answerBadGateway();
      return done();
    }
    if (this.#stream.destroyed || this.#stream.closed) return done();
    // END_STREAM after everything written: the stream's finish comes once it is all sent.
    this.#stream.end(() => done());
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    const stream = this.#stream;
    if (!stream.closed && !stream.destroyed) {
      // Our side complete: the peer may stop sending (RFC 9113 §8.1); otherwise abandoned.
      const complete = this.writableFinished && !stream.writable;
      try {
        if (this.#pendingHead !== undefined && !stream.headersSent) {
          this.#pendingHead = undefined;
          stream.respond({ ":status": 502 }, { endStream: true });
        }
        stream.close(complete ? NGHTTP2_NO_ERROR : NGHTTP2_CANCEL);
      } catch {
        // Its session is going away: nothing left to tell the client.
        stream.destroy();
      }
    }
    done(error);
  }

  /** Sends the translated head; an error when it cannot be sent (the stream is then answered 502). */
  #respond(head: string): Error | undefined {
    const translated = translateHead(head);
    if (!translated) return this.#answerBadGateway();
    if (this.#stream.destroyed || this.#stream.headersSent) return new Error("stream already answered");
    try {
      this.#stream.respond(translated.headers);
    } catch (err) {
      // A field Node refuses on HTTP/2 (a value with a byte it forbids): no answer was sent.
      this.#answerBadGateway();
      return err as Error;
    }
    this.#upgraded = translated.upgraded;
    return undefined;
  }

  #answerBadGateway(): Error {
    const stream = this.#stream;
    if (!stream.destroyed && !stream.headersSent) {
      try {
        stream.respond({ ":status": 502, "content-type": "text/plain; charset=utf-8" });
        stream.end("the handshake's answer could not be translated to HTTP/2\n");
      } catch {
        stream.destroy();
      }
    }
    return new Error("handshake answer not translatable to HTTP/2");
  }
}
