import { generateKeyPairSync, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { parseObject } from "../api/parse.js";
import type { Secret } from "../api/objects.js";
import type { WebSocketRoute } from "../api/route.js";
import { authProblems, authSecretKey, parseKeyMaterial, resolveAuth, type CompiledJwt } from "./auth.js";

function jwkOf(type: "rsa" | "ec" | "ed25519", extra: Record<string, unknown> = {}): Record<string, unknown> {
  const { publicKey } =
    type === "rsa"
      ? generateKeyPairSync("rsa", { modulusLength: 2048 })
      : type === "ec"
        ? generateKeyPairSync("ec", { namedCurve: "P-384" })
        : generateKeyPairSync("ed25519");
  return { ...publicKey.export({ format: "jwk" }), ...extra };
}

function parse(text: string | Buffer): ReturnType<typeof parseKeyMaterial> {
  return parseKeyMaterial(Buffer.from(text));
}

describe("parseKeyMaterial", () => {
  it("reads a JWKS: algorithms follow the key type, or the JWK's alg", () => {
    const result = parse(
      JSON.stringify({
        keys: [
          jwkOf("rsa", { kid: "r" }),
          jwkOf("rsa", { kid: "r256", alg: "RS256" }),
          jwkOf("ec", { kid: "e" }),
          jwkOf("ed25519", { kid: "o" }),
          { kty: "oct", kid: "h", k: randomBytes(48).toString("base64url") },
        ],
      }),
    );
    expect(result.ok && result.format).toBe("jwks");
    expect(result.ok && result.keys.map((k) => [k.kid, k.algorithms.join(" ")])).toEqual([
      ["r", "RS256 RS384 RS512 PS256 PS384 PS512"],
      ["r256", "RS256"],
      ["e", "ES384"],
      ["o", "EdDSA Ed25519"],
      ["h", "HS256 HS384"],
    ]);
  });

  it("reads a single JWK, keeps only its public half, and skips encryption keys", () => {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const single = parse(JSON.stringify({ ...privateKey.export({ format: "jwk" }), kid: "p" }));
    expect(single.ok && single.keys[0]?.key.type).toBe("public");
    const mixed = parse(
      JSON.stringify({ keys: [jwkOf("rsa", { use: "enc" }), jwkOf("ec", { use: "sig" })] }),
    );
    expect(mixed.ok && mixed.keys).toHaveLength(1);
  });

  it("reads PEM public keys, several blocks for a rotation overlap", () => {
    const pems = [generateKeyPairSync("ed25519"), generateKeyPairSync("ec", { namedCurve: "P-256" })].map(
      (p) => p.publicKey.export({ type: "spki", format: "pem" }),
    );
    const result = parse(pems.join("\n"));
    expect(result.ok && result.format).toBe("pem");
    expect(result.ok && result.keys.map((k) => k.algorithms[0])).toEqual(["EdDSA", "ES256"]);
  });

  it("reads anything else as an HMAC secret of at least 32 bytes", () => {
    const binary = parse(Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 37) % 256)));
    expect(binary).toMatchObject({
      ok: true,
      format: "hmac",
      keys: [{ algorithms: ["HS256", "HS384", "HS512"] }],
    });
    expect(parse("x".repeat(64))).toMatchObject({ ok: true, format: "hmac" });
    expect(parse("x".repeat(32)).ok && parse("x".repeat(32))).toMatchObject({
      keys: [{ algorithms: ["HS256"] }],
    });
  });

  it.each([
    ["short HMAC", "s3cret", /at least 32 bytes.*has 6/],
    ["broken JSON", '{"keys": [', /not valid JSON/],
    ["JSON of the wrong shape", '{"issuer": "x"}', /not a JWKS/],
    ["empty JWKS", '{"keys": []}', /no signature verification key/],
    [
      "unknown kty",
      '{"keys": [{"kty": "XYZ", "kid": "a"}]}',
      /keys\[0\] \(kid a\): kty "XYZ" is not supported/,
    ],
    ["broken RSA JWK", '{"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]}', /keys\[0\]/],
    [
      "alg that does not fit",
      JSON.stringify({ keys: [jwkOf("ec", { alg: "RS256" })] }),
      /alg "RS256" does not fit/,
    ],
    ["alg none", JSON.stringify({ keys: [jwkOf("ec", { alg: "none" })] }), /alg "none" does not fit/],
    ["truncated PEM", "-----BEGIN PUBLIC KEY-----\nMIIB", /no complete PEM block/],
    ["garbage PEM", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", /not a usable public key/],
  ])("refuses %s", (_name, text, problem) => {
    const result = parse(text);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.problem).toMatch(problem);
  });

  it("refuses RSA keys under 2048 bits", () => {
    const { publicKey } = generateKeyPairSync("rsa", { modulusLength: 1024 });
    const result = parse(publicKey.export({ type: "spki", format: "pem" }));
    expect(!result.ok && result.problem).toMatch(/at least 2048 bits/);
  });

  it("never serializes key material", () => {
    const secret = randomBytes(32).toString("hex");
    const result = parse(secret);
    expect(JSON.stringify(result)).not.toContain(secret);
  });
});

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
    const resolved = resolveAuth(route(jwt), secrets);
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

  it("names the Secret a route depends on", () => {
    expect(authSecretKey(route(jwt))).toBe("apps/keys");
    expect(authSecretKey(route({ forwardAuth: { url: "http://auth/verify" } }))).toBeUndefined();
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
