/**
 * TLS lifecycle events on `diagnostics_channel`, published by the HTTPS listener
 * and turned into log lines by observability/ — the handshake path never logs.
 */
import diagnostics_channel from "node:diagnostics_channel";

/**
 * A handshake failed because no certificate could be chosen: no route certificate
 * matches the SNI name (or there was none) and no default certificate is served.
 * Published at most once per routing table generation, so a scanner cannot flood the log.
 */
export interface TlsNoCertificate {
  /** The SNI name the client sent; absent when it sent none. */
  readonly servername?: string;
  /** The routing table generation in force. */
  readonly generation: number;
  /** True when the table holds no certificate at all (no route certificate, no default). */
  readonly noneAtAll: boolean;
}

/** A certificate passed compile()'s checks but OpenSSL refused to build a context from it. */
export interface TlsContextFailed {
  /** `namespace/name` of the Secret. */
  readonly secret: string;
  readonly error: string;
}

/** A client's TLS handshake failed (any cause: protocol version, no certificate, garbage). */
export interface TlsHandshakeFailed {
  readonly client: string;
  readonly servername?: string;
  /** OpenSSL's error code, e.g. `ERR_SSL_UNSUPPORTED_PROTOCOL`. */
  readonly code: string;
}

export const tlsChannels = {
  noCertificate: diagnostics_channel.channel("wsgate:tls:no-certificate"),
  contextFailed: diagnostics_channel.channel("wsgate:tls:context-failed"),
  handshakeFailed: diagnostics_channel.channel("wsgate:tls:handshake-failed"),
} as const;
