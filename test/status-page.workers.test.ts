/**
 * `/status` with `--workers 2`: the connections live in the worker threads, each
 * reports its part and the page shows their sum — the numbers must still be what
 * `/metrics` (summed over the workers) counts. The worker threads run the built
 * dist/workers/worker-main.js: `npm run build` first.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { StatusView } from "../src/observability/status.js";
import { closeClient } from "./helpers/gateway.js";
import { scrape, startOperatorScene, type OperatorScene } from "./helpers/operator-scene.js";

let scene: OperatorScene | undefined;

afterEach(async () => {
  await scene?.close();
  scene = undefined;
});

describe("/status with --workers 2", () => {
  it("adds up every worker's connections, opens, closes, drains and rejections, so that the page shows the whole Pod", async () => {
    const s = (scene = await startOperatorScene(["--workers", "2"]));
    const clients = [];
    for (let i = 1; i <= 8; i++) clients.push(await s.open(`203.0.113.${i}`));
    // The close is counted in a worker thread: wait until /metrics (summed over workers) has it.
    await closeClient(clients[0]!);
    const deadline = Date.now() + 15_000;
    while ((await scrape(s.admin)).sum("wsgate_closes_total", { route: "chat" }) < 1) {
      if (Date.now() > deadline) throw new Error("the close never reached /metrics");
      await new Promise((resolve) => setImmediate(resolve));
    }
    await s.refuse("nowhere.example.com", "/x", 404);
    await s.refuse("nowhere.example.com", "/y", 404);
    await s.terminateB();

    const view = (await (await fetch(`${s.admin}/status`)).json()) as StatusView;
    const metrics = await scrape(s.admin);
    expect(view.workers?.length).toBe(2);
    expect(view.workers!.reduce((n, w) => n + w.connections, 0)).toBe(7);
    for (const w of view.workers!) {
      expect(w.connections).toBe(metrics.sum("wsgate_worker_connections_active", { worker: w.worker }));
    }
    expect(view.connections).toBe(7);
    const chat = view.routes.find((r) => r.name === "chat")!;
    expect(chat.connections).toBe(metrics.sum("wsgate_connections_active", { route: "chat" }));
    for (const backend of chat.backends) {
      expect(backend.connections, backend.backend).toBe(
        metrics.sum("wsgate_connections_active", { route: "chat", backend: backend.backend }),
      );
    }
    const endpoints = chat.backends.flatMap((b) => b.endpoints);
    expect(endpoints.reduce((n, e) => n + e.openedLastMinute, 0)).toBe(
      metrics.sum("wsgate_connections_total", { route: "chat" }),
    );
    expect(endpoints.reduce((n, e) => n + e.closedLastMinute, 0)).toBe(
      metrics.sum("wsgate_closes_total", { route: "chat" }),
    );
    expect(chat.draining).toBe(metrics.sum("wsgate_connections_draining", { route: "chat" }));
    expect(chat.draining).toBeGreaterThan(0);
    expect(chat.conditions.map((c) => c.type)).toEqual(["Accepted", "ResolvedRefs", "Programmed"]);
    const noRoute = view.rejections.filter((r) => r.reason === "no_route").reduce((n, r) => n + r.count, 0);
    expect(noRoute).toBe(metrics.sum("wsgate_handshake_rejections_total", { reason: "no_route" }));
    expect(noRoute).toBe(2);
  });
});
