import { defineConfig } from "vitest/config";

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
  },
});
