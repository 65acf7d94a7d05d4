/**
 * The HTTP/2 sessions of a listener: how long one may sit without a request, and the
 * registry shutdown and tests close them through. HTTP/1.1 bounds this with
 * `--header-timeout` (the first request's headers) and the keep-alive timeout; an
 * HTTP/2 connection gets the same bounds on requests, not on bytes — a client that
 * trickles PINGs or an endless header block opens no stream and is closed all the same.
 */
import type http2 from "node:http2";

export interface SessionBounds {
  /** From the session's start to its first complete request (`--header-timeout`). */
  readonly firstRequestMs: number;
  /** With no open stream this long, the session is closed with GOAWAY (keep-alive timeout). */
  readonly idleMs: number;
  /**
   * The connection-level window the client may fill across all its streams (bytes). Each
   * stream stays bounded by its own window; this one only caps their sum, so the 65,535
   * bytes of the protocol's default would make every WebSocket of a page share 64 KiB
   * per round trip towards the gateway.
   */
  readonly connectionWindowBytes?: number;
}

/** The registry of each HTTP/2 server that has one: marks a listener as HTTP/2. */
const REGISTRIES = new WeakMap<object, SessionRegistry>();

/** The session registry of `server`, when it is an HTTP/2 listener with one. */
export function sessionsOf(server: object): SessionRegistry | undefined {
  return REGISTRIES.get(server);
}

/** Tracks every HTTP/2 session of `server` and closes those without requests. */
export class SessionRegistry {
  readonly #sessions = new Set<http2.ServerHttp2Session>();

  constructor(server: http2.Http2SecureServer, bounds: SessionBounds) {
    REGISTRIES.set(server, this);
    server.on("session", (session: http2.ServerHttp2Session) => {
      this.#sessions.add(session);
      if (bounds.connectionWindowBytes !== undefined) {
        try {
          session.setLocalWindowSize(bounds.connectionWindowBytes);
        } catch {
          // A session already going away: nothing to widen.
        }
      }
      let open = 0;
      let timer: NodeJS.Timeout | undefined;
      const arm = (ms: number): void => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          // GOAWAY: streams the client may already have sent are answered; none is taken after.
          if (open === 0 && !session.closed) session.close();
        }, ms);
        timer.unref();
      };
      arm(bounds.firstRequestMs);
      session.on("stream", (stream: http2.ServerHttp2Stream) => {
        open++;
        clearTimeout(timer);
        stream.once("close", () => {
          if (--open === 0 && !session.closed && !session.destroyed) arm(bounds.idleMs);
        });
      });
      // A session error (a flood cut off, a reset peer) destroys it; nothing else to do.
      session.on("error", () => {});
      session.once("close", () => {
        clearTimeout(timer);
        this.#sessions.delete(session);
      });
    });
  }

  /** Live sessions. */
  get size(): number {
    return this.#sessions.size;
  }

  /** GOAWAY to every session: no new streams; open ones finish (shutdown). */
  closeAll(): void {
    for (const session of this.#sessions) if (!session.closed) session.close();
  }

  /** Ends every session and its streams now. */
  destroyAll(): void {
    for (const session of this.#sessions) session.destroy();
  }
}
