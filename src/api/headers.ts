/**
 * Header names with a fixed meaning to a proxy, shared by the compiler (which
 * refuses routes that would set them from auth) and the data plane (which
 * drops or replaces them on the way upstream). Lower case.
 */

/** Hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection, never forwarded as is. */
export const HOP_BY_HOP_HEADERS: readonly string[] = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
];

/** Forwarding headers: wsgate writes its own, replacing what an untrusted client sent. */
export const FORWARDING_HEADERS: readonly string[] = [
  "forwarded",
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-forwarded-host",
  "x-forwarded-port",
  "x-real-ip",
];
