/**
 * The composition root of `wsgate serve`: wires the source (a manifest directory,
 * or the Kubernetes API in cluster mode), the store, the recompiler, the table
 * holder, the gateway, metrics, logs and the admin listener, and owns their start
 * and stop order.
 */
import { readFileSync } from "node:fs";
import type net from "node:net";
import type { AddressInfo } from "node:net";
import { AffinityKey } from "../dataplane/affinity/token.js";
import { TrustedProxies } from "../dataplane/client-identity.js";
import { Gateway } from "../dataplane/gateway.js";
import { applyHeaderTimeout } from "../dataplane/header-timeout.js";
import { HealthProber } from "../dataplane/health.js";
import type { ServeConfig } from "../config/config.js";
import { createAdminServer } from "../observability/admin.js";
import { logDataplaneEvents } from "../observability/log-events.js";
import type { Logger } from "../observability/logger.js";
import { Metrics } from "../observability/metrics.js";
import { mergeWorkerViews } from "../observability/status-merge.js";
import { StatusModel, type SourceView, type StatusView } from "../observability/status.js";
import type { OtelTracing } from "../observability/tracing.js";
import { TableHolder, type Publication } from "../routing/holder.js";
import { Recompiler } from "../routing/recompiler.js";
import { ObjectStore } from "../routing/store.js";
import type { RoutingTable } from "../routing/table.js";
import { ManifestDirectory } from "../sources/manifests.js";
import { StatusLedger } from "../status/ledger.js";
import { defaultWorkerCount, reusePortAvailable } from "../workers/cpus.js";
import { createTrafficListeners } from "../workers/listeners.js";
import { WorkerPool } from "../workers/pool.js";
import type { ClusterMode, ClusterTuning } from "./cluster.js";

export interface RunningGateway {
  readonly httpAddress: AddressInfo;
  readonly httpsAddress: AddressInfo;
  readonly adminAddress: AddressInfo;
  readonly holder: TableHolder;
  readonly gateway: Gateway;
  /** Standalone mode's source. */
  readonly manifests: ManifestDirectory | undefined;
  /** Cluster mode's informers, leader election and status writer. */
  readonly cluster: ClusterMode | undefined;
  /** The session affinity key every thread signs cookies with. */
  readonly affinityKey: AffinityKey;
  /** The data-plane worker threads (`--workers` > 1); undefined when this thread serves. */
  readonly workers: WorkerPool | undefined;
  /**
   * Shuts down: /readyz fails at once, listeners stop accepting, connections are
   * closed with 1001 spread over `drainMs` (default `--shutdown-drain`).
   */
  stop(drainMs?: number): Promise<void>;
}

function listen(server: net.Server, address: { host: string; port: number }): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(address.port, address.host, () => {
      server.off("error", reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

function close(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** JSON view of a table: routes as compiled, TLS hosts without key material. */
export function tableToJSON(table: RoutingTable): unknown {
  return {
    generation: table.generation,
    routes: table.routes,
    tls: [...table.certificates.entries()].map(([host, cert]) => ({ host, secret: cert.secret })),
    defaultTlsSecret: table.defaultCertificate?.secret ?? null,
    identityHeaders: [...table.identityHeaders].sort(),
  };
}

/** The version of the package this build came from, for the traces' service.version. */
function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return manifest.version;
}

export interface ServeOptions {
  /** Cluster-mode timings (tests shorten them). */
  readonly cluster?: ClusterTuning;
}

export async function startServe(
  config: ServeConfig,
  logger: Logger,
  options: ServeOptions = {},
): Promise<RunningGateway> {
  const store = new ObjectStore();
  const holder = new TableHolder();
  const ledger = new StatusLedger();
  const manifests =
    config.manifests === undefined
      ? undefined
      : new ManifestDirectory(config.manifests, store, { log: logger.child({ component: "manifests" }) });
  const recompiler = new Recompiler(store, holder, {
    ingressClass: config.ingressClass,
    ...(config.defaultTlsSecret ? { defaultTlsSecret: config.defaultTlsSecret } : {}),
    allowCrossNamespaceHostnames: config.allowCrossNamespaceHostnames,
    watchIngressWithoutClass: config.watchIngressWithoutClass,
    gatewayApi: {
      controllerName: config.gatewayClassController,
      httpPorts: [...new Set([80, config.httpListen.port])],
      httpsPorts: [...new Set([443, config.httpsListen.port])],
    },
  });
  const health = new HealthProber();
  const trustedProxies = new TrustedProxies(config.trustedProxies);
  // --workers N > 1: the data plane runs in N worker threads (src/workers); this thread's
  // gateway serves nothing and shows the state the workers share.
  let workerCount = config.workers === "auto" ? defaultWorkerCount() : config.workers;
  if (workerCount > 1 && !reusePortAvailable()) {
    logger.warn(
      { event: "workers_unavailable", workers: workerCount, platform: process.platform },
      "listening sockets cannot share a port (reusePort) on this platform: serving with one thread",
    );
    workerCount = 1;
  }
  // Session affinity cookies: one key for every thread (shared memory); a file's key for
  // every replica given it, else a random one per process.
  const affinityKey = affinityKeyOf(config);
  const pool =
    workerCount > 1 ? new WorkerPool({ config, count: workerCount, logger, health, affinityKey }) : undefined;
  if (pool) holder.onPublish((p) => pool.publish(p.table));
  // Loaded only with --otlp-endpoint: with tracing off the OpenTelemetry SDK and exporter
  // are not in the process (test/tracing-off.test.ts).
  let tracing: OtelTracing | undefined;
  if (config.otlpEndpoint !== undefined) {
    const { OtelTracing } = await import("../observability/tracing.js");
    tracing = new OtelTracing({
      endpoint: config.otlpEndpoint,
      sampleRatio: config.traceSampleRatio,
      serviceVersion: packageVersion(),
    });
  }
  const gateway = new Gateway({
    ...(pool ? { states: pool.states, limits: pool.limits } : {}),
    tables: holder,
    trustedProxies,
    clientAddressHeader: config.clientAddressHeader,
    underscoresInHeaders: config.underscoresInHeaders,
    health,
    ...(tracing ? { tracer: tracing } : {}),
    affinityKey,
  });
  const metrics = new Metrics({
    connections: gateway.connections,
    onPublish: (l) => holder.onPublish(l),
    tables: holder,
    endpointHealthy: (id) => health.isHealthy(id) && !gateway.states.isEjected(id),
  });
  const stopLogging = logDataplaneEvents(logger);
  const statusModel = new StatusModel({
    tables: holder,
    onPublish: (l) => holder.onPublish(l),
    routeStatus: () => ledger.routes(),
    connections: gateway.connections,
    endpoints: gateway.states,
    health,
    showClients: config.statusShowClients,
    ...(pool
      ? { workers: () => pool.view().map((w) => ({ worker: String(w.worker), connections: w.connections })) }
      : {}),
    source: (): SourceView =>
      manifests
        ? {
            mode: "standalone",
            dir: config.manifests ?? "",
            // File names only: a parse error may quote the file, and a file may hold a Secret.
            problems: manifests.problems.map((p) => ({ file: p.file, errors: p.errors.length })),
          }
        : {
            mode: "cluster",
            synced: cluster?.source.synced ?? false,
            leader: cluster?.elector.isLeader ?? false,
            watches: cluster?.source.health() ?? [],
          },
  });
  let shuttingDown = false;

  let defaultTlsProblem: string | undefined;
  let ingresses: Publication["ingress"] = [];
  // Standalone mode has no Events: what an Ingress does not get as written is logged, once.
  const loggedNotices = new Set<string>();
  holder.onPublish((p) => {
    ledger.update(p.diagnostics, new Date());
    ingresses = p.ingress ?? [];
    if (manifests) {
      for (const i of ingresses) {
        for (const n of i.notices) {
          const id = `${i.namespace}/${i.name} ${n.reason} ${n.message}`;
          if (loggedNotices.has(id)) continue;
          loggedNotices.add(id);
          logger.warn(
            { event: "ingress_notice", ingress: `${i.namespace}/${i.name}`, reason: n.reason },
            n.message,
          );
        }
      }
    }
    health.update(p.table);
    if (p.defaultTlsProblem !== defaultTlsProblem) {
      defaultTlsProblem = p.defaultTlsProblem;
      if (defaultTlsProblem) {
        logger.warn({ event: "default_tls_secret", problem: defaultTlsProblem }, defaultTlsProblem);
      }
    }
    const draining = gateway.reconcile(p.table);
    if (draining > 0)
      logger.info(
        { event: "drain_scheduled", connections: draining },
        "draining connections of endpoints that left",
      );
    logger.info(
      {
        event: "table_published",
        generation: p.table.generation,
        routes: p.table.routes.length,
        compileMs: Number(p.compileMs.toFixed(2)),
      },
      "routing table published",
    );
  });

  let cluster: ClusterMode | undefined;
  if (manifests) {
    try {
      manifests.load();
    } catch (err) {
      throw new Error(`cannot read the manifest directory ${config.manifests}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    recompiler.start();
    manifests.start();
  } else {
    // The recompiler starts once the informers' initial sync is complete. Loaded only in
    // cluster mode: the Kubernetes client is most of the heap, and a larger heap makes
    // every garbage collection of the relay's read buffers dearer (bench/: W3 −27% CPU).
    const { startClusterMode } = await import("./cluster.js");
    cluster = startClusterMode(config, { store, holder, recompiler, logger, affinityKey }, options.cluster);
  }
  gateway.start();

  const headerTimeout = config.headerTimeout;
  const listeners = pool
    ? undefined
    : createTrafficListeners({
        config,
        gateway,
        trustedProxies,
        tables: holder,
        onPublish: (l) => holder.onPublish(l),
      });
  const adminServer = createAdminServer({
    registry: pool ? pool.metricsSource(metrics.registry) : metrics.registry,
    ready: () => !shuttingDown && holder.current.generation > 0 && (pool?.ready() ?? true),
    healthy: () => cluster?.healthy() ?? true,
    debugConfig: () => ({
      table: tableToJSON(holder.current),
      routes: ledger.routes(),
      // Ingresses of wsgate's classes: served or not, and what their Events say.
      ingresses,
      sources: manifests
        ? { manifests: { dir: config.manifests, problems: manifests.problems } }
        : { cluster: cluster?.debug() },
      endpoints: gateway.states.view(),
      health: health.view(),
      connections: pool ? pool.connections : gateway.connections.size,
      ...(pool ? { workers: pool.view() } : {}),
    }),
    status: async () => {
      if (!pool) return statusModel.view();
      // With --workers the connections live in the worker threads: each adds its part.
      const parts = await pool.stats();
      return mergeWorkerViews(
        statusModel.view(),
        parts.flatMap((p) => (p.status ? [p.status as StatusView] : [])),
      );
    },
  });
  applyHeaderTimeout(adminServer, headerTimeout);

  const traffic = pool
    ? await pool.start()
    : await (listeners as NonNullable<typeof listeners>).listen(config.httpListen, config.httpsListen);
  const httpAddress = traffic.http;
  const httpsAddress = traffic.https;
  const adminAddress = await listen(adminServer, config.adminListen);
  logger.info(
    {
      event: "listening",
      http: `${httpAddress.address}:${httpAddress.port}`,
      https: `${httpsAddress.address}:${httpsAddress.port}`,
      admin: `${adminAddress.address}:${adminAddress.port}`,
    },
    pool ? `wsgate serving with ${pool.count} data-plane workers` : "wsgate serving",
  );

  return {
    httpAddress,
    httpsAddress,
    adminAddress,
    holder,
    gateway,
    manifests,
    cluster,
    workers: pool,
    affinityKey,
    async stop(drainMs = config.shutdownDrain) {
      shuttingDown = true;
      manifests?.stop();
      // First, so that a standby takes over status writing while connections drain.
      await cluster?.stop();
      recompiler.stop();
      health.stop();
      const closing = listeners?.close();
      if (pool) {
        // Each worker logs its own "draining" line, with its connections.
        await pool.drain(drainMs);
      } else {
        logger.info(
          { event: "draining", connections: gateway.connections.size, windowMs: drainMs },
          "closing connections with 1001",
        );
        await gateway.drainAll(drainMs);
      }
      await closing;
      gateway.stop();
      await close(adminServer);
      metrics.close();
      statusModel.close();
      stopLogging();
      // Exports the spans still buffered (the connections' close events among them).
      await tracing?.shutdown().catch(() => {});
    },
  };
}

/** The session affinity key: `--affinity-key-file`'s bytes, else a random key. */
function affinityKeyOf(config: ServeConfig): AffinityKey {
  if (config.affinityKeyFile === undefined) return AffinityKey.generate();
  try {
    return new AffinityKey(readFileSync(config.affinityKeyFile));
  } catch (err) {
    throw new Error(`--affinity-key-file ${config.affinityKeyFile}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
