/**
 * A live connection owns its drain state: a drain has an explicit reason, so a route whose
 * own drain code is 1001 is no longer mistaken for a shutdown (the old sentinel), and a
 * shutdown is never undone by a table swap. Real gateway, real sockets.
 */
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startEchoBackend, type EchoBackend } from "./helpers/backends.js";
import { connect, roundTrip, startTestGateway, type TestGateway } from "./helpers/gateway.js";
import { serviceWithEndpoints, simpleRoute } from "./helpers/objects.js";
import { eventually } from "./helpers/raw-peers.js";

let gw: TestGateway | undefined;
let backends: EchoBackend[] = [];
const clients: WebSocket[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  await gw?.close();
  gw = undefined;
  await Promise.all(backends.map((b) => b.close()));
  backends = [];
});

/** A route with a long drain window and `closeCode`, to two echo backends. */
async function setup(closeCode: number): Promise<{ gw: TestGateway; a: EchoBackend; b: EchoBackend }> {
  gw = await startTestGateway();
  backends = [await startEchoBackend(), await startEchoBackend()];
  const [a, b] = backends as [EchoBackend, EchoBackend];
  gw.apply(objects(closeCode, [a, b]));
  return { gw, a, b };
}

function objects(closeCode: number, serving: readonly EchoBackend[]) {
  return [
    ...serviceWithEndpoints(
      "apps",
      "echo",
      serving.map((b) => ({ port: b.port })),
    ),
    simpleRoute("apps", "echo", "echo", { drain: { window: "10m", closeCode } }),
  ];
}

async function open(url: string): Promise<WebSocket> {
  const ws = await connect(url);
  clients.push(ws);
  return ws;
}

/** The live connection established on backend `b` (one per test). */
function liveOn(gw: TestGateway, b: EchoBackend) {
  return [...gw.gateway.connections].find((c) => c.labels.endpoint.endsWith(`:${b.port}`));
}

describe("a connection's drain has an explicit reason", () => {
  it("cancels an endpoint drain whose route code is 1001 when the endpoint returns, so a route's own code is not taken for a shutdown", async () => {
    const { gw, a, b } = await setup(1001);
    const ws = await open(gw.url());
    const onA = a.sockets.size === 1;
    const [leaving, staying] = onA ? [a, b] : [b, a];
    const live = liveOn(gw, leaving);
    expect(live).toBeDefined();

    gw.apply(objects(1001, [staying]));
    expect(live!.drain).toMatchObject({ reason: "endpoint", code: 1001 });

    gw.apply(objects(1001, [a, b]));
    expect(live!.drain).toBeUndefined();
    expect((await roundTrip(ws, "still here")).data.toString()).toBe("still here");
  });

  it("keeps a shutdown drain through a table swap that brings the endpoint back, so shutdown always completes", async () => {
    const { gw, a, b } = await setup(1012);
    const ws = await open(gw.url());
    const leaving = a.sockets.size === 1 ? a : b;
    const live = liveOn(gw, leaving)!;
    const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));

    const drained = gw.gateway.drainAll(60_000);
    expect(live.drain).toMatchObject({ reason: "shutdown", code: 1001 });
    gw.apply(objects(1012, [a, b]));
    expect(live.drain?.reason).toBe("shutdown");

    // Bring the close forward (the window is long) and let the sweep find it due.
    gw.gateway.destroyAll();
    await eventually(() => gw.gateway.connections.size === 0, "the connection to end");
    await drained;
    await closed;
  });

  it("lets a shutdown bring an endpoint drain forward, and the connection closes with 1001", async () => {
    const { gw, a, b } = await setup(4000);
    const ws = await open(gw.url());
    const onA = a.sockets.size === 1;
    const [leaving, staying] = onA ? [a, b] : [b, a];
    const live = liveOn(gw, leaving)!;
    gw.apply(objects(4000, [staying]));
    expect(live.drain).toMatchObject({ reason: "endpoint", code: 4000 });

    const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
    await gw.gateway.drainAll(50);
    expect(await closed).toBe(1001);
  });
});
