/**
 * WebSockets over HTTP/2 (RFC 8441). A `CONNECT` with `:protocol: websocket` becomes
 * the HTTP/1.1 upgrade the gateway already serves: the same request (Host from
 * `:authority`, the client's fields, `Sec-WebSocket-Version/Protocol/Extensions`
 * carried over) plus the fields HTTP/2 leaves out — `Upgrade: websocket`,
 * `Connection: Upgrade` and a `Sec-WebSocket-Key` the gateway generates — so Origin,
 * auth, limits, gates and connect-with-retry are the upgrade pipeline's, unchanged.
 * The stream is the handshake's socket (stream-socket.ts).
 */
import { randomBytes } from "node:crypto";
import type http from "node:http";
import http2 from "node:http2";
import { http1RawHeaders, headerObjectOf } from "./request-view.js";
import { StreamSocket } from "./stream-socket.js";

/** The request the upgrade pipeline reads, built from an extended CONNECT. */
export type UpgradeRequest = http.IncomingMessage;

/** How the gateway serves an upgrade; `head` is empty on HTTP/2 (DATA is read from the socket). */
export type ServeUpgrade = (req: UpgradeRequest, socket: StreamSocket) => void;

/** The upgrade requests made from extended CONNECTs. */
const OVER_HTTP2 = new WeakSet<object>();

/** "2" for an upgrade request made from an HTTP/2 extended CONNECT, else "1.1". */
export function httpVersionOf(req: object): "1.1" | "2" {
  return OVER_HTTP2.has(req) ? "2" : "1.1";
}

/** Fields the gateway sets on the HTTP/1.1 upgrade itself: a client's own are not used. */
const SET_BY_GATEWAY = new Set(["upgrade", "connection", "sec-websocket-key"]);

/**
 * The HTTP/1.1 upgrade request for an extended CONNECT's raw headers: pseudo-headers
 * gone, Host from `:authority`, and the handshake fields of RFC 6455 §4.1 the gateway
 * adds (a fresh 16-byte key, as a client would).
 */
export function upgradeRawHeaders(raw: readonly string[]): string[] {
  const fields = http1RawHeaders(raw);
  const out: string[] = [];
  for (let i = 0; i < fields.length; i += 2) {
    if (!SET_BY_GATEWAY.has((fields[i] as string).toLowerCase()))
      out.push(fields[i] as string, fields[i + 1] as string);
  }
  out.push(
    "upgrade",
    "websocket",
    "connection",
    "Upgrade",
    "sec-websocket-key",
    randomBytes(16).toString("base64"),
  );
  return out;
}

/** Why an HTTP/2 CONNECT is no WebSocket the gateway serves, or undefined. */
function refusalOf(headers: http2.IncomingHttpHeaders): readonly [number, string] | undefined {
  const protocol = headers[":protocol"];
  // A classic CONNECT asks for a TCP tunnel: wsgate is no forward proxy.
  if (protocol === undefined) return [405, "CONNECT is served only for WebSockets (:protocol websocket)"];
  if (String(protocol).toLowerCase() !== "websocket")
    return [501, `the protocol ${String(protocol)} is not supported`];
  if (headers[":scheme"] !== "https") return [400, "a WebSocket over HTTP/2 needs :scheme https"];
  return undefined;
}

/**
 * Serves an HTTP/2 `CONNECT` stream: refuses what is no RFC 8441 WebSocket, otherwise
 * hands the upgrade request and the stream socket to `serve`.
 */
export function serveExtendedConnect(
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  rawHeaders: readonly string[],
  requestSocket: unknown,
  serve: ServeUpgrade,
): void {
  const refused = refusalOf(headers);
  if (refused) {
    const [status, message] = refused;
    if (!stream.destroyed && !stream.headersSent) {
      try {
        stream.respond({ ":status": status, "content-type": "text/plain; charset=utf-8" });
        stream.end(`${message}\n`);
      } catch {
        stream.destroy(); // its session is going away
      }
    }
    return;
  }
  const fields = upgradeRawHeaders(rawHeaders);
  const req = {
    method: "GET",
    url: String(headers[":path"] ?? "/"),
    httpVersion: "1.1",
    httpVersionMajor: 1,
    httpVersionMinor: 1,
    rawHeaders: fields,
    headers: headerObjectOf(fields),
    // The client's connection (the TLS socket, through Node's stream proxy): its peer and SNI.
    socket: requestSocket,
  } as unknown as UpgradeRequest;
  OVER_HTTP2.add(req);
  serve(req, new StreamSocket(stream));
}

/** Node's compatibility request for an HTTP/2 stream, as far as CONNECT needs it. */
interface Http2Connect {
  readonly stream: http2.ServerHttp2Stream;
  readonly headers: http2.IncomingHttpHeaders;
  readonly rawHeaders: string[];
  readonly socket: unknown;
  readonly httpVersionMajor: number;
}

/**
 * Wires extended CONNECT into an HTTP/2 server that also speaks HTTP/1.1 (its `connect`
 * event carries both). An HTTP/1.1 CONNECT is closed, as a server without a `connect`
 * listener does.
 */
export function onConnectRequests(server: http2.Http2SecureServer, serve: ServeUpgrade): void {
  server.on("connect", (req: Http2Connect | http.IncomingMessage, second: unknown) => {
    if (req.httpVersionMajor !== 2) {
      (second as { destroy(): void }).destroy();
      return;
    }
    const h2 = req as Http2Connect;
    try {
      serveExtendedConnect(h2.stream, h2.headers, h2.rawHeaders, h2.socket, serve);
    } catch {
      // A bug of ours must end this stream, never the process (and every WebSocket on it).
      if (!h2.stream.destroyed) h2.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    }
  });
}
