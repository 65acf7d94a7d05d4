/**
 * HTTPRoute filters on real sockets: a recording backend shows what the request sent
 * upstream carried (header modifiers, URLRewrite) on WebSocket upgrades and plain HTTP,
 * the client sees the response modifier and wsgate's own redirects — and a filter can
 * neither forge an identity header a route fills from auth nor undo the canonical path.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseManifestText } from "../src/sources/manifests.js";
import { AUDIENCE, ISSUER, jwksOf, keySecret, signingKey } from "./helpers/auth.js";
import { startTestGateway, type TestGateway } from "./helpers/gateway.js";
import { serviceWithEndpoints, simpleRoute } from "./helpers/objects.js";
import { getRequest, rawRequest, upgradeRequest } from "./helpers/raw-http.js";
import { startRecordingBackend, type Received, type RecordingBackend } from "./helpers/recording-backend.js";
import { GATEWAY_YAML } from "./helpers/gateway-api.js";

const GATEWAY = `${GATEWAY_YAML}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: chat, namespace: apps }
spec:
  parentRefs: [{ name: web }]
  hostnames: [chat.example.com]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /ws } }]
      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier:
            set: [{ name: X-Env, value: prod }, { name: X-User-Id, value: admin }]
            add: [{ name: X-Via, value: wsgate }]
            remove: [X-Debug]
        - type: ResponseHeaderModifier
          responseHeaderModifier:
            set: [{ name: Cache-Control, value: no-store }]
            add: [{ name: X-Served-By, value: wsgate }]
            remove: [Content-Type]
        - type: URLRewrite
          urlRewrite:
            hostname: chat.internal
            path: { type: ReplacePrefixMatch, replacePrefixMatch: /socket }
      backendRefs: [{ name: echo, port: 80 }]
    - matches: [{ path: { type: Exact, value: /old } }]
      filters:
        - type: RequestRedirect
          requestRedirect:
            scheme: https
            statusCode: 301
            path: { type: ReplaceFullPath, replaceFullPath: /new }
    - matches: [{ path: { type: PathPrefix, value: /plain } }]
      filters: [{ type: RequestRedirect, requestRedirect: { hostname: other.example.com } }]
`;

describe("HTTPRoute filters", () => {
  let gw: TestGateway;
  let backend: RecordingBackend;

  beforeEach(async () => {
    backend = await startRecordingBackend();
    const key = await signingKey("ES256");
    gw = await startTestGateway();
    const parsed = parseManifestText(GATEWAY);
    expect(parsed.errors).toEqual([]);
    gw.apply([
      ...parsed.objects,
      ...serviceWithEndpoints("apps", "echo", [{ port: backend.port }]),
      keySecret("apps", "keys", "jwks.json", jwksOf(key)),
      // Another route fills X-User-Id from a verified token: X-User-Id is an identity header.
      simpleRoute(
        "apps",
        "api",
        "echo",
        {
          hostnames: ["api.example.com"],
          auth: {
            jwt: {
              issuer: ISSUER,
              audiences: [AUDIENCE],
              keys: { secretRef: { name: "keys", key: "jwks.json" } },
              claimsToHeaders: { sub: "X-User-Id" },
            },
          },
        },
        "/api",
      ),
    ]);
    // The HTTPRoute is served (not refused), or every test below would only see 404s.
    expect(gw.holder.current.routes.map((r) => r.key)).toContain("apps/httproute/chat");
  });

  afterEach(async () => {
    await gw.close();
    await backend.close();
  });

  const client = ["X-Debug: 1", "X-Env: dev", "X-User-Id: mallory"];

  function lastReceived(): Received {
    const got = backend.received.at(-1);
    if (!got) throw new Error("the backend received nothing");
    return got;
  }

  it.each([
    ["upgrade", upgradeRequest, 101],
    ["plain HTTP", getRequest, 200],
  ] as const)(
    "applies RequestHeaderModifier and URLRewrite to the %s sent upstream, so the backend gets the route's headers, host and path",
    async (_kind, request, status) => {
      const answer = await rawRequest(gw.port, request("/ws/room?x=1", "chat.example.com", client));
      expect(answer.status).toBe(status);
      const got = lastReceived();
      expect(got.target).toBe("/socket/room?x=1");
      expect(got.headers.host).toBe("chat.internal");
      // The host the client asked for stays visible to the backend.
      expect(got.headers["x-forwarded-host"]).toBe("chat.example.com");
      expect(got.headers["x-env"]).toBe("prod");
      expect(got.headers["x-via"]).toBe("wsgate");
      expect(got.headers["x-debug"]).toBeUndefined();
    },
  );

  it("refuses to let a RequestHeaderModifier set an identity header, so that no route forges who the user is", async () => {
    await rawRequest(gw.port, upgradeRequest("/ws/room", "chat.example.com", client));
    await rawRequest(gw.port, getRequest("/ws/room", "chat.example.com", client));
    expect(backend.received).toHaveLength(2);
    for (const got of backend.received) expect(got.headers["x-user-id"]).toBeUndefined();
  });

  it("rewrites the canonical path, so that dot segments cannot move a request out of the rewritten prefix", async () => {
    // Matched as /ws/b (canonical), so the rewrite starts from /ws/b, not from the raw text.
    await rawRequest(gw.port, getRequest("/ws/a/../b", "chat.example.com"));
    expect(lastReceived().target).toBe("/socket/b");
    // /ws/../admin is /admin: no rule of the route matches it, nothing reaches the backend.
    const answer = await rawRequest(gw.port, getRequest("/ws/../admin", "chat.example.com"));
    expect(answer.status).toBe(404);
    expect(backend.received).toHaveLength(1);
  });

  it("applies ResponseHeaderModifier to plain HTTP responses and to the 101, so clients see the route's headers", async () => {
    const plain = await rawRequest(gw.port, getRequest("/ws/room", "chat.example.com"));
    expect(plain.status).toBe(200);
    expect(plain.text).toMatch(/\r\ncache-control: no-store\r\n/i);
    expect(plain.text).toMatch(/\r\nx-served-by: wsgate\r\n/i);
    expect(plain.text).not.toMatch(/\r\ncontent-type:/i);
    const upgraded = await rawRequest(gw.port, upgradeRequest("/ws/room", "chat.example.com"));
    expect(upgraded.status).toBe(101);
    expect(upgraded.text).toMatch(/\r\ncache-control: no-store\r\n/i);
    expect(upgraded.text).toMatch(/\r\nsec-websocket-accept: /i);
  });

  it.each([
    ["upgrade", upgradeRequest],
    ["plain HTTP", getRequest],
  ] as const)(
    "answers a RequestRedirect to a %s itself, so that no backend sees the request",
    async (_kind, request) => {
      const answer = await rawRequest(gw.port, request("/old?q=1", "chat.example.com:8080"));
      expect(answer.status).toBe(301);
      // A changed scheme goes to its well-known port: none in the Location.
      expect(answer.text).toMatch(/\r\nlocation: https:\/\/chat\.example\.com\/new\?q=1\r\n/i);
      const other = await rawRequest(gw.port, request("/plain/x", "chat.example.com:8080"));
      expect(other.status).toBe(302);
      // An unchanged scheme keeps the port the client reached.
      expect(other.text).toMatch(/\r\nlocation: http:\/\/other\.example\.com:8080\/plain\/x\r\n/i);
      expect(backend.received).toHaveLength(0);
    },
  );
});
