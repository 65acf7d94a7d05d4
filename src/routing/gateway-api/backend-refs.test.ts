/**
 * An HTTPRoute attached only to listeners that cannot serve it never reaches compile(), so
 * the translation itself looks its backendRefs' Services up: its status must not claim
 * resolved refs that are missing, nor report missing ones that exist.
 */
import { describe, expect, it } from "vitest";
import { gatewayYaml, manifestObjects } from "../../../test/helpers/gateway-api.js";
import { DEFAULT_GATEWAY_API_OPTIONS } from "../compile.js";
import { ObjectStore } from "../store.js";
import { translateGatewayApi } from "./translate.js";

/** An HTTPS listener whose certificate does not exist: routes attach to it, it serves none. */
const UNSERVABLE =
  "[{ name: tls, port: 443, protocol: HTTPS, tls: { certificateRefs: [{ name: absent }] } }]";

function route(name: string, backendRefs: string): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}, namespace: apps }
spec:
  parentRefs: [{ name: web, sectionName: tls }]
  rules: [{ backendRefs: ${backendRefs} }]
`;
}

function service(namespace: string, name: string, ports: string): string {
  return `apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: ${namespace} }
spec: { ports: ${ports} }
`;
}

const MANIFESTS = [
  gatewayYaml(UNSERVABLE),
  service("apps", "echo", "[{ name: ws, port: 80 }]"),
  service("apps", "dns", "[{ name: dns, port: 53, protocol: UDP }]"),
  service("other", "echo", "[{ name: ws, port: 80 }]"),
  `apiVersion: gateway.networking.k8s.io/v1
kind: ReferenceGrant
metadata: { name: from-apps, namespace: other }
spec:
  from: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: apps }]
  to: [{ group: "", kind: Service }]
`,
  route("present", "[{ name: echo, port: 80 }]"),
  route("granted", "[{ name: echo, namespace: other, port: 80 }]"),
  route("wrong-port", "[{ name: echo, port: 81 }]"),
  route("udp-only", "[{ name: dns, port: 53 }]"),
  route("granted-missing", "[{ name: nope, namespace: other, port: 80 }]"),
  route("second-missing", "[{ name: echo, port: 80 }, { name: gone, port: 80 }]"),
].join("---\n");

function refProblems(): Map<string, string | undefined> {
  const store = new ObjectStore();
  store.replaceAll(manifestObjects(MANIFESTS));
  const translation = translateGatewayApi(store.snapshot(), DEFAULT_GATEWAY_API_OPTIONS, new Map());
  return new Map(
    translation.httpRoutes.map((r) => {
      expect(r.translated).toBeUndefined();
      const problem = r.refProblem;
      return [r.route.metadata.name, problem && `${problem.reason}: ${problem.message}`];
    }),
  );
}

describe("backendRefs of an HTTPRoute attached but served nowhere", () => {
  it("finds the Services that exist, in the route's namespace and a granted one, so that its status does not report them missing", () => {
    const problems = refProblems();
    expect(problems.get("present")).toBeUndefined();
    expect(problems.get("granted")).toBeUndefined();
  });

  it("reports BackendNotFound for the first ref whose Service or TCP port is missing, so that its status does not claim resolved refs", () => {
    const problems = refProblems();
    expect(problems.get("wrong-port")).toBe("BackendNotFound: Service apps/echo port 81 not found");
    expect(problems.get("udp-only")).toBe("BackendNotFound: Service apps/dns port 53 not found");
    expect(problems.get("granted-missing")).toBe("BackendNotFound: Service other/nope port 80 not found");
    expect(problems.get("second-missing")).toBe("BackendNotFound: Service apps/gone port 80 not found");
  });
});
