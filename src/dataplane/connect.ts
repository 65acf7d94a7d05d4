/**
 * Connect with retry: one step of an upgrade. Endpoints are tried, one attempt each,
 * until one answers; only failures before the backend said anything move on to the next
 * endpoint, within the route's connect and handshake budgets. Each attempt is counted
 * against its endpoint (least connections) in the handshake's lease; a failed attempt
 * gives its count back before the next one is tried.
 */
import type http from "node:http";
import type { BackendTls, RouteMatch } from "../routing/table.js";
import type { Balancer, StickyChoice } from "./balancer.js";
import type { EndpointStates } from "./endpoint-state.js";
import type { Refusal } from "./gates.js";
import type { Lease } from "./lease.js";
import { isBackendTlsFailure } from "./backend-tls.js";
import { attemptHandshake, type AttemptOutcome } from "./upstream.js";
import { fallsOnUnresolved, UNRESOLVED_BACKEND } from "./unresolved-backends.js";

/** The backend accepted: the socket and what came with its 101. */
export interface Connected {
  readonly ok: true;
  readonly endpoint: { readonly id: string; readonly backend: string };
  readonly upgraded: Extract<AttemptOutcome, { kind: "upgraded" }>;
}

/** Why no relay could start; the caller answers it. */
export type NotConnected =
  | { readonly ok: false; readonly kind: "refused"; readonly refusal: Refusal }
  /** The backend answered something other than 101: its word stands and is passed on. */
  | { readonly ok: false; readonly kind: "answered"; readonly response: http.IncomingMessage }
  /** The client left while the backend was tried: nobody is left to answer. */
  | { readonly ok: false; readonly kind: "client_gone" };

export interface ConnectRequest {
  readonly match: RouteMatch;
  /** The request target sent upstream (the canonical one). */
  readonly target: string;
  /** The request headers sent upstream, flat `[name, value, …]`. */
  readonly headers: readonly string[];
  /** When the handshake started (ms since epoch): the handshake budget counts from here. */
  readonly startedAt: number;
  readonly lease: Lease;
  /** The handshake's client: `clientGone` is true once it left. Read, not called: no closure per handshake. */
  readonly client: { readonly clientGone: boolean };
  /** Told of each endpoint tried, in order (tracing: more than one means retries). */
  readonly onAttempt?: ((endpointId: string) => void) | undefined;
  /** The session's pin (session affinity), asked before the route's policy on every attempt. */
  readonly sticky?: StickyChoice | undefined;
}

export interface ConnectServices {
  readonly states: EndpointStates;
  readonly balancer: Balancer;
  /** `Retry-After` seconds when no endpoint is ready. */
  readonly retryAfter: string;
}

/** Tries endpoints until one answers. */
export async function connectWithRetry(
  services: ConnectServices,
  request: ConnectRequest,
): Promise<Connected | NotConnected> {
  const { states, balancer } = services;
  const { route, rule } = request.match;
  const timeouts = route.settings.timeouts;
  // 0s means "no limit" for every timeout of the route. The connect budget starts after auth.
  const connectDeadline = timeouts.connectMs > 0 ? Date.now() + timeouts.connectMs : Infinity;
  const handshakeDeadline = timeouts.handshakeMs > 0 ? request.startedAt + timeouts.handshakeMs : Infinity;
  // Created on the first retry: nearly every handshake needs one attempt (bench W5).
  let tried: Set<string> | undefined;
  let lastFailure: AttemptOutcome | undefined;
  if (fallsOnUnresolved(rule)) {
    return refuse(route, UNRESOLVED_BACKEND.status, UNRESOLVED_BACKEND.reason, UNRESOLVED_BACKEND.message);
  }

  for (;;) {
    const endpoint = balancer.pick(rule, route.settings.policy, tried ?? NONE_TRIED, request.sticky);
    if (!endpoint) {
      if (tried === undefined) {
        return refuse(route, 503, "no_ready_endpoint", "no ready endpoint for this route", {
          "Retry-After": services.retryAfter,
        });
      }
      if (lastFailure?.kind === "unreachable" && lastFailure.timedOut) {
        return refuse(route, 504, "backend_timeout", "backend did not accept the connection in time");
      }
      if (
        lastFailure?.kind === "unreachable" &&
        (lastFailure.tlsFailed === true || isBackendTlsFailure(lastFailure.error))
      ) {
        return refuse(route, 502, "backend_tls", `backend TLS failed: ${lastFailure.error.message}`);
      }
      return refuse(route, 502, "backend_refused", "no backend accepted the connection");
    }
    const now = Date.now();
    if (now >= connectDeadline || now >= handshakeDeadline) {
      return refuse(route, 504, "backend_timeout", "backend did not accept the connection in time");
    }
    request.onAttempt?.(endpoint.id);
    states.acquire(endpoint.id);
    const releaseEndpoint = request.lease.hold(() => states.release(endpoint.id));
    const outcome = await attemptHandshake({
      endpoint,
      tls: backendTls(rule, endpoint.backend),
      path: request.target,
      headers: request.headers,
      connectTimeoutMs: Math.min(connectDeadline, handshakeDeadline) - now,
      handshakeDeadline,
    });

    if (request.client.clientGone) {
      if (outcome.kind === "upgraded") outcome.socket.destroy();
      if (outcome.kind === "answered") outcome.response.destroy();
      return { ok: false, kind: "client_gone" };
    }

    switch (outcome.kind) {
      case "upgraded":
        states.recordSuccess(endpoint.id);
        return { ok: true, endpoint, upgraded: outcome };
      case "answered":
        releaseEndpoint();
        states.recordSuccess(endpoint.id);
        return { ok: false, kind: "answered", response: outcome.response };
      case "unreachable":
        releaseEndpoint();
        states.recordFailure(endpoint.id, outcome.error.message);
        lastFailure = outcome;
        (tried ??= new Set()).add(endpoint.id);
        continue;
      case "timeout":
        return refuse(route, 504, "handshake_timeout", "backend did not complete the handshake in time");
    }
  }
}

const NONE_TRIED: ReadonlySet<string> = new Set();

/** A refusal of `route`: a function rather than a closure per handshake (bench W5). */
function refuse(
  route: RouteMatch["route"],
  status: number,
  reason: Refusal["reason"],
  message: string,
  headers?: Record<string, string>,
): NotConnected {
  return {
    ok: false,
    kind: "refused",
    refusal: {
      namespace: route.namespace,
      route: route.name,
      status,
      reason,
      message,
      ...(headers ? { headers } : {}),
    },
  };
}

/** The TLS settings of the rule's backend `key`. At most 16 backends per rule: a scan is cheaper than an index kept per table. */
function backendTls(rule: RouteMatch["rule"], key: string): BackendTls | undefined {
  const backends = rule.backends;
  for (let i = 0; i < backends.length; i++) {
    const backend = backends[i] as (typeof backends)[number];
    if (backend.key === key) return backend.tls;
  }
  return undefined;
}
