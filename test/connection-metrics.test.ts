/**
 * The per-connection metrics are counted in plain numbers and read by prom-client at
 * scrape time (src/observability/connection-metrics.ts): a scrape after connections
 * opened and closed on several routes gives exactly their counts and histogram buckets.
 * Real gateway, real backends, real clients on port 0.
 */
import { afterEach, describe, expect, it } from "vitest";
import type WebSocket from "ws";
import { channels, type ConnectionClosed, type ConnectionOpened } from "../src/dataplane/events.js";
import { Metrics } from "../src/observability/metrics.js";
import { startEchoBackend, type EchoBackend } from "./helpers/backends.js";
import {
  ask,
  closeClient,
  connect,
  gatewayClosed,
  startTestGateway,
  type TestGateway,
} from "./helpers/gateway.js";
import { serviceWithEndpoints, simpleRoute } from "./helpers/objects.js";
import { MetricSamples } from "./helpers/operator-scene.js";

let gw: TestGateway | undefined;
let metrics: Metrics | undefined;
const backends: EchoBackend[] = [];
const clients: WebSocket[] = [];
const stops: (() => void)[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  for (const stop of stops.splice(0)) stop();
  metrics?.close();
  await gw?.close();
  for (const b of backends.splice(0)) await b.close();
  gw = metrics = undefined;
});

/** Records every event of `channel` (the values the metrics must add up to). */
function record<T>(channel: typeof channels.connectionOpened): T[] {
  const seen: T[] = [];
  const handler = (m: unknown): void => void seen.push(m as T);
  channel.subscribe(handler);
  stops.push(() => channel.unsubscribe(handler));
  return seen;
}

const HANDSHAKE_BOUNDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const LIFETIME_BOUNDS = [1, 10, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 24 * 3600];

/** The cumulative bucket counts Prometheus expects for `seconds` observed against `bounds`. */
function expectBuckets(
  samples: MetricSamples,
  name: string,
  labels: Record<string, string>,
  bounds: readonly number[],
  seconds: readonly number[],
): void {
  for (const le of bounds) {
    expect(samples.sum(`${name}_bucket`, { ...labels, le: String(le) }), `${name} le=${le}`).toBe(
      seconds.filter((s) => s <= le).length,
    );
  }
  expect(samples.sum(`${name}_bucket`, { ...labels, le: "+Inf" })).toBe(seconds.length);
  expect(samples.sum(`${name}_count`, labels)).toBe(seconds.length);
  expect(samples.sum(`${name}_sum`, labels)).toBeCloseTo(
    seconds.reduce((a, b) => a + b, 0),
    9,
  );
}

describe("connection metrics", () => {
  it("counts exactly the connections opened and closed on each route, so that a scrape tells routes and namespaces apart", async () => {
    gw = await startTestGateway();
    const [chat, feed, ops] = [await startEchoBackend(), await startEchoBackend(), await startEchoBackend()];
    backends.push(chat, feed, ops);
    metrics = new Metrics({
      connections: gw.gateway.connections,
      onPublish: () => () => {},
      defaultMetrics: false,
    });
    gw.apply([
      ...serviceWithEndpoints("apps", "chat", [{ port: chat.port }]),
      ...serviceWithEndpoints("apps", "feed", [{ port: feed.port }]),
      ...serviceWithEndpoints("ops", "chat", [{ port: ops.port }]),
      simpleRoute("apps", "chat", "chat", {}, "/chat"),
      simpleRoute("apps", "feed", "feed", {}, "/feed"),
      // The same route name in another namespace: its own series.
      simpleRoute("ops", "chat", "chat", { hostnames: ["ops.example"] }),
    ]);
    const opened = record<ConnectionOpened>(channels.connectionOpened);
    const closed = record<ConnectionClosed>(channels.connectionClosed);
    const open = async (path: string, host?: string): Promise<WebSocket> => {
      const ws = await connect(gw!.url(path), undefined, host ? { headers: { Host: host } } : {});
      clients.push(ws);
      return ws;
    };
    const chats = await Promise.all(Array.from({ length: 5 }, () => open("/chat")));
    const feeds = await Promise.all(Array.from({ length: 3 }, () => open("/feed")));
    await Promise.all(Array.from({ length: 2 }, () => open("/", "ops.example")));
    for (const ws of chats) expect(await ask(ws, "hello")).toBe("hello");
    expect(await ask(feeds[0]!, "one")).toBe("one");
    expect(await ask(feeds[0]!, "two")).toBe("two");

    const five = gatewayClosed(5);
    await Promise.all([
      ...chats.slice(0, 3).map((ws) => closeClient(ws, 1000)),
      closeClient(feeds[0]!, 4001),
    ]);
    // The backend ends one ops connection: initiator "backend".
    [...ops.sockets][0]!.close(1001);
    await five;

    const samples = new MetricSamples(await metrics.registry.metrics());
    const apps = (route: string): Record<string, string> => ({ namespace: "apps", route });
    const opsChat = { namespace: "ops", route: "chat" };
    expect(samples.sum("wsgate_connections_total", apps("chat"))).toBe(5);
    expect(samples.sum("wsgate_connections_total", apps("feed"))).toBe(3);
    expect(samples.sum("wsgate_connections_total", opsChat)).toBe(2);
    expect(
      samples.sum("wsgate_connections_http_version_total", { ...apps("chat"), http_version: "1.1" }),
    ).toBe(5);
    expect(samples.series("wsgate_connections_active")).toEqual([
      { namespace: "apps", route: "chat", backend: "apps/chat:80" },
      { namespace: "apps", route: "feed", backend: "apps/feed:80" },
      { namespace: "ops", route: "chat", backend: "ops/chat:80" },
    ]);
    expect(samples.sum("wsgate_connections_active", apps("chat"))).toBe(2);
    expect(samples.sum("wsgate_connections_active", apps("feed"))).toBe(2);
    expect(samples.sum("wsgate_connections_active", opsChat)).toBe(1);
    expect(samples.sum("wsgate_closes_total", { ...apps("chat"), code: "1000", initiator: "client" })).toBe(
      3,
    );
    expect(samples.sum("wsgate_closes_total", { ...apps("feed"), code: "4001", initiator: "client" })).toBe(
      1,
    );
    expect(samples.sum("wsgate_closes_total", { ...opsChat, code: "1001", initiator: "backend" })).toBe(1);
    expect(samples.sum("wsgate_closes_total")).toBe(5);
    // Messages of closed and still open connections alike.
    expect(samples.sum("wsgate_messages_total", { ...apps("chat"), direction: "from_client" })).toBe(5);
    expect(samples.sum("wsgate_messages_total", { ...apps("chat"), direction: "to_client" })).toBe(5);
    expect(samples.sum("wsgate_messages_total", { ...apps("feed"), direction: "to_client" })).toBe(2);
    const live = [...gw.gateway.connections].filter(
      (c) => c.labels.route === "chat" && c.labels.namespace === "apps",
    );
    expect(live).toHaveLength(2);
    expect(samples.sum("wsgate_bytes_total", { ...apps("chat"), direction: "from_client" })).toBe(
      closed
        .filter((e) => e.namespace === "apps" && e.route === "chat")
        .reduce((n, e) => n + e.bytesFromClient, 0) +
        live.reduce((n, c) => n + c.relay.stats.bytesFromClient, 0),
    );

    for (const [labels, ns, route] of [
      [apps("chat"), "apps", "chat"],
      [apps("feed"), "apps", "feed"],
      [opsChat, "ops", "chat"],
    ] as const) {
      const mine = <E extends { namespace: string; route: string }>(e: E): boolean =>
        e.namespace === ns && e.route === route;
      expectBuckets(
        samples,
        "wsgate_handshake_duration_seconds",
        labels,
        HANDSHAKE_BOUNDS,
        opened.filter(mine).map((e) => e.handshakeMs / 1000),
      );
      expectBuckets(
        samples,
        "wsgate_connection_duration_seconds",
        labels,
        LIFETIME_BOUNDS,
        closed.filter(mine).map((e) => e.durationMs / 1000),
      );
    }
  });
});
