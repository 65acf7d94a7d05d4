/**
 * Routes translated from another API (Gateway API HTTPRoutes; Ingresses) into the
 * WebSocketRoute model, so that compile() stays one path: one table, one conflict rule
 * (the older claim wins, across kinds), one set of route settings.
 */
import type { BackendRef, WebSocketRoute } from "../api/route.js";
import type { ListenerKind } from "./table.js";
import type { RuleFilters } from "./gateway-api/filters.js";
import type { MatchConditions } from "./matcher.js";

/** The object a translated route came from: where its diagnostics are written back. */
export interface RouteOrigin {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
}

/** A backendRef that may name a Service of another namespace (allowed by a ReferenceGrant). */
export type TranslatedBackendRef = BackendRef & { readonly namespace?: string };

/**
 * A WebSocketRoute built by a translator. Its `metadata.name` is `kind/name` in lower
 * case (`httproute/chat`): no Kubernetes name holds a slash, so it never collides with a
 * WebSocketRoute, and it is what metrics and logs show as the route.
 */
export type TranslatedRoute = WebSocketRoute & {
  readonly origin: RouteOrigin;
  /** Per rule (by index): the filters compile() puts on the compiled rule; absent when none. */
  readonly ruleFilters?: readonly (RuleFilters | undefined)[];
  /**
   * HTTPRoutes only, per rule (by index): the weight of backendRefs the translation left
   * out (another kind, no ReferenceGrant, no port; 1 for a rule without backendRefs).
   * Its presence gives the route Gateway API's rule: unresolved refs answer 500, not 503.
   */
  readonly ruleUnresolvedWeights?: readonly number[];
  /** HTTPRoutes attached to listeners of one protocol only: the wsgate listener that serves them. */
  readonly listeners?: readonly ListenerKind[];
  /**
   * Per rule, per match (by index): an HTTPRoute match's method, header and query conditions,
   * normalized (routing/matcher.ts); absent when no match has any.
   */
  readonly matchConditions?: readonly (readonly (MatchConditions | undefined)[])[];
  /**
   * HTTPRoutes only, per rule (by index): the spec (behaviour fields, defaulted) of a rule a
   * WebSocketPolicy targets by `sectionName`; undefined for rules that keep the route's spec.
   */
  readonly ruleSpecs?: readonly (WebSocketRoute["spec"] | undefined)[];
};

/** The conditions of match `j` of rule `i` (only translated routes have any). */
export function conditionsOf(route: WebSocketRoute, i: number, j: number): MatchConditions | undefined {
  return isTranslated(route) ? route.matchConditions?.[i]?.[j] : undefined;
}

export function isTranslated(route: object): route is TranslatedRoute {
  return "origin" in route;
}

/** The namespace of a backendRef's Service: its own, else the route's. */
export function backendNamespace(ref: BackendRef, routeNamespace: string): string {
  return (ref as TranslatedBackendRef).namespace ?? routeNamespace;
}
