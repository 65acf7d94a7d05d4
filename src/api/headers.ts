/**
 * Header names with a fixed meaning to a proxy, shared by the compiler (which
 * refuses routes that would set them from auth) and the data plane (which
 * drops or replaces them on the way upstream). Lower case.
 */

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1, RFC 9112 §6.1): they describe one connection and are
 * never forwarded as they came — on either path, plus whatever `Connection` lists.
 * `Proxy-Authorization` is the client's credential for this proxy, never the backend's;
 * `Transfer-Encoding` because the proxy re-frames a body itself; `Upgrade` and `Connection`
 * are written by the proxy on an upgrade.
 */
export const HOP_BY_HOP_HEADERS: readonly string[] = [
  "connection",
  "keep-alive",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
];

/**
 * Headers `Connection` may not nominate for removal: the proxy needs them to frame the
 * body it forwards (without `Content-Length` a GET body would reach the backend unframed)
 * and to name the host it routed.
 */
export const UNNOMINABLE_HEADERS: readonly string[] = ["content-length", "host"];

/** Forwarding headers: wsgate writes its own, replacing what an untrusted client sent. */
export const FORWARDING_HEADERS: readonly string[] = [
  "forwarded",
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-forwarded-host",
  "x-forwarded-port",
  "x-real-ip",
];
