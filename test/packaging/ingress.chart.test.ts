/**
 * The chart's Ingress part (helm template with the real helm): the IngressClass wsgate
 * serves, its default marker, the flags and RBAC that go with `ingress.enabled`, so that a
 * release can be switched to (or kept out of) Ingress with values alone.
 */
import { describe, expect, it } from "vitest";
import { parseServeConfig } from "../../src/config/config.js";
import { INGRESS_CONTROLLER } from "../../src/api/ingress.js";
import { PROVISION_TIMEOUT_MS, RELEASE_NAMESPACE, renderChart, type Rendered } from "./tools.js";

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

function args(r: Rendered): string[] {
  const deployment = r.one<{ spec: { template: { spec: { containers: { args: string[] }[] } } } }>(
    "Deployment",
  );
  return deployment.spec.template.spec.containers[0]?.args ?? [];
}

function rules(r: Rendered): Rule[] {
  return r.one<{ rules: Rule[] }>("ClusterRole", "wsgate").rules;
}

describe("helm template: Ingress", { timeout: PROVISION_TIMEOUT_MS }, () => {
  it("creates the IngressClass wsgate serves and publishes the release's Service, by default", async () => {
    const r = await renderChart();
    const ingressClass = r.one<{ spec: { controller: string } }>("IngressClass", "wsgate");
    expect(ingressClass.spec.controller).toBe(INGRESS_CONTROLLER);
    expect(
      ingressClass.metadata.annotations?.["ingressclass.kubernetes.io/is-default-class"],
    ).toBeUndefined();
    const [, ...flags] = args(r);
    const config = parseServeConfig(flags, {});
    expect(config.publishService).toBe(`${RELEASE_NAMESPACE}/wsgate`);
    expect(config.disableIngress).toBe(false);
    expect(config.watchIngressWithoutClass).toBe(false);
    expect(rules(r)).toContainEqual({
      apiGroups: ["networking.k8s.io"],
      resources: ["ingresses/status"],
      verbs: ["update", "patch"],
    });
  });

  it("marks the class default and serves class-less Ingresses when asked, so that class-less Ingresses move over", async () => {
    const r = await renderChart({
      ingressClass: "realtime",
      ingress: { watchWithoutClass: true, ingressClassResource: { default: true } },
    });
    const ingressClass = r.one("IngressClass", "realtime");
    expect(ingressClass.metadata.annotations?.["ingressclass.kubernetes.io/is-default-class"]).toBe("true");
    const config = parseServeConfig(args(r).slice(1), {});
    expect(config.watchIngressWithoutClass).toBe(true);
    expect(config.ingressClass).toBe("realtime");
  });

  it("drops the class, the informers and their RBAC with ingress.enabled=false, so that no networking.k8s.io access is asked for", async () => {
    const r = await renderChart({ ingress: { enabled: false } });
    expect(r.all("IngressClass")).toEqual([]);
    expect(parseServeConfig(args(r).slice(1), {}).disableIngress).toBe(true);
    expect(rules(r).some((rule) => rule.apiGroups.includes("networking.k8s.io"))).toBe(false);
  });

  it("leaves the IngressClass to another owner with ingressClassResource.create=false", async () => {
    const r = await renderChart({ ingress: { ingressClassResource: { create: false } } });
    expect(r.all("IngressClass")).toEqual([]);
    expect(parseServeConfig(args(r).slice(1), {}).disableIngress).toBe(false);
  });

  it("grants the cluster-scoped IngressClasses by a ClusterRole in namespaced mode", async () => {
    const r = await renderChart({ watchNamespaces: ["apps"] });
    const role = r.one<{ rules: Rule[] }>("ClusterRole", "wsgate-ingressclasses");
    expect(role.rules).toEqual([
      { apiGroups: ["networking.k8s.io"], resources: ["ingressclasses"], verbs: ["get", "list", "watch"] },
    ]);
  });
});
