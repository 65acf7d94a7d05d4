/**
 * Requests written byte for byte on a TCP socket: what an attacker sends, not what an
 * HTTP client library would make of it (absolute-form targets, two Host headers, bodies
 * on upgrades, dot segments and escapes left as they are).
 */
import net from "node:net";

export interface RawAnswer {
  /** The status code of the first response line, or 0 when the socket closed without one. */
  readonly status: number;
  /** Everything received, as latin1 text. */
  readonly text: string;
}

/**
 * Writes `request` and resolves with what came back once the server closed, a 101 head
 * arrived, or `untilMs` passed.
 */
export function rawRequest(port: number, request: string, untilMs = 5_000): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write(request, "latin1"));
    const chunks: Buffer[] = [];
    const finish = (): void => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString("latin1");
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ status: status ? Number(status[1]) : 0, text });
    };
    const timer = setTimeout(() => socket.destroy(), untilMs);
    socket.on("data", (c: Buffer) => {
      chunks.push(c);
      // A 101 leaves the socket open for frames: its head is the whole answer.
      const text = Buffer.concat(chunks).toString("latin1");
      if (text.startsWith("HTTP/1.1 101") && text.includes("\r\n\r\n")) socket.destroy();
    });
    socket.on("close", finish);
    socket.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code !== "ECONNRESET") reject(err);
    });
  });
}

/** A plain GET with `Connection: close`, extra header lines as given. */
export function getRequest(target: string, host: string, headers: readonly string[] = []): string {
  return [`GET ${target} HTTP/1.1`, `Host: ${host}`, ...headers, "Connection: close", "", ""].join("\r\n");
}

/** A WebSocket opening handshake for `target`, extra header lines as given. */
export function upgradeRequest(target: string, host: string, headers: readonly string[] = []): string {
  return [
    `GET ${target} HTTP/1.1`,
    `Host: ${host}`,
    "Connection: Upgrade",
    "Upgrade: websocket",
    "Sec-WebSocket-Version: 13",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    ...headers,
    "",
    "",
  ].join("\r\n");
}
