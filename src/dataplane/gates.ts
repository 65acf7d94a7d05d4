/**
 * The checks a request passes before any backend is contacted. An upgrade, in order:
 * a well-formed handshake, a route, a path the route accepts, a client address inside
 * the route's source ranges, an allowed Origin, the client's rate and connection limits,
 * the route's connection limit. A plain request: a route, a path it accepts and the
 * source ranges (its rate limit applies on routes with auth, see http-forwarder.ts).
 * Each refusal is an HTTP status.
 */
import type http from "node:http";
import type { MatchRequest } from "../routing/matcher.js";
import type { ListenerKind, RouteMatch, RoutingTable } from "../routing/table.js";
import type { CanonicalRequest } from "./canonical.js";
import type { RejectionReason } from "./events.js";
import { checkHandshake } from "./handshake.js";
import type { Lease } from "./lease.js";
import type { Limits } from "./limits.js";
import { checkOrigin } from "./origin.js";
import { sourceRefusal } from "./source-ranges.js";

export interface Refusal {
  readonly namespace: string;
  readonly route: string;
  readonly status: number;
  readonly reason: RejectionReason;
  readonly message: string;
  readonly headers?: Record<string, string>;
}

export type Admission = { ok: true; match: RouteMatch } | ({ ok: false } & Refusal);

/**
 * What HTTPRoute method, header and query conditions are judged on: the method and the
 * headers as the client sent them, the canonical request's query (read lazily, see
 * routing/matcher.ts).
 */
export function matchRequestOf(req: http.IncomingMessage, request: CanonicalRequest): MatchRequest {
  return { method: req.method, rawHeaders: req.rawHeaders, query: request.query };
}

/**
 * The refusal of every request before the first routing table is published. `Retry-After`
 * is short: the table comes with the initial sync, in seconds, not when a pod gets ready.
 */
const NO_TABLE_YET: Refusal = Object.freeze({
  namespace: "",
  route: "",
  status: 503,
  reason: "starting",
  message: "the gateway is starting: no routing table yet; retry",
  headers: Object.freeze({ "Retry-After": "1" }),
});

/**
 * The route for a canonical request, if it accepts the request's path and is served on the
 * `listener` the request came in on (an HTTPRoute attached only to HTTPS listeners is not
 * served on the http listener, and the other way round).
 */
export function matchRoute(
  request: CanonicalRequest,
  table: RoutingTable,
  conditions?: MatchRequest,
  listener?: ListenerKind,
): Admission {
  // Before the first table (cluster mode: until the informers' initial sync) there is no
  // verdict on any route yet: a 404 would tell clients and monitors the route is gone.
  if (table.generation === 0) return { ok: false, ...NO_TABLE_YET };
  const found = table.match(request.hostname, request.path, conditions);
  const match = found && listener && found.route.listeners?.includes(listener) === false ? undefined : found;
  if (!match) {
    return {
      ok: false,
      namespace: "",
      route: "",
      status: 404,
      reason: "no_route",
      message: `no route for ${request.hostname}${request.path}`,
    };
  }
  // An encoded slash is matched as a byte of its segment; a backend that decodes it into
  // a separator would serve another path than the one matched, so only opted-in routes get it.
  if (request.encodedSlash && !match.route.settings.allowEncodedSlashes) {
    const { namespace, name } = match.route;
    return {
      ok: false,
      namespace,
      route: name,
      status: 400,
      reason: "bad_request",
      message: "encoded slash (%2F) in the path",
    };
  }
  return { ok: true, match };
}

/**
 * The refusal of a handshake that arrives while the gateway is stopping (on a kept-alive
 * connection or an open HTTP/2 session: the listeners no longer accept). A WebSocket
 * started now would only be cut by the shutdown drain; 503 with `Retry-After` sends the
 * client to a replica that stays, and the answer closes the connection.
 */
export function shutdownRefusal(retryAfter: string): Refusal {
  return {
    namespace: "",
    route: "",
    status: 503,
    reason: "shutting_down",
    message: "the gateway is shutting down; retry",
    headers: { "Retry-After": retryAfter },
  };
}

/**
 * The route's `sourceRanges` verdict on the client, for upgrades and plain HTTP alike:
 * `undefined` when the client may use the route.
 */
export function checkSource(match: RouteMatch, client: string): Refusal | undefined {
  const ranges = match.route.settings.sourceRanges;
  const message = ranges && sourceRefusal(ranges, client);
  if (message === undefined) return undefined;
  const { namespace, name } = match.route;
  return { namespace, route: name, status: 403, reason: "source_denied", message };
}

/**
 * Admits an upgrade. The route and client connection slots it takes are held by `lease`,
 * whose owner gives them back however the request ends.
 */
export function admitUpgrade(
  req: http.IncomingMessage,
  request: CanonicalRequest,
  client: string,
  table: RoutingTable,
  limits: Limits,
  lease: Lease,
  listener?: ListenerKind,
): Admission {
  const check = checkHandshake(req);
  if (!check.ok) {
    return {
      ok: false,
      namespace: "",
      route: "",
      status: check.status,
      reason: check.reason,
      message: check.message,
      ...(check.headers ? { headers: check.headers } : {}),
    };
  }
  const matched = matchRoute(request, table, matchRequestOf(req, request), listener);
  if (!matched.ok) return matched;
  const { match } = matched;
  const { namespace, name } = match.route;
  const settings = match.route.settings;
  const source = checkSource(match, client);
  if (source) return { ok: false, ...source };
  if (settings.origins) {
    const origin = checkOrigin(settings.origins, req.headers.origin);
    if (!origin.ok)
      return { ok: false, namespace, route: name, status: 403, reason: "origin", message: origin.message };
  }
  const limit = limits.admit(match.route.key, client, settings.limits);
  if (!limit.ok) {
    return {
      ok: false,
      namespace,
      route: name,
      status: limit.status,
      reason: limit.reason,
      message: limit.message,
      ...(limit.retryAfterSeconds ? { headers: { "Retry-After": String(limit.retryAfterSeconds) } } : {}),
    };
  }
  lease.hold(limit.release);
  return { ok: true, match };
}
