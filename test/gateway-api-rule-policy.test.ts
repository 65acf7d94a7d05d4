/**
 * A WebSocketPolicy attached to one rule of an HTTPRoute (targetRef `sectionName` = the
 * rule's name), on real sockets: the rule's connections get the rule's settings over the
 * route's, and the route's other rule keeps the route's — also after a later table (an
 * endpoint change) refreshed the settings of open connections; a rule's health check probes
 * that rule's backends only; a rule's JWT keys survive the trip to a data-plane worker. Compile-level cases
 * (precedence, Conflicted, TargetNotFound) are in test/fixtures/gateway-api/policies-rule.
 */
import { KeyObject } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type WebSocket from "ws";
import { parseManifestText } from "../src/sources/manifests.js";
import { compile } from "../src/routing/compile.js";
import { ObjectStore, type StoredObject } from "../src/routing/store.js";
import { tableFromMessage, tableToMessage } from "../src/workers/table-transfer.js";
import { HealthProber } from "../src/dataplane/health.js";
import { withEndpoints, type Route } from "../src/routing/table.js";
import { AUDIENCE, ISSUER, jwksOf, keySecret, signingKey } from "./helpers/auth.js";
import { startEchoBackend, type EchoBackend } from "./helpers/backends.js";
import {
  closeClient,
  connect,
  expectRefusal,
  gatewayClosed,
  roundTrip,
  startTestGateway,
  type TestGateway,
} from "./helpers/gateway.js";
import { serviceWithEndpoints } from "./helpers/objects.js";
import { GATEWAY_YAML, manifestObjects } from "./helpers/gateway-api.js";

const MANIFESTS = `${GATEWAY_YAML}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: chat, namespace: apps }
spec:
  parentRefs: [{ name: web }]
  rules:
    - name: live
      matches: [{ path: { type: PathPrefix, value: /live } }]
      backendRefs: [{ name: chat, port: 80 }]
    - name: history
      matches: [{ path: { type: PathPrefix, value: /history } }]
      backendRefs: [{ name: chat, port: 80 }]
---
apiVersion: wsgate.io/v1alpha1
kind: WebSocketPolicy
metadata: { name: chat, namespace: apps, creationTimestamp: "2026-01-01T00:00:00Z" }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: chat }]
  timeouts: { idle: 1h }
  limits: { maxMessageBytes: 2000 }
---
apiVersion: wsgate.io/v1alpha1
kind: WebSocketPolicy
metadata: { name: chat-live, namespace: apps, creationTimestamp: "2026-01-02T00:00:00Z" }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: chat, sectionName: live }]
  timeouts: { idle: 1s }
  limits: { maxMessageBytes: 100 }
`;

function manifests(): StoredObject[] {
  return manifestObjects(MANIFESTS);
}

function closeOf(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) =>
    ws.once("close", (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })),
  );
}

describe("WebSocketPolicy on one HTTPRoute rule (sectionName), on real sockets", () => {
  let gw: TestGateway;
  let backends: EchoBackend[];

  beforeEach(async () => {
    backends = [await startEchoBackend(), await startEchoBackend()];
    gw = await startTestGateway();
    gw.apply([...manifests(), ...serviceWithEndpoints("apps", "chat", [{ port: backends[0]!.port }])]);
  });

  afterEach(async () => {
    await gw.close();
    for (const b of backends) await b.close();
  });

  it("closes with 1009 a 500-byte message on the targeted rule's path, so that one rule can be held to a tighter limit than its route", async () => {
    const live = await connect(gw.url("/live/room"));
    const closed = closeOf(live);
    live.send("x".repeat(500));
    expect((await closed).code).toBe(1009);
  });

  it("relays the same 500-byte message on the route's other rule, which keeps the route's policy (1009 only above its 2000 bytes)", async () => {
    const history = await connect(gw.url("/history"));
    const echoed = await roundTrip(history, "y".repeat(500));
    expect(echoed.data.length).toBe(500);
    const closed = closeOf(history);
    history.send("z".repeat(2001));
    expect((await closed).code).toBe(1009);
  });

  it("counts connections per route: with the rule's maxConnections 1, an open connection on the route's other rule already fills it (as the README says)", async () => {
    gw.apply([
      ...manifestObjects(
        MANIFESTS.replace(
          "limits: { maxMessageBytes: 100 }",
          "limits: { maxMessageBytes: 100, maxConnections: 1 }",
        ),
      ),
      ...serviceWithEndpoints("apps", "chat", [{ port: backends[0]!.port }]),
    ]);
    const history = await connect(gw.url("/history"));
    expect((await expectRefusal(gw.url("/live"))).status).toBe(503);
    // Its count is released before the gateway reports it closed.
    const released = gatewayClosed(1);
    await closeClient(history);
    await released;
    const live = await connect(gw.url("/live"));
    expect((await expectRefusal(gw.url("/live"))).status).toBe(503);
    await closeClient(live);
  });

  it("keeps the rule's idle timeout for an open connection when a later table refreshes settings, so that an endpoint change does not hand it the route's", async () => {
    const live = await connect(gw.url("/live"));
    const closed = closeOf(live);
    // A new endpoint: a new table, whose publish refreshes every open connection's settings.
    const before = gw.holder.current;
    gw.apply([
      ...manifests(),
      ...serviceWithEndpoints("apps", "chat", [{ port: backends[0]!.port }, { port: backends[1]!.port }]),
    ]);
    expect(gw.holder.current).not.toBe(before);
    // The rule's 1s, not the route's 1h (which would outlast the test's timeout).
    expect(await closed).toEqual({ code: 1001, reason: "idle timeout" });
  });
});

describe("a rule's own settings crossing to a data-plane worker (--workers)", () => {
  it("keeps the JWT keys of a rule's policy, which structured clone would drop, so that the rule does not fail every token in a worker", async () => {
    const key = await signingKey("RS256", "k1");
    const policy = `
apiVersion: wsgate.io/v1alpha1
kind: WebSocketPolicy
metadata: { name: chat-history-auth, namespace: apps, creationTimestamp: "2026-01-03T00:00:00Z" }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: chat, sectionName: history }]
  auth:
    jwt:
      issuer: ${ISSUER}
      audiences: [${AUDIENCE}]
      keys: { secretRef: { name: keys, key: jwks.json } }
`;
    const parsed = parseManifestText(policy);
    expect(parsed.errors).toEqual([]);
    const store = new ObjectStore();
    store.replaceAll([
      ...manifests(),
      ...parsed.objects,
      keySecret("apps", "keys", "jwks.json", jwksOf(key)),
      ...serviceWithEndpoints("apps", "chat", [{ port: 1 }]),
    ]);
    const compiled = compile(store.snapshot(), { ingressClass: "wsgate", generation: 1 });
    const inWorker = tableFromMessage(structuredClone(tableToMessage(compiled.table)), false);
    const auth = inWorker.match("any.example", "/history")?.route.settings.auth;
    expect(auth?.kind).toBe("jwt");
    const keys = auth?.kind === "jwt" && auth.keys.source === "secret" ? auth.keys.keys : [];
    expect(keys.map((k) => k.key instanceof KeyObject)).toEqual([true]);
    // Hidden again (logs never print them), and the route's other rule has no auth at all.
    expect(Object.keys(keys[0] ?? {})).not.toContain("key");
    expect(inWorker.match("any.example", "/live")?.route.settings.auth).toBeUndefined();
  });
});

describe("a rule's own health check", () => {
  it("probes the endpoints of that rule's backends only, so that a check meant for one rule never ejects another rule's pods", () => {
    const parsed = parseManifestText(`${GATEWAY_YAML}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: chat, namespace: apps }
spec:
  parentRefs: [{ name: web }]
  rules:
    - name: live
      matches: [{ path: { type: PathPrefix, value: /live } }]
      backendRefs: [{ name: chat, port: 80 }]
    - name: history
      matches: [{ path: { type: PathPrefix, value: /history } }]
      backendRefs: [{ name: archive, port: 80 }]
---
apiVersion: wsgate.io/v1alpha1
kind: WebSocketPolicy
metadata: { name: chat-live-health, namespace: apps }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: chat, sectionName: live }]
  healthCheck: { type: TCP }
`);
    expect(parsed.errors).toEqual([]);
    const store = new ObjectStore();
    store.replaceAll([
      ...parsed.objects,
      ...serviceWithEndpoints("apps", "chat", [{ port: 1, address: "10.244.40.1" }]),
      ...serviceWithEndpoints("apps", "archive", [{ port: 1, address: "10.244.40.2" }]),
    ]);
    const { table } = compile(store.snapshot(), { ingressClass: "wsgate", generation: 1 });
    expect(table.routes.map((r) => r.key)).toEqual(["apps/httproute/chat"]);
    const prober = new HealthProber();
    try {
      prober.update(table);
      expect(prober.view().map((v) => [v.endpoint, v.check])).toEqual([
        ["apps/chat:80@10.244.40.1:1", "TCP"],
      ]);
    } finally {
      prober.stop();
    }
  });
});

describe("a rule's own settings in a table that only got other endpoints", () => {
  it("are still what the rule's requests get when the matcher is reused (withEndpoints), so that an endpoint change never hands the rule the route's settings", () => {
    const store = new ObjectStore();
    store.replaceAll([...manifests(), ...serviceWithEndpoints("apps", "chat", [{ port: 1 }])]);
    const { table } = compile(store.snapshot(), { ingressClass: "wsgate", generation: 1 });
    // The same routes with other endpoints, as the endpoint path builds them.
    const moved: Route[] = table.routes.map((route) => ({
      ...route,
      rules: route.rules.map((rule) => ({
        ...rule,
        backends: rule.backends.map((b) => ({
          ...b,
          endpoints: b.endpoints.map((e) => ({ ...e, id: `${b.key}@127.0.0.1:2`, port: 2 })),
        })),
      })),
    }));
    const next = withEndpoints(table, 2, moved);
    expect(next).toBeDefined();
    const live = next?.match("any.example", "/live");
    expect(live?.rule.backends[0]?.endpoints[0]?.port).toBe(2);
    expect(live?.route.settings.limits.maxMessageBytes).toBe(100);
    expect(next?.match("any.example", "/history")?.route.settings.limits.maxMessageBytes).toBe(2000);
  });
});
