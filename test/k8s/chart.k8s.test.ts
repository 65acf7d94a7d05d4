/**
 * The Helm chart and deploy/ against a real kube-apiserver:
 * - the chart rendered with several value combinations passes a server-side dry-run
 *   apply (kubectl) with the CRDs installed for real (wsgate's, and prometheus-operator's
 *   ServiceMonitor and PrometheusRule for the monitoring objects);
 * - `kubectl apply -f deploy/` installs wsgate for real;
 * - the gateway, running as the ServiceAccount deploy/ creates (a TokenRequest token)
 *   with the flags of the rendered Deployment, routes WebSocket traffic and writes
 *   status — so the ClusterRole is sufficient. The same for namespaced mode, with the
 *   Roles and RoleBindings the chart renders for watchNamespaces.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { parse, parseAllDocuments, stringify } from "yaml";
import WebSocket from "ws";
import type { RunningGateway } from "../../src/cli/serve.js";
import { parseServeConfig } from "../../src/config/config.js";
import { createLogger } from "../../src/observability/logger.js";
import { startServe } from "../../src/cli/serve.js";
import {
  FAST_TUNING,
  apply,
  assertPodNetwork,
  endpointSlice,
  get,
  namespace,
  route,
  service,
  startPod,
  type Obj,
  type PodBackend,
} from "./harness/cluster.js";
import { startControlPlane, type ControlPlane } from "./harness/control-plane.js";
import { waitFor, waitForTable } from "./harness/wait.js";

const run = promisify(execFile);
const REPO = new URL("../../", import.meta.url).pathname;
const CHART = join(REPO, "helm/wsgate");
const PROMETHEUS_CRDS = join(REPO, "test/fixtures/prometheus-operator");

let cp: ControlPlane;
let work: string;
const gateways: RunningGateway[] = [];
const pods: PodBackend[] = [];
const clients: WebSocket[] = [];

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function exec(binary: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Result> {
  try {
    const { stdout, stderr } = await run(binary, args, {
      env,
      maxBuffer: 64 * 1024 * 1024,
      timeout: 120_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof e.code !== "number") throw err;
    return { code: e.code, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

function kubectl(...args: string[]): Promise<Result> {
  return exec(join(cp.binDir, "kubectl"), ["--kubeconfig", cp.adminKubeconfig, ...args]);
}

/** `helm template` into a file; returns its path. */
async function render(
  name: string,
  values: Record<string, unknown>,
  release = { name: "wsgate", namespace: "wsgate" },
): Promise<string> {
  const valuesFile = join(work, `${name}.values.yaml`);
  writeFileSync(valuesFile, stringify(values));
  const result = await exec(
    join(cp.binDir, "helm"),
    ["template", release.name, CHART, "--namespace", release.namespace, "--values", valuesFile],
    {
      ...process.env,
      HELM_CONFIG_HOME: join(work, "helm/config"),
      HELM_CACHE_HOME: join(work, "helm/cache"),
      HELM_DATA_HOME: join(work, "helm/data"),
    },
  );
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  const file = join(work, `${name}.yaml`);
  writeFileSync(file, result.stdout);
  return file;
}

function objectsOf(file: string): Obj[] {
  return parseAllDocuments(readFileSync(file, "utf8"))
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null);
}

/** Applies (for real) the objects of a rendered file whose kind is listed. */
async function applyKinds(file: string, kinds: readonly string[]): Promise<Obj[]> {
  const chosen = objectsOf(file).filter((o) => kinds.includes(o.kind));
  const subset = join(work, `subset-${Date.now()}.yaml`);
  writeFileSync(subset, chosen.map((o) => stringify(o)).join("---\n"));
  const result = await kubectl("apply", "--server-side", "--field-manager=helm", "-f", subset);
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  return chosen;
}

/** A kubeconfig with a TokenRequest token for the ServiceAccount, as a Pod running as it would get. */
async function serviceAccountKubeconfig(ns: string, name: string): Promise<string> {
  const review = await cp.admin.post<{ status: { token: string } }>(
    `/api/v1/namespaces/${ns}/serviceaccounts/${name}/token`,
    {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenRequest",
      spec: { expirationSeconds: 3600, audiences: ["https://kubernetes.default.svc.cluster.local"] },
    },
  );
  return cp.writeTokenKubeconfig(`${ns}-${name}`, review.status.token);
}

/**
 * Starts the gateway with the container arguments of a rendered Deployment, as the Pod
 * would, except for what only a Pod has: listeners on 127.0.0.1 port 0, the API server
 * from a kubeconfig instead of in-cluster config, and the Lease namespace (in a Pod, the
 * ServiceAccount's namespace file says it).
 */
async function startAsDeployment(
  file: string,
  kubeconfig: string,
  leaseNamespace: string,
): Promise<RunningGateway> {
  const deployment = objectsOf(file).find((o) => o.kind === "Deployment") as Obj & {
    spec: { template: { spec: { containers: { args: string[] }[] } } };
  };
  const [command, ...args] = deployment.spec.template.spec.containers[0]?.args ?? [];
  expect(command).toBe("serve");
  const config = parseServeConfig(
    [
      ...args,
      `--kubeconfig=${kubeconfig}`,
      `--leader-election-namespace=${leaseNamespace}`,
      "--http-listen=127.0.0.1:0",
      "--https-listen=127.0.0.1:0",
      "--admin-listen=127.0.0.1:0",
      "--shutdown-drain=0s",
    ],
    {},
  );
  const level = (process.env.WSGATE_TEST_LOG_LEVEL ?? "silent") as Parameters<typeof createLogger>[0];
  const gw = await startServe(config, createLogger(level), { cluster: FAST_TUNING });
  gateways.push(gw);
  return gw;
}

/** An echo Service with one ready "pod" on `ip`, and a route to it for host `host`. */
async function echoBackend(ns: string, ip: string, host: string): Promise<void> {
  const pod = await startPod(ip, 8080);
  pods.push(pod);
  await apply(cp.admin, namespace(ns));
  await apply(cp.admin, service(ns, "echo", [{ name: "ws", port: 80, targetPort: 8080 }]));
  await apply(cp.admin, endpointSlice(ns, "echo-1", "echo", [{ name: "ws", port: 8080 }], [{ ip }]));
  await apply(
    cp.admin,
    route(ns, "echo", { hostnames: [host], rules: [{ backendRefs: [{ name: "echo", port: 80 }] }] }),
  );
}

function ask(gw: RunningGateway, host: string, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.httpAddress.port}/`, { headers: { Host: host } });
    clients.push(ws);
    ws.once("open", () => ws.send(text));
    ws.once("message", (data) => resolve(String(data)));
    ws.once("error", reject);
    ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

async function programmed(ns: string, name: string): Promise<void> {
  await waitFor(
    async () => {
      const live = await get<Obj & { status?: { conditions?: { type: string; status: string }[] } }>(
        cp.admin,
        route(ns, name, {}),
      );
      return live.status?.conditions?.some((c) => c.type === "Programmed" && c.status === "True");
    },
    { what: `${ns}/${name} Programmed=True written by the gateway`, timeoutMs: 30_000 },
  );
}

beforeAll(async () => {
  await assertPodNetwork();
  cp = await startControlPlane(); // installs crds/ for real
  work = mkdtempSync(join(tmpdir(), "wsgate-chart-k8s-"));
  for (const file of readdirSync(PROMETHEUS_CRDS).filter((f) => f.endsWith(".yaml"))) {
    const result = await kubectl("apply", "--server-side", "-f", join(PROMETHEUS_CRDS, file));
    expect(result.code, result.stderr).toBe(0);
  }
  const established = await kubectl(
    "wait",
    "--for=condition=Established",
    "--timeout=60s",
    "crd/servicemonitors.monitoring.coreos.com",
    "crd/prometheusrules.monitoring.coreos.com",
  );
  expect(established.code, established.stderr).toBe(0);
  for (const ns of ["wsgate", "apps", "chat"]) await apply(cp.admin, namespace(ns));
});

afterEach(() => {
  for (const c of clients.splice(0)) c.terminate();
});

afterAll(async () => {
  for (const gw of gateways.splice(0)) await gw.stop(0);
  await Promise.all(pods.splice(0).map((p) => p.close()));
  await cp?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("server-side dry-run of the rendered chart", () => {
  const combinations: [string, Record<string, unknown>][] = [
    ["defaults", {}],
    ["namespaced", { watchNamespaces: ["apps", "chat"] }],
    [
      "monitoring and autoscaling",
      {
        autoscaling: { enabled: true, connections: { enabled: true } },
        metrics: { serviceMonitor: { enabled: true }, prometheusRule: { enabled: true } },
        networkPolicy: {
          enabled: true,
          adminFrom: [
            { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } },
          ],
        },
      },
    ],
    [
      "default TLS secret and client identity",
      {
        defaultTLSSecret: { name: "default-cert" },
        proxyProtocol: true,
        trustedProxies: ["10.0.0.0/8"],
        service: { externalTrafficPolicy: "Local", nodePorts: { http: 30080, https: 30443 } },
      },
    ],
    [
      "kind e2e (e2e/values.yaml)",
      parse(readFileSync(join(REPO, "e2e/values.yaml"), "utf8")) as Record<string, unknown>,
    ],
  ];

  for (const [name, values] of combinations) {
    it(`accepts every object: ${name}`, async () => {
      const file = await render(name.replace(/[^a-z0-9]+/gi, "-"), values);
      const objects = objectsOf(file);
      // Strict field validation: an unknown or misplaced field fails the apply.
      const result = await kubectl(
        "apply",
        "--server-side",
        "--dry-run=server",
        "--field-manager=helm",
        "--validate=strict",
        "-f",
        file,
      );
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      const lines = result.stdout.trim().split("\n");
      expect(lines).toHaveLength(objects.length);
      for (const o of objects) {
        const line = new RegExp(
          `^${o.kind.toLowerCase()}(\\.[a-z0-9.]+)?/${o.metadata.name} serverside-applied \\(server dry run\\)$`,
        );
        expect(
          lines.some((l) => line.test(l)),
          `${o.kind}/${o.metadata.name} in ${lines.join("; ")}`,
        ).toBe(true);
      }
    });
  }
});

describe("the kind e2e's demo backend (e2e/manifests/echo.yaml)", () => {
  it("passes a strict server-side dry-run, its route included", async () => {
    await apply(cp.admin, namespace("wsgate-e2e"));
    const result = await kubectl(
      "apply",
      "--server-side",
      "--dry-run=server",
      "--validate=strict",
      "-f",
      join(REPO, "e2e/manifests/echo.yaml"),
    );
    expect(result.stderr).toBe("");
    expect(result.stdout.trim().split("\n").sort()).toEqual([
      "deployment.apps/echo serverside-applied (server dry run)",
      "service/echo serverside-applied (server dry run)",
      "websocketroute.wsgate.io/echo serverside-applied (server dry run)",
    ]);
  });
});

describe("kubectl apply -f deploy/", () => {
  it("installs wsgate for real, and its identity is enough to route traffic and write status", async () => {
    const result = await kubectl(
      "apply",
      "--server-side",
      "--field-manager=kubectl",
      "-f",
      join(REPO, "deploy"),
    );
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const deploy = objectsOf(join(REPO, "deploy/wsgate.yaml"));
    for (const o of deploy) {
      const name = `${o.kind.toLowerCase()}/${o.metadata.name}`;
      const found = await kubectl(
        "get",
        ...(o.metadata.namespace ? ["-n", o.metadata.namespace] : []),
        name,
        "-o",
        "name",
      );
      expect(found.stdout.trim(), name).not.toBe("");
    }
    const role = await cp.admin.get<{ rules: unknown[] }>(
      "/apis/rbac.authorization.k8s.io/v1/clusterroles/wsgate",
    );
    expect(role.rules).toEqual(parse(readFileSync(join(CHART, "files/clusterrole-rules.yaml"), "utf8")));

    // The gateway as deploy/'s Pods run it: the wsgate ServiceAccount, the Deployment's flags.
    const kubeconfig = await serviceAccountKubeconfig("wsgate", "wsgate");
    const gw = await startAsDeployment(join(REPO, "deploy/wsgate.yaml"), kubeconfig, "wsgate");
    await echoBackend("apps", "10.244.0.31", "deploy.test");
    await waitForTable(gw.holder, (t) => t.routes.some((r) => r.key === "apps/echo"), {
      what: "apps/echo served",
    });
    expect(await ask(gw, "deploy.test", "hello")).toBe("10.244.0.31 hello");
    await programmed("apps", "echo");
    await waitFor(() => gw.cluster?.elector.isLeader, { what: "the leader Lease" });
    expect(gw.cluster?.healthy()).toBe(true);
    expect(gw.cluster?.writer.stats.failures).toBe(0);
    await waitFor(() => (gw.cluster?.writer.stats.events ?? 0) > 0, { what: "an Event recorded" });
    await gw.stop(0);
    gateways.splice(gateways.indexOf(gw), 1);
  });
});

describe("namespaced mode (watchNamespaces)", () => {
  it("routes and writes status in watched namespaces with only the rendered Roles", async () => {
    const release = { name: "edge", namespace: "edge-system" };
    await apply(cp.admin, namespace(release.namespace));
    const file = await render(
      "namespaced-identity",
      { watchNamespaces: ["chat"], ingressClass: "edge" },
      release,
    );
    const applied = await applyKinds(file, [
      "ServiceAccount",
      "Role",
      "RoleBinding",
      "ClusterRole",
      "ClusterRoleBinding",
    ]);
    // Cluster-scoped kinds (GatewayClasses, IngressClasses) can only be granted cluster-wide.
    expect(applied.map((o) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`).sort()).toEqual([
      "ClusterRole/undefined/edge-wsgate-gatewayclasses",
      "ClusterRole/undefined/edge-wsgate-ingressclasses",
      "ClusterRoleBinding/undefined/edge-wsgate-gatewayclasses",
      "ClusterRoleBinding/undefined/edge-wsgate-ingressclasses",
      "Role/chat/edge-wsgate",
      "Role/edge-system/edge-wsgate-affinity-key",
      "Role/edge-system/edge-wsgate-leader-election",
      "RoleBinding/chat/edge-wsgate",
      "RoleBinding/edge-system/edge-wsgate-affinity-key",
      "RoleBinding/edge-system/edge-wsgate-leader-election",
      "ServiceAccount/edge-system/edge-wsgate",
    ]);
    // Cluster-wide reads are not granted: the controller must do with the namespace.
    const canListAll = await kubectl(
      "auth",
      "can-i",
      "list",
      "services",
      "--all-namespaces",
      "--as=system:serviceaccount:edge-system:edge-wsgate",
    );
    expect(canListAll.stdout.trim()).toBe("no");

    const kubeconfig = await serviceAccountKubeconfig(release.namespace, "edge-wsgate");
    const gw = await startAsDeployment(file, kubeconfig, release.namespace);
    await echoBackend("chat", "10.244.0.41", "chat.test");
    await waitForTable(gw.holder, (t) => t.routes.some((r) => r.key === "chat/echo"), {
      what: "chat/echo served",
    });
    expect(await ask(gw, "chat.test", "hi")).toBe("10.244.0.41 hi");
    await programmed("chat", "echo");
    await waitFor(() => gw.cluster?.elector.isLeader, { what: "the leader Lease in edge-system" });
    expect(gw.cluster?.healthy()).toBe(true);
    expect(gw.cluster?.writer.stats.failures).toBe(0);
    // The session affinity key Secret, created by the leader with only the rendered Role.
    await waitFor(() => gw.cluster?.affinityKeySecret?.whenKeyed().then(() => true), {
      what: "the session affinity key Secret in edge-system",
    });
    // apps/echo (from the deploy/ test) is outside the watched namespaces: not served.
    expect(gw.holder.current.routes.map((r) => r.key)).toEqual(["chat/echo"]);
  });
});

describe("helm install", () => {
  it("installs the chart for real (its CRD already present) and prints NOTES on applying a first route", async () => {
    const result = await exec(
      join(cp.binDir, "helm"),
      [
        "install",
        "wsgate-notes",
        CHART,
        "--kubeconfig",
        cp.adminKubeconfig,
        "--namespace",
        "notes",
        "--create-namespace",
        "--set",
        "watchNamespaces={notes}",
        // The IngressClass wsgate is cluster-scoped and already owned (kubectl apply -f deploy/ above).
        "--set",
        "ingress.ingressClassResource.create=false",
      ],
      {
        ...process.env,
        HELM_CONFIG_HOME: join(work, "helm/config"),
        HELM_CACHE_HOME: join(work, "helm/cache"),
        HELM_DATA_HOME: join(work, "helm/data"),
      },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^STATUS: deployed$/m);
    expect(result.stdout).toContain("kubectl -n notes rollout status deployment/wsgate-notes");
    expect(result.stdout).toContain("kubectl apply -f echo-route.yaml");
    expect(result.stdout).toContain("kubectl get wsr -A");
    // The route the NOTES show is valid as printed.
    const example = /save this as echo-route\.yaml[^\n]*\n\n([\s\S]*?)\n\n\s*and apply it/.exec(
      result.stdout,
    )?.[1];
    expect(example).toBeDefined();
    const routeFile = join(work, "echo-route.yaml");
    writeFileSync(routeFile, (example as string).replace(/^ {5}/gm, ""));
    const dryRun = await kubectl("apply", "--dry-run=server", "--validate=strict", "-f", routeFile);
    expect(dryRun.stderr).toBe("");
    expect(dryRun.stdout.trim()).toBe("websocketroute.wsgate.io/echo created (server dry run)");
    const installed = await kubectl(
      "get",
      "deployment,service,role,rolebinding",
      "-n",
      "notes",
      "-o",
      "name",
    );
    expect(installed.stdout.split("\n").filter(Boolean).sort()).toEqual([
      "deployment.apps/wsgate-notes",
      "role.rbac.authorization.k8s.io/wsgate-notes",
      "role.rbac.authorization.k8s.io/wsgate-notes-affinity-key",
      "rolebinding.rbac.authorization.k8s.io/wsgate-notes",
      "rolebinding.rbac.authorization.k8s.io/wsgate-notes-affinity-key",
      "service/wsgate-notes",
      "service/wsgate-notes-admin",
    ]);
  });
});
