/**
 * Gateway API's answer for backendRefs that cannot be served, on real sockets: the
 * requests that would have gone to them get 500 (no Retry-After: retrying will not help),
 * the resolved backends of the same rule keep their share, and a resolved Service with no
 * ready endpoint still answers 503 + Retry-After — a transient state, unlike a broken ref.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fallsOnUnresolved } from "../src/dataplane/unresolved-backends.js";
import type { Rule } from "../src/routing/table.js";
import { parseManifestText } from "../src/sources/manifests.js";
import { startTestGateway, type TestGateway } from "./helpers/gateway.js";
import { serviceWithEndpoints, simpleRoute } from "./helpers/objects.js";
import { getRequest, rawRequest, upgradeRequest } from "./helpers/raw-http.js";
import { startRecordingBackend, type RecordingBackend } from "./helpers/recording-backend.js";
import { GATEWAY_YAML } from "./helpers/gateway-api.js";

const MANIFESTS = `${GATEWAY_YAML}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: broken, namespace: apps }
spec:
  parentRefs: [{ name: web }]
  hostnames: [broken.example.com]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /missing } }]
      backendRefs: [{ name: nope, port: 80 }]
    - matches: [{ path: { type: PathPrefix, value: /kind } }]
      backendRefs: [{ group: example.com, kind: Bucket, name: b }]
    - matches: [{ path: { type: PathPrefix, value: /foreign } }]
      backendRefs: [{ name: echo, namespace: other, port: 80 }]
    - matches: [{ path: { type: Exact, value: /none } }]
    - matches: [{ path: { type: PathPrefix, value: /half } }]
      backendRefs: [{ name: echo, port: 80 }, { name: nope, port: 80 }]
    - matches: [{ path: { type: PathPrefix, value: /idle } }]
      backendRefs: [{ name: idle, port: 80 }]
    - matches: [{ path: { type: PathPrefix, value: /ok } }]
      backendRefs: [{ name: echo, port: 80 }]
`;

describe("HTTPRoute backendRefs that cannot be resolved", () => {
  let gw: TestGateway;
  let backend: RecordingBackend;

  beforeEach(async () => {
    backend = await startRecordingBackend();
    gw = await startTestGateway();
    const parsed = parseManifestText(MANIFESTS);
    expect(parsed.errors).toEqual([]);
    gw.apply([
      ...parsed.objects,
      ...serviceWithEndpoints("apps", "echo", [{ port: backend.port }]),
      // The same Service name in a namespace that grants nothing: RefNotPermitted.
      ...serviceWithEndpoints("other", "echo", [{ port: backend.port }]),
      ...serviceWithEndpoints("apps", "idle", [{ port: backend.port, ready: false }]),
      // A WebSocketRoute keeps its own contract: a missing Service is 503 + Retry-After.
      simpleRoute("apps", "legacy", "gone", { hostnames: ["legacy.example.com"] }),
    ]);
    expect(gw.holder.current.routes.map((r) => r.key)).toContain("apps/httproute/broken");
  });

  afterEach(async () => {
    await gw.close();
    await backend.close();
  });

  it.each([
    ["a Service that does not exist", "/missing"],
    ["a backendRef of another kind", "/kind"],
    ["another namespace's Service without a ReferenceGrant", "/foreign"],
    ["a rule without backendRefs", "/none"],
  ])(
    "answers 500 without Retry-After for %s, so that clients see a broken route, not a passing outage",
    async (_what, path) => {
      for (const request of [getRequest, upgradeRequest]) {
        const answer = await rawRequest(gw.port, request(path, "broken.example.com"));
        expect(answer.status).toBe(500);
        expect(answer.text.toLowerCase()).not.toContain("retry-after");
      }
      expect(backend.received).toHaveLength(0);
    },
  );

  it("splits a rule by weight: the resolved backend keeps its share, the unresolved one's share gets 500", async () => {
    const statuses = new Set<number>();
    // Each request falls on either half with probability 1/2: 64 of one kind has odds 2^-63.
    for (let i = 0; i < 64 && statuses.size < 2; i++) {
      statuses.add((await rawRequest(gw.port, getRequest("/half", "broken.example.com"))).status);
    }
    expect([...statuses].sort()).toEqual([200, 500]);
  });

  it("still answers 503 + Retry-After when a resolved Service has no ready endpoint, so that clients retry a transient outage", async () => {
    const answer = await rawRequest(gw.port, getRequest("/idle", "broken.example.com"));
    expect(answer.status).toBe(503);
    expect(answer.text.toLowerCase()).toContain("retry-after");
  });

  it("keeps 503 + Retry-After for a WebSocketRoute whose Service is missing (its own contract)", async () => {
    const answer = await rawRequest(gw.port, getRequest("/", "legacy.example.com"));
    expect(answer.status).toBe(503);
    expect(answer.text.toLowerCase()).toContain("retry-after");
  });

  it("serves the rule whose refs resolve, so that one broken ref loses nothing else", async () => {
    expect((await rawRequest(gw.port, getRequest("/ok", "broken.example.com"))).status).toBe(200);
    expect((await rawRequest(gw.port, upgradeRequest("/ok", "broken.example.com"))).status).toBe(101);
  });
});

describe("fallsOnUnresolved", () => {
  const rule = (unresolvedWeight: number | undefined, weights: number[]): Rule => ({
    key: "apps/r#0",
    matches: [],
    backends: weights.map((weight, i) => ({ key: `apps/s${i}:80`, weight, endpoints: [] })),
    ...(unresolvedWeight === undefined ? {} : { unresolvedWeight }),
  });

  it("gives the unresolved refs exactly their weight's share, so that weights mean the same for broken refs", () => {
    // unresolved 1 of 1 + 3: draws below 0.25 fall on it.
    expect(fallsOnUnresolved(rule(1, [3]), () => 0.24)).toBe(true);
    expect(fallsOnUnresolved(rule(1, [3]), () => 0.26)).toBe(false);
  });

  it("refuses every request when no backend resolved, and none when all did", () => {
    expect(fallsOnUnresolved(rule(2, []), () => 0.99)).toBe(true);
    expect(fallsOnUnresolved(rule(undefined, [1]), () => 0)).toBe(false);
  });
});
