/**
 * `wsgate serve --manifests DIR` for tests: manifest text builders and a gateway
 * composed exactly as the CLI does it, every listener on 127.0.0.1 port 0.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServe, type RunningGateway } from "../../src/cli/serve.js";
import { parseServeConfig } from "../../src/config/config.js";
import { createLogger } from "../../src/observability/logger.js";

/**
 * A Service `name` in `namespace` (port 80 "ws") with one EndpointSlice: 127.0.0.1:`port`,
 * ready — or `terminating` (and not ready), as a Pod being deleted.
 */
export function serviceYaml(name: string, port: number, terminating = false, namespace = "apps"): string {
  return `apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: ${namespace} }
spec: { ports: [{ name: ws, port: 80 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: ${name}-1, namespace: ${namespace}, labels: { kubernetes.io/service-name: ${name} } }
addressType: IPv4
ports: [{ name: ws, port: ${port} }]
endpoints: [{ addresses: [127.0.0.1], conditions: { ready: ${!terminating}, terminating: ${terminating} } }]
`;
}

/** A route `name` in `apps` sending PathPrefix `path` to Service `service` port 80. */
export function routeYaml(name: string, path: string, service = "echo"): string {
  return `apiVersion: wsgate.io/v1alpha1
kind: WebSocketRoute
metadata: { name: ${name}, namespace: apps }
spec:
  rules:
    - matches: [{ path: { type: PathPrefix, value: ${path} } }]
      backendRefs: [{ name: ${service}, port: 80 }]
`;
}

/** A fresh manifest directory. */
export function manifestDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `wsgate-${prefix}-`));
}

/** A `kubernetes.io/tls` Secret `name` in `namespace` carrying `cert`. */
export function tlsSecretYaml(
  name: string,
  cert: { readonly certPem: string; readonly keyPem: string },
  namespace = "apps",
): string {
  return `apiVersion: v1
kind: Secret
metadata: { name: ${name}, namespace: ${namespace} }
type: kubernetes.io/tls
data:
  tls.crt: ${Buffer.from(cert.certPem).toString("base64")}
  tls.key: ${Buffer.from(cert.keyPem).toString("base64")}
`;
}

/**
 * A fresh manifest directory for the HTTPS listener's tests: Service `echo` on
 * 127.0.0.1:`backendPort`, the Secret `chat-tls` with `cert`, and the WebSocketRoute
 * `chat` serving `host` (every path) with that certificate by SNI.
 */
export function tlsManifestDir(
  prefix: string,
  host: string,
  cert: { readonly certPem: string; readonly keyPem: string },
  backendPort: number,
): string {
  const dir = manifestDir(prefix);
  writeFileSync(
    join(dir, "chat.yaml"),
    `${serviceYaml("echo", backendPort)}---
${tlsSecretYaml("chat-tls", cert)}---
apiVersion: wsgate.io/v1alpha1
kind: WebSocketRoute
metadata: { name: chat, namespace: apps }
spec:
  hostnames: [${host}]
  tls: { secretName: chat-tls }
  rules: [{ backendRefs: [{ name: echo, port: 80 }] }]
`,
  );
  return dir;
}

/**
 * The serve arguments for `dir` with every listener on an ephemeral loopback port, and
 * one data-plane thread (the binary's default is a thread per CPU): these tests observe
 * the data plane in-process. `extra` may set `--workers` again (the last one wins).
 */
export function serveArgs(dir: string, extra: readonly string[] = []): string[] {
  return [
    "--workers",
    "1",
    "--manifests",
    dir,
    "--http-listen",
    "127.0.0.1:0",
    "--https-listen",
    "127.0.0.1:0",
    "--admin-listen",
    "127.0.0.1:0",
    ...extra,
  ];
}

/** Starts an in-process gateway on `dir`, silent. */
export function startStandalone(dir: string, extra: readonly string[] = []): Promise<RunningGateway> {
  return startServe(parseServeConfig(serveArgs(dir, extra), {}), createLogger("silent"));
}
