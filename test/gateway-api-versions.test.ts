/**
 * The Gateway API versions a standalone manifest may be written in: every version the
 * bundled CRDs (`crds/gateway-api/`) serve for a kind wsgate reads — ReferenceGrant's
 * storage version is still v1beta1, and users write it — and a clear error for the others.
 * Through `wsgate serve --manifests DIR` on real sockets.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type WebSocket from "ws";
import { parseAllDocuments } from "yaml";
import { parseObject } from "../src/api/parse.js";
import type { RunningGateway } from "../src/cli/serve.js";
import { parseManifestText } from "../src/sources/manifests.js";
import { startEchoBackend, type EchoBackend } from "./helpers/backends.js";
import { connect, expectRefusal, roundTrip } from "./helpers/gateway.js";
import { manifestDir, serviceYaml, startStandalone } from "./helpers/standalone.js";

/**
 * Everything in `version` (v1beta1 for all four kinds): GatewayClass, Gateway `apps/web`,
 * HTTPRoute `apps/chat` with `/granted` to `echo` in `granted` (which a ReferenceGrant in
 * `granted` allows) and `/refused` to `echo` in `refused` (no grant there).
 */
function manifests(version: string): string {
  const api = `gateway.networking.k8s.io/${version}`;
  return `apiVersion: ${api}
kind: GatewayClass
metadata: { name: wsgate }
spec: { controllerName: wsgate.io/gateway-controller }
---
apiVersion: ${api}
kind: Gateway
metadata: { name: web, namespace: apps }
spec:
  gatewayClassName: wsgate
  listeners: [{ name: http, port: 80, protocol: HTTP }]
---
apiVersion: ${api}
kind: HTTPRoute
metadata: { name: chat, namespace: apps }
spec:
  parentRefs: [{ name: web }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /granted } }]
      backendRefs: [{ name: echo, namespace: granted, port: 80 }]
    - matches: [{ path: { type: PathPrefix, value: /refused } }]
      backendRefs: [{ name: echo, namespace: refused, port: 80 }]
---
apiVersion: ${api}
kind: ReferenceGrant
metadata: { name: from-apps, namespace: granted }
spec:
  from: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: apps }]
  to: [{ group: "", kind: Service }]
`;
}

describe("a standalone manifest written in Gateway API v1beta1", () => {
  let running: RunningGateway;
  let backend: EchoBackend;
  const clients: WebSocket[] = [];

  beforeEach(async () => {
    backend = await startEchoBackend();
    const dir = manifestDir("gateway-api-v1beta1");
    writeFileSync(
      join(dir, "services.yaml"),
      `${serviceYaml("echo", backend.port, false, "granted")}---\n${serviceYaml("echo", backend.port, false, "refused")}`,
    );
    writeFileSync(join(dir, "gateway.yaml"), manifests("v1beta1"));
    running = await startStandalone(dir);
  });

  afterEach(async () => {
    for (const ws of clients.splice(0)) ws.terminate();
    await running.stop();
    await backend.close();
  });

  const url = (path: string): string => `ws://127.0.0.1:${running.httpAddress.port}${path}`;

  it("resolves a cross-namespace backendRef its v1beta1 ReferenceGrant permits, so that the CRDs' storage version is not RefNotPermitted", async () => {
    expect(running.manifests?.problems).toEqual([]);
    const ws = await connect(url("/granted"));
    clients.push(ws);
    expect((await roundTrip(ws, "hi")).data.toString()).toBe("hi");
  });

  it("still refuses the backendRef no grant permits (500), so that the grant read is what opens the other one", async () => {
    expect((await expectRefusal(url("/refused"))).status).toBe(500);
  });
});

describe("Gateway API versions the CRDs do not serve", () => {
  it("refuses them with an error naming the served versions, and loses nothing else of the file", () => {
    const parsed = parseManifestText(`${manifests("v1")}---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: HTTPRoute
metadata: { name: old, namespace: apps }
spec: { parentRefs: [{ name: web }] }
---
apiVersion: gateway.networking.k8s.io/v1alpha3
kind: BackendTLSPolicy
metadata: { name: old, namespace: apps }
spec: { targetRefs: [], validation: { hostname: a.example } }
`);
    expect(parsed.errors).toEqual([
      expect.stringContaining(
        "apiVersion: HTTPRoute is served as gateway.networking.k8s.io/v1 or gateway.networking.k8s.io/v1beta1, not gateway.networking.k8s.io/v1alpha2",
      ),
      expect.stringContaining(
        "apiVersion: BackendTLSPolicy is served as gateway.networking.k8s.io/v1, not gateway.networking.k8s.io/v1alpha3",
      ),
    ]);
    expect(parsed.objects.map((o) => o.kind)).toEqual([
      "GatewayClass",
      "Gateway",
      "HTTPRoute",
      "ReferenceGrant",
    ]);
  });

  it("leaves the Gateway API kinds wsgate does not read ignored, whatever their version", () => {
    expect(parseObject({ apiVersion: "gateway.networking.k8s.io/v1alpha2", kind: "TCPRoute" }).outcome).toBe(
      "ignored",
    );
  });
});

/** Each kind of the bundled CRDs with the versions it serves and those it does not. */
function crdVersions(): { kind: string; served: string[]; unserved: string[] }[] {
  const dir = join(import.meta.dirname, "..", "crds", "gateway-api");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), "utf8")).map((d) => d.toJS() as unknown))
    .filter(
      (crd): crd is { spec: { names: { kind: string }; versions: { name: string; served: boolean }[] } } =>
        Boolean((crd as { spec?: { names?: unknown } } | null)?.spec?.names),
    )
    .map(({ spec }) => ({
      kind: spec.names.kind,
      served: spec.versions.filter((v) => v.served).map((v) => v.name),
      unserved: spec.versions.filter((v) => !v.served).map((v) => v.name),
    }));
}

describe("the versions read agree with the bundled CRDs", () => {
  const READ = ["GatewayClass", "Gateway", "HTTPRoute", "ReferenceGrant", "BackendTLSPolicy"];

  it("finds a CRD for every Gateway API kind wsgate reads, so that the check below covers them all", () => {
    expect(
      crdVersions()
        .map((c) => c.kind)
        .filter((k) => READ.includes(k))
        .sort(),
    ).toEqual([...READ].sort());
  });

  it.each(crdVersions().filter((c) => READ.includes(c.kind)))(
    "reads $kind in exactly the versions its CRD serves, so that a CRD bump cannot leave a served version ignored",
    ({ kind, served, unserved }) => {
      const answer = (version: string): string[] => {
        const result = parseObject({
          apiVersion: `gateway.networking.k8s.io/${version}`,
          kind,
          metadata: { name: "x", namespace: "apps" },
        });
        return result.outcome === "invalid" ? result.errors : [result.outcome];
      };
      for (const version of served) expect(answer(version).join()).not.toMatch(/^apiVersion:|ignored/);
      for (const version of [...unserved, "v9"])
        expect(answer(version)[0]).toMatch(/^apiVersion: .* is served as/);
    },
  );
});
