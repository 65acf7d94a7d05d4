/**
 * The HTTPS listener: an `https.Server` whose certificates come from the routing
 * table — chosen by SNI per handshake, with the table's default certificate as the
 * listener's own context for clients that send no SNI. TLS 1.2 at least; ALPN
 * offers `http/1.1` only (WebSocket upgrades are HTTP/1.1).
 */
import https from "node:https";
import tls, { type TLSSocket } from "node:tls";
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
  const contexts = new TlsContexts(options.tables);
  const headerTimeoutMs = options.headerTimeoutMs ?? 10_000;
  const server = https.createServer({
    SNICallback: contexts.SNICallback,
    minVersion: MIN_TLS_VERSION,
    ALPNProtocols: ["http/1.1"],
    keepAliveTimeout: options.keepAliveTimeout ?? 5_000,
    handshakeTimeout: headerTimeoutMs,
    ...headerTimeoutOptions(headerTimeoutMs),
  });
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
      ALPNProtocols: ["http/1.1"],
      ...(contexts.contextFor(undefined)
        ? { secureContext: contexts.contextFor(undefined) as tls.SecureContext }
        : {}),
    }) as TLSSocket & { proxiedAddress?: string };
    // A LOCAL/UNKNOWN header names no client: the peer is the load balancer itself (a
    // TLSSocket over a stream has no remoteAddress of its own).
    const peer = address ?? socket.remoteAddress;
    if (peer !== undefined) tlsSocket.proxiedAddress = peer;
    const timer = setTimeout(() => tlsSocket.destroy(), handshakeTimeoutMs);
    tlsSocket.once("close", () => clearTimeout(timer));
    tlsSocket.once("secure", () => {
      clearTimeout(timer);
      server.emit("secureConnection", tlsSocket);
    });
    tlsSocket.once("error", (err) => {
      clearTimeout(timer);
      server.emit("tlsClientError", err, tlsSocket);
      tlsSocket.destroy();
    });
  };
}
