/**
 * An HTTPRoute's backendRefs: which can be served (a Service, in another namespace only
 * with a ReferenceGrant, with a port), the weight of those that cannot, and, for a route
 * compile() never sees, whether their Services exist.
 */
import { GATEWAY_GROUP, type HTTPRoute, type HTTPRouteRule } from "../../api/gateway-api.js";
import type { Service } from "../../api/objects.js";
import type { RouteSpec } from "../../api/route.js";
import type { TranslatedBackendRef } from "../translated.js";
import { cond, GatewayReason as R, type GatewayCondition } from "./conditions.js";
import type { ReferenceGrants } from "./grants.js";

/** Why a backendRef cannot be served (first problem only), or undefined when it can. */
function backendRefProblem(
  b: HTTPRouteRule["backendRefs"][number],
  routeNamespace: string,
  grants: ReferenceGrants,
): GatewayCondition | undefined {
  if (b.group !== "" || b.kind !== "Service") {
    return cond(
      "ResolvedRefs",
      "False",
      R.InvalidKind,
      `backendRef ${b.group || "core"}/${b.kind} ${b.name}: only Services are supported`,
    );
  }
  const refNs = b.namespace ?? routeNamespace;
  if (
    !grants.allows(
      { group: GATEWAY_GROUP, kind: "HTTPRoute", namespace: routeNamespace },
      { group: "", kind: "Service", namespace: refNs, name: b.name },
    )
  ) {
    return cond(
      "ResolvedRefs",
      "False",
      R.RefNotPermitted,
      `Service ${refNs}/${b.name} is in another namespace and no ReferenceGrant there allows it`,
    );
  }
  if (b.port === undefined) {
    return cond(
      "ResolvedRefs",
      "False",
      R.UnsupportedValue,
      `backendRef Service ${refNs}/${b.name} needs a port`,
    );
  }
  return undefined;
}

/**
 * The route's rules with the backendRefs that can be served (Services, permitted by a
 * ReferenceGrant when in another namespace, with a port); per rule, the weight of the
 * others, and the first problem met.
 */
export function translateBackends(
  route: HTTPRoute,
  grants: ReferenceGrants,
): { rules: RouteSpec["rules"]; unresolvedWeights: number[]; problem?: GatewayCondition } {
  const ns = route.metadata.namespace;
  let problem: GatewayCondition | undefined;
  // Per rule, the weight of the refs left out here: Gateway API wants 500 for their share.
  const unresolvedWeights: number[] = [];
  const rules = route.spec.rules.map((rule) => {
    const backendRefs: TranslatedBackendRef[] = [];
    // A rule without backendRefs forwards nothing: every request it matches gets 500.
    let unresolved = rule.backendRefs.length === 0 ? 1 : 0;
    for (const b of rule.backendRefs) {
      const refProblem = backendRefProblem(b, ns, grants);
      if (refProblem || b.port === undefined) {
        problem ??= refProblem;
        unresolved += b.weight;
        continue;
      }
      const refNs = b.namespace ?? ns;
      // GEP-1911 `kubernetes.io/wss` ports and BackendTLSPolicies: compile() sets up TLS (routing/backend-tls.ts).
      backendRefs.push({
        name: b.name,
        port: b.port,
        weight: b.weight,
        ...(refNs === ns ? {} : { namespace: refNs }),
      });
    }
    unresolvedWeights.push(unresolved);
    return {
      matches: rule.matches.map((m) => ({
        path: { type: m.path.type as "Exact" | "PathPrefix", value: m.path.value },
      })),
      backendRefs,
    };
  });
  return { rules, unresolvedWeights, ...(problem ? { problem } : {}) };
}

/**
 * The snapshot's Services by `namespace/name`: a translation looks up every backendRef of
 * every unserved HTTPRoute, and a scan per ref is routes × refs × Services.
 */
export function servicesByName(services: readonly Service[]): ReadonlyMap<string, Service> {
  const index = new Map<string, Service>();
  for (const s of services) {
    const key = `${s.metadata.namespace}/${s.metadata.name}`;
    // The first of two with one name, as a scan would find it.
    if (!index.has(key)) index.set(key, s);
  }
  return index;
}

/** BackendNotFound for the first backendRef whose Service (or port) is not in the snapshot. */
export function missingService(
  rules: RouteSpec["rules"],
  routeNamespace: string,
  services: ReadonlyMap<string, Service>,
): GatewayCondition | undefined {
  for (const rule of rules) {
    for (const ref of rule.backendRefs) {
      const ns = (ref as TranslatedBackendRef).namespace ?? routeNamespace;
      const service = services.get(`${ns}/${ref.name}`);
      if (!service?.spec.ports.some((p) => p.port === ref.port && p.protocol === "TCP"))
        return cond(
          "ResolvedRefs",
          "False",
          R.BackendNotFound,
          `Service ${ns}/${ref.name} port ${ref.port} not found`,
        );
    }
  }
  return undefined;
}
