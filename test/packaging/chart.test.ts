/**
 * The Helm chart, checked with the real helm (npm run k8s:bins): `helm lint --strict`,
 * and `helm template` over the value combinations admins use, asserting on the
 * rendered objects. The container's arguments are parsed back with wsgate's own flag
 * parser, so a chart value that maps to no real flag fails here.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { parseServeConfig, type ServeConfig } from "../../src/config/config.js";
import {
  CHART,
  PROVISION_TIMEOUT_MS,
  REPO,
  RELEASE_NAMESPACE,
  helm,
  k8sBinDir,
  lintToolsDir,
  renderChart,
  tool,
  type K8sObject,
  type Rendered,
} from "./tools.js";

interface Container {
  name: string;
  image: string;
  args: string[];
  env: { name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  ports: { name: string; containerPort: number }[];
  livenessProbe: { httpGet: { path: string; port: string } };
  readinessProbe: { httpGet: { path: string; port: string } };
  lifecycle: { preStop: { exec: { command: string[] } } };
  resources: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext: Record<string, unknown>;
}
interface PodSpec {
  serviceAccountName: string;
  terminationGracePeriodSeconds: number;
  securityContext: Record<string, unknown>;
  containers: Container[];
  topologySpreadConstraints?: {
    topologyKey: string;
    maxSkew: number;
    whenUnsatisfiable: string;
    labelSelector: { matchLabels: Record<string, string> };
    matchLabelKeys?: string[];
  }[];
}
type Deployment = K8sObject & {
  spec: {
    replicas?: number;
    selector: { matchLabels: Record<string, string> };
    strategy: { rollingUpdate: { maxUnavailable: number; maxSurge: number } };
    template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
  };
};
type Service = K8sObject & {
  spec: {
    type: string;
    externalTrafficPolicy?: string;
    selector: Record<string, string>;
    ports: { name: string; port: number; targetPort: string | number; nodePort?: number }[];
  };
};
type Role = K8sObject & { rules: unknown[] };
type Binding = K8sObject & {
  roleRef: { kind: string; name: string; apiGroup: string };
  subjects: { kind: string; name: string; namespace: string }[];
};

const rbacRules = parse(readFileSync(join(CHART, "files/clusterrole-rules.yaml"), "utf8")) as {
  apiGroups: string[];
}[];
const chartMeta = parse(readFileSync(join(CHART, "Chart.yaml"), "utf8")) as {
  version: string;
  appVersion: string;
  kubeVersion: string;
};
const packageJson = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { version: string };

function deployment(r: Rendered): Deployment {
  return r.one<Deployment>("Deployment");
}
function container(r: Rendered): Container {
  const [c, ...more] = deployment(r).spec.template.spec.containers;
  expect(more).toEqual([]);
  return c as Container;
}
/** The container's arguments as `wsgate serve` parses them (no environment). */
function serveConfig(r: Rendered): ServeConfig {
  const [command, ...flags] = container(r).args;
  expect(command).toBe("serve");
  return parseServeConfig(flags, {});
}
function containerPort(r: Rendered, name: string): number {
  const port = container(r).ports.find((p) => p.name === name);
  if (!port) throw new Error(`no container port ${name}`);
  return port.containerPort;
}
/** True when every label of `selector` is on `labels`. */
function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

beforeAll(async () => {
  await k8sBinDir();
}, PROVISION_TIMEOUT_MS);

describe("helm lint", () => {
  it("passes --strict with the defaults and with every optional part on", async () => {
    for (const set of [
      [],
      [
        "--set",
        "autoscaling.enabled=true,autoscaling.connections.enabled=true,metrics.serviceMonitor.enabled=true",
        "--set",
        "metrics.prometheusRule.enabled=true,networkPolicy.enabled=true,defaultTLSSecret.name=default-cert",
        "--set",
        "watchNamespaces={apps,chat}",
        "--set",
        "defaultTLSSecret.namespace=apps",
      ],
    ]) {
      const result = await helm(["lint", "--strict", CHART, "--namespace", RELEASE_NAMESPACE, ...set]);
      expect(result.stderr + result.stdout).toContain("0 chart(s) failed");
      expect(result.code).toBe(0);
    }
  });

  it("declares kubeVersion >=1.29 and an appVersion equal to package.json's version", () => {
    expect(chartMeta.kubeVersion).toBe(">=1.29.0-0");
    expect(chartMeta.appVersion).toBe(packageJson.version);
  });

  it("holds the CRDs of crds/ byte for byte (scripts/sync-chart-crds.sh copies them)", async () => {
    const { readdirSync } = await import("node:fs");
    const source = readdirSync(join(REPO, "crds"))
      .filter((f) => f.endsWith(".yaml"))
      .sort();
    const copies = readdirSync(join(CHART, "crds"))
      .filter((f) => f.endsWith(".yaml"))
      .sort();
    expect(copies, "run bash scripts/sync-chart-crds.sh").toEqual(source);
    for (const file of source) {
      const a = readFileSync(join(REPO, "crds", file));
      const b = readFileSync(join(CHART, "crds", file));
      expect(
        b.equals(a),
        `helm/wsgate/crds/${file} differs from crds/${file}: run bash scripts/sync-chart-crds.sh`,
      ).toBe(true);
    }
  });
});

describe("helm template with the default values", () => {
  let r: Rendered;
  beforeAll(async () => {
    r = await renderChart();
  });

  it("renders exactly the objects of a cluster-wide install", () => {
    expect(r.objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      "ClusterRole/wsgate",
      "ClusterRoleBinding/wsgate",
      "Deployment/wsgate",
      "IngressClass/wsgate",
      "PodDisruptionBudget/wsgate",
      "Role/wsgate-affinity-key",
      "RoleBinding/wsgate-affinity-key",
      "Service/wsgate",
      "Service/wsgate-admin",
      "ServiceAccount/wsgate",
    ]);
    for (const o of r.objects) {
      if (!o.kind.startsWith("Cluster") && o.kind !== "IngressClass")
        expect(o.metadata.namespace, `${o.kind} namespace`).toBe(RELEASE_NAMESPACE);
      expect(o.metadata.labels?.["app.kubernetes.io/name"]).toBe("wsgate");
    }
  });

  it("runs `wsgate serve` in cluster mode with in-cluster config and flags that wsgate accepts", () => {
    const c = container(r);
    expect(c.image).toBe(`ghcr.io/wsgate/wsgate:${chartMeta.appVersion}`);
    const config = serveConfig(r);
    expect(config.manifests).toBeUndefined();
    expect(config.kubeconfig).toBeUndefined();
    expect(c.args.some((a) => a.startsWith("--kubeconfig"))).toBe(false);
    expect(config.namespaces).toEqual([]);
    expect(config.ingressClass).toBe("wsgate");
    expect(config.httpListen).toEqual({ host: "0.0.0.0", port: containerPort(r, "http") });
    expect(config.httpsListen).toEqual({ host: "0.0.0.0", port: containerPort(r, "https") });
    expect(config.adminListen).toEqual({ host: "0.0.0.0", port: containerPort(r, "admin") });
    expect(config.shutdownDrain).toBe(30_000);
    expect(config.logLevel).toBe("info");
    expect(config.proxyProtocol).toBe(false);
    expect(config.trustedProxies).toEqual([]);
    expect(config.defaultTlsSecret).toBeUndefined();
    // Session affinity cookies: one key for every replica, in a Secret the leader creates.
    expect(config.affinityKeySecret).toBe(`${RELEASE_NAMESPACE}/wsgate-affinity-key`);
    // The Lease holder identity names the Pod.
    expect(c.env.find((e) => e.name === "POD_NAME")?.valueFrom?.fieldRef?.fieldPath).toBe("metadata.name");
  });

  it("runs two replicas that keep capacity during a rollout, spread over zones and nodes", () => {
    const d = deployment(r);
    expect(d.spec.replicas).toBe(2);
    expect(d.spec.strategy.rollingUpdate).toEqual({ maxSurge: 1, maxUnavailable: 0 });
    const podLabels = d.spec.template.metadata.labels;
    expect(selects(d.spec.selector.matchLabels, podLabels)).toBe(true);
    const spread = d.spec.template.spec.topologySpreadConstraints ?? [];
    expect(spread.map((s) => s.topologyKey)).toEqual([
      "topology.kubernetes.io/zone",
      "kubernetes.io/hostname",
    ]);
    for (const s of spread) {
      expect(s).toMatchObject({
        maxSkew: 1,
        whenUnsatisfiable: "ScheduleAnyway",
        matchLabelKeys: ["pod-template-hash"],
      });
      expect(selects(s.labelSelector.matchLabels, podLabels)).toBe(true);
    }
  });

  it("probes /healthz and /readyz on the admin port and sets resources", () => {
    const c = container(r);
    expect(c.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "admin" });
    expect(c.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "admin" });
    expect(c.resources.requests).toEqual({ cpu: "100m", memory: "128Mi" });
    expect(c.resources.limits?.memory).toBe("512Mi");
  });

  it("runs non-root, read-only, without privilege escalation or capabilities, under RuntimeDefault seccomp", () => {
    const pod = deployment(r).spec.template.spec;
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 10001,
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(container(r).securityContext).toEqual({
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    });
    // The image's USER (Dockerfile) is the UID the chart runs as.
    expect(readFileSync(join(REPO, "Dockerfile"), "utf8")).toMatch(/^USER 10001:10001$/m);
  });

  it("sleeps in preStop, then drains for --shutdown-drain within terminationGracePeriodSeconds", () => {
    const pod = deployment(r).spec.template.spec;
    expect(container(r).lifecycle.preStop.exec.command).toEqual(["sleep", "5"]);
    // grace = preStop sleep (5) + drain (30) + margin (10): SIGTERM arrives after the
    // sleep, and the drain plus its 2 s close handshake must end before SIGKILL.
    expect(pod.terminationGracePeriodSeconds).toBe(45);
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(
      5_000 + serveConfig(r).shutdownDrain + 2_000,
    );
  });

  it("exposes http and https on a LoadBalancer Service, and the admin port only inside the cluster", () => {
    const svc = r.one<Service>("Service", "wsgate");
    expect(svc.spec.type).toBe("LoadBalancer");
    expect(svc.spec.externalTrafficPolicy).toBe("Cluster");
    expect(svc.spec.ports.map((p) => [p.name, p.port, p.targetPort])).toEqual([
      ["http", 80, "http"],
      ["https", 443, "https"],
    ]);
    const podLabels = deployment(r).spec.template.metadata.labels;
    expect(selects(svc.spec.selector, podLabels)).toBe(true);
    const admin = r.one<Service>("Service", "wsgate-admin");
    expect(admin.spec.type).toBe("ClusterIP");
    expect(admin.spec.ports.map((p) => [p.name, p.port, p.targetPort])).toEqual([["admin", 9090, "admin"]]);
  });

  it("grants exactly the rules of files/clusterrole-rules.yaml to the gateway's ServiceAccount", () => {
    const role = r.one<Role>("ClusterRole");
    expect(role.rules).toEqual(rbacRules);
    const binding = r.one<Binding>("ClusterRoleBinding");
    expect(binding.roleRef).toEqual({
      apiGroup: "rbac.authorization.k8s.io",
      kind: "ClusterRole",
      name: "wsgate",
    });
    const sa = r.one("ServiceAccount");
    expect(binding.subjects).toEqual([
      { kind: "ServiceAccount", name: sa.metadata.name, namespace: RELEASE_NAMESPACE },
    ]);
    expect(deployment(r).spec.template.spec.serviceAccountName).toBe(sa.metadata.name);
    // Beyond those: creating the session affinity key Secret, in its own namespace only.
    expect((r.all("Role") as Role[]).map((o) => [o.metadata.name, o.rules])).toEqual([
      [
        "wsgate-affinity-key",
        [
          { apiGroups: [""], resources: ["secrets"], verbs: ["create"] },
          { apiGroups: [""], resources: ["secrets"], resourceNames: ["wsgate-affinity-key"], verbs: ["get"] },
        ],
      ],
    ]);
    const keyBinding = r.one<Binding>("RoleBinding", "wsgate-affinity-key");
    expect(keyBinding.subjects).toEqual([
      { kind: "ServiceAccount", name: sa.metadata.name, namespace: RELEASE_NAMESPACE },
    ]);
  });

  it("keeps no session affinity key Secret (nor its Role) with sessionAffinity.keySecret false", async () => {
    const off = await renderChart({ sessionAffinity: { keySecret: false } });
    expect(serveConfig(off).affinityKeySecret).toBeUndefined();
    expect(off.all("Role")).toEqual([]);
  });

  it("has a PodDisruptionBudget over the gateway Pods", () => {
    const pdb = r.one<
      K8sObject & { spec: { maxUnavailable: number; selector: { matchLabels: Record<string, string> } } }
    >("PodDisruptionBudget");
    expect(pdb.spec.maxUnavailable).toBe(1);
    expect(selects(pdb.spec.selector.matchLabels, deployment(r).spec.template.metadata.labels)).toBe(true);
  });
});

describe("helm template in namespaced mode (watchNamespaces)", () => {
  it("binds a Role with the same rules in each watched namespace and a Lease-only Role in its own", async () => {
    const r = await renderChart({ watchNamespaces: ["chat", "apps", "chat"] });
    expect(serveConfig(r).namespaces).toEqual(["apps", "chat"]);
    // Nothing cluster-wide but GatewayClasses and IngressClasses (cluster-scoped; see
    // gateway-api-crds.test.ts and ingress.chart.test.ts).
    expect(r.all("ClusterRole").map((o) => o.metadata.name)).toEqual([
      "wsgate-gatewayclasses",
      "wsgate-ingressclasses",
    ]);
    expect(r.all("ClusterRoleBinding").map((o) => o.metadata.name)).toEqual([
      "wsgate-gatewayclasses",
      "wsgate-ingressclasses",
    ]);
    const roles = r.all("Role") as Role[];
    expect(roles.map((o) => `${o.metadata.namespace}/${o.metadata.name}`).sort()).toEqual([
      "apps/wsgate",
      "chat/wsgate",
      "wsgate/wsgate-affinity-key",
      "wsgate/wsgate-leader-election",
    ]);
    for (const role of roles.filter((o) => o.metadata.name === "wsgate"))
      expect(role.rules).toEqual(rbacRules);
    const leaseRules = rbacRules.filter((rule) => rule.apiGroups.includes("coordination.k8s.io"));
    expect(leaseRules.length).toBeGreaterThan(0);
    expect(roles.find((o) => o.metadata.name === "wsgate-leader-election")?.rules).toEqual(leaseRules);
    const bindings = r.all("RoleBinding") as Binding[];
    expect(bindings.map((b) => [b.metadata.namespace, b.roleRef.kind, b.roleRef.name]).sort()).toEqual([
      ["apps", "Role", "wsgate"],
      ["chat", "Role", "wsgate"],
      ["wsgate", "Role", "wsgate-affinity-key"],
      ["wsgate", "Role", "wsgate-leader-election"],
    ]);
    for (const b of bindings) {
      expect(b.subjects).toEqual([{ kind: "ServiceAccount", name: "wsgate", namespace: RELEASE_NAMESPACE }]);
    }
  });

  it("needs no Lease-only Role when its own namespace is watched", async () => {
    const r = await renderChart({ watchNamespaces: [RELEASE_NAMESPACE, "apps"] });
    expect(
      r
        .all("Role")
        .map((o) => `${o.metadata.namespace}/${o.metadata.name}`)
        .sort(),
    ).toEqual(["apps/wsgate", "wsgate/wsgate", "wsgate/wsgate-affinity-key"]);
    expect(serveConfig(r).namespaces).toEqual(["apps", RELEASE_NAMESPACE]);
  });

  it("refuses a default TLS Secret outside the watched namespaces, saying how to fix it", async () => {
    await expect(
      renderChart({
        watchNamespaces: ["apps"],
        defaultTLSSecret: { name: "default-cert", namespace: "certs" },
      }),
    ).rejects.toThrow(/defaultTLSSecret is in namespace "certs".*add "certs" to watchNamespaces/);
  });
});

describe("helm template with HPA, ServiceMonitor, PrometheusRule and NetworkPolicy on", () => {
  let r: Rendered;
  beforeAll(async () => {
    r = await renderChart({
      autoscaling: { enabled: true, minReplicas: 3, maxReplicas: 12, connections: { enabled: true } },
      metrics: {
        serviceMonitor: { enabled: true, labels: { release: "prometheus" } },
        prometheusRule: { enabled: true, labels: { release: "prometheus" } },
      },
      networkPolicy: {
        enabled: true,
        adminFrom: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } }],
      },
    });
  });

  it("scales the Deployment on CPU and on open connections per Pod, leaving replicas to the HPA", () => {
    expect(deployment(r).spec.replicas).toBeUndefined();
    const hpa = r.one<
      K8sObject & {
        spec: {
          scaleTargetRef: { kind: string; name: string };
          minReplicas: number;
          maxReplicas: number;
          metrics: Record<string, unknown>[];
          behavior: { scaleDown: { stabilizationWindowSeconds: number } };
        };
      }
    >("HorizontalPodAutoscaler");
    expect(hpa.apiVersion).toBe("autoscaling/v2");
    expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: "Deployment", name: "wsgate" });
    expect([hpa.spec.minReplicas, hpa.spec.maxReplicas]).toEqual([3, 12]);
    expect(hpa.spec.metrics).toEqual([
      {
        type: "Resource",
        resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 70 } },
      },
      {
        type: "Pods",
        pods: {
          metric: { name: "wsgate_connections_active" },
          target: { type: "AverageValue", averageValue: "5000" },
        },
      },
    ]);
    expect(hpa.spec.behavior.scaleDown.stabilizationWindowSeconds).toBe(600);
  });

  it("scrapes /metrics on the admin Service", () => {
    const sm = r.one<
      K8sObject & {
        spec: {
          selector: { matchLabels: Record<string, string> };
          endpoints: { port: string; path: string }[];
        };
      }
    >("ServiceMonitor");
    expect(sm.metadata.labels?.release).toBe("prometheus");
    expect(sm.spec.endpoints).toMatchObject([{ port: "admin", path: "/metrics" }]);
    const admin = r.one<Service>("Service", "wsgate-admin");
    const traffic = r.one<Service>("Service", "wsgate");
    expect(selects(sm.spec.selector.matchLabels, admin.metadata.labels ?? {})).toBe(true);
    expect(selects(sm.spec.selector.matchLabels, traffic.metadata.labels ?? {})).toBe(false);
  });

  it("alerts on metrics wsgate exports", () => {
    const rule = r.one<
      K8sObject & { spec: { groups: { rules: { alert: string; expr: string; for?: string }[] }[] } }
    >("PrometheusRule");
    const rules = rule.spec.groups.flatMap((g) => g.rules);
    expect(rules.map((x) => x.alert)).toEqual([
      "WsgateBackendNoReadyEndpoints",
      "WsgateHandshakeRejectionsSurge",
      "WsgateRequestsFailingUpstream",
      "WsgateDrainStuck",
      "WsgateWatchRestarting",
    ]);
    const metrics = readFileSync(join(REPO, "src/observability/metrics.ts"), "utf8");
    for (const x of rules) {
      for (const name of x.expr.match(/wsgate_[a-z_]+/g) ?? []) {
        expect(metrics, `${x.alert} uses ${name}`).toContain(`"${name}"`);
      }
    }
    expect(rules.find((x) => x.alert === "WsgateHandshakeRejectionsSurge")?.expr).toContain(
      "rate(wsgate_handshake_rejections_total",
    );
    expect(rules.find((x) => x.alert === "WsgateDrainStuck")?.expr).toContain("wsgate_connections_draining");
  });

  it("admits traffic ports from anyone and the admin port only from the monitoring namespace", () => {
    const np = r.one<
      K8sObject & {
        spec: {
          podSelector: { matchLabels: Record<string, string> };
          policyTypes: string[];
          ingress: { ports: { port: string }[]; from?: unknown[] }[];
        };
      }
    >("NetworkPolicy");
    expect(selects(np.spec.podSelector.matchLabels, deployment(r).spec.template.metadata.labels)).toBe(true);
    expect(np.spec.policyTypes).toEqual(["Ingress"]);
    expect(np.spec.ingress).toEqual([
      {
        ports: [
          { port: "http", protocol: "TCP" },
          { port: "https", protocol: "TCP" },
        ],
      },
      {
        ports: [{ port: "admin", protocol: "TCP" }],
        from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } }],
      },
    ]);
  });
});

describe("helm template with other values", () => {
  it("passes a default TLS Secret, in the release namespace unless given", async () => {
    expect(
      serveConfig(await renderChart({ defaultTLSSecret: { name: "default-cert" } })).defaultTlsSecret,
    ).toBe("wsgate/default-cert");
    expect(
      serveConfig(await renderChart({ defaultTLSSecret: { name: "default-cert", namespace: "certs" } }))
        .defaultTlsSecret,
    ).toBe("certs/default-cert");
  });

  it("maps client identity, logging, class, drain and extraArgs to flags, and keeps the grace period consistent", async () => {
    const r = await renderChart({
      ingressClass: "edge",
      logLevel: "debug",
      proxyProtocol: true,
      trustedProxies: ["10.0.0.0/8", "192.168.0.0/16"],
      shutdown: { preStopSleepSeconds: 10, drainSeconds: 120, marginSeconds: 15 },
      leaderElection: { id: "edge-leader", leaseDuration: "20s" },
      extraArgs: ["--log-level=warn"],
      service: { type: "ClusterIP" },
    });
    const config = serveConfig(r);
    expect(config).toMatchObject({
      ingressClass: "edge",
      proxyProtocol: true,
      trustedProxies: ["10.0.0.0/8", "192.168.0.0/16"],
      shutdownDrain: 120_000,
      leaderElectionId: "edge-leader",
      leaderElectionLeaseDuration: 20_000,
      // extraArgs come last: a repeated flag's last value wins.
      logLevel: "warn",
    });
    expect(deployment(r).spec.template.spec.terminationGracePeriodSeconds).toBe(145);
    expect(container(r).lifecycle.preStop.exec.command).toEqual(["sleep", "10"]);
    const svc = r.one<Service>("Service", "wsgate");
    expect(svc.spec.type).toBe("ClusterIP");
    // The API server rejects externalTrafficPolicy on a ClusterIP Service.
    expect(svc.spec.externalTrafficPolicy).toBeUndefined();
  });

  it("sets externalTrafficPolicy Local and fixed node ports when asked", async () => {
    const r = await renderChart({
      service: { type: "NodePort", externalTrafficPolicy: "Local", nodePorts: { http: 30080, https: 30443 } },
    });
    const svc = r.one<Service>("Service", "wsgate");
    expect(svc.spec.externalTrafficPolicy).toBe("Local");
    expect(svc.spec.ports.map((p) => p.nodePort)).toEqual([30080, 30443]);
  });

  it("lets values.schema.json refuse unknown keys and bad values", async () => {
    await expect(renderChart({ replicas: 3 })).rejects.toThrow(
      /additional properties 'replicas' not allowed/,
    );
    await expect(renderChart({ logLevel: "loud" })).rejects.toThrow(/logLevel/);
    await expect(renderChart({ watchNamespaces: ["Not_A_Namespace"] })).rejects.toThrow(/watchNamespaces/);
    await expect(renderChart({ service: { type: "ExternalName" } })).rejects.toThrow(/service\/type/);
  });
});

describe("the PrometheusRule's alerts, checked and unit-tested with promtool", () => {
  let dir: string;
  let promtool: string;
  beforeAll(async () => {
    promtool = join(await lintToolsDir(), "promtool");
    const r = await renderChart({ metrics: { prometheusRule: { enabled: true } } });
    const rule = r.one<K8sObject & { spec: { groups: unknown[] } }>("PrometheusRule");
    dir = mkdtempSync(join(tmpdir(), "wsgate-promtool-"));
    writeFileSync(join(dir, "rules.yaml"), stringify({ groups: rule.spec.groups }));
    writeFileSync(
      join(dir, "rules.test.yaml"),
      readFileSync(join(REPO, "test/fixtures/alerts/rules.test.yaml")),
    );
  }, PROVISION_TIMEOUT_MS);
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("passes promtool check rules (PromQL, durations, annotation templates)", async () => {
    const result = await tool(promtool, ["check", "rules", "rules.yaml"], { cwd: dir });
    expect(result.stderr).toBe("");
    expect(result.stdout).toMatch(/SUCCESS: 5 rules found/);
    expect(result.code).toBe(0);
  });

  it("fires each alert on the series that should fire it, and only those (promtool test rules)", async () => {
    const result = await tool(promtool, ["test", "rules", "rules.test.yaml"], { cwd: dir });
    expect(result.stdout + result.stderr).toMatch(/SUCCESS/);
    expect(result.code).toBe(0);
  });
});
