/**
 * BackendTLSPolicy status from compile(): an ancestor entry per Gateway of our class that
 * reaches a targeted Service, `Accepted`/`ResolvedRefs` on each, and a younger policy on
 * the same target `Accepted=False, reason=Conflicted` — reported, not silently ignored.
 */
import { describe, expect, it } from "vitest";
import { compile } from "../src/routing/compile.js";
import { ObjectStore } from "../src/routing/store.js";
import { parseManifestText } from "../src/sources/manifests.js";
import { selfSigned } from "./helpers/certs.js";
import { GATEWAY_YAML } from "./helpers/gateway-api.js";

const ca = selfSigned("ca.example.com").certPem;

const MANIFESTS = `${GATEWAY_YAML}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: chat, namespace: apps }
spec:
  parentRefs: [{ name: web }]
  rules: [{ backendRefs: [{ name: secure, port: 443 }] }]
---
apiVersion: v1
kind: Service
metadata: { name: secure, namespace: apps }
spec: { ports: [{ name: wss, port: 443 }] }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: ca, namespace: apps }
data:
  ca.crt: |
${ca
  .trim()
  .split("\n")
  .map((l) => `    ${l}`)
  .join("\n")}
---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: { name: older, namespace: apps, creationTimestamp: "2026-01-01T00:00:00Z" }
spec:
  targetRefs: [{ group: "", kind: Service, name: secure }]
  validation: { caCertificateRefs: [{ group: "", kind: ConfigMap, name: ca }], hostname: secure.apps }
---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: { name: younger, namespace: apps, creationTimestamp: "2026-01-02T00:00:00Z" }
spec:
  targetRefs: [{ group: "", kind: Service, name: secure }]
  validation: { caCertificateRefs: [{ group: "", kind: ConfigMap, name: ca }], hostname: other.apps }
---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: { name: port, namespace: apps, creationTimestamp: "2026-01-03T00:00:00Z" }
spec:
  targetRefs: [{ group: "", kind: Service, name: secure, sectionName: wss }]
  validation: { caCertificateRefs: [{ group: "", kind: ConfigMap, name: missing }], hostname: secure.apps }
---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: { name: unused, namespace: apps }
spec:
  targetRefs: [{ group: "", kind: Service, name: nobody-routes-here }]
  validation: { wellKnownCACertificates: System, hostname: x.apps }
`;

function diagnostics() {
  const parsed = parseManifestText(MANIFESTS);
  expect(parsed.errors).toEqual([]);
  const store = new ObjectStore();
  for (const o of parsed.objects) store.upsert(o);
  const result = compile(store.snapshot(), { ingressClass: "wsgate", generation: 1 });
  const byName = new Map((result.gatewayApi.backendTlsPolicies ?? []).map((p) => [p.name, p]));
  const conditions = (name: string) =>
    byName.get(name)?.ancestors.map((a) => ({
      gateway: `${a.ancestorRef.namespace}/${a.ancestorRef.name}`,
      conditions: a.conditions.map((c) => `${c.type}=${c.status} ${c.reason}`),
    }));
  return { byName, conditions };
}

describe("BackendTLSPolicy status", () => {
  it("names the Gateway through which a route reaches the targeted Service, so that `kubectl get` shows where the policy applies", () => {
    expect(diagnostics().conditions("older")).toEqual([
      { gateway: "apps/web", conditions: ["Accepted=True Accepted", "ResolvedRefs=True ResolvedRefs"] },
    ]);
  });

  it("refuses a younger policy on the same target with Conflicted, so that an ignored policy is never silent", () => {
    const { byName, conditions } = diagnostics();
    expect(conditions("younger")).toEqual([
      { gateway: "apps/web", conditions: ["Accepted=False Conflicted", "ResolvedRefs=True ResolvedRefs"] },
    ]);
    expect(byName.get("younger")?.ancestors[0]?.conditions[0]?.message).toContain("apps/older");
  });

  it("does not accept a policy whose CA ref does not resolve (NoValidCACertificate), though a port's policy does not conflict with the whole Service's", () => {
    expect(diagnostics().conditions("port")).toEqual([
      {
        gateway: "apps/web",
        conditions: ["Accepted=False NoValidCACertificate", "ResolvedRefs=False InvalidCACertificateRef"],
      },
    ]);
  });

  it("gives a policy no Gateway reaches no ancestor entry", () => {
    expect(diagnostics().conditions("unused")).toEqual([]);
  });
});
