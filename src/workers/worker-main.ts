/**
 * A data-plane worker thread: the gateway, its traffic listeners (with `reusePort`, on
 * the same ports as its siblings), metrics on its own registry and logs — fed with the
 * tables the main thread publishes. Connection counts, limits, ejection and health are
 * read and written in shared memory, so every worker balances and limits as one gateway.
 */
import { readFileSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import { Registry } from "prom-client";
import { AffinityKey } from "../dataplane/affinity/token.js";
import { SharedKeySets, type KeySetAnswer } from "../dataplane/auth/shared-key-sets.js";
import { TrustedProxies } from "../dataplane/client-identity.js";
import { channels } from "../dataplane/events.js";
import { Gateway } from "../dataplane/gateway.js";
import { rebalanceChannels } from "../dataplane/rebalance/events.js";
import { logDataplaneEvents } from "../observability/log-events.js";
import { createLogger } from "../observability/logger.js";
import { Metrics } from "../observability/metrics.js";
import { StatusModel } from "../observability/status.js";
import { EMPTY_TABLE, type RoutingTable } from "../routing/table.js";
import type { FromWorker, ToWorker, WorkerStart, WorkerTable } from "./protocol.js";
import { createTrafficListeners } from "./listeners.js";
import { SharedEndpointStates, SharedHealthView } from "./shared-endpoints.js";
import { SharedLimits } from "./shared-limits.js";
import { TableDecoder } from "./table-transfer.js";

/** Metrics the main thread owns: a worker's copies would be summed into nonsense. */
const MAIN_THREAD_METRICS = new Set([
  "wsgate_routing_table_generation",
  "wsgate_routing_compile_duration_seconds",
  "wsgate_watch_restarts_total",
  "wsgate_backend_healthy",
]);

const port = parentPort;
if (!port) throw new Error("worker-main.js runs as a worker thread of wsgate serve --workers");
const start = workerData as WorkerStart;
const { config, index } = start;
const post = (message: FromWorker): void => port.postMessage(message);

// Log lines go to the main thread, batched per turn of the event loop, and are written
// there to the process's log stream: one stream, lines never interleaved mid-line.
let pending = "";
const logger = createLogger(start.logLevel as Parameters<typeof createLogger>[0], {
  write(line: string) {
    if (pending === "") setImmediate(flushLogs);
    pending += line;
  },
}).child({ worker: index });
function flushLogs(): void {
  if (pending === "") return;
  post({ type: "logs", lines: pending });
  pending = "";
}

// The table in force and its listeners (the HTTPS listener re-reads its default certificate).
let current: RoutingTable = EMPTY_TABLE;
const publishListeners = new Set<() => void>();
const tables = {
  get current(): RoutingTable {
    return current;
  },
};

// Traces (--otlp-endpoint): each worker exports its own spans. Loaded only when on.
const tracing =
  config.otlpEndpoint === undefined
    ? undefined
    : new (await import("../observability/tracing.js")).OtelTracing({
        endpoint: config.otlpEndpoint,
        sampleRatio: config.traceSampleRatio,
        serviceVersion: (
          JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
            version: string;
          }
        ).version,
      });

// jwksUri key sets: asked of the main thread, which fetches each once for the process.
const keySetAnswers = new Map<number, (answer: KeySetAnswer) => void>();
let nextKeySetRequest = 1;
const keySets = new SharedKeySets(
  (request) =>
    new Promise((resolve) => {
      const id = nextKeySetRequest++;
      keySetAnswers.set(id, resolve);
      post({ type: "jwks", id, ...request });
    }),
);

const states = new SharedEndpointStates(start.endpoints, index);
let slots: ReadonlyMap<string, number> = new Map();
const gateway = new Gateway({
  tables,
  states,
  limits: new SharedLimits(start.limits, index),
  health: new SharedHealthView(start.endpoints, () => slots),
  trustedProxies: new TrustedProxies(config.trustedProxies),
  clientAddressHeader: config.clientAddressHeader,
  underscoresInHeaders: config.underscoresInHeaders,
  ...(tracing ? { tracer: tracing } : {}),
  ...(start.affinityKey ? { affinityKey: new AffinityKey(start.affinityKey) } : {}),
  // Counts are global; each worker moves its own connections within its part of the rate.
  workerShare: { index, count: start.endpoints.workers },
  auth: { keySets },
});
const registry = new Registry();
new Metrics(
  {
    connections: gateway.connections,
    onPublish: () => () => {},
    defaultMetrics: false,
  },
  registry,
);
const stopLogging = logDataplaneEvents(logger);
// This worker's live connections, in shared memory for the main thread's views.
const countOpened = (): number => Atomics.add(start.endpoints.connections, index, 1);
const countClosed = (): number => Atomics.sub(start.endpoints.connections, index, 1);
channels.connectionOpened.subscribe(countOpened);
channels.connectionClosed.subscribe(countClosed);
// Rebalancing starts and ends go to the main thread too, which records the Kubernetes Events.
rebalanceChannels.state.subscribe((event) => post({ type: "rebalance", event }));
// This worker's part of /status; the main thread adds conditions, health and the control plane.
const status = new StatusModel({
  tables,
  onPublish: () => () => {},
  routeStatus: () => [],
  connections: gateway.connections,
  endpoints: states,
  showClients: config.statusShowClients,
  source: () => ({ mode: "standalone", dir: "", problems: [] }),
});

const decoder = new TableDecoder(config.allowCrossNamespaceHostnames);
function install(message: WorkerTable): void {
  // Slots first: a handshake that picks from the new table must find its endpoints' slots.
  slots = new Map(message.slots);
  states.setSlots(slots);
  current = decoder.decode(message.table);
  for (const listener of publishListeners) listener();
  const draining = gateway.reconcile(current);
  if (draining > 0)
    logger.info(
      { event: "drain_scheduled", connections: draining },
      "draining connections of endpoints that left",
    );
  post({ type: "served", generation: current.generation });
}

const listeners = createTrafficListeners({
  config,
  gateway,
  trustedProxies: new TrustedProxies(config.trustedProxies),
  tables,
  onPublish(listener) {
    publishListeners.add(listener);
    return () => publishListeners.delete(listener);
  },
  ...(start.ticketKeys ? { ticketKeys: start.ticketKeys } : {}),
});

async function drain(windowMs: number): Promise<void> {
  const closing = listeners.close();
  logger.info(
    { event: "draining", connections: gateway.connections.size, windowMs },
    "closing connections with 1001",
  );
  await gateway.drainAll(windowMs);
  await closing;
  gateway.stop();
  stopLogging();
  flushLogs();
  // The buffered spans, the connections' close events among them.
  await tracing?.shutdown().catch(() => {});
  post({ type: "drained", metrics: await dataPlaneMetrics() });
}

/** This worker's own metrics (the main thread serves the others). */
async function dataPlaneMetrics(): Promise<Awaited<ReturnType<typeof registry.getMetricsAsJSON>>> {
  return (await registry.getMetricsAsJSON()).filter((m) => !MAIN_THREAD_METRICS.has(m.name));
}

port.on("message", (message: ToWorker) => {
  switch (message.type) {
    case "table":
      return install(message);
    case "stats":
      dataPlaneMetrics().then((metrics) =>
        post({
          type: "stats",
          id: message.id,
          metrics,
          connections: gateway.connections.size,
          generation: current.generation,
          status: status.view(),
        }),
      );
      return;
    case "drain":
      void drain(message.windowMs);
      return;
    case "jwks":
      keySetAnswers.get(message.id)?.(message.answer);
      keySetAnswers.delete(message.id);
      return;
  }
});

if (start.table) install(start.table);
gateway.start();
listeners.listen(start.http, start.https, true).then(
  (addresses) => post({ type: "listening", http: addresses.http.port, https: addresses.https.port }),
  (err: Error) => {
    flushLogs();
    post({ type: "failed", error: err.message });
  },
);
