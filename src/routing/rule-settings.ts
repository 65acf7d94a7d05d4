/**
 * Settings of one HTTPRoute rule: a WebSocketPolicy that targets a rule (`sectionName`)
 * gives that rule a spec of its own (gateway-api/translate.ts), compiled here exactly as
 * a route's spec is — so the data plane sees a rule with {@link Rule.settings} and needs
 * nothing new. Pure, like compile(), of which it is a part.
 */
import type { Secret } from "../api/objects.js";
import type { WebSocketRoute } from "../api/route.js";
import { resolveAuth, type AuthRefProblem } from "./auth.js";
import { routeSettings } from "./route-settings.js";
import type { Rule } from "./table.js";
import { isTranslated } from "./translated.js";

/** The route's compiled rules, each rule with a spec of its own carrying its settings. */
export interface RulesWithSettings {
  readonly rules: readonly Rule[];
  /** Auth references of rule specs that do not resolve (that rule's requests get 503, fail closed). */
  readonly problems: readonly AuthRefProblem[];
}

const NO_PROBLEMS: readonly AuthRefProblem[] = Object.freeze([]);

/** Adds {@link Rule.settings} to the rules of `route` that have a spec of their own. */
export function withRuleSettings(
  route: WebSocketRoute,
  rules: readonly Rule[],
  secrets: ReadonlyMap<string, Secret>,
): RulesWithSettings {
  const specs = isTranslated(route) ? route.ruleSpecs : undefined;
  if (!specs?.some(Boolean)) return { rules, problems: NO_PROBLEMS };
  const problems: AuthRefProblem[] = [];
  const out = rules.map((rule, i) => {
    const spec = specs[i];
    if (!spec) return rule;
    const ruleRoute: WebSocketRoute = { ...route, spec };
    const auth = resolveAuth(ruleRoute, secrets);
    if (auth.problem) problems.push({ ...auth.problem, message: `rule ${i}: ${auth.problem.message}` });
    return Object.freeze({ ...rule, settings: routeSettings(ruleRoute, auth.auth) });
  });
  return { rules: out, problems };
}
