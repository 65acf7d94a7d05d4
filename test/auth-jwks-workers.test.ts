/**
 * `jwksUri` with `wsgate serve --workers 2`: real worker threads (they run the built
 * dist/workers/worker-main.js: `npm run build` first) verify tokens with the key set the
 * main thread fetched once for the process.
 */
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import WebSocket from "ws";
import type { RunningGateway } from "../src/cli/serve.js";
import {
  AUDIENCE,
  ISSUER,
  jwksOf,
  mint,
  signingKey,
  startJwksServer,
  type TestServer,
} from "./helpers/auth.js";
import { startEchoBackend, type EchoBackend } from "./helpers/backends.js";
import { connect, expectRefusal } from "./helpers/gateway.js";
import { eventually } from "./helpers/raw-peers.js";
import { manifestDir, serviceYaml, startStandalone } from "./helpers/standalone.js";

let running: RunningGateway | undefined;
let backend: EchoBackend | undefined;
let issuer: TestServer | undefined;
let dir: string | undefined;
const clients: WebSocket[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  await running?.stop(0);
  await backend?.close();
  await issuer?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  running = backend = issuer = dir = undefined;
});

function manifests(backendPort: number, jwksUri: string): string {
  return `${serviceYaml("echo", backendPort)}---
apiVersion: wsgate.io/v1alpha1
kind: WebSocketRoute
metadata: { name: chat, namespace: apps }
spec:
  rules: [{ backendRefs: [{ name: echo, port: 80 }] }]
  auth: { jwt: { issuer: "${ISSUER}", audiences: [${AUDIENCE}], keys: { jwksUri: "${jwksUri}" } } }
`;
}

it(
  "fetches a jwksUri key set once for the process however many workers verify tokens, so that --workers does not multiply the load on the issuer",
  { timeout: 60_000 },
  async () => {
    const key = await signingKey("ES256", "a");
    const jwks = await startJwksServer(jwksOf(key));
    issuer = jwks;
    backend = await startEchoBackend();
    dir = manifestDir("jwks-workers");
    writeFileSync(join(dir, "chat.yaml"), manifests(backend.port, jwks.url));
    running = await startStandalone(dir, ["--workers", "2"]);
    const gateway = running;
    const url = `ws://127.0.0.1:${gateway.httpAddress.port}/`;
    const token = await mint(key);

    // Open connections until both workers verified some (the kernel spreads them).
    const both = (): boolean => gateway.workers!.view().every((w) => w.connections > 0);
    for (let i = 0; i < 40 && !both(); i++) {
      clients.push(await connect(url, undefined, { headers: { Authorization: `Bearer ${token}` } }));
      await eventually(() => gateway.workers!.connections === clients.length, "the connection to be counted");
    }
    expect(both()).toBe(true);
    expect(jwks.fetches()).toBe(1);

    // Fail closed in every worker as before: a token of an unknown issuer key is refused.
    const stranger = await signingKey("ES256", "x");
    const refusal = await expectRefusal(url, {
      headers: { Authorization: `Bearer ${await mint(stranger)}` },
    });
    expect(refusal.status).toBe(401);
  },
);
