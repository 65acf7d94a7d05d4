/**
 * How a request enters the gateway, on either path: what both handlers share, and
 * the first step of each — the canonical request, computed once, written back into
 * `req.url` so every later reader (a token in the query, http-proxy-3) sees only it,
 * and checked against the TLS server name.
 */
import type http from "node:http";
import type { RoutingTable } from "../routing/table.js";
import { misdirected } from "../tls/misdirected.js";
import type { AffinityKey } from "./affinity/token.js";
import type { Authenticator } from "./auth/authenticator.js";
import type { Balancer } from "./balancer.js";
import { canonicalize, type CanonicalRequest } from "./canonical.js";
import type { EndpointStates } from "./endpoint-state.js";
import type { ClientHeaderPolicy, ForwardingContext } from "./forwarded.js";
import type { Refusal } from "./gates.js";
import type { Limits } from "./limits.js";
import type { RequestTracer } from "./tracing.js";

/** Where the gateway reads the table in force (the table holder, in practice). */
export interface TableSource {
  readonly current: RoutingTable;
}

/** The scheme a listener serves. */
export type Proto = ForwardingContext["proto"];

/** What the upgrade and plain HTTP handlers both use; built once by the Gateway. */
export interface RequestServices {
  readonly tables: TableSource;
  readonly states: EndpointStates;
  readonly balancer: Balancer;
  readonly limits: Limits;
  readonly auth: Authenticator;
  /** `Retry-After` seconds when no endpoint is ready. */
  readonly retryAfter: string;
  /** `--underscores-in-headers`. */
  readonly underscores: boolean;
  /** Who the client is (trusted-proxy model) and what to tell the backend about it. */
  forwardingContext(req: http.IncomingMessage, proto: Proto): ForwardingContext;
  /** Traces (`--otlp-endpoint`); absent when tracing is off. */
  readonly tracer?: RequestTracer;
  /** Signs and reads session affinity cookies; without it, affinity routes pin nothing. */
  readonly affinityKey?: AffinityKey;
  /**
   * True once the gateway is stopping (SIGTERM): the listeners no longer accept, but a
   * kept-alive connection or an open HTTP/2 session can still bring a request.
   */
  shuttingDown?(): boolean;
}

/** The client headers a table lets through (see forwarded.ts). */
export function headerPolicy(table: RoutingTable, underscores: boolean): ClientHeaderPolicy {
  return { identityHeaders: table.identityHeaders, underscores };
}

export type Entry =
  | { readonly ok: true; readonly request: CanonicalRequest }
  | { readonly ok: false; readonly refusal: Refusal; readonly path: string };

/**
 * The canonical request for `req`, or the refusal (400 without a canonical form, 421 when
 * the Host is not the TLS server name). On success `req.url` holds the canonical target.
 */
export function enter(req: http.IncomingMessage): Entry {
  const canonical = canonicalize(req.url, req.rawHeaders);
  if (!canonical.ok) {
    const refusal: Refusal = {
      namespace: "",
      route: "",
      status: 400,
      reason: "bad_request",
      message: canonical.message,
    };
    return { ok: false, refusal, path: canonical.path };
  }
  const request = canonical.request;
  req.url = request.target;
  const wrongHost = misdirected(req.socket, request.hostname);
  if (wrongHost !== undefined) {
    return {
      ok: false,
      refusal: { namespace: "", route: "", status: 421, reason: "misdirected", message: wrongHost },
      path: request.path,
    };
  }
  return { ok: true, request };
}
