/**
 * A standalone gateway with something to look at, for the status page, dashboard
 * and troubleshooting tests: route `apps/chat` over two echo backends (`echo-a`,
 * `echo-b`), route `apps/broken` naming a Service that does not exist, clients
 * behind a trusted proxy (their address comes from X-Forwarded-For), and a
 * Prometheus text parser to compare what the page shows with `/metrics`.
 */
import { rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { join } from "node:path";
import WebSocket from "ws";
import type { RunningGateway } from "../../src/cli/serve.js";
import { startEchoBackend, type EchoBackend } from "./backends.js";
import { connect, expectRefusal } from "./gateway.js";
import { manifestDir, serviceYaml, startStandalone } from "./standalone.js";

const ROUTES = `apiVersion: wsgate.io/v1alpha1
kind: WebSocketRoute
metadata: { name: chat, namespace: apps }
spec:
  hostnames: [chat.example.com]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /chat } }]
      backendRefs: [{ name: echo-a, port: 80 }, { name: echo-b, port: 80 }]
  drain: { window: 10m, closeCode: 1012 }
  # Cookie affinity: clients without a cookie are new sessions (least connections places them),
  # and wsgate_affinity_total gets its series.
  sessionAffinity: { type: Cookie }
---
apiVersion: wsgate.io/v1alpha1
kind: WebSocketRoute
metadata: { name: broken, namespace: apps }
spec:
  hostnames: [broken.example.com]
  rules:
    - matches: [{ path: { type: Exact, value: /ws } }]
      backendRefs: [{ name: missing, port: 80 }]
`;

export interface OperatorScene {
  readonly running: RunningGateway;
  readonly backends: { readonly a: EchoBackend; readonly b: EchoBackend };
  /** `http://127.0.0.1:ADMIN`. */
  readonly admin: string;
  /** Opens a WebSocket to `chat.example.com/chat` as client `client` (X-Forwarded-For). */
  open(client: string, query?: string): Promise<WebSocket>;
  /** An upgrade refused with `status`, e.g. to a host no route serves. */
  refuse(host: string, path: string, status: number): Promise<void>;
  /** A plain HTTP GET of `path` on `host`; resolves with the status. */
  get(host: string, path: string): Promise<number>;
  /** Marks `echo-b`'s endpoint terminating and waits for the table carrying it. */
  terminateB(): Promise<void>;
  close(): Promise<void>;
}

export async function startOperatorScene(extraArgs: readonly string[] = []): Promise<OperatorScene> {
  const dir = manifestDir("operator");
  const a = await startEchoBackend();
  const b = await startEchoBackend();
  writeFileSync(join(dir, "a.yaml"), serviceYaml("echo-a", a.port));
  writeFileSync(join(dir, "b.yaml"), serviceYaml("echo-b", b.port));
  writeFileSync(join(dir, "routes.yaml"), ROUTES);
  const running = await startStandalone(dir, ["--trusted-proxies", "127.0.0.1", ...extraArgs]);
  const clients: WebSocket[] = [];
  const url = (path: string) => `ws://127.0.0.1:${running.httpAddress.port}${path}`;
  return {
    running,
    backends: { a, b },
    admin: `http://127.0.0.1:${running.adminAddress.port}`,
    async open(client, query = "") {
      const ws = await connect(url(`/chat${query}`), undefined, {
        headers: { Host: "chat.example.com", "X-Forwarded-For": client },
      });
      clients.push(ws);
      return ws;
    },
    async refuse(host, path, status) {
      const refusal = await expectRefusal(url(path), { headers: { Host: host } });
      if (refusal.status !== status)
        throw new Error(`${host}${path}: expected ${status}, got ${refusal.status}`);
    },
    get(host, path) {
      return new Promise((resolve, reject) => {
        const req = http.get(
          { host: "127.0.0.1", port: running.httpAddress.port, path, headers: { Host: host } },
          (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? 0));
          },
        );
        req.on("error", reject);
      });
    },
    async terminateB() {
      const next = running.holder.current.generation + 1;
      writeFileSync(join(dir, "b.yaml"), serviceYaml("echo-b", b.port, true));
      await running.holder.waitForGeneration(next);
    },
    async close() {
      for (const c of clients) c.terminate();
      await running.stop(0);
      await a.close();
      await b.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Samples of a Prometheus text exposition: `name{labels}` → value. */
export class MetricSamples {
  readonly #samples: { name: string; labels: Record<string, string>; value: number }[] = [];
  /** Metric families announced by `# TYPE`, with or without samples yet. */
  readonly #declared = new Set<string>();

  constructor(text: string) {
    for (const line of text.split("\n")) {
      const type = /^# TYPE (\S+) (\S+)/.exec(line);
      if (type) {
        const [, name, kind] = type as unknown as [string, string, string];
        const names =
          kind === "histogram"
            ? [`${name}_bucket`, `${name}_sum`, `${name}_count`]
            : kind === "summary"
              ? [name, `${name}_sum`, `${name}_count`]
              : [name];
        for (const n of names) this.#declared.add(n);
      }
      if (line === "" || line.startsWith("#")) continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
      if (!m) throw new Error(`not a sample line: ${line}`);
      const labels: Record<string, string> = {};
      for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
        labels[l[1] as string] = (l[2] as string).replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
      }
      this.#samples.push({ name: m[1] as string, labels, value: Number(m[3]) });
    }
  }

  /** Every series name a `# TYPE` line announces (histograms: `_bucket`, `_sum`, `_count`). */
  declared(): Set<string> {
    return new Set(this.#declared);
  }

  /** Every metric name with at least one sample. */
  names(): Set<string> {
    return new Set(this.#samples.map((s) => s.name));
  }

  /** The sum of the samples of `name` whose labels include `labels`. */
  sum(name: string, labels: Record<string, string> = {}): number {
    let total = 0;
    for (const s of this.#samples) {
      if (s.name !== name) continue;
      if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) total += s.value;
    }
    return total;
  }

  /** The label sets of `name`'s samples. */
  series(name: string): Record<string, string>[] {
    return this.#samples.filter((s) => s.name === name).map((s) => s.labels);
  }
}

/** Scrapes `/metrics` of the admin listener at `admin`. */
export async function scrape(admin: string): Promise<MetricSamples> {
  const res = await fetch(`${admin}/metrics`);
  if (!res.ok) throw new Error(`/metrics answered ${res.status}`);
  return new MetricSamples(await res.text());
}
