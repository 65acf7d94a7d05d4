/**
 * Rebalancing after a scale-out, with real sockets: 300 connections held by clients that
 * reconnect on close, 3 echo backends, then 3 more. The gateway moves the oldest
 * connections off the old endpoints with the route's close code, never more than
 * maxClosesPerSecond in a second and never one younger than minConnectionAge, until every
 * endpoint is within maxSkewPercent of its share.
 */
import { afterEach, describe, expect, it } from "vitest";
import { channels, type ConnectionClosed } from "../src/dataplane/events.js";
import { rebalanceChannels, type RebalanceStateChanged } from "../src/dataplane/rebalance/events.js";
import { Metrics } from "../src/observability/metrics.js";
import { parseManifestText } from "../src/sources/manifests.js";
import { startEchoBackend, type EchoBackend } from "./helpers/backends.js";
import { startTestGateway, type TestGateway } from "./helpers/gateway.js";
import { serviceWithEndpoints, simpleRoute } from "./helpers/objects.js";
import { eventually } from "./helpers/raw-peers.js";
import { ReconnectingClients } from "./helpers/reconnecting-clients.js";
import { GATEWAY_YAML } from "./helpers/gateway-api.js";

let gw: TestGateway | undefined;
let backends: EchoBackend[] = [];
let crowd: ReconnectingClients | undefined;
const cleanups: (() => void)[] = [];

afterEach(async () => {
  crowd?.close();
  crowd = undefined;
  for (const c of cleanups.splice(0)) c();
  await gw?.close();
  gw = undefined;
  await Promise.all(backends.map((b) => b.close()));
  backends = [];
});

/** Every event published on `channel` from now on, until the test ends. */
function record<T>(channel: {
  subscribe(f: (m: unknown) => void): void;
  unsubscribe(f: (m: unknown) => void): void;
}): T[] {
  const seen: T[] = [];
  const handler = (m: unknown): void => void seen.push(m as T);
  channel.subscribe(handler);
  cleanups.push(() => channel.unsubscribe(handler));
  return seen;
}

const REBALANCE = { maxSkewPercent: 120, closeCode: 1012, maxClosesPerSecond: 50, minConnectionAge: "2s" };

function objects(
  serving: readonly EchoBackend[],
  rebalance: Record<string, unknown> | undefined = REBALANCE,
) {
  return [
    ...serviceWithEndpoints(
      "apps",
      "echo",
      serving.map((b) => ({ port: b.port })),
    ),
    simpleRoute("apps", "echo", "echo", rebalance ? { rebalance } : {}),
  ];
}

const spread = (): number[] => backends.map((b) => b.sockets.size);

describe("rebalancing after a scale-out", () => {
  it("moves connections off the old endpoints with 1012, at most maxClosesPerSecond a second and none younger than minConnectionAge, until every endpoint is within the bound", async () => {
    gw = await startTestGateway();
    backends = await Promise.all(Array.from({ length: 6 }, () => startEchoBackend()));
    gw.apply(objects(backends.slice(0, 3)));
    const metrics = new Metrics({
      connections: gw.gateway.connections,
      onPublish: () => () => {},
      defaultMetrics: false,
    });
    cleanups.push(() => metrics.close());
    const states = record<RebalanceStateChanged>(rebalanceChannels.state);
    const gatewayCloses = record<ConnectionClosed>(channels.connectionClosed);

    crowd = new ReconnectingClients(gw.url());
    await crowd.connect(300);
    await eventually(() => spread().reduce((a, b) => a + b, 0) === 300, "300 connections on the backends");
    const before = spread();
    expect(before).toEqual([100, 100, 100, 0, 0, 0]);

    const scaledAt = Date.now();
    gw.apply(objects(backends));
    // Mean 50, bound 120% of it: 60. Each old endpoint sheds 40, 120 closes at 50/s ≥ 2.4 s
    // (after the 2 s minimum age); the deadline is what the rate allows plus generous slack.
    const settled = (): boolean =>
      crowd!.open === 300 && spread().reduce((a, b) => a + b, 0) === 300 && spread().every((n) => n <= 60);
    await eventually(settled, "every endpoint within 120% of the mean", 2_000 + (300 / 50) * 1000 + 30_000);
    const after = spread();
    const tookMs = Date.now() - scaledAt;
    await eventually(() => states.some((s) => s.state === "ended"), "the rebalancing end event", 10_000);

    const closes = crowd.closes;
    // Every close the clients saw was the rebalancer's, with the route's code.
    expect(closes.length).toBeGreaterThanOrEqual(120);
    expect(closes.every((c) => c.code === 1012)).toBe(true);
    // Only what the skew needs moves (40 from each old endpoint), not a reshuffle of everything.
    expect(closes.length).toBeLessThanOrEqual(150);
    // The rate, measured where the clients are: one-second buckets from the first close.
    const first = Math.min(...closes.map((c) => c.at));
    const buckets: number[] = [];
    for (const c of closes) {
      const i = Math.floor((c.at - first) / 1000);
      buckets[i] = (buckets[i] ?? 0) + 1;
    }
    for (const b of buckets) expect(b ?? 0).toBeLessThanOrEqual(50);
    // The gateway's own record: every connection it moved had lived at least minConnectionAge.
    const moved = gatewayCloses.filter((e) => e.initiator === "proxy");
    expect(moved.length).toBe(closes.length);
    for (const e of moved) expect(e.durationMs).toBeGreaterThanOrEqual(2_000);
    // Observed: the counter and the start/end events.
    const metric = (await metrics.registry.getSingleMetric("wsgate_rebalance_closes_total")!.get()).values;
    expect(metric).toEqual([{ labels: { namespace: "apps", route: "echo" }, value: closes.length }]);
    expect(states.map((s) => s.state)).toEqual(["started", "ended"]);
    expect(states[0]).toMatchObject({
      namespace: "apps",
      route: "echo",
      boundPercent: 120,
      skewPercent: 200,
    });
    expect(states[1]!.closes).toBe(closes.length);
    console.log(
      `rebalance 300 connections, 3→6 endpoints, bound 120%, 50 closes/s: before ${before.join("/")}, ` +
        `after ${after.join("/")} in ${tookMs} ms; ${closes.length} closes, per second ${buckets.map((b) => b ?? 0).join(", ")}`,
    );
  }, 60_000);

  it("leaves a balanced route alone, and a route without spec.rebalance even when skewed", async () => {
    gw = await startTestGateway();
    backends = await Promise.all(Array.from({ length: 3 }, () => startEchoBackend()));
    gw.apply(objects(backends, { ...REBALANCE, minConnectionAge: "0s" }));
    crowd = new ReconnectingClients(gw.url());
    await crowd.connect(30);
    // Balanced 10/10/10: a step (run synchronously by a table swap) closes nothing.
    await eventually(() => spread().reduce((a, b) => a + b, 0) === 30, "30 connections on the backends");
    const table = gw.apply(objects(backends, { ...REBALANCE, minConnectionAge: "0s" }));
    gw.gateway.reconcile(table);
    expect(crowd.closes).toEqual([]);
    // Skewed 30/0/0 without spec.rebalance: nothing moves either.
    gw.apply(objects(backends.slice(0, 1), undefined));
    crowd.close();
    crowd = new ReconnectingClients(gw.url());
    await eventually(() => spread().reduce((a, b) => a + b, 0) === 0, "the first crowd gone");
    await crowd.connect(30);
    gw.gateway.reconcile(gw.apply(objects(backends, undefined)));
    expect(spread()).toEqual([30, 0, 0]);
    expect(crowd.closes).toEqual([]);
  });

  it("refuses to move a connection younger than minConnectionAge, however skewed the route", async () => {
    gw = await startTestGateway();
    backends = await Promise.all(Array.from({ length: 2 }, () => startEchoBackend()));
    const young = { ...REBALANCE, minConnectionAge: "10m" };
    gw.apply(objects(backends.slice(0, 1), young));
    crowd = new ReconnectingClients(gw.url());
    await crowd.connect(20);
    await eventually(() => spread().join() === "20,0", "20 connections on the only endpoint");
    // 20/0 against a bound of 12: a scale-out step (run synchronously by the swap) moves nothing.
    gw.apply(objects(backends, young));
    expect(crowd.closes).toEqual([]);
    expect(spread()).toEqual([20, 0]);
    // The same connections become movable once the route asks for less age: they move.
    gw.apply(objects(backends, { ...REBALANCE, minConnectionAge: "0s" }));
    await eventually(() => spread().every((n) => n <= 12) && crowd!.open === 20, "both within the bound");
    expect(crowd.closes.length).toBeGreaterThanOrEqual(8);
  });
});

describe("rebalancing and session affinity", () => {
  it("is off on a route with Cookie affinity unless breakAffinity, so sessions keep their endpoint", async () => {
    gw = await startTestGateway();
    backends = [await startEchoBackend()];
    const withAffinity = (rebalance: Record<string, unknown>) => [
      ...serviceWithEndpoints("apps", "echo", [{ port: backends[0]!.port }]),
      simpleRoute("apps", "echo", "echo", { sessionAffinity: { type: "Cookie" }, rebalance }),
    ];
    expect(gw.apply(withAffinity({})).routes[0]!.settings.rebalance).toBeUndefined();
    expect(gw.apply(withAffinity({ breakAffinity: true })).routes[0]!.settings.rebalance).toEqual({
      maxSkewPercent: 150,
      closeCode: 1012,
      maxClosesPerSecond: 10,
      minConnectionAgeMs: 60_000,
    });
    // Hashing affinity keeps rebalancing: bounded loads place the reconnect, the key stays.
    const hashed = [
      ...serviceWithEndpoints("apps", "echo", [{ port: backends[0]!.port }]),
      simpleRoute("apps", "echo", "echo", {
        sessionAffinity: { type: "Header", header: { name: "X-Session-Id" } },
        rebalance: {},
      }),
    ];
    expect(gw.apply(hashed).routes[0]!.settings.rebalance).toBeDefined();
  });
});

describe("rebalancing with breakAffinity", () => {
  it("moves cookie-pinned clients for good: their cookie is not followed back to the endpoint they were moved off", async () => {
    gw = await startTestGateway();
    backends = await Promise.all(Array.from({ length: 4 }, () => startEchoBackend()));
    const sticky = (serving: readonly EchoBackend[]) => [
      ...serviceWithEndpoints(
        "apps",
        "echo",
        serving.map((b) => ({ port: b.port })),
      ),
      simpleRoute("apps", "echo", "echo", {
        sessionAffinity: { type: "Cookie" },
        rebalance: { ...REBALANCE, minConnectionAge: "0s", breakAffinity: true },
      }),
    ];
    gw.apply(sticky(backends.slice(0, 2)));
    // Clients that keep their affinity cookie and send it again when they reconnect.
    crowd = new ReconnectingClients(gw.url(), { keepCookies: true });
    await crowd.connect(60);
    await eventually(() => spread().join() === "30,30,0,0", "30 connections on each of two endpoints");
    gw.apply(sticky(backends));
    // Mean 15, bound 18: 12 move from each old endpoint and stay moved — following their
    // cookies would bring them back, and the rebalancer would close them again and again.
    await eventually(
      () => crowd!.open === 60 && spread().every((n) => n <= 18) && spread().reduce((a, b) => a + b) === 60,
      "every endpoint within 120% of the mean",
      30_000,
    );
    expect(crowd.closes.length).toBeGreaterThanOrEqual(24);
    expect(crowd.closes.length).toBeLessThanOrEqual(30);
  }, 60_000);
});

describe("rebalancing an HTTPRoute", () => {
  it("takes spec.rebalance from a WebSocketPolicy, the one Gateway API way to say it, and moves the route's connections", async () => {
    gw = await startTestGateway();
    backends = await Promise.all(Array.from({ length: 2 }, () => startEchoBackend()));
    const gatewayApi = (rebalance: string) => {
      const parsed = parseManifestText(`${GATEWAY_YAML}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: chat, namespace: apps }
spec:
  parentRefs: [{ name: web }]
  rules: [{ backendRefs: [{ name: echo, port: 80 }] }]
---
apiVersion: wsgate.io/v1alpha1
kind: WebSocketPolicy
metadata: { name: spread, namespace: apps }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: chat }]
  rebalance: ${rebalance}
`);
      expect(parsed.errors).toEqual([]);
      return parsed.objects;
    };
    const policy = "{ maxSkewPercent: 120, closeCode: 4000, maxClosesPerSecond: 50, minConnectionAge: 0s }";
    gw.apply([...gatewayApi(policy), ...serviceWithEndpoints("apps", "echo", [{ port: backends[0]!.port }])]);
    crowd = new ReconnectingClients(gw.url());
    await crowd.connect(20);
    await eventually(() => spread().join() === "20,0", "20 connections on the only endpoint");
    gw.apply([
      ...gatewayApi(policy),
      ...serviceWithEndpoints(
        "apps",
        "echo",
        backends.map((b) => ({ port: b.port })),
      ),
    ]);
    // Mean 10, bound 12: 8 move, each told so with the policy's application close code.
    await eventually(
      () => crowd!.open === 20 && spread().every((n) => n <= 12) && spread().reduce((a, b) => a + b) === 20,
      "both endpoints within 120% of the mean",
      30_000,
    );
    expect(crowd.closes.length).toBeGreaterThanOrEqual(8);
    expect(crowd.closes.every((c) => c.code === 4000)).toBe(true);
  });
});
