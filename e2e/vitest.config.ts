import { basename } from "node:path";
import { defineConfig } from "vitest/config";
import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * The order the suites run in: the basics first (a broken install fails fast and
 * clearly), the ones that disturb the cluster last — the node drain gathers the Pods
 * on one worker. Suites not listed run after these, in vitest's own order.
 */
const ORDER = [
  "image",
  "echo",
  "least-connections",
  "backend-drain",
  "backend-rollout",
  "gateway-restart",
  "node-drain",
].map((name) => `${name}.e2e.test.ts`);

class E2ESequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (f: TestSpecification): number => {
      const i = ORDER.indexOf(basename(f.moduleId));
      return i === -1 ? ORDER.length : i;
    };
    const fallback = await super.sort(files);
    return [...fallback].sort((a, b) => rank(a) - rank(b));
  }
}

/**
 * The kind e2e (e2e/run.sh): e2e/*.e2e.test.ts against a real cluster, one file at a
 * time because they scale and restart the same Deployments. Not part of `npm test`.
 */
export default defineConfig({
  test: {
    root: new URL(".", import.meta.url).pathname,
    include: ["*.e2e.test.ts"],
    fileParallelism: false,
    maxWorkers: 1,
    testTimeout: 300_000,
    hookTimeout: 300_000,
    sequence: { sequencer: E2ESequencer },
  },
});
