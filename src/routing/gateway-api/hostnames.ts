/**
 * Gateway API hostname intersection: which names a route serves through a listener.
 * A listener without a hostname accepts every route hostname; a route without hostnames
 * takes the listener's. Wildcards (`*.example.com`) match one or more labels; of a
 * wildcard and a name it covers, the more specific one is the intersection.
 */

/** True when a `*.suffix` wildcard covers `name` (a name or a narrower wildcard). */
function covers(wildcard: string, name: string): boolean {
  if (!wildcard.startsWith("*.")) return false;
  const suffix = wildcard.slice(1); // ".example.com"
  const rest = name.startsWith("*.") ? name.slice(1) : name;
  return rest.endsWith(suffix) && rest.length > suffix.length;
}

/** The intersection of one listener hostname and one route hostname, if any. */
export function intersectHostname(listener: string, route: string): string | undefined {
  if (listener === route) return route;
  if (covers(listener, route)) return route;
  if (covers(route, listener)) return listener;
  return undefined;
}

/**
 * The hostnames a route serves through a listener: `[]` means any host (neither sets
 * one), `undefined` means none intersect (the route does not attach to that listener).
 */
export function listenerHostnames(
  listenerHostname: string | undefined,
  routeHostnames: readonly string[],
): string[] | undefined {
  if (listenerHostname === undefined || listenerHostname === "") return [...routeHostnames];
  if (routeHostnames.length === 0) return [listenerHostname];
  const names = routeHostnames
    .map((h) => intersectHostname(listenerHostname, h))
    .filter((h): h is string => h !== undefined);
  return names.length > 0 ? [...new Set(names)] : undefined;
}
