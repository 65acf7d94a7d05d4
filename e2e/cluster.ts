/**
 * What the e2e tests need from the kind cluster e2e/run.sh made: kubectl, clients
 * through the gateway's NodePort, and bounded waits on observable state.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import WebSocket from "ws";

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
  const { stdout } = await run("kubectl", ["--context", CONTEXT, ...args], { maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

/** Names of the Pods in `namespace` matching `selector` that are Ready and not terminating. */
async function readyPods(namespace: string, selector: string): Promise<string[]> {
  const out = await kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "json");
  const pods = JSON.parse(out) as {
    items: {
      metadata: { name: string; deletionTimestamp?: string };
      status: { conditions?: { type: string; status: string }[] };
    }[];
  };
  return pods.items
    .filter((p) => !p.metadata.deletionTimestamp)
    .filter((p) => p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True"))
    .map((p) => p.metadata.name)
    .sort();
}

/** Names of the echo Pods that are Ready and not terminating. */
export function readyEchoPods(): Promise<string[]> {
  return readyPods(APP_NAMESPACE, "app=echo");
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

/** A client connected through the gateway to one echo Pod. */
export interface Client {
  readonly socket: WebSocket;
  /** The echo Pod serving it. */
  readonly pod: string;
  /** Resolves with the close code and when it arrived (ms since the epoch). */
  readonly closed: Promise<{ code: number; at: number }>;
}

/** Opens a WebSocket to /echo through the gateway and asks the backend who it is. */
export function connect(path = "/echo"): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${GATEWAY_URL}${path}`, { handshakeTimeout: 10_000 });
    const closed = new Promise<{ code: number; at: number }>((done) =>
      socket.once("close", (code) => done({ code, at: Date.now() })),
    );
    socket.once("unexpected-response", (_req, res) =>
      reject(new Error(`handshake refused: HTTP ${res.statusCode}`)),
    );
    socket.once("error", reject);
    socket.once("open", () => {
      socket.once("message", (data) => resolve({ socket, pod: String(data), closed }));
      socket.send("whoami");
    });
  });
}

/** connect(), retried a few times with a short back-off, as a real client reconnects. */
export async function reconnect(attempts = 5): Promise<{ client: Client; attempts: number }> {
  for (let i = 1; ; i++) {
    try {
      return { client: await connect(), attempts: i };
    } catch (err) {
      if (i >= attempts) throw err;
      await new Promise((resolve) => setTimeout(resolve, 250 * i));
    }
  }
}

/** Sends a text message and resolves with the first answer. */
export function ask(socket: WebSocket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    socket.once("message", (data) => resolve(String(data)));
    socket.once("error", reject);
    socket.send(text);
  });
}

export function countBy<T>(items: readonly T[], key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}

/** Closes clients and waits until they are closed. */
export async function closeAll(clients: readonly Client[]): Promise<void> {
  for (const c of clients) if (c.socket.readyState === WebSocket.OPEN) c.socket.close(1000);
  await Promise.all(
    clients.map((c) =>
      Promise.race([
        c.closed,
        new Promise((resolve) => setTimeout(resolve, 5_000)).then(() => c.socket.terminate()),
      ]),
    ),
  );
}

/** Names of the gateway Pods that are Ready and not terminating. */
export function readyGatewayPods(): Promise<string[]> {
  return readyPods(GATEWAY_NAMESPACE, "app.kubernetes.io/name=wsgate");
}

/** All gateway Pods, terminating ones included. */
export async function allGatewayPods(): Promise<string[]> {
  const out = await kubectl(
    "get",
    "pods",
    "-n",
    GATEWAY_NAMESPACE,
    "-l",
    "app.kubernetes.io/name=wsgate",
    "-o",
    "jsonpath={.items[*].metadata.name}",
  );
  return out.split(/\s+/).filter(Boolean).sort();
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
