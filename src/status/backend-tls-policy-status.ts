/**
 * BackendTLSPolicy `status.ancestors` for the Gateway API status writer: one entry of ours
 * per Gateway of our class that reaches a targeted Service (from compile()'s
 * {@link BackendTlsPolicyDiagnostics}), other controllers' entries kept as they are.
 */
import { GATEWAY_GROUP, GATEWAY_VERSION } from "../api/gateway-api.js";
import type { BackendTlsPolicyDiagnostics } from "../routing/gateway-api/backend-tls-status.js";
import { mergeControllerEntries, type StatusItem } from "./status-items.js";

/** The kind, as it starts every BackendTLSPolicy item's key. */
export const BACKEND_TLS_POLICY_KIND = "BackendTLSPolicy";

/**
 * The status items of the BackendTLSPolicies in `policies`. A policy with no ancestor of
 * ours is not read at all, unless `written` (`namespace/name`) says we wrote to it before:
 * then, as for a policy that is gone from the store, our entries are removed.
 */
export function backendTlsPolicyItems(
  policies: readonly BackendTlsPolicyDiagnostics[] | undefined,
  written: ReadonlySet<string>,
  controllerName: string,
): StatusItem[] {
  const all = policies ?? [];
  const wanted = all.filter((p) => p.ancestors.length > 0 || written.has(`${p.namespace}/${p.name}`));
  const present = new Set(all.map((p) => `${p.namespace}/${p.name}`));
  const gone = [...written]
    .filter((k) => !present.has(k))
    .map((k) => {
      const [namespace, name] = k.split("/") as [string, string];
      return { namespace, name, ancestors: [] };
    });
  return [...wanted, ...gone].map((p) => {
    const generation = "generation" in p ? p.generation : undefined;
    return {
      key: `${BACKEND_TLS_POLICY_KIND} ${p.namespace}/${p.name}`,
      path: `/apis/${GATEWAY_GROUP}/${GATEWAY_VERSION}/namespaces/${p.namespace}/backendtlspolicies/${p.name}`,
      ...(generation === undefined ? {} : { generation }),
      print: JSON.stringify([generation, p.ancestors]),
      status: (live, stamp) => ({
        ...live.status,
        ancestors: mergeControllerEntries(
          live.status?.ancestors,
          "ancestorRef",
          p.ancestors.map((a) => ({ ref: a.ancestorRef, conditions: a.conditions })),
          controllerName,
          stamp,
          generation,
        ),
      }),
    };
  });
}
