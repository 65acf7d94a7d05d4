/**
 * What the e2e tests need from the kind cluster e2e/run.sh made: kubectl, the Pods
 * and nodes, the gateway's metrics and routing table, and bounded waits on observable
 * state. The clients are in clients.ts.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the e2e with bash e2e/run.sh`);
  return value;
}

/** `ws://127.0.0.1:18080`: the gateway's NodePort, published by e2e/kind.yaml. */
export const GATEWAY_URL = env("WSGATE_E2E_URL");
export const GATEWAY_NAMESPACE = env("WSGATE_E2E_GATEWAY_NAMESPACE");
export const APP_NAMESPACE = env("WSGATE_E2E_NAMESPACE");
const CONTEXT = env("WSGATE_E2E_CONTEXT");

/** The route's drain window (e2e/manifests/echo.yaml) and the gateway's (e2e/values.yaml). */
export const ROUTE_DRAIN_MS = 10_000;
export const ROUTE_DRAIN_CODE = 1012;
export const GATEWAY_PRESTOP_MS = 3_000;
export const GATEWAY_DRAIN_MS = 8_000;

export async function kubectl(...args: string[]): Promise<string> {
  return (await kubectlOutput(...args)).stdout;
}

/** kubectl with its stderr too (where e.g. `kubectl drain` reports refused evictions). */
export async function kubectlOutput(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run("kubectl", ["--context", CONTEXT, ...args], { maxBuffer: 16 * 1024 * 1024 });
}

/** What the e2e reads of a Pod. */
export interface PodInfo {
  readonly name: string;
  /** spec.nodeName ("" while unscheduled). */
  readonly node: string;
  readonly ip: string;
  readonly ready: boolean;
  /** When its deletion was asked for (deletionTimestamp minus the grace period), ms since the epoch. */
  readonly deletionRequestedAt: number | undefined;
  /** When it last turned Ready (second resolution), ms since the epoch. */
  readonly readySince: number | undefined;
}

export const ECHO_SELECTOR = "app=echo";
export const GATEWAY_SELECTOR = "app.kubernetes.io/name=wsgate";

/** Every Pod in `namespace` matching `selector`, terminating ones included, sorted by name. */
export async function pods(namespace: string, selector: string): Promise<PodInfo[]> {
  const out = await kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "json");
  const list = JSON.parse(out) as {
    items: {
      metadata: { name: string; deletionTimestamp?: string; deletionGracePeriodSeconds?: number };
      spec: { nodeName?: string };
      status: {
        podIP?: string;
        conditions?: { type: string; status: string; lastTransitionTime?: string }[];
      };
    }[];
  };
  return list.items
    .map((p) => {
      const readyCondition = p.status.conditions?.find((c) => c.type === "Ready" && c.status === "True");
      const { deletionTimestamp, deletionGracePeriodSeconds = 0 } = p.metadata;
      return {
        name: p.metadata.name,
        node: p.spec.nodeName ?? "",
        ip: p.status.podIP ?? "",
        ready: readyCondition !== undefined,
        deletionRequestedAt:
          deletionTimestamp === undefined
            ? undefined
            : Date.parse(deletionTimestamp) - deletionGracePeriodSeconds * 1000,
        readySince: readyCondition?.lastTransitionTime
          ? Date.parse(readyCondition.lastTransitionTime)
          : undefined,
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** Names of the Pods in `namespace` matching `selector` that are Ready and not terminating. */
async function readyPods(namespace: string, selector: string): Promise<string[]> {
  return (await pods(namespace, selector))
    .filter((p) => p.ready && p.deletionRequestedAt === undefined)
    .map((p) => p.name);
}

/** Names of the echo Pods that are Ready and not terminating. */
export function readyEchoPods(): Promise<string[]> {
  return readyPods(APP_NAMESPACE, ECHO_SELECTOR);
}

/** Every echo Pod, terminating ones included. */
export function echoPods(): Promise<PodInfo[]> {
  return pods(APP_NAMESPACE, ECHO_SELECTOR);
}

/** Every gateway Pod, terminating ones included. */
export function gatewayPods(): Promise<PodInfo[]> {
  return pods(GATEWAY_NAMESPACE, GATEWAY_SELECTOR);
}

/** The cluster's nodes: name, InternalIP, and whether it is the control plane (where the NodePort is published). */
export async function nodes(): Promise<{ name: string; ip: string; controlPlane: boolean }[]> {
  const list = JSON.parse(await kubectl("get", "nodes", "-o", "json")) as {
    items: {
      metadata: { name: string; labels: Record<string, string> };
      status: { addresses: { type: string; address: string }[] };
    }[];
  };
  return list.items.map((n) => ({
    name: n.metadata.name,
    ip: n.status.addresses.find((a) => a.type === "InternalIP")?.address ?? "",
    controlPlane: "node-role.kubernetes.io/control-plane" in n.metadata.labels,
  }));
}

/**
 * The gateway Pod whose upstream leg arrived at an echo Pod from `peer`: a gateway
 * Pod's own IP on the same node; across nodes the CNI masquerades, so the peer is the
 * gateway's node, which names the Pod only while one gateway runs there.
 */
export function servingGateway(
  peer: string,
  gateways: readonly PodInfo[],
  clusterNodes: readonly { name: string; ip: string }[],
): PodInfo | undefined {
  const byIp = gateways.find((g) => g.ip === peer);
  if (byIp) return byIp;
  const node = clusterNodes.find((n) => n.ip === peer);
  const onNode = gateways.filter((g) => node !== undefined && g.node === node.name);
  return onNode.length === 1 ? onNode[0] : undefined;
}

/** The node of the gateway whose upstream leg arrived from `peer` (see servingGateway). */
export function servingNode(
  peer: string,
  gateways: readonly PodInfo[],
  clusterNodes: readonly { name: string; ip: string }[],
): string | undefined {
  const node = gateways.find((g) => g.ip === peer)?.node ?? clusterNodes.find((n) => n.ip === peer)?.name;
  return gateways.some((g) => g.node === node) ? node : undefined;
}

/** An endpoint of the echo route as one gateway replica's /debug/config shows it. */
export interface TableEndpoint {
  readonly address: string;
  readonly ready: boolean;
  readonly terminating: boolean;
}

/**
 * The echo route's endpoints in one gateway replica's routing table, read from its
 * /debug/config through the API server's Pod proxy.
 */
export async function gatewayEchoEndpoints(pod: string): Promise<TableEndpoint[]> {
  const config = JSON.parse(
    await kubectl(
      "get",
      "--raw",
      `/api/v1/namespaces/${GATEWAY_NAMESPACE}/pods/${pod}:9090/proxy/debug/config`,
    ),
  ) as {
    table: {
      routes: {
        namespace: string;
        name: string;
        rules: { backends: { endpoints: TableEndpoint[] }[] }[];
      }[];
    };
  };
  const route = config.table.routes.find((r) => r.namespace === APP_NAMESPACE && r.name === "echo");
  return (route?.rules ?? []).flatMap((r) => r.backends.flatMap((b) => b.endpoints));
}

/**
 * Makes sure the echo Pods run on more than one node (the Deployment's spread
 * constraint puts them so; a node drain of an earlier run may have gathered them):
 * if not, rolls the Deployment so the scheduler spreads them again.
 */
export async function spreadEcho(replicas: number): Promise<void> {
  const current = (await echoPods()).filter((p) => p.deletionRequestedAt === undefined);
  if (current.length === replicas && new Set(current.map((p) => p.node)).size > 1) return;
  await kubectl("rollout", "restart", "deployment/echo", "-n", APP_NAMESPACE);
  await scaleEcho(replicas);
  await waitFor(async () => (await echoPods()).length === replicas, {
    what: "the echo Pods of before the spreading roll to exit",
    timeoutMs: 120_000,
  });
}

/** Scales the echo backend and waits until exactly `replicas` Pods are Ready and the route reports them. */
export async function scaleEcho(replicas: number): Promise<string[]> {
  await kubectl("scale", "deployment/echo", "-n", APP_NAMESPACE, `--replicas=${replicas}`);
  await kubectl("rollout", "status", "deployment/echo", "-n", APP_NAMESPACE, "--timeout=180s");
  await waitFor(
    async () => (await readyEchoPods()).length === replicas && (await routeReadyEndpoints()) === replicas,
    {
      what: `${replicas} ready echo Pods in the route's status`,
      timeoutMs: 180_000,
    },
  );
  return readyEchoPods();
}

export async function routeReadyEndpoints(): Promise<number> {
  const out = await kubectl(
    "get",
    "websocketroute/echo",
    "-n",
    APP_NAMESPACE,
    "-o",
    "jsonpath={.status.endpoints.ready}",
  );
  return Number(out || 0);
}

export async function waitFor<T>(
  check: () => Promise<T> | T,
  { what, timeoutMs = 60_000, intervalMs = 500 }: { what: string; timeoutMs?: number; intervalMs?: number },
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
      last = value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${String(last)})`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Names of the gateway Pods that are Ready and not terminating. */
export function readyGatewayPods(): Promise<string[]> {
  return readyPods(GATEWAY_NAMESPACE, GATEWAY_SELECTOR);
}

/** All gateway Pods' names, terminating ones included. */
export async function allGatewayPods(): Promise<string[]> {
  return (await gatewayPods()).map((p) => p.name);
}

/**
 * Makes sure no two ready gateway replicas share a node (the chart's topology spread
 * prefers that; a node drain of an earlier run may have gathered them), so a node's
 * address names the one gateway replica there: if not, rolls the gateway.
 */
export async function spreadGateway(): Promise<void> {
  const spread = async (): Promise<boolean> => {
    const current = await gatewayPods();
    const onNodes = new Set(current.map((p) => p.node));
    return (
      current.every((p) => p.ready && p.deletionRequestedAt === undefined) && onNodes.size === current.length
    );
  };
  if (await spread()) return;
  await kubectl("rollout", "restart", "deployment/wsgate", "-n", GATEWAY_NAMESPACE);
  await kubectl("rollout", "status", "deployment/wsgate", "-n", GATEWAY_NAMESPACE, "--timeout=180s");
  await waitFor(spread, { what: "gateway replicas on different nodes", timeoutMs: 120_000 });
}

/**
 * The value of a metric series on one gateway Pod, read from its admin port through the
 * API server's Pod proxy (the admin port is not published outside the cluster).
 */
export async function gatewayMetric(
  pod: string,
  name: string,
  labels: Record<string, string>,
): Promise<number> {
  const text = await kubectl(
    "get",
    "--raw",
    `/api/v1/namespaces/${GATEWAY_NAMESPACE}/pods/${pod}:9090/proxy/metrics`,
  );
  let sum = 0;
  for (const line of text.split("\n")) {
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const series = Object.fromEntries(
      [...(m[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => series[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

/**
 * Waits until every ready gateway replica has `endpoints` endpoints of the echo route
 * that take new connections, and no open connection left from earlier tests.
 */
export async function gatewaysSettled(endpoints: number): Promise<void> {
  const route = { namespace: APP_NAMESPACE, route: "echo" };
  await waitFor(
    async () => {
      const pods = await readyGatewayPods();
      if (pods.length === 0) return false;
      for (const pod of pods) {
        if ((await gatewayMetric(pod, "wsgate_backend_healthy", route)) !== endpoints) return false;
        if ((await gatewayMetric(pod, "wsgate_connections_active", route)) !== 0) return false;
      }
      return true;
    },
    {
      what: `every gateway replica to see ${endpoints} ready echo endpoints and no open connection`,
      timeoutMs: 120_000,
    },
  );
}

/** Writes what a suite measured to the run's log (the numbers behind its assertions). */
export function note(suite: string, facts: Record<string, unknown>): void {
  process.stderr.write(`e2e ${suite}: ${JSON.stringify(facts)}\n`);
}

/** Resolves with `promise`, or rejects naming `what` once `ms` have passed. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
