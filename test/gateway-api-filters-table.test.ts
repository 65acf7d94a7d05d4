/**
 * A rule's filters are data on the compiled rule: they must survive every way a table
 * travels — the endpoint path (only endpoints change) and the copy a worker thread gets —
 * or a worker would serve the route without its redirect, rewrite or header rules.
 */
import { describe, expect, it } from "vitest";
import { parseManifestText } from "../src/sources/manifests.js";
import { TableEncoder, TableDecoder } from "../src/workers/table-transfer.js";
import { compile } from "../src/routing/compile.js";
import { EndpointIndex } from "../src/routing/endpoint-path.js";
import { ObjectStore } from "../src/routing/store.js";
import type { RoutingTable } from "../src/routing/table.js";
import { GATEWAY_YAML } from "./helpers/gateway-api.js";

const OBJECTS = `${GATEWAY_YAML}---
apiVersion: v1
kind: Service
metadata: { name: chat, namespace: apps }
spec: { ports: [{ port: 8080 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: chat-1, namespace: apps, labels: { kubernetes.io/service-name: chat } }
addressType: IPv4
endpoints: [{ addresses: [10.244.0.7], conditions: { ready: true } }]
ports: [{ port: 8080 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: chat, namespace: apps }
spec:
  parentRefs: [{ name: web }]
  rules:
    - filters:
        - { type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: X-Env, value: prod }] } }
        - { type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /v2 } } }
      backendRefs: [{ name: chat, port: 8080 }]
`;

function compiled(): { store: ObjectStore; result: ReturnType<typeof compile> } {
  const parsed = parseManifestText(OBJECTS);
  expect(parsed.errors).toEqual([]);
  const store = new ObjectStore();
  for (const o of parsed.objects) store.upsert(o);
  return { store, result: compile(store.snapshot(), { ingressClass: "wsgate", generation: 1 }) };
}

const filtersOf = (table: RoutingTable) => table.routes[0]?.rules[0]?.filters;

describe("rule filters as table data", () => {
  it("are on the compiled rule", () => {
    expect(filtersOf(compiled().result.table)).toEqual({
      requestHeaders: { set: [["X-Env", "prod"]], add: [], remove: [] },
      rewrite: { path: { type: "ReplacePrefixMatch", value: "/v2" } },
    });
  });

  it("survive the endpoint path, so that an endpoint change does not drop a route's filters", () => {
    const { store, result } = compiled();
    const index = EndpointIndex.of(store.snapshot(), result);
    const slice = parseManifestText(
      OBJECTS.split("---")
        .find((d) => d.includes("EndpointSlice"))
        ?.replace("10.244.0.7", "10.244.0.8") ?? "",
    ).objects[0];
    expect(slice).toBeDefined();
    const next = index.apply(new Map([["apps/chat-1", slice as never]]), 2);
    expect(next?.table.routes[0]?.rules[0]?.backends[0]?.endpoints[0]?.address).toBe("10.244.0.8");
    expect(filtersOf(next?.table as RoutingTable)).toEqual(filtersOf(result.table));
  });

  it("cross to a worker thread, so that every worker applies them", () => {
    const table = compiled().result.table;
    const message = structuredClone(new TableEncoder().encode(table));
    expect(filtersOf(new TableDecoder(false).decode(message))).toEqual(filtersOf(table));
  });
});
