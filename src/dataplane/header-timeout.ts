/**
 * Slow clients (slowloris) hold a socket, a file descriptor and a parser each
 * while they trickle their request headers, and a few thousand of them exhaust a
 * replica. `--header-timeout` bounds every stage before a request's headers are
 * complete, on every listener: the PROXY header (proxy-protocol.ts), the TLS
 * handshake (`handshakeTimeout`, tls/server.ts) and the request headers (Node's
 * `headersTimeout`, here), each measured from the moment its stage starts.
 *
 * Node's defaults are 60 s for the headers, checked every 30 s: a socket that
 * never finishes lives up to 90 s. The check here runs every quarter of the
 * timeout, at most every second, so a socket is closed within timeout + ¼ timeout.
 */
import type http from "node:http";

/** Node's default for a whole request, body included: slowloris trickles headers, not bodies. */
const REQUEST_TIMEOUT_MS = 300_000;
/** The longest pause between two deadline checks. */
const MAX_CHECK_INTERVAL_MS = 1_000;

/** `http.createServer` options; they apply to `https.createServer` too. */
export interface HeaderTimeoutOptions {
  readonly headersTimeout: number;
  readonly requestTimeout: number;
  readonly connectionsCheckingInterval: number;
}

/** The server options that bound accept → complete request headers to `timeoutMs`. */
export function headerTimeoutOptions(timeoutMs: number): HeaderTimeoutOptions {
  return {
    headersTimeout: timeoutMs,
    // Node refuses a headers timeout longer than the request timeout.
    requestTimeout: Math.max(REQUEST_TIMEOUT_MS, timeoutMs),
    connectionsCheckingInterval: Math.max(10, Math.min(MAX_CHECK_INTERVAL_MS, Math.floor(timeoutMs / 4))),
  };
}

/** Applies {@link headerTimeoutOptions} to a server created elsewhere (the admin listener); call before it listens. */
export function applyHeaderTimeout(server: http.Server, timeoutMs: number): void {
  Object.assign(server, headerTimeoutOptions(timeoutMs));
}

/**
 * Node starts its deadline checks when a server emits `listening`. A server fed
 * its connections by another listener (behind the PROXY protocol reader) never
 * listens itself, and without this its connections would never time out.
 */
export function checkConnectionsWithoutListening(server: http.Server): void {
  if (!server.listening) server.emit("listening");
}
