/** The session pin of a request on a route with `sessionAffinity`, from what the request carries. */
import type http from "node:http";
import type { Route } from "../../routing/table.js";
import type { CanonicalRequest } from "../canonical.js";
import type { ForwardingContext } from "../forwarded.js";
import { SessionPin } from "./session.js";
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
  return new SessionPin(affinity, key, {
    cookie: headers.cookie,
    header(name) {
      const value = headers[name];
      return Array.isArray(value) ? value[0] : value;
    },
    query: request.query,
    // The trusted-proxy model's client, never the socket peer when a proxy is trusted.
    clientAddress: context.clientAddress,
    overTls: context.proto === "https",
  });
}
