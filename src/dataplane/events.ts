/**
 * Data-plane lifecycle events on `diagnostics_channel`. The data plane only
 * publishes; observability/ subscribes and turns them into log lines and metrics,
 * so the hot path never calls a logger or a metrics registry.
 */
import diagnostics_channel from "node:diagnostics_channel";

/** Where a connection belongs, the labels of every per-connection event. */
export interface ConnectionLabels {
  readonly namespace: string;
  readonly route: string;
  /** `namespace/service:port`. */
  readonly backend: string;
  /** Endpoint identity, `namespace/service:port@ip:port`. */
  readonly endpoint: string;
  /** Client address as seen by the gateway. */
  readonly client: string;
  /**
   * The client's handshake: "1.1" (an Upgrade) or "2" (RFC 8441 extended CONNECT on an
   * HTTP/2 stream). Absent means "1.1".
   */
  readonly httpVersion?: HttpVersion;
}

/** The HTTP version a WebSocket reached the gateway with: the `http_version` label. */
export type HttpVersion = "1.1" | "2";

export interface ConnectionOpened extends ConnectionLabels {
  /** Request headers to 101 written to the client. */
  readonly handshakeMs: number;
}

export type CloseInitiator = "client" | "backend" | "proxy";

export interface ConnectionClosed extends ConnectionLabels {
  readonly durationMs: number;
  /** Bytes received from the client and relayed to the backend. */
  readonly bytesFromClient: number;
  /** Bytes received from the backend and relayed to the client. */
  readonly bytesToClient: number;
  /** Complete WebSocket messages (data frames with FIN) from the client. */
  readonly messagesFromClient: number;
  readonly messagesToClient: number;
  /** The first Close frame's code (from either peer or the proxy); 1006 when none was sent. */
  readonly code: number;
  /** Who sent the first Close frame, or, without one, who ended TCP first. */
  readonly initiator: CloseInitiator;
  readonly error?: string;
}

/** Why a handshake was refused; the `reason` label of `wsgate_handshake_rejections_total`. */
export type RejectionReason =
  | "malformed"
  | "unsupported_version"
  | "no_route"
  /**
   * 503 + Retry-After: the gateway has no routing table yet (it is starting; in cluster mode,
   * the informers' initial sync is not complete), so no route can be matched or refused.
   */
  | "starting"
  | "misdirected"
  | "origin"
  /** 403: the client address is in the route's `sourceRanges.deny`, or outside a non-empty `allow`. */
  | "source_denied"
  | "client_rate"
  | "client_connections"
  | "route_connections"
  | "no_ready_endpoint"
  /** 500: the request's share of an HTTPRoute rule falls on a backendRef that cannot be resolved (Gateway API). */
  | "backend_unresolved"
  | "backend_refused"
  /** 502: the backend's certificate failed verification (CA, hostname/subjectAltNames, expiry) or its TLS handshake failed. */
  | "backend_tls"
  | "backend_error"
  | "backend_timeout"
  | "handshake_timeout"
  | "backend_rejected"
  /** 401: no token, or an invalid one (or the forward-auth service's 401). */
  | "unauthorized"
  /** 403: a valid token whose issuer, audience or claims are refused (or the forward-auth service's 403). */
  | "forbidden"
  /** The forward-auth service's other non-2xx answer (e.g. a redirect to a login page), passed on. */
  | "auth_denied"
  /** 503: auth cannot be enforced — unresolved key Secret, key set or auth service unreachable, timeout. */
  | "auth_unavailable"
  /**
   * 503 + Retry-After: a handshake that arrived while the gateway was stopping (on a
   * kept-alive connection or an open HTTP/2 session, after SIGTERM closed the listeners).
   */
  | "shutting_down"
  /**
   * 400 (501 for a transfer coding other than chunked): a request with no canonical form —
   * an invalid or second Host, userinfo, an absolute-form target for another host, `#`,
   * `%2F` (unless the route allows it), `%5C`, `%00`, a backslash, a malformed escape — or
   * an upgrade carrying a body.
   */
  | "bad_request"
  /** 500 (or a closed socket once bytes were written): a bug while serving the request; its counts were released. */
  | "internal_error";

/** A request wsgate answered itself instead of passing it on (an upgrade, or plain HTTP). */
export interface HandshakeRejected {
  readonly namespace: string;
  readonly route: string;
  readonly status: number;
  readonly reason: RejectionReason;
  readonly client: string;
  /** The canonical request path without the query string (query strings may carry tokens). */
  readonly path: string;
  readonly detail?: string;
  /** "2" when the request came over HTTP/2 (an extended CONNECT, or a plain request); absent: "1.1". */
  readonly httpVersion?: HttpVersion;
}

export interface EndpointEjected {
  readonly endpoint: string;
  readonly failures: number;
  readonly ejectedForMs: number;
  readonly error: string;
}

/** Active health checks changed their verdict on an endpoint (after the thresholds). */
export interface EndpointHealthChanged {
  readonly endpoint: string;
  /** `namespace/service:port`. */
  readonly backend: string;
  readonly healthy: boolean;
  readonly check: "HTTP" | "TCP" | "WebSocket";
  /** Consecutive probe results that led to the verdict. */
  readonly consecutive: number;
  /** The last probe's failure, when the endpoint became unhealthy. */
  readonly detail?: string;
}

export const channels = {
  connectionOpened: diagnostics_channel.channel("wsgate:connection:opened"),
  connectionClosed: diagnostics_channel.channel("wsgate:connection:closed"),
  handshakeRejected: diagnostics_channel.channel("wsgate:handshake:rejected"),
  /** Plain HTTP requests refused by wsgate itself (same shape as {@link HandshakeRejected}). */
  requestRejected: diagnostics_channel.channel("wsgate:request:rejected"),
  endpointEjected: diagnostics_channel.channel("wsgate:endpoint:ejected"),
  endpointHealth: diagnostics_channel.channel("wsgate:endpoint:health"),
} as const;

/** Publishes a refused upgrade, or a refused plain HTTP request, on its channel. */
export function publishRejection(upgrade: boolean, event: HandshakeRejected): void {
  const channel = upgrade ? channels.handshakeRejected : channels.requestRejected;
  if (channel.hasSubscribers) channel.publish(event);
}
