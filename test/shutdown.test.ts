/**
 * SIGTERM on a real `wsgate serve` child process (the built CLI): readiness fails
 * at once, connections are closed with 1001 spread over --shutdown-drain, and the
 * process exits 0.
 */
import type { ChildProcess } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import type WebSocket from "ws";
import { startEchoBackend, type EchoBackend } from "./helpers/backends.js";
import { connect } from "./helpers/gateway.js";
import { spawnServe } from "./helpers/serve-process.js";
import { manifestDir, routeYaml, serviceYaml } from "./helpers/standalone.js";

let child: ChildProcess | undefined;
let backend: EchoBackend | undefined;
let dir: string | undefined;

afterEach(async () => {
  child?.kill("SIGKILL");
  await backend?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it("drains connections with 1001 over --shutdown-drain on SIGTERM and exits 0", async () => {
  backend = await startEchoBackend();
  dir = manifestDir("sigterm");
  writeFileSync(join(dir, "echo.yaml"), serviceYaml("echo", backend.port) + "---\n" + routeYaml("echo", "/"));
  const serve = spawnServe(dir, ["--shutdown-drain", "1s"]);
  child = serve.proc;
  const { http: port, admin } = await serve.listening();
  const url = `ws://127.0.0.1:${port}/`;
  const clients: WebSocket[] = [];
  for (let i = 0; i < 20; i++) clients.push(await connect(url));
  const closes = clients.map(
    (ws) =>
      new Promise<{ code: number; at: number }>((resolve) =>
        ws.once("close", (code) => resolve({ code, at: Date.now() })),
      ),
  );

  serve.proc.kill("SIGTERM");
  await serve.event("draining");
  expect((await fetch(`${admin}/readyz`)).status).toBe(503);

  const results = await Promise.all(closes);
  expect(results.map((r) => r.code)).toEqual(Array(20).fill(1001));
  const spreadMs = Math.max(...results.map((r) => r.at)) - Math.min(...results.map((r) => r.at));
  expect(spreadMs).toBeGreaterThanOrEqual(600);
  expect(await serve.exited).toBe(0);
});
