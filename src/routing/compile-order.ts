/**
 * The order compile() judges routes in — oldest first, the precedence for conflicts — and
 * the hostname owners it implies, both kept while the routes keep their names, ages and
 * hostnames (a route edit does not sort 10,000 routes again).
 */
import type { WebSocketRoute } from "../api/route.js";
import { LastIndex, routeMemo, sameItems } from "./compile-memo.js";
import { HostnameOwnership, hostnameKeys } from "./hostname-ownership.js";
import { isInvalidRoute, type InvalidRoute } from "./store.js";
import { isTranslated } from "./translated.js";

export type AnyRoute = WebSocketRoute | InvalidRoute;

/** Older first (creationTimestamp, then namespace/name): the precedence for conflicts. */
function byAge(a: AnyRoute, b: AnyRoute): number {
  const ta = createdAt(a);
  const tb = createdAt(b);
  if (ta !== tb) return ta < tb ? -1 : 1;
  const ka = `${a.metadata.namespace}/${a.metadata.name}`;
  const kb = `${b.metadata.namespace}/${b.metadata.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/**
 * Creation time in ms. Compared as instants, not strings, so hand-written offsets and
 * fractions order correctly; a route without one (or with garbage) counts as oldest.
 */
function createdAt(route: AnyRoute): number {
  if (isTranslated(route)) return parseCreatedAt(route);
  if (!isInvalidRoute(route)) {
    const memo = routeMemo(route);
    return (memo.createdAt ??= parseCreatedAt(route));
  }
  let at = CREATED_AT.get(route);
  if (at === undefined) {
    at = parseCreatedAt(route);
    CREATED_AT.set(route, at);
  }
  return at;
}

function parseCreatedAt(route: AnyRoute): number {
  const parsed = Date.parse(route.metadata.creationTimestamp ?? "");
  return Number.isNaN(parsed) ? -Infinity : parsed;
}

/**
 * Creation times already parsed of invalid routes (valid stored ones keep theirs in their
 * memo). Sorting asks again on every compile, and parsing was a tenth of compile() at
 * 10,000 routes (bench C1); stored objects are immutable.
 */
const CREATED_AT = new WeakMap<AnyRoute, number>();

/**
 * Positions of routes oldest first; last time's when every position holds a route of the
 * same name and age (a route edit), so that a recompile does not sort 10,000 routes again.
 */
export const AGE_ORDER = new LastIndex<AnyRoute, readonly number[]>(
  (routes) => {
    // Each age once, not twice per comparison (n·log n WeakMap lookups at 10,000 routes).
    const ages = routes.map(createdAt);
    return routes
      .map((_, i) => i)
      .sort((a, b) => {
        const ta = ages[a] as number;
        const tb = ages[b] as number;
        if (ta !== tb) return ta < tb ? -1 : 1;
        return byAge(routes[a] as AnyRoute, routes[b] as AnyRoute) || a - b;
      });
  },
  (a, b) =>
    a.metadata.namespace === b.metadata.namespace &&
    a.metadata.name === b.metadata.name &&
    createdAt(a) === createdAt(b),
);

/** Hostname owners; last time's when every position holds a route of the same namespace, name and hostnames. */
export const OWNERSHIP = new LastIndex<WebSocketRoute, HostnameOwnership>(
  (routes) => new HostnameOwnership(routes),
  (a, b) =>
    a.metadata.namespace === b.metadata.namespace &&
    a.metadata.name === b.metadata.name &&
    sameItems(hostnameKeys(a), hostnameKeys(b)),
);
