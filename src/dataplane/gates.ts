/**
 * The checks an upgrade passes before any backend is contacted, in order:
 * a well-formed handshake, a route, an allowed Origin, the client's rate and
 * connection limits, the route's connection limit. Each refusal is an HTTP status.
 */
import type http from "node:http";
import type { RouteMatch, RoutingTable } from "../routing/table.js";
import type { RejectionReason } from "./events.js";
import { checkHandshake } from "./handshake.js";
import type { Limits } from "./limits.js";
import { checkOrigin } from "./origin.js";

export interface Refusal {
  readonly namespace: string;
  readonly route: string;
  readonly status: number;
  readonly reason: RejectionReason;
  readonly message: string;
  readonly headers?: Record<string, string>;
}

export type Admission = { ok: true; match: RouteMatch; release: () => void } | ({ ok: false } & Refusal);

export function admitUpgrade(
  req: http.IncomingMessage,
  path: string,
  client: string,
  table: RoutingTable,
  limits: Limits,
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
  const match = table.match(req.headers.host ?? "", path);
  if (!match)
    return {
      ok: false,
      namespace: "",
      route: "",
      status: 404,
      reason: "no_route",
      message: `no route for ${req.headers.host ?? ""}${path}`,
    };
  const { namespace, name } = match.route;
  const settings = match.route.settings;
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
  return { ok: true, match, release: limit.release };
}
