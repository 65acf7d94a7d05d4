/**
 * One active health probe of one endpoint: an HTTP GET, a TCP connect, or a real
 * WebSocket handshake. A probe never throws and always settles within its timeout.
 */
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import net from "node:net";

export type ProbeType = "HTTP" | "TCP" | "WebSocket";

export interface ProbeTarget {
  readonly address: string;
  readonly port: number;
}

export interface ProbeSpec {
  readonly type: ProbeType;
  /** Request path of HTTP and WebSocket probes. */
  readonly path: string;
  readonly timeoutMs: number;
}

export interface ProbeResult {
  readonly ok: boolean;
  /** What was seen, e.g. `HTTP 200`, `connected`, `ECONNREFUSED`, `timed out after 2000ms`. */
  readonly detail: string;
}

const USER_AGENT = "wsgate-health-check";
const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

function hostHeader(target: ProbeTarget): string {
  return target.address.includes(":")
    ? `[${target.address}]:${target.port}`
    : `${target.address}:${target.port}`;
}

function errorDetail(err: NodeJS.ErrnoException): string {
  return err.code ?? err.message;
}

/** A masked Close frame with status 1000, as a client must send it (RFC 6455 §5.3). */
function closeFrame(): Buffer {
  const mask = randomBytes(4);
  return Buffer.from([0x88, 0x82, ...mask, 0x03 ^ (mask[0] as number), 0xe8 ^ (mask[1] as number)]);
}

/**
 * Runs one probe. HTTP: GET `path`, healthy on 2xx or 3xx. TCP: healthy once
 * connected. WebSocket: healthy on `101` with the right `Sec-WebSocket-Accept`;
 * the connection is then closed with a Close frame (1000), as a polite client would.
 */
export function probe(target: ProbeTarget, spec: ProbeSpec): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let settled = false;
    let cleanup: () => void = () => {};
    const timer = setTimeout(
      () => settle({ ok: false, detail: `timed out after ${spec.timeoutMs}ms` }),
      spec.timeoutMs,
    );
    timer.unref();
    function settle(result: ProbeResult): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      cleanup();
      resolve(result);
    }

    if (spec.type === "TCP") {
      const socket = net.connect({ host: target.address, port: target.port });
      cleanup = () => socket.destroy();
      socket.once("connect", () => settle({ ok: true, detail: "connected" }));
      socket.once("error", (err) => settle({ ok: false, detail: errorDetail(err) }));
      return;
    }

    const key = randomBytes(16).toString("base64");
    const headers: Record<string, string> = { Host: hostHeader(target), "User-Agent": USER_AGENT };
    if (spec.type === "WebSocket") {
      Object.assign(headers, {
        Connection: "Upgrade",
        Upgrade: "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": key,
      });
    } else {
      Object.assign(headers, { Connection: "close", Accept: "*/*" });
    }
    const request = http.request({
      host: target.address,
      port: target.port,
      method: "GET",
      path: spec.path,
      headers,
      agent: false,
      setHost: false,
    });
    cleanup = () => request.destroy();
    request.once("error", (err) => settle({ ok: false, detail: errorDetail(err) }));
    request.once("response", (response) => {
      const status = response.statusCode ?? 0;
      response.resume();
      const ok = spec.type === "HTTP" && status >= 200 && status < 400;
      settle({ ok, detail: spec.type === "WebSocket" ? `HTTP ${status}, expected 101` : `HTTP ${status}` });
    });
    request.once("upgrade", (response, socket) => {
      const expected = createHash("sha1")
        .update(key + WEBSOCKET_GUID)
        .digest("base64");
      const accepted = response.headers["sec-websocket-accept"] === expected;
      if (spec.type !== "WebSocket" || !accepted) {
        socket.destroy();
        settle({
          ok: false,
          detail: accepted ? "HTTP 101 to a plain GET" : "101 without a valid Sec-WebSocket-Accept",
        });
        return;
      }
      // Close politely and let the backend answer; the socket goes away at the latest after the timeout.
      cleanup = () => {};
      socket.on("error", () => socket.destroy());
      socket.setTimeout(spec.timeoutMs, () => socket.destroy());
      socket.resume();
      socket.end(closeFrame());
      settle({ ok: true, detail: "HTTP 101" });
    });
    request.end();
  });
}
