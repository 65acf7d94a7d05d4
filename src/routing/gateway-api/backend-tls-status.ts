/**
 * BackendTLSPolicy status (GEP-1897): one `status.ancestors[]` entry per Gateway of
 * wsgate's class through which an HTTPRoute reaches a Service the policy targets, with
 * `Accepted` and `ResolvedRefs`. A policy whose every target is held by an older one
 * (creationTimestamp, then namespace/name; a port's policy and the whole Service's do not
 * conflict) is `Accepted=False, reason=Conflicted` — it applies nowhere, and says so
 * instead of being silently ignored. A policy whose CA refs do not resolve is
 * `Accepted=False, reason=NoValidCACertificate` (ResolvedRefs says which ref and why).
 */
import { GATEWAY_GROUP, type BackendTLSPolicy } from "../../api/gateway-api.js";
import { policyRequest, resolveBackendTls, type BackendTlsPolicies, type CaSources } from "../backend-tls.js";
import { cond, GatewayReason as R, type GatewayCondition } from "./conditions.js";
import type { HTTPRouteTranslation } from "./translate.js";

/** The Gateway a policy's status entry is about (Gateway API's `ancestorRef`). */
export interface PolicyAncestorRef {
  readonly group: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
}

export interface BackendTlsPolicyDiagnostics {
  readonly namespace: string;
  readonly name: string;
  readonly generation?: number;
  /** One per Gateway of our class that reaches a targeted Service; may be empty. */
  readonly ancestors: readonly { ancestorRef: PolicyAncestorRef; conditions: readonly GatewayCondition[] }[];
}

/** `namespace/service` of every Service a translated route's backendRefs name, by Gateway `namespace/name`. */
function servicesByGateway(httpRoutes: readonly HTTPRouteTranslation[]): Map<string, Set<string>> {
  const byGateway = new Map<string, Set<string>>();
  for (const t of httpRoutes) {
    const ns = t.route.metadata.namespace;
    const services = t.route.spec.rules.flatMap((rule) =>
      rule.backendRefs
        .filter((b) => b.group === "" && b.kind === "Service")
        .map((b) => `${b.namespace ?? ns}/${b.name}`),
    );
    for (const p of t.parents) {
      if (p.accepted.status !== "True") continue;
      const gateway = `${p.parentRef.namespace ?? ns}/${p.parentRef.name}`;
      let set = byGateway.get(gateway);
      if (!set) byGateway.set(gateway, (set = new Set()));
      for (const s of services) set.add(s);
    }
  }
  return byGateway;
}

/** The policies' status, from the HTTPRoutes' translation and the policy index compile() uses. */
export function backendTlsPolicyDiagnostics(
  policies: readonly BackendTLSPolicy[],
  index: BackendTlsPolicies,
  httpRoutes: readonly HTTPRouteTranslation[],
  sources: CaSources,
): BackendTlsPolicyDiagnostics[] {
  const byGateway = servicesByGateway(httpRoutes);
  return policies.map((policy) => {
    const { namespace, name, generation } = policy.metadata;
    const services = policy.spec.targetRefs.filter((t) => t.group === "" && t.kind === "Service");
    const held = services.filter((t) => index.holderOf(namespace, t.name, t.sectionName) === policy);
    let accepted: GatewayCondition;
    if (services.length === 0) {
      accepted = cond("Accepted", "False", R.Invalid, "targetRefs name no core Service");
    } else if (held.length === 0) {
      const other = index.holderOf(namespace, services[0]?.name ?? "", services[0]?.sectionName);
      accepted = cond(
        "Accepted",
        "False",
        R.Conflicted,
        `an older BackendTLSPolicy${other ? ` (${other.metadata.namespace}/${other.metadata.name})` : ""} already targets the same Service${services[0]?.sectionName ? " port" : ""}`,
      );
    } else {
      accepted = cond("Accepted", "True", R.Accepted, "Policy accepted");
    }
    const resolved = resolveBackendTls(policyRequest(policy), namespace, sources);
    // Gateway API: a CA ref of another kind is InvalidKind, any other unusable one (missing,
    // no ca.crt, no certificate in it) InvalidCACertificateRef; the policy is then not
    // accepted, reason NoValidCACertificate (unless it is Conflicted anyway).
    const resolvedRefs = resolved.ok
      ? cond("ResolvedRefs", "True", R.ResolvedRefs, "All references resolved")
      : cond(
          "ResolvedRefs",
          "False",
          resolved.problem.reason === "InvalidKind" ? "InvalidKind" : "InvalidCACertificateRef",
          resolved.problem.message,
        );
    if (!resolved.ok && accepted.status === "True")
      accepted = cond("Accepted", "False", "NoValidCACertificate", resolved.problem.message);
    const targeted = new Set(services.map((t) => `${namespace}/${t.name}`));
    const ancestors = [...byGateway.entries()]
      .filter(([, reached]) => [...reached].some((s) => targeted.has(s)))
      .map(([gateway]) => gateway)
      .sort()
      .map((gateway) => {
        const [gatewayNamespace, gatewayName] = gateway.split("/") as [string, string];
        return {
          ancestorRef: {
            group: GATEWAY_GROUP,
            kind: "Gateway",
            namespace: gatewayNamespace,
            name: gatewayName,
          },
          conditions: [accepted, resolvedRefs],
        };
      });
    return { namespace, name, ...(generation === undefined ? {} : { generation }), ancestors };
  });
}
