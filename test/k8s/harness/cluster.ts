/**
 * Helpers for tests against the real API server: objects as the API takes them,
 * a least-privilege identity for the controller (the chart's ClusterRole rules),
 * the controller itself (`wsgate serve` composed in-process), and "pods": real
 * WebSocket servers on 10.244.x addresses inside the test's network namespace.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { WebSocketServer, type WebSocket } from "ws";
import { startServe, type RunningGateway } from "../../../src/cli/serve.js";
import type { ClusterTuning } from "../../../src/cli/cluster.js";
import { parseServeConfig } from "../../../src/config/config.js";
import { isConflict, isNotFound, type KubeRest } from "../../../src/kube/rest.js";
import { createLogger } from "../../../src/observability/logger.js";
import type { ControlPlane } from "./control-plane.js";

const REPO = new URL("../../../", import.meta.url).pathname;

export type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; [k: string]: unknown };
  [field: string]: unknown;
};

const RESOURCES: Record<string, { prefix: string; plural: string; namespaced: boolean }> = {
  "v1 Namespace": { prefix: "/api/v1", plural: "namespaces", namespaced: false },
  "v1 Service": { prefix: "/api/v1", plural: "services", namespaced: true },
  "v1 Secret": { prefix: "/api/v1", plural: "secrets", namespaced: true },
  "v1 ServiceAccount": { prefix: "/api/v1", plural: "serviceaccounts", namespaced: true },
  "discovery.k8s.io/v1 EndpointSlice": {
    prefix: "/apis/discovery.k8s.io/v1",
    plural: "endpointslices",
    namespaced: true,
  },
  "wsgate.io/v1alpha1 WebSocketRoute": {
    prefix: "/apis/wsgate.io/v1alpha1",
    plural: "websocketroutes",
    namespaced: true,
  },
  "rbac.authorization.k8s.io/v1 ClusterRole": {
    prefix: "/apis/rbac.authorization.k8s.io/v1",
    plural: "clusterroles",
    namespaced: false,
  },
  "rbac.authorization.k8s.io/v1 ClusterRoleBinding": {
    prefix: "/apis/rbac.authorization.k8s.io/v1",
    plural: "clusterrolebindings",
    namespaced: false,
  },
  "networking.k8s.io/v1 Ingress": {
    prefix: "/apis/networking.k8s.io/v1",
    plural: "ingresses",
    namespaced: true,
  },
  "networking.k8s.io/v1 IngressClass": {
    prefix: "/apis/networking.k8s.io/v1",
    plural: "ingressclasses",
    namespaced: false,
  },
  "coordination.k8s.io/v1 Lease": {
    prefix: "/apis/coordination.k8s.io/v1",
    plural: "leases",
    namespaced: true,
  },
};

/** Collection path of a kind, in a namespace or cluster-wide. */
export function collectionPath(apiVersion: string, kind: string, namespace?: string): string {
  const r = RESOURCES[`${apiVersion} ${kind}`];
  if (!r) throw new Error(`no path known for ${apiVersion} ${kind}`);
  return r.namespaced && namespace
    ? `${r.prefix}/namespaces/${namespace}/${r.plural}`
    : `${r.prefix}/${r.plural}`;
}

export function objectPath(obj: Pick<Obj, "apiVersion" | "kind" | "metadata">): string {
  return `${collectionPath(obj.apiVersion, obj.kind, obj.metadata.namespace)}/${obj.metadata.name}`;
}

export async function create<T extends Obj>(api: KubeRest, obj: T): Promise<T> {
  return api.post<T>(collectionPath(obj.apiVersion, obj.kind, obj.metadata.namespace), obj, {
    fieldValidation: "Strict",
  });
}

export async function get<T extends Obj>(
  api: KubeRest,
  obj: Pick<Obj, "apiVersion" | "kind" | "metadata">,
): Promise<T> {
  return api.get<T>(objectPath(obj));
}

/** Create, or replace whatever is there (retried on conflicts). */
export async function apply<T extends Obj>(api: KubeRest, obj: T): Promise<T> {
  for (;;) {
    let live: Obj;
    try {
      live = await get(api, obj);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      return create(api, obj);
    }
    try {
      return await api.put<T>(
        objectPath(obj),
        { ...obj, metadata: { ...obj.metadata, resourceVersion: live.metadata.resourceVersion } },
        { fieldValidation: "Strict" },
      );
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
  }
}

/** Read-modify-write of one object, retried on conflicts. */
export async function mutate<T extends Obj>(
  api: KubeRest,
  ref: Pick<Obj, "apiVersion" | "kind" | "metadata">,
  change: (live: T) => void,
): Promise<T> {
  for (;;) {
    const live = await get<T>(api, ref);
    change(live);
    try {
      return await api.put<T>(objectPath(ref), live);
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
  }
}

export async function remove(
  api: KubeRest,
  obj: Pick<Obj, "apiVersion" | "kind" | "metadata">,
): Promise<void> {
  try {
    await api.request("DELETE", objectPath(obj));
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

export function namespace(name: string): Obj {
  return { apiVersion: "v1", kind: "Namespace", metadata: { name } };
}

export function service(
  ns: string,
  name: string,
  ports: { name?: string; port: number; targetPort?: number }[],
): Obj {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: ns },
    spec: { ports: ports.map((p) => ({ protocol: "TCP", ...p })) },
  };
}

export interface SliceEndpoint {
  readonly ip: string;
  readonly ready?: boolean;
  readonly terminating?: boolean;
}

export function endpointSlice(
  ns: string,
  name: string,
  serviceName: string,
  ports: { name?: string; port: number }[],
  endpoints: readonly SliceEndpoint[],
): Obj {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name, namespace: ns, labels: { "kubernetes.io/service-name": serviceName } },
    addressType: "IPv4",
    ports: ports.map((p) => ({ protocol: "TCP", ...p })),
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: {
        ready: e.ready ?? true,
        serving: e.ready ?? true,
        terminating: e.terminating ?? false,
      },
    })),
  };
}

/** The EndpointSlice `echo-1` of Service `echo` (port "ws" → 8080) with ready endpoints on `ips`. */
export function echoSlice(ns: string, ips: readonly string[]): Obj {
  return endpointSlice(
    ns,
    "echo-1",
    "echo",
    [{ name: "ws", port: 8080 }],
    ips.map((ip) => ({ ip })),
  );
}

export function route(ns: string, name: string, spec: Record<string, unknown>): Obj {
  return {
    apiVersion: "wsgate.io/v1alpha1",
    kind: "WebSocketRoute",
    metadata: { name, namespace: ns },
    spec,
  };
}

export function tlsSecret(ns: string, name: string, pair: { cert: string; key: string }): Obj {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace: ns },
    type: "kubernetes.io/tls",
    data: {
      "tls.crt": Buffer.from(pair.cert).toString("base64"),
      "tls.key": Buffer.from(pair.key).toString("base64"),
    },
  };
}

/** A self-signed certificate for `host` (and its key), PEM. */
export function selfSigned(host: string): { cert: string; key: string; fingerprint: string } {
  const dir = mkdtempSync(join(tmpdir(), "wsgate-cert-"));
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      "key.pem",
      "-out",
      "cert.pem",
      "-days",
      "1",
      "-subj",
      `/CN=${host}`,
      "-addext",
      `subjectAltName=DNS:${host}`,
    ],
    { cwd: dir, stdio: ["ignore", "ignore", "pipe"] },
  );
  const cert = readFileSync(join(dir, "cert.pem"), "utf8");
  const fingerprint = execFileSync(
    "openssl",
    ["x509", "-noout", "-fingerprint", "-sha256", "-in", "cert.pem"],
    {
      cwd: dir,
      encoding: "utf8",
    },
  ).trim();
  return { cert, key: readFileSync(join(dir, "key.pem"), "utf8"), fingerprint };
}

/** The PolicyRules of the chart's ClusterRole (helm/wsgate/files/clusterrole-rules.yaml). */
export function chartClusterRoleRules(): unknown[] {
  return parse(readFileSync(join(REPO, "helm/wsgate/files/clusterrole-rules.yaml"), "utf8")) as unknown[];
}

/**
 * A ServiceAccount bound to a ClusterRole with exactly the chart's rules, and a
 * kubeconfig carrying a token for it (TokenRequest API): the controller runs as
 * it would in a cluster, not as cluster admin.
 */
export async function controllerKubeconfig(
  cp: ControlPlane,
  name = "wsgate",
  options: { rbac?: boolean } = {},
): Promise<string> {
  const ns = "wsgate-system";
  await apply(cp.admin, namespace(ns));
  await apply(cp.admin, {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: { name, namespace: ns },
  });
  if (options.rbac !== false) await bindChartRules(cp, name, ns);
  const review = await cp.admin.post<{ status: { token: string } }>(
    `/api/v1/namespaces/${ns}/serviceaccounts/${name}/token`,
    {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenRequest",
      spec: { expirationSeconds: 3600, audiences: ["https://kubernetes.default.svc.cluster.local"] },
    },
  );
  return cp.writeTokenKubeconfig(name, review.status.token);
}

async function bindChartRules(cp: ControlPlane, name: string, ns: string): Promise<void> {
  await apply(cp.admin, {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: { name: `${name}-controller` },
    rules: chartClusterRoleRules(),
  });
  await apply(cp.admin, {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    metadata: { name: `${name}-controller` },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: `${name}-controller` },
    subjects: [{ kind: "ServiceAccount", name, namespace: ns }],
  });
}

export const FAST_TUNING: ClusterTuning = {
  source: { backoffMinMs: 200, backoffMaxMs: 2_000, unhealthyAfterMs: 3_000, watchdogIntervalMs: 1_000 },
  statusRetryDelayMs: 200,
};

/** `wsgate serve` flags for cluster mode with `kubeconfig`, every listener on 127.0.0.1 port 0. */
export function controllerArgs(kubeconfig: string, flags: readonly string[] = []): string[] {
  return [
    // One data-plane thread: these tests observe the data plane in-process (test/workers.test.ts
    // covers threads).
    "--workers",
    "1",
    "--kubeconfig",
    kubeconfig,
    "--http-listen",
    "127.0.0.1:0",
    "--https-listen",
    "127.0.0.1:0",
    "--admin-listen",
    "127.0.0.1:0",
    "--leader-election-namespace",
    "wsgate-system",
    "--shutdown-drain",
    "0s",
    ...flags,
  ];
}

/** `wsgate serve` in cluster mode, composed as the CLI does, listening on 127.0.0.1 port 0. */
export async function startController(
  kubeconfig: string,
  flags: string[] = [],
  tuning: ClusterTuning = FAST_TUNING,
): Promise<RunningGateway> {
  const config = parseServeConfig(controllerArgs(kubeconfig, flags), {});
  const level = (process.env.WSGATE_TEST_LOG_LEVEL ?? "silent") as Parameters<typeof createLogger>[0];
  return startServe(config, createLogger(level), { cluster: tuning });
}

/** A "pod": a WebSocket echo server on `ip` that prefixes answers with its own address. */
export interface PodBackend {
  readonly ip: string;
  readonly port: number;
  readonly sockets: Set<WebSocket>;
  close(): Promise<void>;
}

export async function startPod(ip: string, port = 0): Promise<PodBackend> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { "Content-Type": "text/plain" });
    res.end(`${ip}\n`);
  });
  const wss = new WebSocketServer({ server });
  const sockets = new Set<WebSocket>();
  wss.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("message", (data) => socket.send(`${ip} ${String(data)}`));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, ip, () => resolve());
  });
  return {
    ip,
    port: (server.address() as AddressInfo).port,
    sockets,
    async close() {
      for (const s of sockets) s.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Fails fast, with the fix, when the tier runs outside the network namespace scripts/test-k8s.sh makes. */
export async function assertPodNetwork(): Promise<void> {
  try {
    const pod = await startPod("10.244.0.1");
    await pod.close();
  } catch (err) {
    throw new Error(
      `cannot listen on 10.244.0.1 (${(err as Error).message}): run the k8s tier with \`npm run test:k8s\` ` +
        "(scripts/test-k8s.sh), which creates a network namespace where 10.244.0.0/16 is local",
      { cause: err },
    );
  }
}
