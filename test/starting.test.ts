/**
 * A gateway that has no routing table yet: `wsgate serve` in cluster mode (a real child
 * process, the built CLI: `npm run build` first) whose API server never answers, so the
 * informers' initial sync never completes and nothing is published — as while a real
 * cluster's sync is in progress. Its listeners are open all the same.
 */
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { startSilentBackend } from "./helpers/backends.js";
import { getRequest, rawRequest, upgradeRequest } from "./helpers/raw-http.js";
import { spawnClusterServe, type ServeProcess } from "./helpers/serve-process.js";
import { manifestDir } from "./helpers/standalone.js";

let gw: ServeProcess | undefined;
let apiServer: Awaited<ReturnType<typeof startSilentBackend>> | undefined;
let dir: string | undefined;

afterEach(async () => {
  gw?.proc.kill("SIGKILL");
  await gw?.exited;
  await apiServer?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  gw = apiServer = dir = undefined;
});

/** A kubeconfig naming `server`, without credentials. */
function kubeconfig(server: string): string {
  return `apiVersion: v1
kind: Config
clusters: [{ name: test, cluster: { server: "${server}" } }]
users: [{ name: test, user: {} }]
contexts: [{ name: test, context: { cluster: test, user: test } }]
current-context: test
`;
}

it.for(["1", "2"])(
  "answers 503 starting with Retry-After before the first routing table, not 404, so that clients retry and monitors do not see every route vanish while the gateway starts (--workers %s)",
  { timeout: 60_000 },
  async (workers) => {
    apiServer = await startSilentBackend();
    dir = manifestDir("starting");
    const file = join(dir, "kubeconfig");
    writeFileSync(file, kubeconfig(`http://127.0.0.1:${apiServer.port}`));
    const serve = (gw = spawnClusterServe(file, ["--workers", workers]));
    const { http: port, admin } = await serve.listening();

    const upgrade = await rawRequest(port, upgradeRequest("/chat", "chat.example.com"));
    expect(upgrade.status).toBe(503);
    expect(upgrade.text).toMatch(/^Retry-After: 1\r$/m);
    expect(upgrade.text).toContain("starting");
    const plain = await rawRequest(port, getRequest("/app", "chat.example.com"));
    expect(plain.status).toBe(503);
    expect(plain.text).toMatch(/^Retry-After: 1\r$/im);

    expect((await fetch(`${admin}/readyz`)).status).toBe(503);
    expect(await serve.logLine((l) => l.event === "handshake_rejected")).toMatchObject({
      status: 503,
      reason: "starting",
      path: "/chat",
    });
    const metrics = await (await fetch(`${admin}/metrics`)).text();
    expect(metrics).toMatch(/^wsgate_handshake_rejections_total\{[^}]*reason="starting"[^}]*\} 1$/m);
    expect(metrics).toMatch(/^wsgate_request_rejections_total\{[^}]*reason="starting"[^}]*\} 1$/m);
  },
);
