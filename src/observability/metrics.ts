/**
 * The Prometheus metrics of DESIGN.md §4, on an injected registry, fed by
 * diagnostics_channel subscriptions — the data plane never touches the registry.
 */
import diagnostics_channel from "node:diagnostics_channel";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { affinityChannel, type AffinityDecided } from "../dataplane/affinity/session.js";
import type { LiveConnection } from "../dataplane/connections.js";
import type { RelayStats } from "../dataplane/relay.js";
import {
  channels,
  type ConnectionClosed,
  type ConnectionOpened,
  type HandshakeRejected,
} from "../dataplane/events.js";
import type { Publication } from "../routing/holder.js";
import type { RoutingTable } from "../routing/table.js";
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

type Direction = "from_client" | "to_client";

export class Metrics {
  readonly registry: Registry;
  readonly #unsubscribe: (() => void)[] = [];
  /** Bytes and messages of closed connections by metric, labels; open ones are added at scrape time. */
  readonly #closedTotals = new Map<string, number>();

  constructor(sources: MetricsSources, registry = new Registry()) {
    this.registry = registry;
    if (sources.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: "wsgate_" });
    const registers = [registry];

    const active = new Gauge({
      name: "wsgate_connections_active",
      help: "Established WebSocket connections",
      labelNames: ["namespace", "route", "backend"],
      registers,
    });
    const total = new Counter({
      name: "wsgate_connections_total",
      help: "WebSocket connections established (101 sent to the client)",
      labelNames: ["namespace", "route"],
      registers,
    });
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
    const handshakeDuration = new Histogram({
      name: "wsgate_handshake_duration_seconds",
      help: "Time from the upgrade request to the 101 sent to the client",
      labelNames: ["namespace", "route"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    const connectionDuration = new Histogram({
      name: "wsgate_connection_duration_seconds",
      help: "Lifetime of WebSocket connections, from 101 to close",
      labelNames: ["namespace", "route"],
      buckets: [1, 10, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 24 * 3600],
      registers,
    });
    const closedTotals = this.#closedTotals;
    // Bytes and messages of open connections are read from their relays at scrape
    // time and added to the totals of closed ones: exact, and nothing in the hot path.
    const liveCounter = (
      name: string,
      help: string,
      fromClient: keyof RelayStats,
      toClient: keyof RelayStats,
    ): void => {
      new Counter({
        name,
        help,
        labelNames: ["namespace", "route", "direction"],
        registers,
        collect() {
          this.reset();
          const sums = new Map<string, number>();
          for (const [key, value] of closedTotals) if (key.startsWith(`${name}\0`)) sums.set(key, value);
          for (const c of sources.connections) {
            const base = `${name}\0${c.labels.namespace}\0${c.labels.route}\0`;
            sums.set(`${base}from_client`, (sums.get(`${base}from_client`) ?? 0) + c.relay.stats[fromClient]);
            sums.set(`${base}to_client`, (sums.get(`${base}to_client`) ?? 0) + c.relay.stats[toClient]);
          }
          for (const [key, value] of sums) {
            const [, namespace, route, direction] = key.split("\0") as [string, string, string, Direction];
            this.inc({ namespace, route, direction }, value);
          }
        },
      });
    };
    liveCounter(
      "wsgate_bytes_total",
      "Bytes relayed on WebSocket connections after the handshake, open connections included",
      "bytesFromClient",
      "bytesToClient",
    );
    liveCounter(
      "wsgate_messages_total",
      "Complete WebSocket messages relayed, open connections included",
      "messagesFromClient",
      "messagesToClient",
    );
    const closes = new Counter({
      name: "wsgate_closes_total",
      help: "Closed WebSocket connections by the first Close frame's code (1006: none) and who sent it",
      labelNames: ["namespace", "route", "code", "initiator"],
      registers,
    });
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

    // The HTTP version of each handshake (issue 15): its own counter, so that
    // connections_total keeps the labels DESIGN.md gives it.
    const byHttpVersion = new Counter({
      name: "wsgate_connections_http_version_total",
      help: 'WebSocket connections established, by the client\'s HTTP version: "1.1" (Upgrade) or "2" (RFC 8441 extended CONNECT)',
      labelNames: ["namespace", "route", "http_version"],
      registers,
    });
    this.#subscribe(channels.connectionOpened, (m) => {
      const e = m as ConnectionOpened;
      active.inc({ namespace: e.namespace, route: e.route, backend: e.backend });
      total.inc({ namespace: e.namespace, route: e.route });
      byHttpVersion.inc({ namespace: e.namespace, route: e.route, http_version: e.httpVersion ?? "1.1" });
      handshakeDuration.observe({ namespace: e.namespace, route: e.route }, e.handshakeMs / 1000);
    });
    this.#subscribe(channels.connectionClosed, (m) => {
      const e = m as ConnectionClosed;
      active.dec({ namespace: e.namespace, route: e.route, backend: e.backend });
      connectionDuration.observe({ namespace: e.namespace, route: e.route }, e.durationMs / 1000);
      closes.inc({ namespace: e.namespace, route: e.route, code: String(e.code), initiator: e.initiator });
      const add = (name: string, direction: Direction, value: number): void => {
        const key = `${name}\0${e.namespace}\0${e.route}\0${direction}`;
        closedTotals.set(key, (closedTotals.get(key) ?? 0) + value);
      };
      add("wsgate_bytes_total", "from_client", e.bytesFromClient);
      add("wsgate_bytes_total", "to_client", e.bytesToClient);
      add("wsgate_messages_total", "from_client", e.messagesFromClient);
      add("wsgate_messages_total", "to_client", e.messagesToClient);
    });
    this.#subscribe(channels.handshakeRejected, (m) => {
      const e = m as HandshakeRejected;
      rejections.inc({ namespace: e.namespace, route: e.route, reason: e.reason });
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
