/**
 * The per-connection metrics of DESIGN.md §4 (active, total, by HTTP version, handshake
 * and connection duration, closes, bytes and messages), counted in plain numbers.
 *
 * Every handshake opens and closes a connection, so these counts are on the handshake's
 * path: prom-client's `inc(labels)` / `observe(labels, v)` validate and hash a labels
 * object into a string key on every call (~6 of them per connection, ~3% of wsgate's
 * CPU under W5). Here a connection's event finds its route's counts through two Map
 * lookups and bumps numbers; prom-client reads them at scrape time (`collect()`), in the
 * order their series were first touched, so `/metrics` is what the label calls gave.
 */
import { Counter, Gauge, type Metric } from "prom-client";
import type { LiveConnection } from "../dataplane/connections.js";
import type { CloseInitiator, ConnectionClosed, ConnectionOpened, HttpVersion } from "../dataplane/events.js";
import { CountedHistogram, type HistogramSeries } from "./counted-histogram.js";

/** A counter or gauge series: its labels and its value. */
interface Series {
  readonly labels: Readonly<Record<string, string>>;
  value: number;
}

/** Bytes and messages of a route's closed connections (open ones are read at scrape time). */
interface ClosedTotals {
  readonly route: RouteCounts;
  bytesFromClient: number;
  bytesToClient: number;
  messagesFromClient: number;
  messagesToClient: number;
}

/** A route's series, each created when first touched (as prom-client creates a label set). */
interface RouteCounts {
  readonly labels: { readonly namespace: string; readonly route: string };
  total?: Series;
  http11?: Series;
  http2?: Series;
  handshake?: HistogramSeries;
  lifetime?: HistogramSeries;
  closed?: ClosedTotals;
  readonly active: Map<string, Series>;
  readonly closes: Map<number, Map<CloseInitiator, Series>>;
}

/** Series of one metric family in first-touch order, exposed through a prom-client metric. */
class Family {
  readonly series: Series[] = [];

  add(labels: Readonly<Record<string, string>>): Series {
    const s = { labels, value: 0 };
    this.series.push(s);
    return s;
  }
}

/** The per-connection metric families (not registered) and the event handlers that count into them. */
export interface ConnectionMetrics {
  /** By metric name; the caller registers them, in the order its `/metrics` lists families. */
  readonly families: ReadonlyMap<string, Metric>;
  opened(e: ConnectionOpened): void;
  closed(e: ConnectionClosed): void;
}

/**
 * The per-connection metric families, and the two event handlers that count into them.
 * `connections` is read at scrape time for the bytes and messages of open connections.
 */
export function connectionMetrics(connections: Iterable<LiveConnection>): ConnectionMetrics {
  const families = new Map<string, Metric>();
  // Registered by the caller: Metrics keeps the order /metrics has always listed them in.
  const registers: never[] = [];
  const keep = (name: string, m: Metric | CountedHistogram): void =>
    void families.set(name, m as unknown as Metric);
  const routes = new Map<string, Map<string, RouteCounts>>();
  const routeOf = (namespace: string, route: string): RouteCounts => {
    let byName = routes.get(namespace);
    if (!byName) routes.set(namespace, (byName = new Map()));
    let r = byName.get(route);
    if (!r) byName.set(route, (r = { labels: { namespace, route }, active: new Map(), closes: new Map() }));
    return r;
  };

  const active = new Family();
  const total = new Family();
  const byHttpVersion = new Family();
  const closes = new Family();
  const closedTotals: ClosedTotals[] = [];

  /** A counter or gauge that prom-client fills from `family` at each scrape. */
  const expose = (
    kind: "counter" | "gauge",
    family: Family,
    name: string,
    help: string,
    labelNames: string[],
  ): void => {
    const options = { name, help, labelNames, registers };
    if (kind === "gauge") {
      keep(
        name,
        new Gauge({
          ...options,
          collect() {
            this.reset();
            for (const s of family.series) this.set(s.labels, s.value);
          },
        }),
      );
    } else {
      keep(
        name,
        new Counter({
          ...options,
          collect() {
            this.reset();
            for (const s of family.series) this.inc(s.labels, s.value);
          },
        }),
      );
    }
  };
  expose("gauge", active, "wsgate_connections_active", "Established WebSocket connections", [
    "namespace",
    "route",
    "backend",
  ]);
  expose(
    "counter",
    total,
    "wsgate_connections_total",
    "WebSocket connections established (101 sent to the client)",
    ["namespace", "route"],
  );
  const handshakeDuration = new CountedHistogram({
    name: "wsgate_handshake_duration_seconds",
    help: "Time from the upgrade request to the 101 sent to the client",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  keep(handshakeDuration.name, handshakeDuration);
  const connectionDuration = new CountedHistogram({
    name: "wsgate_connection_duration_seconds",
    help: "Lifetime of WebSocket connections, from 101 to close",
    buckets: [1, 10, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 24 * 3600],
    registers,
  });
  keep(connectionDuration.name, connectionDuration);

  // Bytes and messages of open connections are read from their relays at scrape time
  // and added to the totals of closed ones: exact, and nothing per chunk.
  const liveCounter = (name: string, help: string, totals: "bytes" | "messages"): void => {
    keep(
      name,
      new Counter({
        name,
        help,
        labelNames: ["namespace", "route", "direction"],
        registers,
        collect() {
          this.reset();
          const sums = new Map<RouteCounts, [fromClient: number, toClient: number]>();
          for (const t of closedTotals) {
            sums.set(
              t.route,
              totals === "bytes"
                ? [t.bytesFromClient, t.bytesToClient]
                : [t.messagesFromClient, t.messagesToClient],
            );
          }
          for (const c of connections) {
            const r = routeOf(c.labels.namespace, c.labels.route);
            const sum = sums.get(r) ?? [0, 0];
            const stats = c.relay.stats;
            sum[0] += totals === "bytes" ? stats.bytesFromClient : stats.messagesFromClient;
            sum[1] += totals === "bytes" ? stats.bytesToClient : stats.messagesToClient;
            sums.set(r, sum);
          }
          for (const [r, [fromClient, toClient]] of sums) {
            this.inc({ ...r.labels, direction: "from_client" }, fromClient);
            this.inc({ ...r.labels, direction: "to_client" }, toClient);
          }
        },
      }),
    );
  };
  liveCounter(
    "wsgate_bytes_total",
    "Bytes relayed on WebSocket connections after the handshake, open connections included",
    "bytes",
  );
  liveCounter(
    "wsgate_messages_total",
    "Complete WebSocket messages relayed, open connections included",
    "messages",
  );
  expose(
    "counter",
    closes,
    "wsgate_closes_total",
    "Closed WebSocket connections by the first Close frame's code (1006: none) and who sent it",
    ["namespace", "route", "code", "initiator"],
  );
  // The HTTP version of each handshake (issue 15): its own counter, so that
  // connections_total keeps the labels DESIGN.md gives it.
  expose(
    "counter",
    byHttpVersion,
    "wsgate_connections_http_version_total",
    'WebSocket connections established, by the client\'s HTTP version: "1.1" (Upgrade) or "2" (RFC 8441 extended CONNECT)',
    ["namespace", "route", "http_version"],
  );

  const activeOf = (r: RouteCounts, backend: string): Series => {
    let s = r.active.get(backend);
    if (!s) r.active.set(backend, (s = active.add({ ...r.labels, backend })));
    return s;
  };
  const versionOf = (r: RouteCounts, version: HttpVersion): Series =>
    version === "2"
      ? (r.http2 ??= byHttpVersion.add({ ...r.labels, http_version: "2" }))
      : (r.http11 ??= byHttpVersion.add({ ...r.labels, http_version: "1.1" }));

  return {
    families,
    opened(e) {
      const r = routeOf(e.namespace, e.route);
      activeOf(r, e.backend).value++;
      (r.total ??= total.add(r.labels)).value++;
      versionOf(r, e.httpVersion ?? "1.1").value++;
      handshakeDuration.observe((r.handshake ??= handshakeDuration.series(r.labels)), e.handshakeMs / 1000);
    },
    closed(e) {
      const r = routeOf(e.namespace, e.route);
      activeOf(r, e.backend).value--;
      connectionDuration.observe((r.lifetime ??= connectionDuration.series(r.labels)), e.durationMs / 1000);
      let byInitiator = r.closes.get(e.code);
      if (!byInitiator) r.closes.set(e.code, (byInitiator = new Map()));
      let s = byInitiator.get(e.initiator);
      if (!s)
        byInitiator.set(
          e.initiator,
          (s = closes.add({ ...r.labels, code: String(e.code), initiator: e.initiator })),
        );
      s.value++;
      let t = r.closed;
      if (!t) {
        t = r.closed = {
          route: r,
          bytesFromClient: 0,
          bytesToClient: 0,
          messagesFromClient: 0,
          messagesToClient: 0,
        };
        closedTotals.push(t);
      }
      t.bytesFromClient += e.bytesFromClient;
      t.bytesToClient += e.bytesToClient;
      t.messagesFromClient += e.messagesFromClient;
      t.messagesToClient += e.messagesToClient;
    },
  };
}
