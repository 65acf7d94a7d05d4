/**
 * The Prometheus metrics of DESIGN.md §4, on an injected registry, fed by
 * diagnostics_channel subscriptions — the data plane never touches the registry.
 */
import diagnostics_channel from "node:diagnostics_channel";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { affinityChannel, type AffinityDecided } from "../dataplane/affinity/session.js";
import type { LiveConnection } from "../dataplane/connections.js";
import {
  channels,
  type ConnectionClosed,
  type ConnectionOpened,
  type HandshakeRejected,
} from "../dataplane/events.js";
import type { Publication } from "../routing/holder.js";
import type { RoutingTable } from "../routing/table.js";
import { connectionMetrics } from "./connection-metrics.js";
import { rebalanceMetrics } from "./rebalance.js";
import { sourceChannels, type WatchRestarted } from "../sources/cluster/events.js";

export interface MetricsSources {
  /** Live connections, read at scrape time for byte counts of open connections. */
  readonly connections: Iterable<LiveConnection>;
  /** Subscribes to table publications. */
  onPublish(listener: (p: Publication) => void): () => void;
  /** The table in force, read at scrape time for `wsgate_backend_healthy`. */
  readonly tables?: { readonly current: RoutingTable };
  /** Health beyond EndpointSlice readiness: active probes passed and not passively ejected. */
  readonly endpointHealthy?: (endpointId: string) => boolean;
  /**
   * Node's default process metrics (default true). Data-plane worker threads leave them to
   * the main thread: process CPU and memory summed over threads would count N times.
   */
  readonly defaultMetrics?: boolean;
}

export class Metrics {
  readonly registry: Registry;
  readonly #unsubscribe: (() => void)[] = [];

  constructor(sources: MetricsSources, registry = new Registry()) {
    this.registry = registry;
    if (sources.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: "wsgate_" });
    const registers = [registry];

    // Per-connection counts are plain numbers bumped by the events (connection-metrics.ts);
    // their families are registered here in the order /metrics has always listed them.
    const perConnection = connectionMetrics(sources.connections);
    const family = (name: string): void => registry.registerMetric(perConnection.families.get(name)!);
    family("wsgate_connections_active");
    family("wsgate_connections_total");
    const rejections = new Counter({
      name: "wsgate_handshake_rejections_total",
      help: "Upgrade requests answered with something other than 101, by reason",
      labelNames: ["namespace", "route", "reason"],
      registers,
    });
    const requestRejections = new Counter({
      name: "wsgate_request_rejections_total",
      help: "Plain HTTP requests wsgate answered itself instead of passing them on, by reason",
      labelNames: ["namespace", "route", "reason"],
      registers,
    });
    family("wsgate_handshake_duration_seconds");
    family("wsgate_connection_duration_seconds");
    family("wsgate_bytes_total");
    family("wsgate_messages_total");
    family("wsgate_closes_total");
    new Gauge({
      name: "wsgate_connections_draining",
      help: "Open connections scheduled to be closed by a drain (endpoint leaving, or shutdown)",
      labelNames: ["namespace", "route"],
      registers,
      collect() {
        this.reset();
        for (const c of sources.connections) {
          if (c.drainAt !== undefined) this.inc({ namespace: c.labels.namespace, route: c.labels.route });
        }
      },
    });
    new Gauge({
      name: "wsgate_backend_healthy",
      help: "Endpoints of the backend that can take new connections (a count, 0 when none): ready and not terminating in its EndpointSlices, passing active health checks, not ejected",
      labelNames: ["namespace", "route", "backend"],
      registers,
      collect() {
        this.reset();
        const table = sources.tables?.current;
        if (!table) return;
        const healthy = sources.endpointHealthy ?? (() => true);
        for (const route of table.routes) {
          // A backend named by several rules of a route is one series; its endpoints count once.
          const byBackend = new Map<string, Set<string>>();
          for (const rule of route.rules) {
            for (const backend of rule.backends) {
              let ids = byBackend.get(backend.key);
              if (!ids) byBackend.set(backend.key, (ids = new Set()));
              for (const e of backend.endpoints) {
                if (e.ready && !e.terminating && healthy(e.id)) ids.add(e.id);
              }
            }
          }
          for (const [backend, ids] of byBackend) {
            this.set({ namespace: route.namespace, route: route.name, backend }, ids.size);
          }
        }
      },
    });
    const generation = new Gauge({
      name: "wsgate_routing_table_generation",
      help: "Generation of the routing table in force",
      registers,
    });
    const compileDuration = new Histogram({
      name: "wsgate_routing_compile_duration_seconds",
      help: "Time to compile the object store into a routing table",
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });

    const watchRestarts = new Counter({
      name: "wsgate_watch_restarts_total",
      help: "Kubernetes API watches restarted after a failure or a stall, by kind",
      labelNames: ["kind"],
      registers,
    });
    this.#subscribe(sourceChannels.watchRestarted, (m) => {
      watchRestarts.inc({ kind: (m as WatchRestarted).kind });
    });

    family("wsgate_connections_http_version_total");
    // Refusals by the client's HTTP version too: counters of their own, as for connections,
    // so that the rejection counters keep the labels DESIGN.md gives them.
    const rejectionsByVersion = new Counter({
      name: "wsgate_handshake_rejections_http_version_total",
      help: 'Upgrade requests answered with something other than 101, by reason and the client\'s HTTP version: "1.1" (Upgrade) or "2" (RFC 8441 extended CONNECT)',
      labelNames: ["namespace", "route", "reason", "http_version"],
      registers,
    });
    const requestRejectionsByVersion = new Counter({
      name: "wsgate_request_rejections_http_version_total",
      help: 'Plain HTTP requests wsgate answered itself, by reason and the client\'s HTTP version: "1.1" or "2"',
      labelNames: ["namespace", "route", "reason", "http_version"],
      registers,
    });
    this.#subscribe(channels.connectionOpened, (m) => perConnection.opened(m as ConnectionOpened));
    this.#subscribe(channels.connectionClosed, (m) => perConnection.closed(m as ConnectionClosed));
    this.#subscribe(channels.handshakeRejected, (m) => {
      const e = m as HandshakeRejected;
      rejections.inc({ namespace: e.namespace, route: e.route, reason: e.reason });
      rejectionsByVersion.inc({
        namespace: e.namespace,
        route: e.route,
        reason: e.reason,
        http_version: e.httpVersion ?? "1.1",
      });
    });
    const affinity = new Counter({
      name: "wsgate_affinity_total",
      help: "Requests on session-affinity routes: hit (the session's endpoint), miss (no pin), repicked (a pin that could not be followed)",
      labelNames: ["namespace", "route", "result"],
      registers,
    });
    this.#subscribe(affinityChannel, (m) => {
      const e = m as AffinityDecided;
      affinity.inc({ namespace: e.namespace, route: e.route, result: e.result });
    });
    this.#subscribe(channels.requestRejected, (m) => {
      const e = m as HandshakeRejected;
      requestRejections.inc({ namespace: e.namespace, route: e.route, reason: e.reason });
      requestRejectionsByVersion.inc({
        namespace: e.namespace,
        route: e.route,
        reason: e.reason,
        http_version: e.httpVersion ?? "1.1",
      });
    });
    this.#unsubscribe.push(rebalanceMetrics(registry));
    this.#unsubscribe.push(
      sources.onPublish((p) => {
        generation.set(p.table.generation);
        compileDuration.observe(p.compileMs / 1000);
      }),
    );
  }

  /** Stops listening to events (the registry keeps its values). */
  close(): void {
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
  }

  #subscribe(channel: diagnostics_channel.Channel, handler: (message: unknown) => void): void {
    channel.subscribe(handler);
    this.#unsubscribe.push(() => channel.unsubscribe(handler));
  }
}
