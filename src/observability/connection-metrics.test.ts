import fc from "fast-check";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import type { LiveConnection } from "../dataplane/connections.js";
import type { ConnectionClosed, ConnectionOpened } from "../dataplane/events.js";
import { connectionMetrics } from "./connection-metrics.js";

/**
 * The per-connection metrics as they were written with prom-client label calls (before
 * they became plain numbers): the reference the scrape must still equal, series order
 * included.
 */
function reference(connections: Iterable<LiveConnection>): {
  registry: Registry;
  opened(e: ConnectionOpened): void;
  closed(e: ConnectionClosed): void;
} {
  const registry = new Registry();
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
  const handshake = new Histogram({
    name: "wsgate_handshake_duration_seconds",
    help: "Time from the upgrade request to the 101 sent to the client",
    labelNames: ["namespace", "route"],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const lifetime = new Histogram({
    name: "wsgate_connection_duration_seconds",
    help: "Lifetime of WebSocket connections, from 101 to close",
    labelNames: ["namespace", "route"],
    buckets: [1, 10, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 24 * 3600],
    registers,
  });
  const closedTotals = new Map<string, number>();
  const live = (
    name: string,
    help: string,
    from: "bytesFromClient" | "messagesFromClient",
    to: "bytesToClient" | "messagesToClient",
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
        for (const c of connections) {
          const base = `${name}\0${c.labels.namespace}\0${c.labels.route}\0`;
          sums.set(`${base}from_client`, (sums.get(`${base}from_client`) ?? 0) + c.relay.stats[from]);
          sums.set(`${base}to_client`, (sums.get(`${base}to_client`) ?? 0) + c.relay.stats[to]);
        }
        for (const [key, value] of sums) {
          const [, namespace, route, direction] = key.split("\0") as [string, string, string, string];
          this.inc({ namespace, route, direction }, value);
        }
      },
    });
  };
  live(
    "wsgate_bytes_total",
    "Bytes relayed on WebSocket connections after the handshake, open connections included",
    "bytesFromClient",
    "bytesToClient",
  );
  live(
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
  const byVersion = new Counter({
    name: "wsgate_connections_http_version_total",
    help: 'WebSocket connections established, by the client\'s HTTP version: "1.1" (Upgrade) or "2" (RFC 8441 extended CONNECT)',
    labelNames: ["namespace", "route", "http_version"],
    registers,
  });
  return {
    registry,
    opened(e) {
      active.inc({ namespace: e.namespace, route: e.route, backend: e.backend });
      total.inc({ namespace: e.namespace, route: e.route });
      byVersion.inc({ namespace: e.namespace, route: e.route, http_version: e.httpVersion ?? "1.1" });
      handshake.observe({ namespace: e.namespace, route: e.route }, e.handshakeMs / 1000);
    },
    closed(e) {
      active.dec({ namespace: e.namespace, route: e.route, backend: e.backend });
      lifetime.observe({ namespace: e.namespace, route: e.route }, e.durationMs / 1000);
      closes.inc({ namespace: e.namespace, route: e.route, code: String(e.code), initiator: e.initiator });
      const add = (name: string, direction: string, value: number): void => {
        const key = `${name}\0${e.namespace}\0${e.route}\0${direction}`;
        closedTotals.set(key, (closedTotals.get(key) ?? 0) + value);
      };
      add("wsgate_bytes_total", "from_client", e.bytesFromClient);
      add("wsgate_bytes_total", "to_client", e.bytesToClient);
      add("wsgate_messages_total", "from_client", e.messagesFromClient);
      add("wsgate_messages_total", "to_client", e.messagesToClient);
    },
  };
}

/** A step: open a connection (kept open, maybe live at scrape time), close an open one, or scrape. */
const step = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("open" as const),
      namespace: fc.constantFrom("apps", "ops"),
      route: fc.constantFrom("chat", "feed", "a/b"),
      backend: fc.constantFrom("apps/chat:80", "apps/feed:80"),
      httpVersion: fc.constantFrom(undefined, "1.1" as const, "2" as const),
      handshakeMs: fc.double({ min: 0, max: 20_000, noNaN: true }),
      live: fc.boolean(),
      bytes: fc.nat(10_000),
      messages: fc.nat(100),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("close" as const),
      which: fc.nat(),
      durationMs: fc.double({ min: 0, max: 200_000_000, noNaN: true }),
      code: fc.constantFrom(1000, 1001, 1006, 4000),
      initiator: fc.constantFrom("client" as const, "backend" as const, "proxy" as const),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "scrape" as const }) },
);

describe("connectionMetrics", () => {
  it("scrapes exactly what prom-client's label calls gave, series order included, so that /metrics does not change for anyone reading it", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 120 }), async (steps) => {
        const live: LiveConnection[] = [];
        const ours = new Registry();
        const counted = connectionMetrics(live);
        for (const metric of counted.families.values()) ours.registerMetric(metric);
        const theirs = reference(live);
        const open: { event: ConnectionOpened; connection: LiveConnection }[] = [];
        for (const s of steps) {
          if (s.kind === "open") {
            const event: ConnectionOpened = {
              namespace: s.namespace,
              route: s.route,
              backend: s.backend,
              endpoint: `${s.backend}@10.0.0.1:8080`,
              client: "192.0.2.1",
              ...(s.httpVersion ? { httpVersion: s.httpVersion } : {}),
              handshakeMs: s.handshakeMs,
            };
            const stats = {
              bytesFromClient: s.bytes,
              bytesToClient: s.bytes * 2,
              messagesFromClient: s.messages,
              messagesToClient: s.messages + 1,
            };
            const connection = { labels: event, relay: { stats } } as unknown as LiveConnection;
            counted.opened(event);
            theirs.opened(event);
            open.push({ event, connection });
            if (s.live) live.push(connection);
          } else if (s.kind === "close" && open.length > 0) {
            const [{ event, connection }] = open.splice(s.which % open.length, 1) as [(typeof open)[number]];
            const at = live.indexOf(connection);
            if (at >= 0) live.splice(at, 1);
            const closed: ConnectionClosed = {
              ...event,
              ...connection.relay.stats,
              durationMs: s.durationMs,
              code: s.code,
              initiator: s.initiator,
            };
            counted.closed(closed);
            theirs.closed(closed);
          } else if (s.kind === "scrape") {
            expect(await ours.metrics()).toBe(await theirs.registry.metrics());
          }
        }
        expect(await ours.metrics()).toBe(await theirs.registry.metrics());
        expect(await ours.getMetricsAsJSON()).toStrictEqual(await theirs.registry.getMetricsAsJSON());
      }),
      { numRuns: 200 },
    );
  });
});
