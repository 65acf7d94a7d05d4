/**
 * WebSocketPolicy attachment (GEP-713 direct attachment): which policy applies to which
 * HTTPRoute rule, HTTPRoute, Gateway or Service, and the behaviour an HTTPRoute (and each
 * of its rules) ends up with — field by field, a rule's policy over its HTTPRoute's over
 * its backends' Services' over its Gateways'.
 *
 * One object takes one policy: when two target it, the older (creationTimestamp, then
 * name) holds it and the other is `Conflicted` for that target. A rule (an HTTPRoute
 * targetRef with `sectionName`, GEP-713: the rule's `name`) is an object of its own here:
 * one policy on the route and another on one of its rules do not conflict, they layer.
 * A target that does not exist — the object, or a rule of that name — is `TargetNotFound`.
 * `sectionName` on a Gateway or Service (a listener, a port) is not supported, nor a rule
 * policy with `rebalance` (the rebalancer works per route): reported, not applied.
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

function targetKey(ns: string, t: Pick<PolicyTargetRef, "kind" | "name" | "sectionName">): string {
  return `${t.kind} ${ns}/${t.name}${t.sectionName === undefined ? "" : `#${t.sectionName}`}`;
}

/** A policy's behaviour merged over the layers below it, and the policies it came from. */
export interface MergedBehaviour {
  readonly behaviour: PolicyBehaviour;
  /** `namespace/name` of each policy merged, lowest precedence first. */
  readonly from: string[];
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
  /** `Kind ns/name` (`HTTPRoute ns/name#rule` for one rule) → the policy holding that target. */
  readonly #byTarget = new Map<string, WebSocketPolicy>();
  readonly diagnostics: PolicyDiagnostics[] = [];

  constructor(snapshot: Snapshot) {
    // Without policies there is nothing to attach: no key of every Service to build.
    if ((snapshot.webSocketPolicies ?? []).length === 0) return;
    const exists = new Set<string>([
      ...(snapshot.httpRoutes ?? []).map((r) =>
        targetKey(r.metadata.namespace, { kind: "HTTPRoute", name: r.metadata.name }),
      ),
      // Named rules: what an HTTPRoute targetRef's sectionName names.
      ...(snapshot.httpRoutes ?? []).flatMap((r) =>
        r.spec.rules.flatMap((rule) =>
          rule.name === undefined
            ? []
            : [
                targetKey(r.metadata.namespace, {
                  kind: "HTTPRoute",
                  name: r.metadata.name,
                  sectionName: rule.name,
                }),
              ],
        ),
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
        const what = `${t.kind} ${ns}/${t.name}${t.sectionName === undefined ? "" : ` rule ${t.sectionName}`}`;
        if (t.sectionName !== undefined && t.kind !== "HTTPRoute") {
          problems.push({
            reason: "Invalid",
            message: `${t.kind} ${t.name}: sectionName is supported on HTTPRoute targets only (a rule name)`,
          });
          continue;
        }
        if (t.sectionName !== undefined && policy.spec.behaviour.rebalance !== undefined) {
          // The rebalancer evens a route's endpoints out as a whole: it has no per-rule budget.
          problems.push({
            reason: "Invalid",
            message: `${what}: rebalance applies to a whole route; target the HTTPRoute without sectionName`,
          });
          continue;
        }
        if (!exists.has(key)) {
          const routeExists = exists.has(targetKey(ns, { kind: t.kind, name: t.name }));
          problems.push({
            reason: "TargetNotFound",
            message:
              t.sectionName !== undefined && routeExists
                ? `HTTPRoute ${ns}/${t.name} has no rule named ${t.sectionName}`
                : `${t.kind} ${ns}/${t.name} not found`,
          });
          continue;
        }
        const holder = this.#byTarget.get(key);
        if (holder === policy) continue; // the same target listed twice: attached once
        if (holder) {
          problems.push({
            reason: "Conflicted",
            message: `${what} already has the older WebSocketPolicy ${holder.metadata.name}`,
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
            : // Accepted only when every target took it: a typo'd rule name must not hide behind
              // the targets that did (those still apply, and the message says so).
              cond(
                "Accepted",
                "False",
                first.reason,
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
  behaviourFor(route: HTTPRoute, gateways: readonly string[]): MergedBehaviour {
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

  /**
   * Per rule (by index) of `route`: the behaviour of a named rule that a policy targets
   * (`sectionName`), that policy merged over the route's (`routeBehaviour`, from
   * {@link behaviourFor}); undefined for the other rules, which keep the route's.
   */
  ruleBehaviours(route: HTTPRoute, routeBehaviour: MergedBehaviour): (MergedBehaviour | undefined)[] {
    const { namespace, name } = route.metadata;
    return route.spec.rules.map((rule) => {
      if (rule.name === undefined) return undefined;
      const p = this.#byTarget.get(targetKey(namespace, { kind: "HTTPRoute", name, sectionName: rule.name }));
      if (!p) return undefined;
      const policyName = `${p.metadata.namespace}/${p.metadata.name}`;
      return {
        behaviour: mergeBehaviour(routeBehaviour.behaviour, p.spec.behaviour),
        from: [...routeBehaviour.from.filter((f) => f !== policyName), policyName],
      };
    });
  }
}
