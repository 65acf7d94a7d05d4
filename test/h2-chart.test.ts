/**
 * The chart's `http2` value: HTTP/2 stays on by default (no flag rendered, so deploy/ is
 * unchanged), and `http2: false` passes `--http2=false` to `wsgate serve`. Real helm.
 */
import { beforeAll, expect, it } from "vitest";
import { parseServeConfig } from "../src/config/config.js";
import { PROVISION_TIMEOUT_MS, k8sBinDir, renderChart, type Rendered } from "./packaging/tools.js";

beforeAll(async () => {
  await k8sBinDir();
}, PROVISION_TIMEOUT_MS);

function serveArgs(r: Rendered): string[] {
  const deployment = r.objects.find((o) => o.kind === "Deployment") as unknown as {
    spec: { template: { spec: { containers: { args: string[] }[] } } };
  };
  return deployment.spec.template.spec.containers[0]!.args;
}

it("keeps HTTP/2 on by default and turns it off with http2: false, so that an operator can fall back to HTTP/1.1 only", async () => {
  const byDefault = serveArgs(await renderChart({}));
  expect(byDefault.some((a) => a.startsWith("--http2"))).toBe(false);
  expect(parseServeConfig(byDefault.slice(1), {}).http2).toBe(true);
  const off = serveArgs(await renderChart({ http2: false }));
  expect(off).toContain("--http2=false");
  expect(parseServeConfig(off.slice(1), {}).http2).toBe(false);
}, 60_000);
