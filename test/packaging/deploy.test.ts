/**
 * deploy/ is the chart rendered with its default values (scripts/render-deploy.sh,
 * real helm): re-rendered here and compared byte for byte, so it cannot drift from
 * the chart. Its contents are checked for what `kubectl apply -f deploy/` needs.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { PROVISION_TIMEOUT_MS, REPO, k8sBinDir, rendered, renderChart, tool } from "./tools.js";

let out: string;

beforeAll(async () => {
  const bin = await k8sBinDir();
  out = mkdtempSync(join(tmpdir(), "wsgate-deploy-"));
  const result = await tool("bash", ["scripts/render-deploy.sh", out], {
    env: { ...process.env, HELM: join(bin, "helm") },
  });
  if (result.code !== 0) throw new Error(`scripts/render-deploy.sh failed: ${result.stderr}`);
}, PROVISION_TIMEOUT_MS);

afterAll(() => {
  if (out) rmSync(out, { recursive: true, force: true });
});

it("matches a fresh render of the chart (run bash scripts/render-deploy.sh after changing the chart)", () => {
  const yamlFiles = (dir: string): string[] =>
    readdirSync(dir)
      .filter((f) => /\.ya?ml$/.test(f))
      .sort();
  expect(yamlFiles(join(REPO, "deploy"))).toEqual(yamlFiles(out));
  for (const file of yamlFiles(out)) {
    const committed = readFileSync(join(REPO, "deploy", file), "utf8");
    const fresh = readFileSync(join(out, file), "utf8");
    expect(committed === fresh, `deploy/${file} is stale: run bash scripts/render-deploy.sh`).toBe(true);
  }
});

it("creates its namespace and the CRD before the objects that need them, then the chart's default objects", async () => {
  const manifests = rendered(readFileSync(join(REPO, "deploy/wsgate.yaml"), "utf8"));
  const [first, ...others] = manifests.objects;
  expect(first).toMatchObject({ kind: "Namespace", metadata: { name: "wsgate" } });
  expect(first?.metadata.labels?.["pod-security.kubernetes.io/enforce"]).toBe("restricted");
  // The CRDs of crds/ (WebSocketRoute, WebSocketPolicy) come next, before anything else.
  const crdCount = others.findIndex((o) => o.kind !== "CustomResourceDefinition");
  const rest = others.slice(crdCount);
  expect(
    others
      .slice(0, crdCount)
      .map((o) => o.metadata.name)
      .sort(),
  ).toEqual(["websocketpolicies.wsgate.io", "websocketroutes.wsgate.io"]);
  // Exactly what `helm template` renders with default values, in helm's install order.
  const chart = await renderChart();
  expect(rest).toEqual(chart.objects);
});
