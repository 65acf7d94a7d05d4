/**
 * Listener isolation on real sockets: one wsgate serves a Gateway's HTTP and HTTPS
 * listeners on its http and https listeners, and an HTTPRoute attached (by sectionName) to
 * only one of them is served there only — a route meant for TLS clients is not reachable
 * in plain text, and the other way round. A route attached to the whole Gateway is served
 * on both.
 */
import https from "node:https";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Gateway } from "../src/dataplane/gateway.js";
import { TableHolder } from "../src/routing/holder.js";
import { Recompiler } from "../src/routing/recompiler.js";
import { ObjectStore } from "../src/routing/store.js";
import { parseManifestText } from "../src/sources/manifests.js";
import { createHttpsServer } from "../src/tls/server.js";
import { selfSigned, tlsSecret } from "./helpers/certs.js";
import { serviceWithEndpoints } from "./helpers/objects.js";
import { startRecordingBackend, type RecordingBackend } from "./helpers/recording-backend.js";
import { gatewayYaml } from "./helpers/gateway-api.js";

const LISTENERS = `
    - { name: http, port: 80, protocol: HTTP }
    - { name: https, port: 443, protocol: HTTPS, tls: { certificateRefs: [{ name: web-tls }] } }`;

const MANIFESTS = `${gatewayYaml(LISTENERS)}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: secure, namespace: apps }
spec:
  parentRefs: [{ name: web, sectionName: https }]
  hostnames: [secure.example.com]
  rules: [{ backendRefs: [{ name: echo, port: 80 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: plain, namespace: apps }
spec:
  parentRefs: [{ name: web, sectionName: http }]
  hostnames: [plain.example.com]
  rules: [{ backendRefs: [{ name: echo, port: 80 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: both, namespace: apps }
spec:
  parentRefs: [{ name: web }]
  hostnames: [both.example.com]
  rules: [{ backendRefs: [{ name: echo, port: 80 }] }]
`;

describe("HTTPRoute listener isolation", () => {
  let backend: RecordingBackend;
  let gateway: Gateway;
  let recompiler: Recompiler;
  let plainServer: http.Server;
  let tlsServer: http.Server;
  const ports = { http: 0, https: 0 };

  beforeAll(async () => {
    backend = await startRecordingBackend();
    const store = new ObjectStore();
    const holder = new TableHolder();
    recompiler = new Recompiler(store, holder, { ingressClass: "wsgate" });
    gateway = new Gateway({ tables: holder });
    gateway.start();
    plainServer = http.createServer();
    gateway.attach(plainServer, "http");
    const created = createHttpsServer({ tables: holder, onPublish: (l) => holder.onPublish(l) });
    tlsServer = created.server as http.Server;
    gateway.attach(tlsServer, "https");
    for (const [server, kind] of [
      [plainServer, "http"],
      [tlsServer, "https"],
    ] as const) {
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      ports[kind] = (server.address() as AddressInfo).port;
    }
    const parsed = parseManifestText(MANIFESTS);
    expect(parsed.errors).toEqual([]);
    store.replaceAll([
      ...parsed.objects,
      tlsSecret("apps", "web-tls", selfSigned("secure.example.com", "plain.example.com", "both.example.com")),
      ...serviceWithEndpoints("apps", "echo", [{ port: backend.port }]),
    ]);
    recompiler.compileNow();
    const served = holder.current.routes.map((r) => r.key).sort();
    expect(served).toEqual(["apps/httproute/both", "apps/httproute/plain", "apps/httproute/secure"]);
  });

  afterAll(async () => {
    recompiler.stop();
    gateway.destroyAll();
    await gateway.connections.whenEmpty();
    gateway.stop();
    for (const server of [plainServer, tlsServer]) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    await backend.close();
  });

  function get(kind: "http" | "https", host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const options = { host: "127.0.0.1", port: ports[kind], path: "/", headers: { Host: host } };
      const req =
        kind === "https"
          ? https.get({ ...options, servername: host, rejectUnauthorized: false, agent: false })
          : http.get({ ...options, agent: false });
      req.once("response", (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.once("error", reject);
    });
  }

  it("serves a route attached only to the HTTPS listener on https and answers 404 in plain text, so that it is never reachable without TLS", async () => {
    expect(await get("https", "secure.example.com")).toBe(200);
    expect(await get("http", "secure.example.com")).toBe(404);
  });

  it("serves a route attached only to the HTTP listener on http and answers 404 on https", async () => {
    expect(await get("http", "plain.example.com")).toBe(200);
    expect(await get("https", "plain.example.com")).toBe(404);
  });

  it("serves a route attached to the whole Gateway on both listeners", async () => {
    expect(await get("http", "both.example.com")).toBe(200);
    expect(await get("https", "both.example.com")).toBe(200);
  });
});
