/**
 * The Grafana dashboard (helm/wsgate/dashboards/wsgate.json): every panel's PromQL
 * parses (promtool, from scripts/lint-tools.sh), names only metrics a running gateway
 * exports (scraped from a live one after real traffic), and the chart installs it as a
 * ConfigMap the Grafana sidecar finds.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { beforeAll, describe, expect, it } from "vitest";
import { closeClient, roundTrip } from "./helpers/gateway.js";
import { scrape, startOperatorScene, type MetricSamples } from "./helpers/operator-scene.js";
import { PROVISION_TIMEOUT_MS, REPO, lintToolsDir, renderChart, tool } from "./packaging/tools.js";

interface Target {
  readonly expr: string;
}
interface Panel {
  readonly type: string;
  readonly title: string;
  readonly targets?: readonly Target[];
}
interface Dashboard {
  readonly uid: string;
  readonly panels: readonly Panel[];
  readonly templating: { readonly list: readonly { readonly name: string; readonly definition?: string }[] };
}

const DASHBOARD_FILE = join(REPO, "helm/wsgate/dashboards/wsgate.json");
const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, "utf8")) as Dashboard;

/** Every query of the dashboard as Prometheus receives it: Grafana's variables substituted. */
function queries(): { title: string; expr: string }[] {
  const substitute = (expr: string): string =>
    expr.replaceAll("$__rate_interval", "5m").replaceAll("$job", ".*").replaceAll("$route", ".*");
  const out: { title: string; expr: string }[] = [];
  for (const panel of dashboard.panels) {
    for (const target of panel.targets ?? []) out.push({ title: panel.title, expr: substitute(target.expr) });
  }
  for (const variable of dashboard.templating.list) {
    const m = /^label_values\((.*), *[a-z_]+\)$/.exec(variable.definition ?? "");
    if (m) out.push({ title: `variable ${variable.name}`, expr: substitute(m[1]!) });
  }
  return out;
}

/** Metric names in a query: identifiers right before a label matcher, a range or nothing else. */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\b(wsgate_[a-zA-Z0-9_]+)\b/g)].map((m) => m[1]!);
}

/**
 * Metrics that exist only in cluster mode after a failure: announced (`# TYPE`) by every
 * gateway, but with a sample only once a Kubernetes API watch restarted.
 */
const ONLY_AFTER_A_WATCH_RESTART = new Set(["wsgate_watch_restarts_total"]);

describe("the Grafana dashboard", () => {
  it("has panels for every area the operator needs, each with a query", () => {
    const titles = dashboard.panels.filter((p) => p.type !== "row").map((p) => p.title);
    for (const wanted of [
      "Connections by route and backend",
      "Handshake rate by route",
      "Handshake rejections by reason",
      "Handshake latency",
      "Closes by code and initiator",
      "Messages by route and direction",
      "Bytes by route and direction",
      "Drain and rebalance activity",
      "Session affinity",
      "Backend health",
      "Routing table generation",
      "Compile time",
      "Watch restarts",
      "Connections per worker thread",
    ]) {
      expect(titles).toContain(wanted);
    }
    for (const panel of dashboard.panels.filter((p) => p.type !== "row")) {
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
    }
    expect(dashboard.uid).toBe("wsgate");
  });

  describe("against promtool and a live gateway", () => {
    let promtool: string;
    let metrics: MetricSamples;

    beforeAll(async () => {
      promtool = join(await lintToolsDir(), "promtool");
      // Traffic that makes every series exist: connections (one closed), messages, plain
      // HTTP and upgrade refusals, a drain, compiles.
      // With worker threads, so that the per-worker series exist too (their metrics are
      // summed into the same names). The threads run the built dist/: `npm run build` first.
      const scene = await startOperatorScene(["--workers", "2"]);
      try {
        // Least connections puts two on each backend: one of each stays open after the close.
        const a = await scene.open("203.0.113.1");
        for (const client of ["203.0.113.2", "203.0.113.3", "203.0.113.4"]) await scene.open(client);
        await roundTrip(a, "hello");
        await closeClient(a);
        // The close is counted in a worker thread: wait until /metrics has it.
        const deadline = Date.now() + 15_000;
        while ((await scrape(scene.admin)).sum("wsgate_closes_total") < 1) {
          if (Date.now() > deadline) throw new Error("the close never reached /metrics");
          await new Promise((resolve) => setImmediate(resolve));
        }
        await scene.refuse("nowhere.example.com", "/x", 404);
        expect(await scene.get("nowhere.example.com", "/page")).toBe(404);
        await scene.terminateB();
        metrics = await scrape(scene.admin);
      } finally {
        await scene.close();
      }
    }, PROVISION_TIMEOUT_MS);

    it("parses every panel's PromQL with promtool, so that no panel shows a query error", async () => {
      const dir = mkdtempSync(join(tmpdir(), "wsgate-dashboard-"));
      try {
        const rules = queries().map((q, i) => ({ record: `wsgate:dashboard_query:${i}`, expr: q.expr }));
        writeFileSync(join(dir, "rules.yaml"), stringify({ groups: [{ name: "dashboard", rules }] }));
        const result = await tool(promtool, ["check", "rules", "rules.yaml"], { cwd: dir });
        expect(result.code, result.stdout + result.stderr).toBe(0);
        expect(result.stdout).toContain(`${rules.length} rules found`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it("names only metrics a running gateway exports, so that no panel is silently empty", () => {
      const declared = metrics.declared();
      const sampled = metrics.names();
      for (const q of queries()) {
        const names = metricNames(q.expr);
        expect(names.length, q.title).toBeGreaterThan(0);
        for (const name of names) {
          expect(declared, `${q.title}: ${name}`).toContain(name);
          if (!ONLY_AFTER_A_WATCH_RESTART.has(name)) expect(sampled, `${q.title}: ${name}`).toContain(name);
        }
      }
    });
  });

  describe("in the chart", () => {
    it(
      "is installed as a ConfigMap with the Grafana sidecar's label when enabled, and not otherwise",
      async () => {
        const off = await renderChart();
        expect(off.all("ConfigMap").filter((c) => c.metadata.name.endsWith("-dashboard"))).toEqual([]);
        const on = await renderChart({
          metrics: {
            grafanaDashboard: {
              enabled: true,
              namespace: "monitoring",
              annotations: { grafana_folder: "WebSockets" },
            },
          },
        });
        const cm = on.one<{ data: Record<string, string> }>("ConfigMap", "wsgate-dashboard");
        expect(cm.metadata.namespace).toBe("monitoring");
        expect(cm.metadata.labels?.grafana_dashboard).toBe("1");
        expect(cm.metadata.annotations?.grafana_folder).toBe("WebSockets");
        expect(JSON.parse(cm.data["wsgate.json"]!)).toEqual(dashboard);
      },
      PROVISION_TIMEOUT_MS,
    );
  });
});
