/**
 * The HTTPS listener, whose certificates come from the routing table — chosen by SNI
 * per handshake, with the table's default certificate as the listener's own context for
 * clients that send no SNI. TLS 1.2 at least. With `--http2` (the default) it is an
 * HTTP/2 server that also speaks HTTP/1.1: ALPN offers `h2` and `http/1.1`, HTTP/1.1
 * connections (and their upgrades) are served by Node's HTTP/1.1 server code as before,
 * and HTTP/2 announces extended CONNECT (RFC 8441) for WebSockets. Without it, an
 * `https.Server` offering `http/1.1` only.
 */
import { randomBytes } from "node:crypto";
import http from "node:http";
import http2 from "node:http2";
import https from "node:https";
import tls, { type TLSSocket } from "node:tls";
import { SessionRegistry, sessionsOf } from "../dataplane/h2/sessions.js";
import { headerTimeoutOptions } from "../dataplane/header-timeout.js";
import { replayingStream, type Handoff } from "../dataplane/proxy-protocol.js";
import { MIN_TLS_VERSION, TlsContexts, type CertificateTables } from "./contexts.js";
import { tlsChannels, type TlsHandshakeFailed } from "./events.js";

export interface HttpsServerOptions {
  readonly tables: CertificateTables;
  /** Subscribes to table publications; returns the unsubscribe function. */
  onPublish(listener: () => void): () => void;
  /** Keep-alive timeout of idle HTTP connections, as on the plain listener. */
  readonly keepAliveTimeout?: number;
  /**
   * `--header-timeout` (default 10 s): bounds the TLS handshake from accept, and then
   * the request headers, so a client that stalls in either is closed.
   */
  readonly headerTimeoutMs?: number;
  /** `--http2`: offer `h2` next to `http/1.1` (default true). */
  readonly http2?: boolean;
  /**
   * The 48 bytes that encrypt session tickets (see {@link newTicketKeys}). Every data-plane
   * worker gets the same keys, so a returning client resumes its TLS session on whichever
   * worker the kernel hands its connection to. Default: new keys for this server.
   */
  readonly ticketKeys?: Uint8Array;
}

/**
 * Session-ticket keys (Node's `ticketKeys`: 16 bytes of name, 16 of HMAC key, 16 of AES
 * key), made once per process and shared by its listeners; they live only in memory.
 */
export function newTicketKeys(): Uint8Array {
  return randomBytes(48);
}

/**
 * Limits of HTTP/2 itself, fixed (README "HTTP/2"). Streams per connection as nginx's
 * `http2_max_concurrent_streams`; the header list as HTTP/1.1's 16 KiB header limit plus
 * HTTP/2's 32-byte per-field overhead; the RST_STREAM budget against rapid reset
 * (CVE-2023-44487): a burst of 200 (nghttp2 allows 1000: each reset stream was a request
 * already on its way to a backend, 70 MiB of RSS for 1000 in test/h2-floods), then 33 per
 * second, beyond which the session ends
 * with GOAWAY. CONTINUATION floods are bounded by nghttp2 (and the header list size);
 * SETTINGS and PING floods by its outbound control-frame queue and Node's session memory.
 */
export const HTTP2_LIMITS = {
  maxConcurrentStreams: 128,
  maxHeaderListSize: 32 * 1024,
  maxSessionMemoryMb: 10,
  streamResetBurst: 200,
  streamResetRate: 33,
  /** The sum of all streams' windows (1 MiB, as Go's and Envoy's servers); each stream keeps 64 KiB. */
  connectionWindowBytes: 1024 * 1024,
} as const;

/** ALPN of the listener: `h2` first when HTTP/2 is on. */
export function alpnProtocols(withHttp2: boolean): string[] {
  return withHttp2 ? ["h2", "http/1.1"] : ["http/1.1"];
}

/**
 * The HTTP/2 side of a server made by {@link createHttpsServer}, or undefined for an
 * HTTP/1.1-only one (or any other server).
 */
export function http2Of(
  server: object,
): { readonly server: http2.Http2SecureServer; readonly sessions: SessionRegistry } | undefined {
  const sessions = sessionsOf(server);
  return sessions ? { server: server as http2.Http2SecureServer, sessions } : undefined;
}

/**
 * The HTTP/2 server, presented as the `https.Server` the listeners use: with
 * `allowHTTP1` it serves HTTP/1.1 with Node's own HTTP/1.1 code (request, upgrade,
 * clientError, header and keep-alive timeouts), and `closeAllConnections` ends HTTP/2
 * sessions too.
 */
function createHttp2Server(
  options: HttpsServerOptions,
  contexts: TlsContexts,
  headerTimeoutMs: number,
  ticketKeys: Uint8Array,
): https.Server {
  const server = http2.createSecureServer({
    ticketKeys: Buffer.from(ticketKeys),
    SNICallback: contexts.SNICallback,
    minVersion: MIN_TLS_VERSION,
    ALPNProtocols: alpnProtocols(true),
    allowHTTP1: true,
    handshakeTimeout: headerTimeoutMs,
    settings: {
      enableConnectProtocol: true,
      maxConcurrentStreams: HTTP2_LIMITS.maxConcurrentStreams,
      maxHeaderListSize: HTTP2_LIMITS.maxHeaderListSize,
    },
    maxSessionMemory: HTTP2_LIMITS.maxSessionMemoryMb,
    streamResetBurst: HTTP2_LIMITS.streamResetBurst,
    streamResetRate: HTTP2_LIMITS.streamResetRate,
  });
  const keepAliveTimeout = options.keepAliveTimeout ?? 5_000;
  // Read by Node's HTTP/1.1 code for the connections that negotiate http/1.1.
  Object.assign(server, { keepAliveTimeout, ...headerTimeoutOptions(headerTimeoutMs) });
  const sessions = new SessionRegistry(server, {
    firstRequestMs: headerTimeoutMs,
    idleMs: keepAliveTimeout,
    connectionWindowBytes: HTTP2_LIMITS.connectionWindowBytes,
  });
  const closeHttp1 = http.Server.prototype.closeAllConnections;
  Object.assign(server, {
    closeAllConnections(this: http2.Http2SecureServer) {
      closeHttp1.call(this as unknown as http.Server);
      sessions.destroyAll();
    },
  });
  return server as unknown as https.Server;
}

/** OpenSSL's errors for "the server had no certificate to offer". */
const NO_CERTIFICATE_ERRORS = new Set([
  "ERR_SSL_NO_SUITABLE_SIGNATURE_ALGORITHM",
  "ERR_SSL_NO_SHARED_CIPHER",
]);

/**
 * Creates the HTTPS server (not listening yet). It starts and completes no
 * handshake until a certificate exists: clients get a TLS alert, and the first
 * such failure per table generation is published on `wsgate:tls:no-certificate`.
 */
export function createHttpsServer(options: HttpsServerOptions): {
  server: https.Server;
  contexts: TlsContexts;
} {
  // Explicit keys also survive setSecureContext() (a new default certificate): Node keeps
  // them, where it would draw new random ones and void every ticket issued so far.
  const ticketKeys = options.ticketKeys ?? newTicketKeys();
  const contexts = new TlsContexts(options.tables, ticketKeys);
  const headerTimeoutMs = options.headerTimeoutMs ?? 10_000;
  const server =
    options.http2 === false
      ? https.createServer({
          ticketKeys: Buffer.from(ticketKeys),
          SNICallback: contexts.SNICallback,
          minVersion: MIN_TLS_VERSION,
          ALPNProtocols: alpnProtocols(false),
          keepAliveTimeout: options.keepAliveTimeout ?? 5_000,
          handshakeTimeout: headerTimeoutMs,
          ...headerTimeoutOptions(headerTimeoutMs),
        })
      : createHttp2Server(options, contexts, headerTimeoutMs, ticketKeys);
  contexts.applyDefault(server);
  const unsubscribe = options.onPublish(() => contexts.applyDefault(server));
  server.once("close", unsubscribe);
  server.on("tlsClientError", (err: NodeJS.ErrnoException, socket: TLSSocket) => {
    const servername = typeof socket.servername === "string" ? socket.servername : undefined;
    const code = err.code ?? "ERR_TLS";
    if (!servername && NO_CERTIFICATE_ERRORS.has(code)) contexts.noteFailedHandshakeWithoutSni();
    if (tlsChannels.handshakeFailed.hasSubscribers) {
      const remote = socket.remoteAddress ?? "";
      const event: TlsHandshakeFailed = {
        client: remote.startsWith("::ffff:") ? remote.slice(7) : remote,
        ...(servername ? { servername } : {}),
        code,
      };
      tlsChannels.handshakeFailed.publish(event);
    }
    // No HTTP answer can reach a client whose handshake failed or timed out. https.Server
    // passes the error on as `clientError`, whose handlers write a 400 and wait for it to
    // flush — which never happens before a handshake — so the socket would stay open.
    socket.destroy();
  });
  return { server, contexts };
}

/**
 * Handoff for `--proxy-protocol` on the HTTPS listener: TLS is terminated on a
 * stream that replays the bytes read past the PROXY header, and the secured
 * socket is given to the HTTPS server as if it had accepted it itself. A
 * handshake not complete within `handshakeTimeoutMs` (`--header-timeout`) closes
 * the connection, as on the direct listener.
 */
export function proxiedTlsHandoff(
  server: https.Server,
  contexts: TlsContexts,
  handshakeTimeoutMs = 10_000,
): Handoff {
  return (socket, rest, address) => {
    const tlsSocket = new tls.TLSSocket(replayingStream(socket, rest), {
      isServer: true,
      SNICallback: contexts.SNICallback,
      ALPNProtocols: alpnProtocols(http2Of(server) !== undefined),
      secureContext: contexts.initialContext(),
    }) as TLSSocket & { proxiedAddress?: string; secureConnecting?: boolean };
    // A LOCAL/UNKNOWN header names no client: the peer is the load balancer itself (a
    // TLSSocket over a stream has no remoteAddress of its own).
    const peer = address ?? socket.remoteAddress;
    if (peer !== undefined) tlsSocket.proxiedAddress = peer;
    const timer = setTimeout(() => tlsSocket.destroy(), handshakeTimeoutMs);
    tlsSocket.once("close", () => clearTimeout(timer));
    tlsSocket.once("secure", () => {
      clearTimeout(timer);
      // A TLSSocket made without a server is left "secureConnecting" after its handshake:
      // HTTP/2 would wait for a client's 'secureConnect' that never comes, then fail on
      // the bytes already read. The server's own sockets are cleared the same way.
      tlsSocket.secureConnecting = false;
      server.emit("secureConnection", tlsSocket);
    });
    tlsSocket.once("error", (err) => {
      clearTimeout(timer);
      server.emit("tlsClientError", err, tlsSocket);
      tlsSocket.destroy();
    });
  };
}
