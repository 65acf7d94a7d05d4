/**
 * A silent stall: the path to the API server black-holes traffic (connections stay
 * open, nothing arrives, no error is ever raised). client-node's informer would keep
 * retrying its watch for ever; the supervisor's watchdog notices the silence, restarts
 * the informers, /healthz reports it, and once the path comes back the table catches up.
 * The watch idle timeout is shortened to 1 s here (30 s by default), so that healthy
 * quiet watches show their reconnections as signs of life within the 4 s stall limit.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningGateway } from "../../src/cli/serve.js";
import type { RoutingTable } from "../../src/routing/table.js";
import { sourceChannels, type WatchRestarted } from "../../src/sources/cluster/events.js";
import {
  apply,
  assertPodNetwork,
  controllerKubeconfig,
  echoSlice,
  namespace,
  route,
  service,
  startController,
} from "./harness/cluster.js";
import { startControlPlane, type ControlPlane } from "./harness/control-plane.js";
import { startFreezableProxy, type FreezableProxy } from "./harness/freeze-proxy.js";
import { waitFor, waitForTable } from "./harness/wait.js";

const NS = "stall";
const STALL_MS = 4_000;

let cp: ControlPlane;
let proxy: FreezableProxy;
let gw: RunningGateway;
const restarts: WatchRestarted[] = [];
const onRestart = (m: unknown): void => void restarts.push(m as WatchRestarted);

function endpoints(t: RoutingTable): number {
  return t.routes.flatMap((r) => r.rules.flatMap((x) => x.backends.flatMap((b) => b.endpoints))).length;
}

async function healthz(): Promise<number> {
  return (await fetch(`http://127.0.0.1:${gw.adminAddress.port}/healthz`)).status;
}

/** The kinds the gateway watches, as /debug/config lists its informers. */
async function watchedKinds(): Promise<string[]> {
  const debug = (await (await fetch(`http://127.0.0.1:${gw.adminAddress.port}/debug/config`)).json()) as {
    sources: { cluster: { watches: { kind: string }[] } };
  };
  return [...new Set(debug.sources.cluster.watches.map((w) => w.kind))].sort();
}

beforeAll(async () => {
  await assertPodNetwork();
  cp = await startControlPlane();
  proxy = await startFreezableProxy(Number(new URL(cp.server).port));
  const direct = await controllerKubeconfig(cp);
  // The same identity, through the proxy.
  const config = JSON.parse(readFileSync(direct, "utf8")) as { clusters: { cluster: { server: string } }[] };
  config.clusters[0]!.cluster.server = `https://127.0.0.1:${proxy.port}`;
  const viaProxy = direct.replace(/\.kubeconfig$/, "-proxied.kubeconfig");
  writeFileSync(viaProxy, JSON.stringify(config));

  await apply(cp.admin, namespace(NS));
  await apply(cp.admin, service(NS, "echo", [{ name: "ws", port: 80, targetPort: 8080 }]));
  await apply(cp.admin, echoSlice(NS, ["10.244.3.1"]));
  await apply(cp.admin, route(NS, "chat", { rules: [{ backendRefs: [{ name: "echo", port: 80 }] }] }));
  sourceChannels.watchRestarted.subscribe(onRestart);
  gw = await startController(viaProxy, [], {
    source: {
      watchIdleTimeoutMs: 1_000,
      stallMs: STALL_MS,
      watchdogIntervalMs: 250,
      unhealthyAfterMs: 2_000,
      backoffMinMs: 200,
      backoffMaxMs: 1_000,
    },
  });
  await waitForTable(gw.holder, (t) => endpoints(t) === 1, { what: "the route served" });
});

afterAll(async () => {
  sourceChannels.watchRestarted.unsubscribe(onRestart);
  proxy?.thaw();
  await gw?.stop();
  await proxy?.close();
  await cp?.stop();
});

describe("silent stall of the API server connection", () => {
  it("is detected by the watchdog, reported on /healthz, and recovered from", async () => {
    // Quiet but healthy for longer than the stall limit: no restart at all.
    const quietSince = Date.now();
    while (Date.now() - quietSince < STALL_MS * 1.5) {
      expect(await healthz()).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect(restarts).toEqual([]);

    // Every kind watched (the core ones, Ingress, and whatever a feature adds) must recover.
    const watched = await watchedKinds();
    expect(watched).toEqual(
      expect.arrayContaining([
        "EndpointSlice",
        "Ingress",
        "IngressClass",
        "Secret",
        "Service",
        "WebSocketRoute",
      ]),
    );
    proxy.freeze();
    const stalled = await waitFor(
      () => {
        const kinds = new Set(restarts.filter((r) => r.reason === "stalled").map((r) => r.kind));
        return kinds.size === watched.length ? kinds : undefined;
      },
      { timeoutMs: STALL_MS * 4, what: "a stalled restart of every informer" },
    );
    expect([...stalled].sort()).toEqual(watched);
    await waitFor(async () => (await healthz()) === 503, { timeoutMs: STALL_MS * 2, what: "/healthz 503" });
    const generation = gw.holder.current.generation;

    // Changed behind the black hole; delivered once the path is back.
    await apply(cp.admin, echoSlice(NS, ["10.244.3.1", "10.244.3.2"]));
    proxy.thaw();
    await waitForTable(gw.holder, (t) => endpoints(t) === 2, { what: "the change after the thaw" });
    expect(gw.holder.current.generation).toBeGreaterThan(generation);
    await waitFor(async () => (await healthz()) === 200, { what: "/healthz 200 again" });
  });
});
