/**
 * A standalone gateway (`wsgate serve --manifests`, composed as the CLI does) in front of
 * the test app, for the browser tier. Routes, all on any host:
 * - `apps/page`  PathPrefix /app: the page and an open WebSocket; Origin must be the
 *   gateway's own origin; drains with 1012 over a short window; messages up to 64 KiB, permessage-deflate allowed
 *   (the gateway counts compressed messages inflated).
 * - `apps/secure` PathPrefix /secure: the same backend behind a JWT from the cookie
 *   `session` or the bearer subprotocol; `sub` goes to the backend as X-User-Id.
 * The routes are written once the gateway listens: their Origin allow list names its port.
 * With `tls`, both routes serve host `app.test` with that certificate on the HTTPS listener
 * (HTTP/2 offered by ALPN) and the page's origin is `https://app.test:PORT`.
 */
import { renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServe, type RunningGateway } from "../../src/cli/serve.js";
import { parseServeConfig } from "../../src/config/config.js";
import { createLogger } from "../../src/observability/logger.js";
import type { TableHolder } from "../../src/routing/holder.js";
import type { RoutingTable } from "../../src/routing/table.js";
import { AUDIENCE, ISSUER, jwksOf, mint, signingKey, type SigningKey } from "../helpers/auth.js";
import { scrape, type MetricSamples } from "../helpers/operator-scene.js";
import { manifestDir, serveArgs } from "../helpers/standalone.js";
import { startAppBackend, type AppBackend } from "./app.js";

/** Resolves once `holder` publishes a table for which `ok` holds; fails after 30 s saying `what`. */
export function tableWhere(
  holder: TableHolder,
  ok: (table: RoutingTable) => boolean,
  what: string,
): Promise<void> {
  if (ok(holder.current)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no routing table with ${what} within 30 s`));
    }, 30_000);
    const off = holder.onPublish((p) => {
      if (!ok(p.table)) return;
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}

/** Writes `text` to `dir/name` in one rename, so the manifest watcher never reads half a file. */
export function writeManifest(dir: string, name: string, text: string): void {
  const staged = join(tmpdir(), `wsgate-staged-${process.pid}-${name}`);
  writeFileSync(staged, text);
  renameSync(staged, join(dir, name));
}

function serviceYaml(port: number, terminating: boolean): string {
  return `apiVersion: v1
kind: Service
metadata: { name: app, namespace: apps }
spec: { ports: [{ name: http, port: 80 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: app-1, namespace: apps, labels: { kubernetes.io/service-name: app } }
addressType: IPv4
ports: [{ name: http, port: ${port} }]
endpoints: [{ addresses: [127.0.0.1], conditions: { ready: ${!terminating}, terminating: ${terminating} } }]
`;
}

/** The host name the TLS scene serves (Chromium maps it to 127.0.0.1). */
export const TLS_HOST = "app.test";

function tlsYaml(cert: { certPem: string; keyPem: string }): string {
  return `apiVersion: v1
kind: Secret
metadata: { name: app-tls, namespace: apps }
type: kubernetes.io/tls
data:
  tls.crt: ${Buffer.from(cert.certPem).toString("base64")}
  tls.key: ${Buffer.from(cert.keyPem).toString("base64")}
---
`;
}

function routesYaml(origin: string, jwks: string, tls: boolean): string {
  const host = tls ? `\n  hostnames: [${TLS_HOST}]\n  tls: { secretName: app-tls }` : "";
  return `apiVersion: v1
kind: Secret
metadata: { name: jwt-keys, namespace: apps }
type: Opaque
data: { jwks.json: ${Buffer.from(jwks).toString("base64")} }
---
apiVersion: wsgate.io/v1alpha1
kind: WebSocketRoute
metadata: { name: page, namespace: apps }
spec:${host}
  rules:
    - matches: [{ path: { type: PathPrefix, value: /app } }]
      backendRefs: [{ name: app, port: 80 }]
  origins: { allow: ["${origin}"] }
  drain: { window: 1s, closeCode: 1012 }
  limits: { maxMessageBytes: 65536, permessageDeflate: Inflate }
---
apiVersion: wsgate.io/v1alpha1
kind: WebSocketRoute
metadata: { name: secure, namespace: apps }
spec:${host}
  rules:
    - matches: [{ path: { type: PathPrefix, value: /secure } }]
      backendRefs: [{ name: app, port: 80 }]
  origins: { allow: ["${origin}"] }
  auth:
    jwt:
      issuer: ${ISSUER}
      audiences: [${AUDIENCE}]
      keys: { secretRef: { name: jwt-keys, key: jwks.json } }
      tokenFrom: [{ cookie: session }, { subprotocol: {} }]
      claimsToHeaders: { sub: X-User-Id }
`;
}

export interface BrowserScene {
  readonly running: RunningGateway;
  readonly app: AppBackend;
  /**
   * The page's origin: `http://127.0.0.1:PORT` (the plain HTTP listener), or with `tls`
   * `https://app.test:PORT` (the HTTPS listener).
   */
  readonly origin: string;
  /** A token the `secure` route accepts (subject `alice`). */
  token(claims?: Record<string, unknown>): Promise<string>;
  /** The gateway's log lines so far (pino JSON, parsed). */
  logs(event?: string): Record<string, unknown>[];
  /** The gateway's `/metrics`. */
  metrics(): Promise<MetricSamples>;
  /** Marks the app's only endpoint terminating and waits for the table that says so. */
  terminateApp(): Promise<void>;
  /** Shuts the gateway down as SIGTERM does, closing its WebSockets over `drainMs`. */
  shutdown(drainMs: number): Promise<void>;
  close(): Promise<void>;
}

export interface BrowserSceneOptions {
  /** Serve the routes on `app.test` over TLS with this certificate. */
  readonly tls?: { certPem: string; keyPem: string };
  /** More `wsgate serve` arguments. */
  readonly args?: readonly string[];
}

export async function startBrowserScene(options: BrowserSceneOptions = {}): Promise<BrowserScene> {
  const app = await startAppBackend();
  const dir = manifestDir("browser");
  const key: SigningKey = await signingKey("ES256", "browser");
  writeManifest(dir, "app.yaml", serviceYaml(app.port, false));
  // The gateway's own log lines, parsed: tests read which path a refusal came over.
  const logs: Record<string, unknown>[] = [];
  const sink = { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) };
  const running = await startServe(
    parseServeConfig(serveArgs(dir, options.args), {}),
    createLogger("info", sink),
  );
  const tls = options.tls !== undefined;
  const origin = tls
    ? `https://${TLS_HOST}:${running.httpsAddress.port}`
    : `http://127.0.0.1:${running.httpAddress.port}`;
  writeManifest(
    dir,
    "routes.yaml",
    (options.tls ? tlsYaml(options.tls) : "") + routesYaml(origin, jwksOf(key), tls),
  );
  const host = tls ? TLS_HOST : "127.0.0.1";
  await tableWhere(
    running.holder,
    (t) =>
      t.match(host, "/app/") !== undefined &&
      t.match(host, "/secure/ws") !== undefined &&
      (!tls || t.certificates.has(TLS_HOST)),
    "routes apps/page and apps/secure",
  );
  const admin = `http://127.0.0.1:${running.adminAddress.port}`;
  let stopped: Promise<void> | undefined;
  return {
    running,
    app,
    origin,
    token: (claims = {}) => mint(key, claims),
    metrics: () => scrape(admin),
    logs: (event) => (event === undefined ? [...logs] : logs.filter((l) => l.event === event)),
    async terminateApp() {
      const next = running.holder.current.generation + 1;
      writeManifest(dir, "app.yaml", serviceYaml(app.port, true));
      await running.holder.waitForGeneration(next);
    },
    async shutdown(drainMs) {
      stopped ??= running.stop(drainMs);
      await stopped;
    },
    async close() {
      await (stopped ??= running.stop(0));
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
