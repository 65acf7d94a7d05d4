/**
 * The chart's `workers` value (helm template with the real helm): how many data-plane
 * threads a release runs, parsed back with wsgate's own flag parser.
 */
import { describe, expect, it } from "vitest";
import { parseServeConfig } from "../../src/config/config.js";
import { PROVISION_TIMEOUT_MS, renderChart, type Rendered } from "./tools.js";

function config(r: Rendered) {
  const deployment = r.one<{ spec: { template: { spec: { containers: { args: string[] }[] } } } }>(
    "Deployment",
  );
  const [, ...flags] = deployment.spec.template.spec.containers[0]?.args ?? [];
  return parseServeConfig(flags, {});
}

describe("helm template: workers", { timeout: PROVISION_TIMEOUT_MS }, () => {
  it("runs one thread without a CPU limit, so that a Pod does not take a thread per node core", async () => {
    expect(config(await renderChart()).workers).toBe(1);
  });

  it("sizes the workers from resources.limits.cpu (auto: the cgroup quota) when a CPU limit is set", async () => {
    const r = await renderChart({ resources: { limits: { cpu: "4", memory: "1Gi" } } });
    expect(config(r).workers).toBe("auto");
  });

  it("takes an explicit count over the CPU limit", async () => {
    const r = await renderChart({ workers: 2, resources: { limits: { cpu: "4" } } });
    expect(config(r).workers).toBe(2);
    expect(config(await renderChart({ workers: "auto" })).workers).toBe("auto");
  });

  it("refuses a worker count the binary would refuse, at install time", async () => {
    await expect(renderChart({ workers: 0 })).rejects.toThrow(/workers/);
    await expect(renderChart({ workers: "many" })).rejects.toThrow(/workers/);
  });
});
