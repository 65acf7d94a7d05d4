/**
 * Session affinity composed as `wsgate serve --manifests` runs it: the cookie key from
 * `--affinity-key-file` is shared by replicas given the same file, and by the worker
 * threads of `--workers 2` (the cookie is stateless: whichever thread takes a request
 * reads it). Without a key file each process has its own random key, so replicas disagree
 * — a foreign cookie is a fresh pick, never an error. Worker threads run the built
 * dist/workers/worker-main.js: `npm run build` first.
 */
import http from "node:http";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { RunningGateway } from "../src/cli/serve.js";
import { startEchoBackend, type EchoBackend } from "./helpers/backends.js";
import { MetricSamples } from "./helpers/operator-scene.js";
import { manifestDir, startStandalone } from "./helpers/standalone.js";

let gateways: RunningGateway[] = [];
let backends: EchoBackend[] = [];
let dir: string | undefined;
let keyFile: string | undefined;

afterEach(async () => {
  for (const g of gateways) await g.stop(0);
  gateways = [];
  for (const b of backends) await b.close();
  backends = [];
  if (dir) rmSync(dir, { recursive: true, force: true });
  if (keyFile) rmSync(keyFile, { force: true });
  dir = keyFile = undefined;
});

/** Three echo backends behind Service `echo` and a Cookie-affinity route; the key file, if asked. */
async function scene(withKeyFile: boolean): Promise<string[]> {
  for (let i = 0; i < 3; i++) backends.push(await startEchoBackend());
  dir = manifestDir("affinity");
  const slices = backends.map(
    (b, i) => `---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: echo-${i}, namespace: apps, labels: { kubernetes.io/service-name: echo } }
addressType: IPv4
ports: [{ name: ws, port: ${b.port} }]
endpoints: [{ addresses: [127.0.0.1], conditions: { ready: true } }]
`,
  );
  writeFileSync(
    join(dir, "echo.yaml"),
    `apiVersion: v1
kind: Service
metadata: { name: echo, namespace: apps }
spec: { ports: [{ name: ws, port: 80 }] }
${slices.join("")}---
apiVersion: wsgate.io/v1alpha1
kind: WebSocketRoute
metadata: { name: chat, namespace: apps }
spec:
  rules: [{ backendRefs: [{ name: echo, port: 80 }] }]
  sessionAffinity: { type: Cookie }
`,
  );
  // Outside the manifest directory: the key is no manifest.
  keyFile = join(dir, "..", `${dir.split("/").pop()}.key`);
  writeFileSync(keyFile, "a shared affinity key of enough bytes\n");
  return withKeyFile ? ["--affinity-key-file", keyFile] : [];
}

interface Answer {
  readonly port: number;
  readonly setCookie: string[];
}

function get(port: number, cookie?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers = cookie ? { Cookie: cookie } : {};
    // agent: false: a new connection each time, so `--workers 2` spreads them over threads.
    const req = http.get({ host: "127.0.0.1", port, path: "/poll", headers, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () =>
        resolve({
          port: (JSON.parse(body) as { port: number }).port,
          setCookie: res.headers["set-cookie"] ?? [],
        }),
      );
    });
    req.on("error", reject);
  });
}

async function startGateway(dir: string, extra: readonly string[]): Promise<RunningGateway> {
  const g = await startStandalone(dir, extra);
  gateways.push(g);
  if (g.workers) await g.workers.waitForGeneration(1);
  return g;
}

describe("session affinity key, standalone", () => {
  it("lets two replicas given the same --affinity-key-file follow each other's cookies", async () => {
    const flags = await scene(true);
    const a = await startGateway(dir!, flags);
    const b = await startGateway(dir!, flags);
    const first = await get(a.httpAddress.port);
    const cookie = first.setCookie[0]!.split(";")[0]!;
    for (let i = 0; i < 10; i++) {
      const answer = await get(b.httpAddress.port, cookie);
      expect(answer.port).toBe(first.port);
      expect(answer.setCookie).toEqual([]);
    }
  });

  it("refuses to fail a replica's cookie without a shared key: a fresh pick and its own cookie", async () => {
    await scene(false);
    const a = await startGateway(dir!, []);
    const b = await startGateway(dir!, []);
    const cookie = (await get(a.httpAddress.port)).setCookie[0]!.split(";")[0]!;
    const answer = await get(b.httpAddress.port, cookie);
    expect(answer.setCookie).toHaveLength(1);
    expect(answer.setCookie[0]!.split(";")[0]).not.toBe(cookie);
  });

  it("keeps a session on one endpoint across the worker threads of --workers 2, counted once in /metrics", async () => {
    const flags = await scene(true);
    const g = await startGateway(dir!, [...flags, "--workers", "2"]);
    const first = await get(g.httpAddress.port);
    const cookie = first.setCookie[0]!.split(";")[0]!;
    for (let i = 0; i < 40; i++) expect((await get(g.httpAddress.port, cookie)).port).toBe(first.port);
    const res = await fetch(`http://127.0.0.1:${g.adminAddress.port}/metrics`);
    const samples = new MetricSamples(await res.text());
    expect(samples.sum("wsgate_affinity_total", { route: "chat", result: "hit" })).toBe(40);
    expect(samples.sum("wsgate_affinity_total", { route: "chat", result: "miss" })).toBe(1);
  });
});
