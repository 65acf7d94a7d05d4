/**
 * Tracing off costs nothing: without `--otlp-endpoint` the built CLI (a real child
 * process, `npm run build` first) serves without loading the OpenTelemetry SDK or its
 * exporter; with it, they are loaded. A module hook in the child reports every
 * OpenTelemetry module it loads. (`@opentelemetry/api` itself is prom-client's
 * dependency and loaded either way: it is the no-op API, not the SDK.)
 */
import { spawn } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterEach, describe, expect, it } from "vitest";
import { manifestDir, routeYaml, serveArgs, serviceYaml } from "./helpers/standalone.js";

const CLI = new URL("../dist/cli/main.js", import.meta.url).pathname;
const HOOK = `data:text/javascript,${encodeURIComponent(`
import { registerHooks } from "node:module";
registerHooks({
  load(url, context, nextLoad) {
    const m = /@opentelemetry\\/([^/]+)/.exec(url);
    if (m) process.stderr.write("otel-module " + m[1] + "\\n");
    return nextLoad(url, context);
  },
});
`)}`;

let dir: string | undefined;

afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/** Starts the CLI, waits until it serves, stops it; the OpenTelemetry packages it loaded. */
async function loadedOtelPackages(extra: string[]): Promise<Set<string>> {
  dir = manifestDir("tracing-off");
  writeFileSync(join(dir, "service.yaml"), serviceYaml("echo", 9));
  writeFileSync(join(dir, "route.yaml"), routeYaml("chat", "/chat"));
  const child = spawn(process.execPath, ["--import", HOOK, CLI, "serve", ...serveArgs(dir, extra)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const packages = new Set<string>();
  createInterface({ input: child.stderr }).on("line", (line) => {
    const m = /^otel-module (\S+)$/.exec(line);
    if (m) packages.add(m[1]!);
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout }).on("line", (line) => {
      if (line.includes('"event":"listening"')) resolve();
    });
    void exited.then((code) => reject(new Error(`wsgate exited with ${code} before serving`)));
  });
  child.kill("SIGTERM");
  await exited;
  return packages;
}

describe("tracing off", () => {
  it("loads no OpenTelemetry SDK or exporter without --otlp-endpoint, so that tracing off costs nothing", async () => {
    const loaded = await loadedOtelPackages([]);
    expect([...loaded].filter((p) => p !== "api")).toEqual([]);
  }, 60_000);

  it("loads the SDK and the OTLP exporter with --otlp-endpoint", async () => {
    const loaded = await loadedOtelPackages(["--otlp-endpoint", "http://127.0.0.1:9"]);
    expect(loaded).toContain("sdk-trace");
    expect(loaded).toContain("exporter-trace-otlp-http");
  }, 60_000);
});
