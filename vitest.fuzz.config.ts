import { defineConfig } from "vitest/config";

/**
 * The long fuzz run (`npm run fuzz`): only test/fuzz/, one file at a time, no time
 * limit per test — FUZZ_RUNS cases per property, each bounded on its own.
 */
export default defineConfig({
  test: {
    include: ["test/fuzz/**/*.fuzz.test.ts"],
    pool: "forks",
    maxWorkers: 1,
    fileParallelism: false,
    testTimeout: 0,
    hookTimeout: 60_000,
  },
});
