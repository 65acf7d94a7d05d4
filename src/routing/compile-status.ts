/**
 * The status compile() gives routes: their conditions, one object shape per status, the
 * common verdicts shared, sorted by `namespace/name`, and the Gateway API status built on it.
 */
import { ConditionType, Reason, type ConditionVerdict } from "../api/conditions.js";
import { cond as gatewayCondition, type GatewayApiDiagnostics } from "./gateway-api/conditions.js";
import {
  gatewayDiagnostics,
  httpRouteDiagnostics,
  type translateGatewayApi,
} from "./gateway-api/translate.js";
import type { AnyRoute } from "./compile-order.js";
import type { RouteDiagnostics } from "./table.js";
import { isTranslated } from "./translated.js";

/** One condition of a route's status. */
export function condition(
  type: ConditionVerdict["type"],
  status: ConditionVerdict["status"],
  reason: ConditionVerdict["reason"],
  message: string,
): ConditionVerdict {
  return { type, status, reason, message };
}

// The verdicts of most routes, one object each (conditions are never changed in place).
export const ACCEPTED = Object.freeze(
  condition(ConditionType.Accepted, "True", Reason.Accepted, "Route accepted"),
);
export const RESOLVED_REFS = Object.freeze(
  condition(ConditionType.ResolvedRefs, "True", Reason.ResolvedRefs, "All references resolved"),
);

/** Sorts status by `namespace/name` (`keys`, at the same positions). */
export function sortByKey(diagnostics: RouteDiagnostics[], keys: readonly string[]): void {
  // Positions break ties: the sort stays stable, as a sort of the objects is.
  const order = keys.map((_, i) => i);
  order.sort((a, b) => {
    const ka = keys[a] as string;
    const kb = keys[b] as string;
    return ka < kb ? -1 : ka > kb ? 1 : a - b;
  });
  const sorted = order.map((i) => diagnostics[i] as RouteDiagnostics);
  sorted.forEach((d, i) => (diagnostics[i] = d));
}

/** A route's status; its properties in one order whatever the route (one object shape). */
export function diagnosticsOf(
  route: AnyRoute,
  claimed: boolean,
  conditions: readonly ConditionVerdict[],
  ready: number,
  total: number,
): RouteDiagnostics {
  const { namespace, name, generation } = route.metadata;
  const endpoints = { ready, total };
  if (isTranslated(route))
    return {
      namespace,
      name,
      ...(generation === undefined ? {} : { generation }),
      origin: route.origin,
      claimed,
      conditions,
      endpoints,
    };
  return generation === undefined
    ? { namespace, name, claimed, conditions, endpoints }
    : { namespace, name, generation, claimed, conditions, endpoints };
}

/** Gateway API status: the translation's verdicts, with compile()'s on each translated route. */
export function gatewayApiDiagnostics(
  translation: ReturnType<typeof translateGatewayApi>,
  diagnostics: readonly RouteDiagnostics[],
): GatewayApiDiagnostics {
  const byRoute = new Map(diagnostics.filter((d) => d.origin).map((d) => [`${d.namespace}/${d.name}`, d]));
  return {
    gatewayClasses: translation.classes,
    policies: translation.policies,
    gateways: [...translation.gateways.values()].map(gatewayDiagnostics),
    httpRoutes: translation.httpRoutes.map((t) => {
      const d = t.translated
        ? byRoute.get(`${t.translated.metadata.namespace}/${t.translated.metadata.name}`)
        : undefined;
      const accepted = d?.conditions.find((c) => c.type === ConditionType.Accepted);
      const resolved = d?.conditions.find((c) => c.type === ConditionType.ResolvedRefs);
      return httpRouteDiagnostics(t, {
        // A route refused for a spec compile() checks (a path not in normal form) has an unsupported value.
        ...(accepted && accepted.status !== "True"
          ? {
              accepted: gatewayCondition(
                "Accepted",
                "False",
                accepted.reason === Reason.Invalid ? "UnsupportedValue" : accepted.reason,
                accepted.message,
              ),
            }
          : {}),
        ...(resolved
          ? {
              resolvedRefs: gatewayCondition(
                "ResolvedRefs",
                resolved.status,
                resolved.reason,
                resolved.message,
              ),
            }
          : {}),
      });
    }),
  };
}
