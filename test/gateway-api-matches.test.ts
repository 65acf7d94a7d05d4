/**
 * HTTPRoute header, query parameter and method matches, and backendRef weights, on real
 * sockets: recording backends show which backend each WebSocket upgrade and plain request
 * reached. Two routes share one host and path and differ only in conditions; a client
 * that repeats a header cannot satisfy an Exact match with either copy, nor choose a route
 * with a header wsgate fills from auth; weights 70/30/0
 * split plain requests and open connections in proportion, and weight 0 gets nothing.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type WebSocket from "ws";
import { connect, startTestGateway, type TestGateway } from "./helpers/gateway.js";
import { AUDIENCE, ISSUER, jwksOf, keySecret, signingKey } from "./helpers/auth.js";
import { serviceWithEndpoints, simpleRoute } from "./helpers/objects.js";
import { getRequest, rawRequest, upgradeRequest } from "./helpers/raw-http.js";
import { startRecordingBackend, type RecordingBackend } from "./helpers/recording-backend.js";
import { GATEWAY_YAML, manifestObjects } from "./helpers/gateway-api.js";

const MATCHES = `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: stable, namespace: apps, creationTimestamp: "2026-01-01T00:00:00Z" }
spec:
  parentRefs: [{ name: web }]
  hostnames: [chat.example.com]
  rules:
    - matches: [{ path: { value: /ws } }]
      backendRefs: [{ name: stable, port: 80 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: canary, namespace: apps, creationTimestamp: "2026-01-02T00:00:00Z" }
spec:
  parentRefs: [{ name: web }]
  hostnames: [chat.example.com]
  rules:
    - matches: [{ path: { value: /ws }, headers: [{ name: X-Env, value: canary }] }]
      backendRefs: [{ name: canary, port: 80 }]
    - matches: [{ path: { value: /ws }, headers: [{ type: RegularExpression, name: X-Build, value: "[0-9]+" }] }]
      backendRefs: [{ name: canary, port: 80 }]
    - matches: [{ path: { value: /ws }, queryParams: [{ name: track, value: canary }] }]
      backendRefs: [{ name: canary, port: 80 }]
    - matches: [{ path: { value: /ws }, method: POST }]
      backendRefs: [{ name: canary, port: 80 }]
`;

describe("HTTPRoute matches on real sockets", () => {
  let gw: TestGateway;
  let stable: RecordingBackend;
  let canary: RecordingBackend;

  beforeEach(async () => {
    stable = await startRecordingBackend();
    canary = await startRecordingBackend();
    gw = await startTestGateway();
    gw.apply([
      ...manifestObjects(GATEWAY_YAML + "---" + MATCHES),
      ...serviceWithEndpoints("apps", "stable", [{ port: stable.port }]),
      ...serviceWithEndpoints("apps", "canary", [{ port: canary.port }]),
    ]);
    // Both routes serve the one host and path: neither is refused as a conflict.
    expect(gw.holder.current.routes.map((r) => r.key)).toEqual([
      "apps/httproute/stable",
      "apps/httproute/canary",
    ]);
  });

  afterEach(async () => {
    await gw.close();
    await stable.close();
    await canary.close();
  });

  /** Which backend got the one request sent: the routing decision, as the backends saw it. */
  async function reached(request: string, status: number): Promise<"stable" | "canary"> {
    const before = { stable: stable.received.length, canary: canary.received.length };
    const answer = await rawRequest(gw.port, request);
    expect(answer.status).toBe(status);
    const got = {
      stable: stable.received.length - before.stable,
      canary: canary.received.length - before.canary,
    };
    expect(got.stable + got.canary).toBe(1);
    return got.canary === 1 ? "canary" : "stable";
  }

  it.each([
    ["upgrade", upgradeRequest, 101],
    ["plain HTTP", getRequest, 200],
  ] as const)(
    "routes a %s by an Exact header match, and without the header to the route without one",
    async (_k, request, status) => {
      expect(await reached(request("/ws/room", "chat.example.com", ["X-Env: canary"]), status)).toBe(
        "canary",
      );
      expect(await reached(request("/ws/room", "chat.example.com", ["x-env: canary"]), status)).toBe(
        "canary",
      );
      expect(await reached(request("/ws/room", "chat.example.com", ["X-Env: Canary"]), status)).toBe(
        "stable",
      );
      expect(await reached(request("/ws/room", "chat.example.com"), status)).toBe("stable");
    },
  );

  it.each([
    ["upgrade", upgradeRequest, 101],
    ["plain HTTP", getRequest, 200],
  ] as const)(
    "refuses a repeated header as a match for either copy on a %s, so that X-Env: canary twice reaches the route without conditions",
    async (_k, request, status) => {
      const twice = ["X-Env: canary", "X-Env: canary"];
      expect(await reached(request("/ws/room", "chat.example.com", twice), status)).toBe("stable");
      expect(
        await reached(request("/ws/room", "chat.example.com", ["X-Env: canary", "X-Env: prod"]), status),
      ).toBe("stable");
    },
  );

  it.each([
    ["upgrade", upgradeRequest, 101],
    ["plain HTTP", getRequest, 200],
  ] as const)("routes a %s by a whole-value RegularExpression header match", async (_k, request, status) => {
    expect(await reached(request("/ws", "chat.example.com", ["X-Build: 1234"]), status)).toBe("canary");
    expect(await reached(request("/ws", "chat.example.com", ["X-Build: v1234"]), status)).toBe("stable");
  });

  it.each([
    ["upgrade", upgradeRequest, 101],
    ["plain HTTP", getRequest, 200],
  ] as const)(
    "routes a %s by a query parameter (first value wins) and sends the query upstream unchanged",
    async (_k, request, status) => {
      expect(await reached(request("/ws/room?a=1&track=canary", "chat.example.com"), status)).toBe("canary");
      expect(canary.received.at(-1)?.target).toBe("/ws/room?a=1&track=canary");
      expect(await reached(request("/ws/room?track=stable&track=canary", "chat.example.com"), status)).toBe(
        "stable",
      );
      expect(await reached(request("/ws/room?Track=canary", "chat.example.com"), status)).toBe("stable");
    },
  );

  it("routes plain requests by method: POST to the method match, GET (and every upgrade) elsewhere", async () => {
    const post = [
      "POST /ws/room HTTP/1.1",
      "Host: chat.example.com",
      "Content-Length: 2",
      "Connection: close",
      "",
      "hi",
    ].join("\r\n");
    expect(await reached(post, 200)).toBe("canary");
    expect(canary.received.at(-1)?.method).toBe("POST");
    expect(await reached(getRequest("/ws/room", "chat.example.com"), 200)).toBe("stable");
    expect(await reached(upgradeRequest("/ws/room", "chat.example.com"), 101)).toBe("stable");
  });

  it("answers 404 when no match of any route holds, so that conditions never widen a route", async () => {
    const answer = await rawRequest(gw.port, getRequest("/other", "chat.example.com", ["X-Env: canary"]));
    expect(answer.status).toBe(404);
    expect(stable.received.length + canary.received.length).toBe(0);
  });
});

describe("HTTPRoute header matches and identity headers", () => {
  let gw: TestGateway;
  let stable: RecordingBackend;
  let admin: RecordingBackend;

  beforeEach(async () => {
    stable = await startRecordingBackend();
    admin = await startRecordingBackend();
    const key = await signingKey("ES256");
    gw = await startTestGateway();
    gw.apply([
      ...manifestObjects(`${GATEWAY_YAML}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: chat, namespace: apps }
spec:
  parentRefs: [{ name: web }]
  hostnames: [chat.example.com]
  rules:
    - matches: [{ path: { value: / }, headers: [{ name: X-User-Id, value: admin }] }]
      backendRefs: [{ name: admin, port: 80 }]
    - backendRefs: [{ name: stable, port: 80 }]
`),
      ...serviceWithEndpoints("apps", "stable", [{ port: stable.port }]),
      ...serviceWithEndpoints("apps", "admin", [{ port: admin.port }]),
      keySecret("apps", "keys", "jwks.json", jwksOf(key)),
      // Another route fills X-User-Id from a verified token: X-User-Id is an identity header.
      simpleRoute("apps", "api", "stable", {
        hostnames: ["api.example.com"],
        auth: {
          jwt: {
            issuer: ISSUER,
            audiences: [AUDIENCE],
            keys: { secretRef: { name: "keys", key: "jwks.json" } },
            claimsToHeaders: { sub: "X-User-Id" },
          },
        },
      }),
    ]);
    expect(gw.holder.current.identityHeaders.has("x-user-id")).toBe(true);
  });

  afterEach(async () => {
    await gw.close();
    await stable.close();
    await admin.close();
  });

  it.each([
    ["upgrade", upgradeRequest, 101],
    ["plain HTTP", getRequest, 200],
  ] as const)(
    "refuses to let a client's identity header choose a %s's route, so that X-User-Id: admin never reaches the admin backend",
    async (_k, request, status) => {
      const answer = await rawRequest(gw.port, request("/ws", "chat.example.com", ["X-User-Id: admin"]));
      expect(answer.status).toBe(status);
      expect(admin.received).toHaveLength(0);
      expect(stable.received).toHaveLength(1);
      expect(stable.received[0]?.headers["x-user-id"]).toBeUndefined();
    },
  );
});

/** A seeded PRNG (mulberry32): the split is the same on every run, however loaded the machine. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WEIGHTS = `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: weighted, namespace: apps }
spec:
  parentRefs: [{ name: web }]
  hostnames: [chat.example.com]
  rules:
    - backendRefs:
        - { name: a, port: 80, weight: 70 }
        - { name: b, port: 80, weight: 30 }
        - { name: c, port: 80, weight: 0 }
`;

describe("HTTPRoute backendRef weights on real sockets", () => {
  let gw: TestGateway;
  let backends: RecordingBackend[];

  beforeEach(async () => {
    backends = [await startRecordingBackend(), await startRecordingBackend(), await startRecordingBackend()];
    gw = await startTestGateway({ random: seeded(12) });
    gw.apply([
      ...manifestObjects(GATEWAY_YAML + "---" + WEIGHTS),
      ...["a", "b", "c"].flatMap((name, i) =>
        serviceWithEndpoints("apps", name, [{ port: (backends[i] as RecordingBackend).port }]),
      ),
    ]);
    expect(gw.holder.current.routes.map((r) => r.key)).toEqual(["apps/httproute/weighted"]);
  });

  afterEach(async () => {
    await gw.close();
    for (const b of backends) await b.close();
  });

  it("splits 1000 plain requests 70/30 within the conformance tolerance, and weight 0 gets none", async () => {
    const total = 1000;
    for (let i = 0; i < total; i++) {
      const answer = await rawRequest(gw.port, getRequest(`/r/${i}`, "chat.example.com"));
      expect(answer.status).toBe(200);
    }
    const [a, b, c] = backends.map((x) => x.received.length) as [number, number, number];
    expect(a + b + c).toBe(total);
    expect(c).toBe(0);
    // Gateway API's HTTPRouteWeight conformance test allows 5% of the total either way.
    expect(Math.abs(a / total - 0.7)).toBeLessThanOrEqual(0.05);
    expect(Math.abs(b / total - 0.3)).toBeLessThanOrEqual(0.05);
  });

  it("splits plain requests 70/30 also with 10 in flight at a time, as the conformance suite sends them", async () => {
    // Least-connections alone drifts toward 50/50 here (one request open on a sends the next
    // to b): the backendRef of a plain request is drawn by weight first.
    const loops = 10;
    const each = 100;
    await Promise.all(
      Array.from({ length: loops }, async (_, l) => {
        for (let i = 0; i < each; i++) {
          const answer = await rawRequest(gw.port, getRequest(`/r/${l}/${i}`, "chat.example.com"));
          expect(answer.status).toBe(200);
        }
      }),
    );
    const total = loops * each;
    const [a, b, c] = backends.map((x) => x.received.length) as [number, number, number];
    expect(a + b + c).toBe(total);
    expect(c).toBe(0);
    expect(Math.abs(a / total - 0.7)).toBeLessThanOrEqual(0.05);
    expect(Math.abs(b / total - 0.3)).toBeLessThanOrEqual(0.05);
  });

  it("spreads 100 open WebSockets 70/30 by least connections per weight, and weight 0 gets none", async () => {
    const sockets: WebSocket[] = [];
    try {
      for (let i = 0; i < 100; i++)
        sockets.push(
          await connect(`ws://127.0.0.1:${gw.port}/ws`, undefined, { headers: { Host: "chat.example.com" } }),
        );
      const [a, b, c] = backends.map((x) => x.received.length) as [number, number, number];
      expect(c).toBe(0);
      // Lowest active/weight first: with every connection still open the split is exact.
      expect([a, b]).toEqual([70, 30]);
    } finally {
      for (const ws of sockets) ws.terminate();
    }
  });
});
