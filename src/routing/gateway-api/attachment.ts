/**
 * How an HTTPRoute attaches to a parent Gateway of wsgate's: which listeners take it
 * (sectionName, port, allowedRoutes kinds and namespaces, hostnames), and which of
 * wsgate's listeners then serve it.
 */
import {
  selectorMatches,
  type HTTPRoute,
  type Listener,
  type Namespace,
  type ParentRef,
} from "../../api/gateway-api.js";
import type { ListenerKind } from "../table.js";
import { cond, GatewayReason as R, type GatewayCondition } from "./conditions.js";
import { listenerHostnames } from "./hostnames.js";
import { admitsHTTPRoutes, type GatewayState, type ListenerState } from "./listeners.js";

/** A parent's `namespace/name` (its namespace defaults to the route's). */
export function parentKey(ref: ParentRef, routeNamespace: string): string {
  return `${ref.namespace ?? routeNamespace}/${ref.name}`;
}

function namespaceAllowed(
  listener: Listener,
  gatewayNamespace: string,
  routeNamespace: string,
  namespaces: ReadonlyMap<string, Namespace>,
): boolean {
  const from = listener.allowedRoutes.namespaces;
  if (from.from === "All") return true;
  if (from.from === "Same") return routeNamespace === gatewayNamespace;
  const labels = namespaces.get(routeNamespace)?.metadata.labels;
  return (
    labels !== undefined &&
    selectorMatches(from.selector ?? { matchLabels: {}, matchExpressions: [] }, labels)
  );
}

/** How an HTTPRoute attached to one parent Gateway. */
export interface Attachment {
  readonly accepted: GatewayCondition;
  /** The listeners the route attached to: each counts it in `attachedRoutes`. */
  readonly listeners: ListenerState[];
  /**
   * Hostnames served through this parent, one list per attached listener that can serve
   * (not one whose certificate is missing); `[]` = any host.
   */
  readonly hostnames: string[][];
  /** wsgate's listeners that serve those (HTTP → http, HTTPS → https). */
  readonly servedOn: ListenerKind[];
}

/** Not attached: Accepted=False with `reason`, no listener counts the route. */
function refused(reason: string, message: string): Attachment {
  return { accepted: cond("Accepted", "False", reason, message), listeners: [], hostnames: [], servedOn: [] };
}

/**
 * Attaches `route` to parent `ref` (Gateway `state`): the listeners it names (sectionName,
 * port), those whose allowedRoutes admit its kind and namespace, and of those the ones
 * whose hostname intersects the route's. Accepted=False says which step refused it.
 */
export function attach(
  route: HTTPRoute,
  ref: ParentRef,
  state: GatewayState,
  namespaces: ReadonlyMap<string, Namespace>,
): Attachment {
  const candidates = state.listeners.filter(
    (l) =>
      (ref.sectionName === undefined || l.listener.name === ref.sectionName) &&
      (ref.port === undefined || l.listener.port === ref.port),
  );
  if (candidates.length === 0) {
    const what = [ref.sectionName && `sectionName ${ref.sectionName}`, ref.port && `port ${ref.port}`]
      .filter(Boolean)
      .join(" and ");
    return refused(
      R.NoMatchingParent,
      `Gateway ${parentKey(ref, route.metadata.namespace)} has no listener with ${what}`,
    );
  }
  const allowed = candidates.filter(
    (l) =>
      l.attachable &&
      admitsHTTPRoutes(l.listener) &&
      namespaceAllowed(l.listener, state.gateway.metadata.namespace, route.metadata.namespace, namespaces),
  );
  if (allowed.length === 0) {
    return refused(
      R.NotAllowedByListeners,
      `no listener of Gateway ${parentKey(ref, route.metadata.namespace)} allows this route (allowedRoutes, or the listener is not accepted)`,
    );
  }
  const listeners: ListenerState[] = [];
  const hostnames: string[][] = [];
  const servedOn: ListenerKind[] = [];
  for (const l of allowed) {
    const names = listenerHostnames(l.listener.hostname, route.spec.hostnames);
    if (names === undefined) continue;
    listeners.push(l);
    if (!l.usable) continue;
    hostnames.push(names);
    servedOn.push(l.listener.protocol === "HTTPS" ? "https" : "http");
  }
  if (listeners.length === 0) {
    return refused(R.NoMatchingListenerHostname, "no hostname of the route matches a listener hostname");
  }
  return {
    accepted: cond("Accepted", "True", R.Accepted, "Route accepted"),
    listeners,
    hostnames,
    servedOn,
  };
}
