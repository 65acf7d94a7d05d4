/** The session pin of a request on a route with `sessionAffinity`, from what the request carries. */
import type http from "node:http";
import type { Route } from "../../routing/table.js";
import type { CanonicalRequest } from "../canonical.js";
import type { ForwardingContext } from "../forwarded.js";
import { isOverBound } from "../rebalance/plan.js";
import { SessionPin, type OverloadedCheck } from "./session.js";
import type { AffinityKey } from "./token.js";

/** Undefined when the route has no affinity (or no key is configured). */
export function sessionPinFor(
  route: Route,
  key: AffinityKey | undefined,
  req: http.IncomingMessage,
  request: CanonicalRequest,
  context: ForwardingContext,
): SessionPin | undefined {
  const affinity = route.settings.affinity;
  if (!affinity || !key) return undefined;
  const headers = req.headers;
  return new SessionPin(
    affinity,
    key,
    {
      cookie: headers.cookie,
      header(name) {
        const value = headers[name];
        return Array.isArray(value) ? value[0] : value;
      },
      query: request.query,
      // The trusted-proxy model's client, never the socket peer when a proxy is trusted.
      clientAddress: context.clientAddress,
      overTls: context.proto === "https",
    },
    overloadedCheck(route),
  );
}

/**
 * A Cookie route with `rebalance` (compiled only with `breakAffinity`): its cookies are not
 * followed to an endpoint over the rebalance bound, or moved clients would come right back.
 */
function overloadedCheck(route: Route): OverloadedCheck | undefined {
  const rebalance = route.settings.rebalance;
  if (!rebalance || route.settings.affinity?.type !== "Cookie") return undefined;
  return (endpoint, candidates, active) =>
    isOverBound(endpoint, candidates, active, rebalance.maxSkewPercent);
}
