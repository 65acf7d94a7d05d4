/**
 * WebSocketPolicy attachment (GEP-713 direct attachment): which policy applies to which
 * HTTPRoute, Gateway or Service, and the behaviour an HTTPRoute ends up with —
 * field by field, HTTPRoute's policy over its backends' Services' over its Gateways'.
 *
 * One object takes one policy: when two target it, the older (creationTimestamp, then
 * name) holds it and the other is `Conflicted` for that target. A target that does not
 * exist is `TargetNotFound`; `sectionName` (one rule of a route) is not supported yet and
 * is reported, not applied.
 */
import type { HTTPRoute } from "../../api/gateway-api.js";
import {
  mergeBehaviour,
  type PolicyBehaviour,
  type PolicyTargetRef,
  type WebSocketPolicy,
} from "../../api/websocket-policy.js";
import type { Snapshot } from "../store.js";
import { cond, type PolicyDiagnostics } from "./conditions.js";

function targetKey(ns: string, t: Pick<PolicyTargetRef, "kind" | "name">): string {
  return `${t.kind} ${ns}/${t.name}`;
}

function olderFirst(a: WebSocketPolicy, b: WebSocketPolicy): number {
  const ta = Date.parse(a.metadata.creationTimestamp ?? "");
  const tb = Date.parse(b.metadata.creationTimestamp ?? "");
  const na = Number.isNaN(ta) ? -Infinity : ta;
  const nb = Number.isNaN(tb) ? -Infinity : tb;
  if (na !== nb) return na < nb ? -1 : 1;
  const ka = `${a.metadata.namespace}/${a.metadata.name}`;
  const kb = `${b.metadata.namespace}/${b.metadata.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

export class PolicyAttachments {
  /** `Kind ns/name` → the policy holding that target. */
  readonly #byTarget = new Map<string, WebSocketPolicy>();
  readonly diagnostics: PolicyDiagnostics[] = [];

  constructor(snapshot: Snapshot) {
    const exists = new Set<string>([
      ...(snapshot.httpRoutes ?? []).map((r) =>
        targetKey(r.metadata.namespace, { kind: "HTTPRoute", name: r.metadata.name }),
      ),
      ...(snapshot.gateways ?? []).map((g) =>
        targetKey(g.metadata.namespace, { kind: "Gateway", name: g.metadata.name }),
      ),
      ...snapshot.services.map((s) =>
        targetKey(s.metadata.namespace, { kind: "Service", name: s.metadata.name }),
      ),
    ]);
    const policies = [...(snapshot.webSocketPolicies ?? [])].sort(olderFirst);
    for (const policy of policies) {
      const ns = policy.metadata.namespace;
      const problems: { reason: string; message: string }[] = [];
      let attached = 0;
      for (const t of policy.spec.targetRefs) {
        const key = targetKey(ns, t);
        if (t.sectionName !== undefined) {
          problems.push({
            reason: "Invalid",
            message: `${t.kind} ${t.name}: sectionName is not supported yet`,
          });
          continue;
        }
        if (!exists.has(key)) {
          problems.push({ reason: "TargetNotFound", message: `${t.kind} ${ns}/${t.name} not found` });
          continue;
        }
        const holder = this.#byTarget.get(key);
        if (holder) {
          problems.push({
            reason: "Conflicted",
            message: `${t.kind} ${ns}/${t.name} already has the older WebSocketPolicy ${holder.metadata.name}`,
          });
          continue;
        }
        this.#byTarget.set(key, policy);
        attached++;
      }
      const first = problems[0];
      this.diagnostics.push({
        namespace: ns,
        name: policy.metadata.name,
        ...(policy.metadata.generation === undefined ? {} : { generation: policy.metadata.generation }),
        conditions: [
          first === undefined
            ? cond("Accepted", "True", "Accepted", `Attached to ${attached} target(s)`)
            : cond(
                "Accepted",
                attached > 0 ? "True" : "False",
                attached > 0 ? "Accepted" : first.reason,
                problems.map((p) => p.message).join("; ") +
                  (attached > 0 ? `; attached to the other ${attached} target(s)` : ""),
              ),
        ],
      });
    }
    this.diagnostics.sort((a, b) => (`${a.namespace}/${a.name}` < `${b.namespace}/${b.name}` ? -1 : 1));
  }

  /**
   * The behaviour an HTTPRoute gets: its Gateways' policies (in name order), then its
   * backend Services', then its own — each later one overriding field by field.
   */
  behaviourFor(
    route: HTTPRoute,
    gateways: readonly string[],
  ): { behaviour: PolicyBehaviour; from: string[] } {
    const layers: WebSocketPolicy[] = [];
    for (const g of [...gateways].sort()) {
      const p = this.#byTarget.get(`Gateway ${g}`);
      if (p) layers.push(p);
    }
    const services = new Set<string>();
    for (const rule of route.spec.rules)
      for (const b of rule.backendRefs)
        if (b.group === "" && b.kind === "Service")
          services.add(`${b.namespace ?? route.metadata.namespace}/${b.name}`);
    for (const s of [...services].sort()) {
      const p = this.#byTarget.get(`Service ${s}`);
      if (p) layers.push(p);
    }
    const own = this.#byTarget.get(`HTTPRoute ${route.metadata.namespace}/${route.metadata.name}`);
    if (own) layers.push(own);
    let behaviour: PolicyBehaviour = {};
    const from: string[] = [];
    for (const p of layers) {
      const name = `${p.metadata.namespace}/${p.metadata.name}`;
      if (from.includes(name)) continue;
      behaviour = mergeBehaviour(behaviour, p.spec.behaviour);
      from.push(name);
    }
    return { behaviour, from };
  }
}
