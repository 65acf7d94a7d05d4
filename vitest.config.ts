import { configDefaults, defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    // The real-apiserver tier has its own config (vitest.k8s.config.ts) and network namespace.
    exclude: [...configDefaults.exclude, "test/k8s/**"],
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
