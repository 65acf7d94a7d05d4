import { defineConfig } from "vitest/config";

/**
 * The real-apiserver tier: test/k8s/*.k8s.test.ts, run by scripts/test-k8s.sh inside
 * a network namespace where 10.244.0.0/16 is local. Each file starts its own etcd and
 * kube-apiserver; files run one after another in a single fork (two cores, and the
 * tests measure latencies).
 */
export default defineConfig({
  test: {
    include: ["test/k8s/**/*.k8s.test.ts"],
    pool: "forks",
    maxWorkers: 1,
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
