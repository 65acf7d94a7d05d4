/**
 * The status page's data (`/status`) against a running standalone gateway with
 * real traffic: what it shows must be what `/metrics` counts, and it must show
 * nothing secret.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { StatusView } from "../src/observability/status.js";
import { closeClient, gatewayClosed } from "./helpers/gateway.js";
import { scrape, startOperatorScene, type OperatorScene } from "./helpers/operator-scene.js";

let scene: OperatorScene | undefined;

afterEach(async () => {
  await scene?.close();
  scene = undefined;
});

async function status(s: OperatorScene): Promise<StatusView> {
  const res = await fetch(`${s.admin}/status`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("application/json");
  return (await res.json()) as StatusView;
}

describe("/status", () => {
  it("shows per endpoint the connections, opens, closes, health and drain that /metrics counts, so that the page and the dashboards never disagree", async () => {
    const s = (scene = await startOperatorScene());
    const clients = [];
    for (const client of ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"]) {
      clients.push(await s.open(client));
    }
    const closed = gatewayClosed(1);
    await closeClient(clients[0]!);
    await closed;
    await s.refuse("nowhere.example.com", "/x", 404);
    await s.refuse("nowhere.example.com", "/y", 404);
    await s.refuse("chat.example.com", "/elsewhere", 404);
    await s.terminateB();

    const view = await status(s);
    const metrics = await scrape(s.admin);
    const chat = view.routes.find((r) => r.name === "chat")!;
    expect(chat.hosts).toEqual(["chat.example.com"]);
    expect(chat.paths).toEqual([{ type: "PathPrefix", value: "/chat" }]);
    expect(chat.conditions.map((c) => `${c.type}=${c.status}`)).toEqual([
      "Accepted=True",
      "ResolvedRefs=True",
      "Programmed=True",
    ]);
    expect(chat.connections).toBe(3);
    expect(chat.connections).toBe(metrics.sum("wsgate_connections_active", { route: "chat" }));
    for (const backend of chat.backends) {
      expect(backend.connections, backend.backend).toBe(
        metrics.sum("wsgate_connections_active", { route: "chat", backend: backend.backend }),
      );
      expect(backend.healthy, backend.backend).toBe(
        metrics.sum("wsgate_backend_healthy", { route: "chat", backend: backend.backend }),
      );
    }
    const [a, b] = chat.backends.map((backend) => backend.endpoints[0]!);
    expect(a!.state).toBe("ready");
    expect(b!.state).toBe("draining");
    // One ready endpoint left: the mean every bar is drawn against is all connections on it.
    expect(chat.meanPerEndpoint).toBe(3);
    expect(b!.drain?.connections).toBe(b!.connections);
    expect(chat.draining).toBe(metrics.sum("wsgate_connections_draining", { route: "chat" }));
    expect(b!.drain!.doneInMs).toBeGreaterThan(0);
    const opened = chat.backends.flatMap((x) => x.endpoints).reduce((n, e) => n + e.openedLastMinute, 0);
    const closedCount = chat.backends.flatMap((x) => x.endpoints).reduce((n, e) => n + e.closedLastMinute, 0);
    expect(opened).toBe(4);
    expect(opened).toBe(metrics.sum("wsgate_connections_total", { route: "chat" }));
    expect(closedCount).toBe(metrics.sum("wsgate_closes_total", { route: "chat" }));

    const rejections = new Map<string, number>();
    for (const r of view.rejections) rejections.set(r.reason, (rejections.get(r.reason) ?? 0) + r.count);
    expect(rejections.get("no_route")).toBe(3);
    for (const series of metrics.series("wsgate_handshake_rejections_total")) {
      expect(rejections.get(series.reason!), series.reason).toBe(
        metrics.sum("wsgate_handshake_rejections_total", { reason: series.reason! }),
      );
    }

    const broken = view.routes.find((r) => r.name === "broken")!;
    expect(broken.conditions.find((c) => c.type === "ResolvedRefs")).toMatchObject({
      status: "False",
      reason: "BackendNotFound",
    });
    expect(view.table.generation).toBe(metrics.sum("wsgate_routing_table_generation"));
    expect(view.table.lastCompileMs).toBeGreaterThanOrEqual(0);
    expect(view.source).toMatchObject({ mode: "standalone", problems: [] });
    expect(view.connections).toBe(3);
  });

  it("never shows client addresses or query strings, so that the page can be shown on a shared screen", async () => {
    const s = (scene = await startOperatorScene());
    await s.open("198.51.100.77", "?access_token=SECRET-TOKEN-123");
    await s.refuse("nowhere.example.com", "/x?access_token=SECRET-TOKEN-456", 404);
    const body = await (await fetch(`${s.admin}/status`)).text();
    expect(body).toContain('"connections":1');
    expect(body).not.toContain("198.51.100.77");
    expect(body).not.toContain("SECRET-TOKEN");
    expect(body).not.toContain("clients");
  });

  it("lists client addresses by connection count with --status-show-clients, so that an operator can find a noisy client", async () => {
    const s = (scene = await startOperatorScene(["--status-show-clients"]));
    await s.open("198.51.100.77");
    await s.open("198.51.100.77");
    await s.open("198.51.100.8");
    const chat = (await status(s)).routes.find((r) => r.name === "chat")!;
    expect(chat.clients).toEqual([
      { address: "198.51.100.77", connections: 2 },
      { address: "198.51.100.8", connections: 1 },
    ]);
  });
});

describe("the status page's files", () => {
  it("are served by wsgate itself under a policy that allows nothing else, so that the page works air-gapped and no value can run as script", async () => {
    const s = (scene = await startOperatorScene());
    const page = await fetch(`${s.admin}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    const csp = page.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain("unsafe-inline");
    const html = await page.text();
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<script>(?!<)/);
    for (const asset of [...html.matchAll(/(?:src|href)="(\/[^"]*)"/g)].map((m) => m[1]!)) {
      const res = await fetch(`${s.admin}${asset}`);
      expect(res.status, asset).toBe(200);
      expect(await res.text(), asset).not.toMatch(/https?:\/\/(?!www\.w3\.org)/);
    }
    const script = await fetch(`${s.admin}/status.js`);
    expect(script.headers.get("content-type")).toContain("javascript");
    // Values are inserted as text: a name or condition message cannot become markup.
    expect(await script.text()).not.toContain("innerHTML");
    expect((await fetch(`${s.admin}/`, { method: "POST" })).status).toBe(405);
    expect((await fetch(`${s.admin}/status.exe`)).status).toBe(404);
  });
});
