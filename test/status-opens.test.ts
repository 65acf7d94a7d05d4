/**
 * The status page's opens and closes of the last minute are counted per route and
 * endpoint under keys the model builds once per endpoint and route (status.ts), not per
 * event: two routes on one endpoint, and one route name in two namespaces, must still be
 * told apart. Real gateway, real backend, real clients.
 */
import { afterEach, describe, expect, it } from "vitest";
import type WebSocket from "ws";
import { StatusModel, type StatusView } from "../src/observability/status.js";
import { startEchoBackend, type EchoBackend } from "./helpers/backends.js";
import {
  closeClient,
  connect,
  gatewayClosed,
  startTestGateway,
  type TestGateway,
} from "./helpers/gateway.js";
import { serviceWithEndpoints, simpleRoute } from "./helpers/objects.js";

let gw: TestGateway | undefined;
let backend: EchoBackend | undefined;
let model: StatusModel | undefined;
const clients: WebSocket[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  model?.close();
  await gw?.close();
  await backend?.close();
  gw = backend = model = undefined;
});

/** Opens and closes of the last minute on the route's only endpoint. */
function lastMinute(view: StatusView, namespace: string, name: string): [opened: number, closed: number] {
  const route = view.routes.find((r) => r.namespace === namespace && r.name === name);
  const endpoints = route?.backends.flatMap((b) => b.endpoints) ?? [];
  expect(endpoints, `${namespace}/${name}`).toHaveLength(1);
  return [endpoints[0]!.openedLastMinute, endpoints[0]!.closedLastMinute];
}

describe("status opens and closes", () => {
  it("counts each route's opens and closes on a shared endpoint apart, so that the page shows which route brought the traffic", async () => {
    gw = await startTestGateway();
    backend = await startEchoBackend();
    const g = gw;
    model = new StatusModel({
      tables: g.holder,
      onPublish: (l) => g.holder.onPublish(l),
      routeStatus: () => [],
      connections: g.gateway.connections,
      endpoints: g.gateway.states,
      showClients: false,
      source: () => ({ mode: "standalone", dir: "", problems: [] }),
    });
    // One backend process stands for one endpoint of a Service in each namespace.
    g.apply([
      ...serviceWithEndpoints("apps", "echo", [{ port: backend.port }]),
      ...serviceWithEndpoints("ops", "echo", [{ port: backend.port }]),
      simpleRoute("apps", "a", "echo", {}, "/a"),
      simpleRoute("apps", "b", "echo", {}, "/b"),
      simpleRoute("ops", "a", "echo", { hostnames: ["ops.example"] }),
    ]);
    const open = async (path: string, host?: string): Promise<WebSocket> => {
      const ws = await connect(g.url(path), undefined, host ? { headers: { Host: host } } : {});
      clients.push(ws);
      return ws;
    };
    const onA = [await open("/a"), await open("/a"), await open("/a")];
    await open("/b");
    const onOps = [await open("/", "ops.example"), await open("/", "ops.example")];
    const three = gatewayClosed(3);
    await Promise.all([closeClient(onA[0]!), closeClient(onA[1]!), closeClient(onOps[0]!)]);
    await three;

    const view = model.view();
    expect(lastMinute(view, "apps", "a")).toEqual([3, 2]);
    expect(lastMinute(view, "apps", "b")).toEqual([1, 0]);
    expect(lastMinute(view, "ops", "a")).toEqual([2, 1]);
  });
});
