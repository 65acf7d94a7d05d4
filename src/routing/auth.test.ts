import { describe, expect, it } from "vitest";
import { parseObject } from "../api/parse.js";
import type { Secret } from "../api/objects.js";
import type { WebSocketRoute } from "../api/route.js";
import type { CompiledJwt } from "./auth-contract.js";
import { authProblems, resolveAuth } from "./auth.js";

function route(auth: Record<string, unknown>): WebSocketRoute {
  const parsed = parseObject({
    apiVersion: "wsgate.io/v1alpha1",
    kind: "WebSocketRoute",
    metadata: { name: "chat", namespace: "apps" },
    spec: { rules: [{ backendRefs: [{ name: "chat", port: 80 }] }], auth },
  });
  if (parsed.outcome !== "ok") throw new Error(JSON.stringify(parsed));
  return parsed.object as WebSocketRoute;
}

function secret(namespace: string, name: string, data: Record<string, string>): Secret {
  const parsed = parseObject({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace },
    stringData: data,
  });
  if (parsed.outcome !== "ok") throw new Error(JSON.stringify(parsed));
  return parsed.object as Secret;
}

describe("resolveAuth", () => {
  const jwt = { jwt: { keys: { secretRef: { name: "keys", key: "jwks.json" } } } };
  const hmac = "k".repeat(32);

  it("resolves a secretRef in the route's namespace only", () => {
    const secrets = new Map([["other/keys", secret("other", "keys", { "jwks.json": hmac })]]);
    expect(resolveAuth(route(jwt), secrets)).toMatchObject({
      auth: { kind: "unresolved" },
      problem: { reason: "SecretNotFound", message: "Secret apps/keys not found" },
    });
    secrets.set("apps/keys", secret("apps", "keys", { other: hmac }));
    expect(resolveAuth(route(jwt), secrets).problem).toEqual({
      reason: "SecretNotFound",
      message: "Secret apps/keys has no key jwks.json",
    });
    secrets.set("apps/keys", secret("apps", "keys", { "jwks.json": "short" }));
    expect(resolveAuth(route(jwt), secrets).problem).toMatchObject({ reason: "InvalidKey" });
    secrets.set("apps/keys", secret("apps", "keys", { "jwks.json": hmac }));
    const hmacJwt = { jwt: { keys: { secretRef: { name: "keys", key: "jwks.json", format: "HMAC" } } } };
    const resolved = resolveAuth(route(hmacJwt), secrets);
    expect(resolved.problem).toBeUndefined();
    expect(resolved.auth).toMatchObject({ kind: "jwt", algorithms: ["HS256"], keys: { format: "hmac" } });
  });

  it("allows only asymmetric algorithms for a jwksUri, and defaults to the Authorization header", () => {
    const resolved = resolveAuth(
      route({ jwt: { keys: { jwksUri: "https://issuer.test/jwks" } } }),
      new Map(),
    );
    const auth = resolved.auth as CompiledJwt;
    expect(auth.algorithms).not.toContain("HS256");
    expect(auth.algorithms).not.toContain("none");
    expect(auth.algorithms).toContain("RS256");
    expect(auth.tokenFrom).toEqual([{ type: "header", name: "authorization", prefix: "Bearer " }]);
  });

  it("parses the key Secret with the route's declared format, and detects without one (never as HMAC)", () => {
    const secrets = new Map([["apps/keys", secret("apps", "keys", { "jwks.json": hmac })]]);
    expect(resolveAuth(route(jwt), secrets).problem).toMatchObject({
      reason: "InvalidKey",
      message: expect.stringMatching(/^Secret apps\/keys key jwks.json: .*format: HMAC/),
    });
    const declared = { jwt: { keys: { secretRef: { name: "keys", key: "jwks.json", format: "HMAC" } } } };
    expect(resolveAuth(route(declared), secrets).auth).toMatchObject({ kind: "jwt", algorithms: ["HS256"] });
  });

  it("requires exp unless the route allows tokens without it", () => {
    const secrets = new Map<string, Secret>();
    const remote = { keys: { jwksUri: "https://issuer.test/jwks" } };
    expect(resolveAuth(route({ jwt: remote }), secrets).auth).toMatchObject({ allowMissingExp: false });
    expect(resolveAuth(route({ jwt: { ...remote, allowMissingExp: true } }), secrets).auth).toMatchObject({
      allowMissingExp: true,
    });
  });
});

describe("authProblems", () => {
  it("refuses headers wsgate controls, claims that collide, and a zero timeout", () => {
    const problems = authProblems(
      route({
        jwt: {
          keys: { jwksUri: "https://issuer.test/jwks" },
          claimsToHeaders: { sub: "Host", email: "X-User", name: "x-user" },
        },
      }).spec.auth,
    );
    expect(problems).toEqual([
      "spec.auth.jwt.claimsToHeaders.sub: Host is set by wsgate; choose another header",
      "spec.auth.jwt.claimsToHeaders: claims email and name both write x-user",
    ]);
    expect(
      authProblems(
        route({
          forwardAuth: {
            url: "http://auth/verify",
            timeout: "0s",
            requestHeaders: ["Content-Length"],
            responseHeaders: ["X-Forwarded-For"],
          },
        }).spec.auth,
      ),
    ).toEqual([
      "spec.auth.forwardAuth.timeout must be greater than 0s",
      "spec.auth.forwardAuth.responseHeaders: X-Forwarded-For is set by wsgate; remove it",
      "spec.auth.forwardAuth.requestHeaders: Content-Length cannot be copied to the auth request",
    ]);
  });
});
