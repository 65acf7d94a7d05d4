/**
 * HTTP/2 test clients: Node's `http2` client against the HTTPS listener, with RFC 8441
 * extended CONNECT carrying a `ws` WebSocket (ws frames the stream as a client would,
 * masked), and plain requests. Plus the HTTPS listener of `wsgate serve` on port 0.
 */
import http2 from "node:http2";
import type net from "node:net";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import WebSocket from "ws";
import { Gateway, type GatewayOptions } from "../../src/dataplane/gateway.js";
import { createProxyProtocolServer } from "../../src/dataplane/proxy-protocol.js";
import { TableHolder } from "../../src/routing/holder.js";
import { Recompiler } from "../../src/routing/recompiler.js";
import { ObjectStore, type StoredObject } from "../../src/routing/store.js";
import { createHttpsServer, proxiedTlsHandoff } from "../../src/tls/server.js";

export interface H2Gateway {
  readonly store: ObjectStore;
  readonly holder: TableHolder;
  readonly gateway: Gateway;
  readonly server: ReturnType<typeof createHttpsServer>["server"];
  readonly port: number;
  apply(objects: readonly StoredObject[]): void;
  close(): Promise<void>;
}

export interface H2GatewayOptions extends Partial<Omit<GatewayOptions, "tables">> {
  readonly defaultTlsSecret?: string;
  readonly http2?: boolean;
  readonly headerTimeoutMs?: number;
  readonly keepAliveTimeout?: number;
  readonly proxyProtocol?: boolean;
}

/** Store → recompiler → holder → gateway → the HTTPS listener (HTTP/2 by default), on port 0. */
export async function startH2Gateway(options: H2GatewayOptions = {}): Promise<H2Gateway> {
  const {
    defaultTlsSecret,
    http2: withHttp2,
    headerTimeoutMs,
    keepAliveTimeout,
    proxyProtocol,
    ...rest
  } = options;
  const store = new ObjectStore();
  const holder = new TableHolder();
  const recompiler = new Recompiler(store, holder, {
    ingressClass: "wsgate",
    ...(defaultTlsSecret ? { defaultTlsSecret } : {}),
  });
  const gateway = new Gateway({ tables: holder, sweepIntervalMs: 20, closeTimeoutMs: 5_000, ...rest });
  holder.onPublish((p) => gateway.reconcile(p.table));
  gateway.start();
  const { server, contexts } = createHttpsServer({
    tables: holder,
    onPublish: (l) => holder.onPublish(l),
    ...(withHttp2 !== undefined ? { http2: withHttp2 } : {}),
    ...(headerTimeoutMs !== undefined ? { headerTimeoutMs } : {}),
    ...(keepAliveTimeout !== undefined ? { keepAliveTimeout } : {}),
  });
  gateway.attach(server, "https");
  const listener: net.Server = proxyProtocol
    ? createProxyProtocolServer(proxiedTlsHandoff(server, contexts), {})
    : server;
  if (proxyProtocol) server.emit("listening");
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
  return {
    store,
    holder,
    gateway,
    server,
    port: (listener.address() as AddressInfo).port,
    apply(objects) {
      store.replaceAll(objects);
      recompiler.compileNow();
    },
    async close() {
      recompiler.stop();
      gateway.destroyAll();
      await gateway.connections.whenEmpty();
      gateway.stop();
      server.closeAllConnections();
      if (listener !== server) await new Promise<void>((resolve) => listener.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** An HTTP/2 session to the gateway with SNI `servername` (nothing is verified: test certificates). */
export function h2Session(port: number, servername: string): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://127.0.0.1:${port}`, { servername, rejectUnauthorized: false });
    session.once("error", reject);
    // Extended CONNECT may be sent only once the server's SETTINGS allowed it (RFC 8441 §4).
    session.once("remoteSettings", () => {
      session.off("error", reject);
      session.on("error", () => {});
      resolve(session);
    });
  });
}

export interface H2Answer {
  readonly status: number;
  readonly headers: http2.IncomingHttpHeaders;
  readonly stream: http2.ClientHttp2Stream;
}

/** Sends an extended CONNECT (`:protocol websocket`) and resolves with the answer's HEADERS. */
export function extendedConnect(
  session: http2.ClientHttp2Session,
  authority: string,
  path = "/",
  headers: http2.OutgoingHttpHeaders = {},
): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ":method": "CONNECT",
      ":protocol": "websocket",
      ":scheme": "https",
      ":authority": authority,
      ":path": path,
      "sec-websocket-version": "13",
      ...headers,
    });
    stream.once("error", reject);
    stream.once("response", (h) => {
      stream.off("error", reject);
      resolve({ status: Number(h[":status"]), headers: h, stream });
    });
  });
}

/** The body of a refused stream. */
export function bodyOf(stream: http2.ClientHttp2Stream): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = "";
    stream.setEncoding("utf8");
    stream.on("data", (c: string) => (body += c));
    stream.once("end", () => resolve(body));
    stream.once("error", reject);
  });
}

/**
 * A `ws` client WebSocket over an accepted extended CONNECT stream: ws frames (masked,
 * as a client) and parses the stream's DATA.
 */
export function webSocketOver(stream: Duplex, maxPayload = 64 * 1024 * 1024): WebSocket {
  const ws = new WebSocket(null as unknown as string, undefined, { autoPong: true });
  const internal = ws as unknown as {
    _isServer: boolean;
    _closeTimeout: number;
    setSocket(socket: Duplex, head: Buffer, options: Record<string, unknown>): void;
  };
  internal._isServer = false;
  // Set for clients by ws's own constructor only: without it the close timer fires at once
  // and destroys the stream before the peer's Close frame arrives (1006 instead of 1000).
  internal._closeTimeout = 30_000;
  internal.setSocket(stream, Buffer.alloc(0), { maxPayload, allowSynchronousEvents: true });
  return ws;
}

/** Opens a WebSocket over HTTP/2; rejects unless the gateway answered 200. */
export async function connectH2(
  session: http2.ClientHttp2Session,
  authority: string,
  path = "/",
  headers: http2.OutgoingHttpHeaders = {},
): Promise<{ ws: WebSocket; answer: H2Answer }> {
  const answer = await extendedConnect(session, authority, path, headers);
  if (answer.status !== 200) {
    const body = await bodyOf(answer.stream);
    throw new Error(`unexpected :status ${answer.status}: ${body}`);
  }
  return { ws: webSocketOver(answer.stream), answer };
}

/** A plain HTTP/2 request; resolves with status, headers and body. */
export function h2Request(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body?: string,
): Promise<{ status: number; headers: http2.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request(
      { ":method": "GET", ":scheme": "https", ...headers },
      { endStream: body === undefined },
    );
    stream.once("error", reject);
    stream.once("response", (h) => {
      bodyOf(stream).then(
        (text) => resolve({ status: Number(h[":status"]), headers: h, body: text }),
        reject,
      );
    });
    if (body !== undefined) stream.end(body);
  });
}
