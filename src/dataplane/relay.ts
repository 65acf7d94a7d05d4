/**
 * Relays an upgraded connection: bytes are piped both ways untouched (payloads are
 * never decoded, so permessage-deflate and masking stay end to end), with
 * backpressure and half-close, counting bytes on the way.
 */
import type { Duplex } from "node:stream";
import type { CloseInitiator } from "./events.js";

export interface RelayStats {
  bytesFromClient: number;
  bytesToClient: number;
}

export interface RelayEnd {
  readonly initiator: CloseInitiator;
  readonly error?: string;
}

/** Pipes `from` into `to`, pausing `from` while `to` is full. Returns nothing; errors are reported by the caller's listeners. */
function pump(from: Duplex, to: Duplex, count: (n: number) => void): void {
  from.on("data", (chunk: Buffer) => {
    count(chunk.length);
    if (!to.write(chunk)) {
      from.pause();
      to.once("drain", () => from.resume());
    }
  });
}

/**
 * Starts relaying and calls `onEnd` once, when both sockets are closed.
 * `stats` is updated live so that metrics can read bytes of open connections.
 */
export function relay(
  client: Duplex,
  backend: Duplex,
  stats: RelayStats,
  onEnd: (end: RelayEnd) => void,
): void {
  let initiator: CloseInitiator | undefined;
  let error: string | undefined;
  let open = 2;
  const first = (who: CloseInitiator): void => {
    initiator ??= who;
  };
  const closed = (): void => {
    if (--open === 0) onEnd({ initiator: initiator ?? "proxy", ...(error ? { error } : {}) });
  };

  pump(client, backend, (n) => (stats.bytesFromClient += n));
  pump(backend, client, (n) => (stats.bytesToClient += n));

  // A FIN from one side is passed on as a FIN to the other (half-close), so a
  // peer that closes its write side first still receives what is in flight.
  client.on("end", () => {
    first("client");
    backend.end();
  });
  backend.on("end", () => {
    first("backend");
    client.end();
  });
  client.on("error", (err) => {
    first("client");
    error ??= `client: ${err.message}`;
    backend.destroy();
  });
  backend.on("error", (err) => {
    first("backend");
    error ??= `backend: ${err.message}`;
    client.destroy();
  });
  client.on("close", () => {
    first("client");
    backend.destroy();
    closed();
  });
  backend.on("close", () => {
    first("backend");
    client.destroy();
    closed();
  });
}
