import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { CompiledJwt, VerificationKey } from "../routing/auth-contract.js";
import { buildTable, withEndpoints, type Endpoint, type Route } from "../routing/table.js";
import { TableDecoder, TableEncoder, type TableMessage } from "./table-transfer.js";

function endpoint(route: number, n: number): Endpoint {
  return {
    id: `apps/svc${route}:80@10.0.${route}.${n}:8080`,
    backend: `apps/svc${route}:80`,
    address: `10.0.${route}.${n}`,
    port: 8080,
    ready: true,
    terminating: false,
    weight: 1,
  };
}

function route(i: number, endpoints = [endpoint(i, 1)], host = `host-${i}.example.com`): Route {
  return {
    namespace: "apps",
    name: `r${i}`,
    key: `apps/r${i}`,
    hostnames: [host],
    rules: [
      {
        key: `apps/r${i}#0`,
        matches: [{ type: "PathPrefix", value: "/ws" }],
        backends: [{ key: `apps/svc${i}:80`, weight: 1, endpoints }],
      },
    ],
    settings: {
      policy: "LeastConnections",
      timeouts: { connectMs: 5000, handshakeMs: 10000, idleMs: 0, maxLifetimeMs: 0 },
      limits: {},
      drain: { windowMs: 30000, closeCode: 1012 },
    },
  };
}

/** What postMessage does to a message. */
const post = (m: TableMessage): TableMessage => structuredClone(m);

describe("table transfer to workers", () => {
  it("sends only the routes whose objects changed, so an endpoint change does not clone 10,000 routes", () => {
    const routes = Array.from({ length: 50 }, (_, i) => route(i));
    const first = buildTable(1, routes, new Map());
    const encoder = new TableEncoder();
    const decoder = new TableDecoder(false);
    const full = encoder.encode(first);
    expect(full.routes).toHaveLength(50);
    decoder.decode(post(full));

    // The endpoint path: one route rebuilt around new endpoints, the others reused.
    const changed = [...routes];
    changed[7] = route(7, [endpoint(7, 1), endpoint(7, 2)]);
    const second = withEndpoints(first, 2, changed)!;
    const message = encoder.encode(second);
    expect(message.routes.map((r) => r.key)).toEqual(["apps/r7"]);
    const inWorker = decoder.decode(post(message));
    expect(inWorker.generation).toBe(2);
    const match = inWorker.match("host-7.example.com", "/ws/x");
    expect(match?.rule.backends[0]?.endpoints.map((e) => e.address)).toEqual(["10.0.7.1", "10.0.7.2"]);
    expect(inWorker.match("host-8.example.com", "/ws")?.route.key).toBe("apps/r8");
  });

  it("rebuilds the matcher when routes moved, came or went, so the worker matches what the main thread does", () => {
    const encoder = new TableEncoder();
    const decoder = new TableDecoder(false);
    const a = route(1);
    const b = route(2);
    decoder.decode(post(encoder.encode(buildTable(1, [a, b], new Map()))));
    // r2 now claims host-1 too, and is older: it comes first; r3 is new; r1 keeps its object.
    const b2 = route(2, [endpoint(2, 1)], "host-1.example.com");
    const c = route(3);
    const table = buildTable(2, [b2, a, c], new Map());
    const message = encoder.encode(table);
    expect(message.routes.map((r) => r.key)).toEqual(["apps/r2", "apps/r3"]);
    const inWorker = decoder.decode(post(message));
    expect(inWorker.match("host-1.example.com", "/ws")?.route.key).toBe(
      table.match("host-1.example.com", "/ws")?.route.key,
    );
    expect(inWorker.match("host-2.example.com", "/ws")).toBeUndefined();
    expect(inWorker.match("host-3.example.com", "/ws")?.route.key).toBe("apps/r3");
    expect(inWorker.routes.map((r) => r.key)).toEqual(["apps/r2", "apps/r1", "apps/r3"]);
  });

  it("carries JWT keys across (structured clone drops non-enumerable fields) and hides them again", () => {
    const { publicKey } = generateKeyPairSync("ed25519");
    const key = { kid: "k1", algorithms: ["EdDSA"] } as unknown as VerificationKey;
    Object.defineProperty(key, "key", { value: publicKey, enumerable: false });
    const auth: CompiledJwt = {
      kind: "jwt",
      audiences: ["chat"],
      keys: { source: "secret", secret: "apps/jwks", key: "jwks.json", format: "jwks", keys: [key] },
      algorithms: ["EdDSA"],
      tokenFrom: [{ type: "header", name: "Authorization", prefix: "Bearer " }],
      claimsToHeaders: [],
      closeOnExpiry: false,
      allowMissingExp: false,
    };
    const secured = { ...route(1), settings: { ...route(1).settings, auth } };
    const inWorker = new TableDecoder(false).decode(
      post(new TableEncoder().encode(buildTable(1, [secured], new Map()))),
    );
    const arrived = inWorker.routes[0]!.settings.auth as CompiledJwt;
    if (arrived.keys.source !== "secret") throw new Error("keys lost their source");
    const k = arrived.keys.keys[0]!;
    expect(k.key.equals(publicKey)).toBe(true);
    expect(Object.keys(k)).not.toContain("key");
    expect(JSON.stringify(inWorker.routes)).not.toContain("BEGIN");
  });

  it("sends everything when route keys are not unique, rather than confuse two routes", () => {
    const encoder = new TableEncoder();
    encoder.encode(buildTable(1, [route(1)], new Map()));
    const twin = { ...route(2), key: "apps/r1" };
    expect(encoder.encode(buildTable(2, [route(1), twin], new Map())).order).toBeUndefined();
  });
});
