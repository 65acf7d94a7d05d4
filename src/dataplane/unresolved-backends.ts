/**
 * Gateway API's rule for backendRefs that cannot be served (a missing Service, another
 * kind, a foreign Service without ReferenceGrant, a rule without backendRefs): the
 * requests that would have gone to them get 500, in proportion to their weight, and the
 * rest of the rule keeps working. 503 + Retry-After stays the answer when resolved
 * backends exist but no endpoint is ready: that one passes, a broken ref does not.
 */
import type { Rule } from "../routing/table.js";

/** What a request falling on an unresolved backendRef is told (no Retry-After: retrying will not help). */
export const UNRESOLVED_BACKEND = Object.freeze({
  status: 500,
  reason: "backend_unresolved",
  message: "the route's backendRef cannot be resolved; see the HTTPRoute's ResolvedRefs condition",
} as const);

/**
 * True when this request's share falls on the rule's unresolved backendRefs: always when
 * the rule has no resolved backend, else with probability unresolved / (unresolved + resolved) weight.
 */
export function fallsOnUnresolved(rule: Rule, random: () => number = Math.random): boolean {
  const unresolved = rule.unresolvedWeight ?? 0;
  if (unresolved <= 0) return false;
  let resolved = 0;
  for (const b of rule.backends) resolved += b.weight;
  if (resolved <= 0) return true;
  return random() * (unresolved + resolved) < unresolved;
}
