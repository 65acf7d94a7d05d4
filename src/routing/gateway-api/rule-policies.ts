/**
 * HTTPRoute rules with a WebSocketPolicy of their own (targetRef `sectionName`, see
 * policies.ts): each such rule's merged behaviour becomes a spec of its own, validated and
 * defaulted by the WebSocketRoute schema exactly as a route's merged behaviour is, and
 * checked for what that schema cannot express. compile() turns it into the rule's settings
 * (routing/rule-settings.ts).
 */
import type { HTTPRoute } from "../../api/gateway-api.js";
import { formatIssues } from "../../api/parse.js";
import { routeSpecSchema, type RouteSpec, type WebSocketRoute } from "../../api/route.js";
import { semanticProblems } from "../route-settings.js";
import type { MergedBehaviour } from "./policies.js";

/** Behaviour alone does not make a spec: a placeholder rule, replaced by the route's own. */
const PLACEHOLDER_RULES = [{ backendRefs: [{ name: "placeholder", port: 1 }] }];

/** A route around a rule's spec, for {@link semanticProblems}. */
function routeAround(spec: RouteSpec): WebSocketRoute {
  return {
    apiVersion: "wsgate.io/v1alpha1",
    kind: "WebSocketRoute",
    metadata: { namespace: "placeholder", name: "placeholder", labels: {}, annotations: {} },
    spec,
  };
}

/**
 * Per rule of `route`: the spec of a rule with a WebSocketPolicy of its own (undefined for
 * the others, which keep the route's); `problem` when one cannot be served — then the
 * route is not either, as when its own merged policies fail.
 */
export function ruleSpecsOf(
  route: HTTPRoute,
  merged: readonly (MergedBehaviour | undefined)[],
): { specs: (RouteSpec | undefined)[]; problem?: string } {
  const problems: string[] = [];
  const specs = merged.map((m, i) => {
    if (!m) return undefined;
    const parsed = routeSpecSchema.safeParse({ ...m.behaviour, rules: PLACEHOLDER_RULES });
    const issues = parsed.success
      ? semanticProblems(routeAround(parsed.data))
      : formatIssues(parsed.error.issues);
    if (issues.length > 0) {
      problems.push(
        `WebSocketPolicy ${m.from.join(", ")} merged for rule ${route.spec.rules[i]?.name}: ${issues.join("; ")}`,
      );
      return undefined;
    }
    return parsed.data;
  });
  return { specs, ...(problems.length > 0 ? { problem: problems.join("; ") } : {}) };
}
