/**
 * Tenants stay in their namespace: a hostname belongs to the namespace of the
 * oldest route that claims it (creationTimestamp, then namespace/name — the order
 * conflicts use), and a route in another namespace may not claim it. Otherwise a
 * route anywhere could take a more specific path on another team's hostname and
 * receive its users' requests, cookies included, behind its certificate.
 *
 * Rules, and why:
 * - Hostnames are compared exactly (lower-cased). `*.example.com` and
 *   `chat.example.com` are different hostnames with owners of their own, as in
 *   Gateway API: a wildcard owner does not own the names under it, and an exact
 *   hostname wins over the wildcard when matching.
 * - A route with no hostnames claims "any host", which is owned like a hostname.
 * - Every route of this gateway's class whose document parsed counts for
 *   ownership, also one refused for another reason: ownership then changes only
 *   when routes are created, deleted or change hostnames — never because an
 *   unrelated error came or went, which would flip traffic between namespaces.
 */
import type { WebSocketRoute } from "../api/route.js";
import { routeMemo } from "./compile-memo.js";
import { isTranslated } from "./translated.js";

/** The claim key of a route without hostnames. */
export const ANY_HOST = "";

export interface HostnameOwner {
  readonly namespace: string;
  /** `namespace/name` of the oldest route claiming the hostname. */
  readonly route: string;
}

export interface ForeignClaim {
  /** The hostname claim key (`""` for any host). */
  readonly hostname: string;
  readonly owner: HostnameOwner;
}

/** The hostname claim keys of a route, lower-cased; `[""]` for any host. */
export function hostnameKeys(route: WebSocketRoute): readonly string[] {
  // A stored route's are made once and kept in its memo (every compile asks twice per route,
  // and stored routes never change in place); translated routes are new every compile.
  if (isTranslated(route)) return keysOf(route);
  const memo = routeMemo(route);
  return (memo.hostnameKeys ??= keysOf(route));
}

function keysOf(route: WebSocketRoute): readonly string[] {
  return route.spec.hostnames.length > 0 ? route.spec.hostnames.map((h) => h.toLowerCase()) : [ANY_HOST];
}

/** A route as the owner of its hostnames (kept in a stored route's memo, as compile() uses it too). */
function ownerOf(route: WebSocketRoute): HostnameOwner {
  const { namespace, name } = route.metadata;
  if (isTranslated(route)) return { namespace, route: `${namespace}/${name}` };
  const memo = routeMemo(route);
  return (memo.owner ??= { namespace, route: memo.key });
}

/** A hostname claim key for messages. */
export function describeHostname(hostname: string): string {
  return hostname === ANY_HOST ? "any host (a route without hostnames)" : `hostname ${hostname}`;
}

/** Which namespace owns each hostname. */
export class HostnameOwnership {
  readonly #owners = new Map<string, HostnameOwner>();

  /** @param routesOldestFirst the routes that count for ownership, oldest first. */
  constructor(routesOldestFirst: readonly WebSocketRoute[]) {
    for (const route of routesOldestFirst) {
      for (const hostname of hostnameKeys(route)) {
        if (!this.#owners.has(hostname)) this.#owners.set(hostname, ownerOf(route));
      }
    }
  }

  ownerOf(hostname: string): HostnameOwner | undefined {
    return this.#owners.get(hostname.toLowerCase());
  }

  /** The first hostname of `route` that another namespace owns, if any. */
  foreignClaim(route: WebSocketRoute): ForeignClaim | undefined {
    for (const hostname of hostnameKeys(route)) {
      const owner = this.#owners.get(hostname);
      if (owner && owner.namespace !== route.metadata.namespace) return { hostname, owner };
    }
    return undefined;
  }
}
