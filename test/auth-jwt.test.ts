/**
 * JWT authentication at the handshake with real sockets and real tokens (RS256, ES256,
 * EdDSA, HS256 keys generated here with jose): every verdict, every token source,
 * claims to headers, key rotation through the Secret and through a jwksUri, expiry of a
 * live connection, and plain HTTP on the same route.
 */
import { UnsecuredJWT } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import type WebSocket from "ws";
import { BEARER_PROTOCOL_PREFIX } from "../src/dataplane/auth/tokens.js";
import type { StoredObject } from "../src/routing/store.js";
import {
  AUDIENCE,
  ISSUER,
  httpGet,
  jwksOf,
  jwtRoute,
  keySecret,
  mint,
  now,
  signingKey,
  sshRsaLine,
  startJwksServer,
  type SigningAlg,
  type SigningKey,
  type TestServer,
} from "./helpers/auth.js";
import { startEchoBackend, type EchoBackend } from "./helpers/backends.js";
import {
  closeClient,
  connect,
  expectRefusal,
  roundTrip,
  startTestGateway,
  type TestGateway,
  type TestGatewayOptions,
} from "./helpers/gateway.js";
import { serviceWithEndpoints, simpleRoute } from "./helpers/objects.js";

let gw: TestGateway | undefined;
let backend: EchoBackend | undefined;
let servers: TestServer[] = [];
let clients: WebSocket[] = [];

afterEach(async () => {
  for (const c of clients) c.terminate();
  clients = [];
  await gw?.close();
  await backend?.close();
  for (const s of servers) await s.close();
  servers = [];
  gw = undefined;
  backend = undefined;
});

const SECRET = { secretRef: { name: "jwt-keys", key: "keys" } };

/** Service `echo` with one real backend, plus `objects`. */
async function setup(objects: StoredObject[], options: TestGatewayOptions = {}): Promise<TestGateway> {
  gw ??= await startTestGateway(options);
  backend ??= await startEchoBackend();
  gw.apply([...serviceWithEndpoints("apps", "echo", [{ port: backend.port }]), ...objects]);
  return gw;
}

/** A gateway whose route verifies tokens with `key` (JWKS in a Secret) and `jwt` settings. */
async function setupWithKey(
  key: SigningKey,
  jwt: Record<string, unknown> = {},
  options: TestGatewayOptions = {},
): Promise<TestGateway> {
  return setup(
    [keySecret("apps", "jwt-keys", "keys", jwksOf(key)), jwtRoute({ keys: SECRET, ...jwt })],
    options,
  );
}

async function open(
  url: string,
  options: WebSocket.ClientOptions = {},
  protocols?: string[],
): Promise<WebSocket> {
  const ws = await connect(url, protocols, options);
  clients.push(ws);
  return ws;
}

function bearer(token: string): WebSocket.ClientOptions {
  return { headers: { Authorization: `Bearer ${token}` } };
}

describe("signature algorithms", () => {
  it.each<SigningAlg>(["RS256", "ES256", "EdDSA", "HS256"])(
    "admits a valid %s token from a JWKS Secret and relays messages",
    async (alg) => {
      const key = await signingKey(alg, `${alg}-1`);
      const gw = await setupWithKey(key);
      const ws = await open(gw.url(), bearer(await mint(key)));
      expect((await roundTrip(ws, "hello")).data.toString()).toBe("hello");
    },
  );

  it.each<SigningAlg>(["RS256", "ES256", "EdDSA"])(
    "admits a %s token verified by a PEM public key",
    async (alg) => {
      const key = await signingKey(alg);
      const gw = await setup([keySecret("apps", "jwt-keys", "keys", key.pem!), jwtRoute({ keys: SECRET })]);
      await open(gw.url(), bearer(await mint(key)));
    },
  );

  it("admits an HS256 token verified by a raw HMAC secret declared as format: HMAC", async () => {
    const key = await signingKey("HS256");
    const gw = await setup([
      keySecret("apps", "jwt-keys", "keys", key.secret!),
      jwtRoute({ keys: { secretRef: { ...SECRET.secretRef, format: "HMAC" } } }),
    ]);
    await open(gw.url(), bearer(await mint(key)));
  });
});

describe("key material is never ambiguous", () => {
  /** An HS256 token whose HMAC secret is the Secret's value: what anyone holding the public key can sign. */
  async function forgedWith(material: string): Promise<string> {
    const forger = await signingKey("HS256");
    return mint({ ...forger, privateKey: new Uint8Array(Buffer.from(material)) });
  }

  function resolvedRefs(gw: TestGateway): { status: string; reason: string; message: string } {
    const conditions = gw.holder.diagnostics.find((d) => d.name === "echo")!.conditions;
    return conditions.find((c) => c.type === "ResolvedRefs")!;
  }

  it("refuses an HS256 token signed with a commented PEM's bytes, so that holders of the public key cannot mint tokens", async () => {
    const key = await signingKey("RS256");
    const material = `# issuer signing key, rotated 2025-01\n${key.pem!}`;
    const gw = await setup([keySecret("apps", "jwt-keys", "keys", material), jwtRoute({ keys: SECRET })]);
    const refusal = await expectRefusal(gw.url(), bearer(await forgedWith(material)));
    expect(refusal.status).toBe(401);
    expect(backend!.requests).toHaveLength(0);
    // The comment is stripped and the PEM is what it looks like: the issuer's RS256 tokens verify.
    expect(resolvedRefs(gw)).toMatchObject({ status: "True" });
    await open(gw.url(), bearer(await mint(key)));
  });

  it.each([
    ["a JWKS stored as a bare array", (key: SigningKey) => JSON.stringify([key.jwk]), /bare JSON array/],
    ["an ssh-rsa line", (key: SigningKey) => sshRsaLine(key), /OpenSSH public key/],
    [
      "text that merely contains a PEM",
      (key: SigningKey) => `The issuer's key is:\n${key.pem!}`,
      /line 1 .*outside the PEM blocks/,
    ],
  ])(
    "fails closed on %s (InvalidKey, 503) instead of reading it as an HMAC secret anyone can sign with",
    async (_name, materialOf, problem) => {
      const key = await signingKey("RS256");
      const material = materialOf(key);
      const gw = await setup([keySecret("apps", "jwt-keys", "keys", material), jwtRoute({ keys: SECRET })]);
      expect(resolvedRefs(gw)).toMatchObject({ status: "False", reason: "InvalidKey" });
      expect(resolvedRefs(gw).message).toMatch(problem);
      const refusal = await expectRefusal(gw.url(), bearer(await forgedWith(material)));
      expect(refusal.status).toBe(503);
      expect(
        (await httpGet(gw.port, "/", { Authorization: `Bearer ${await forgedWith(material)}` })).status,
      ).toBe(503);
      expect(backend!.requests).toHaveLength(0);
    },
  );

  it("reads a raw HMAC secret only when the route says format: HMAC", async () => {
    const key = await signingKey("HS256");
    const raw = keySecret("apps", "jwt-keys", "keys", key.secret!);
    const gw = await setup([raw, jwtRoute({ keys: SECRET })]);
    expect(resolvedRefs(gw)).toMatchObject({ status: "False", reason: "InvalidKey" });
    expect((await expectRefusal(gw.url(), bearer(await mint(key)))).status).toBe(503);

    await setup([raw, jwtRoute({ keys: { secretRef: { ...SECRET.secretRef, format: "HMAC" } } })]);
    expect(resolvedRefs(gw)).toMatchObject({ status: "True" });
    await open(gw.url(), bearer(await mint(key)));
  });

  it("refuses content that does not fit an explicit format, with a message that names it", async () => {
    const key = await signingKey("ES256");
    const gw = await setup([
      keySecret("apps", "jwt-keys", "keys", jwksOf(key)),
      jwtRoute({ keys: { secretRef: { ...SECRET.secretRef, format: "PEM" } } }),
    ]);
    expect(resolvedRefs(gw)).toMatchObject({ status: "False", reason: "InvalidKey" });
    expect(resolvedRefs(gw).message).toMatch(/format PEM/);
    expect((await expectRefusal(gw.url(), bearer(await mint(key)))).status).toBe(503);

    // format: HMAC over a public key is the confusion itself: refused, not used as a secret.
    await setup([
      keySecret("apps", "jwt-keys", "keys", key.pem!),
      jwtRoute({ keys: { secretRef: { ...SECRET.secretRef, format: "HMAC" } } }),
    ]);
    expect(resolvedRefs(gw)).toMatchObject({ status: "False", reason: "InvalidKey" });
    expect(resolvedRefs(gw).message).toMatch(/format HMAC.*public key/);
    expect((await expectRefusal(gw.url(), bearer(await forgedWith(key.pem!)))).status).toBe(503);
  });

  it("never verifies HMAC tokens with keys from a jwksUri, even when the issuer serves an oct key", async () => {
    const hmac = await signingKey("HS256", "shared");
    const jwks = await startJwksServer(jwksOf(hmac));
    servers.push(jwks);
    const gw = await setup([jwtRoute({ keys: { jwksUri: jwks.url } })]);
    const refusal = await expectRefusal(gw.url(), bearer(await mint(hmac)));
    expect(refusal.status).toBe(401);
    expect(refusal.body).toBe("token algorithm not allowed\n");
  });
});

describe("refusals", () => {
  it("answers 401 with a bare Bearer challenge when no token is presented, before any backend is contacted", async () => {
    const key = await signingKey("RS256", "k1");
    const gw = await setupWithKey(key);
    const refusal = await expectRefusal(gw.url());
    expect(refusal.status).toBe(401);
    expect(refusal.headers["www-authenticate"]).toBe('Bearer realm="wsgate"');
    expect(backend!.requests).toHaveLength(0);
  });

  it.each([
    ["expired", { exp: now() - 120 }, 401, "token expired"],
    ["not yet valid", { nbf: now() + 120 }, 401, "token not yet valid"],
    ["wrong issuer", { iss: "https://evil.test" }, 403, "token issuer not accepted"],
    ["wrong audience", { aud: "billing" }, 403, "token audience not accepted"],
  ] as const)("refuses a token that is %s", async (_name, claims, status, message) => {
    const key = await signingKey("ES256", "k1");
    const gw = await setupWithKey(key);
    const refusal = await expectRefusal(gw.url(), bearer(await mint(key, claims)));
    expect(refusal.status).toBe(status);
    expect(refusal.body).toBe(`${message}\n`);
    expect(refusal.headers["www-authenticate"]).toMatch(
      status === 401 ? /^Bearer realm="wsgate", error="invalid_token"/ : /error="insufficient_scope"/,
    );
    expect(backend!.requests).toHaveLength(0);
  });

  it("refuses a token without exp (401) so that a leaked token cannot be replayed forever", async () => {
    const key = await signingKey("ES256", "k1");
    const gw = await setupWithKey(key);
    const timeless = await mint(key, { exp: undefined });
    const refusal = await expectRefusal(gw.url(), bearer(timeless));
    expect(refusal.status).toBe(401);
    expect(refusal.body).toBe("token has no exp\n");
    expect(refusal.headers["www-authenticate"]).toBe(
      'Bearer realm="wsgate", error="invalid_token", error_description="token has no expiry"',
    );
    expect((await httpGet(gw.port, "/", { Authorization: `Bearer ${timeless}` })).status).toBe(401);
    expect(backend!.requests).toHaveLength(0);
  });

  it("admits a token without exp only on a route that sets allowMissingExp", async () => {
    const key = await signingKey("ES256", "k1");
    const gw = await setupWithKey(key, { allowMissingExp: true, closeOnExpiry: true });
    const ws = await open(gw.url(), bearer(await mint(key, { exp: undefined })));
    expect((await roundTrip(ws, "no expiry")).data.toString()).toBe("no expiry");
    // An exp that is present is still enforced.
    expect((await expectRefusal(gw.url(), bearer(await mint(key, { exp: now() - 120 })))).status).toBe(401);
  });

  it("tolerates a small clock skew on exp", async () => {
    const key = await signingKey("ES256", "k1");
    const gw = await setupWithKey(key);
    await open(gw.url(), bearer(await mint(key, { exp: now() - 5 })));
  });

  it("accepts any of several audiences, and a token naming several audiences", async () => {
    const key = await signingKey("ES256", "k1");
    const gw = await setupWithKey(key, { audiences: ["billing", AUDIENCE] });
    await open(gw.url(), bearer(await mint(key, { aud: ["other", AUDIENCE] })));
  });

  it("refuses alg none, even with the right claims", async () => {
    const key = await signingKey("RS256", "k1");
    const gw = await setupWithKey(key);
    const token = new UnsecuredJWT({ iss: ISSUER, aud: AUDIENCE, sub: "alice" })
      .setExpirationTime("5m")
      .encode();
    const refusal = await expectRefusal(gw.url(), bearer(token));
    expect(refusal.status).toBe(401);
    expect(refusal.body).toBe("token algorithm not allowed\n");
  });

  it("refuses an HS256 token signed with an RSA public key as the secret (algorithm confusion)", async () => {
    const key = await signingKey("RS256", "k1");
    const gw = await setupWithKey(key);
    const confused = await mint({ ...key, alg: "HS256", privateKey: new TextEncoder().encode(key.pem!) });
    const refusal = await expectRefusal(gw.url(), bearer(confused));
    expect(refusal.status).toBe(401);
  });

  it("refuses a token whose kid is not in the key set", async () => {
    const key = await signingKey("RS256", "k1");
    const gw = await setupWithKey(key);
    const stranger = await signingKey("RS256", "k2");
    const refusal = await expectRefusal(gw.url(), bearer(await mint(stranger)));
    expect(refusal.status).toBe(401);
    expect(refusal.body).toBe("no key for the token's kid and alg\n");
  });

  it("refuses a tampered signature and a tampered payload", async () => {
    const key = await signingKey("EdDSA", "k1");
    const gw = await setupWithKey(key);
    const [header, payload, signature] = (await mint(key)).split(".") as [string, string, string];
    const flipped = `${signature.slice(0, 10)}${signature[10] === "A" ? "B" : "A"}${signature.slice(11)}`;
    const tamperedSignature = await expectRefusal(gw.url(), bearer(`${header}.${payload}.${flipped}`));
    expect(tamperedSignature.status).toBe(401);
    expect(tamperedSignature.body).toBe("token signature invalid\n");
    const admin = Buffer.from(JSON.stringify({ iss: ISSUER, aud: AUDIENCE, sub: "admin", exp: now() + 300 }));
    const tamperedPayload = await expectRefusal(
      gw.url(),
      bearer(`${header}.${admin.toString("base64url")}.${signature}`),
    );
    expect(tamperedPayload.status).toBe(401);
  });

  it("refuses garbage", async () => {
    const key = await signingKey("RS256", "k1");
    const gw = await setupWithKey(key);
    const refusal = await expectRefusal(gw.url(), bearer("not-a-jwt"));
    expect(refusal.status).toBe(401);
    expect(refusal.body).toBe("token malformed\n");
  });
});

describe("token sources", () => {
  const sources = [
    { header: "X-Token", prefix: "Token " },
    { cookie: "session" },
    { query: "access_token" },
    { subprotocol: {} },
  ];

  it("reads a header with a prefix (case-insensitive scheme)", async () => {
    const key = await signingKey("ES256", "k1");
    const gw = await setupWithKey(key, { tokenFrom: sources });
    await open(gw.url(), { headers: { "X-Token": `token ${await mint(key)}` } });
    // A header without the prefix carries no token.
    expect((await expectRefusal(gw.url(), { headers: { "X-Token": await mint(key) } })).status).toBe(401);
  });

  it("reads a cookie", async () => {
    const key = await signingKey("ES256", "k1");
    const gw = await setupWithKey(key, { tokenFrom: sources });
    await open(gw.url(), { headers: { Cookie: `theme=dark; session=${await mint(key)}; lang=en` } });
  });

  it("reads a query parameter", async () => {
    const key = await signingKey("ES256", "k1");
    const gw = await setupWithKey(key, { tokenFrom: sources });
    await open(gw.url(`/?room=1&access_token=${await mint(key)}`));
    expect(backend!.requests[0]!.url).toContain("room=1");
  });

  it("reads the subprotocol bearer form, strips it upstream, and lets the backend's choice through", async () => {
    const key = await signingKey("ES256", "k1");
    const gw = await setupWithKey(key, { tokenFrom: sources });
    const token = Buffer.from(await mint(key)).toString("base64url");
    const ws = await open(gw.url(), {}, ["chat.v2", `${BEARER_PROTOCOL_PREFIX}${token}`, "chat.v1"]);
    expect(backend!.requests[0]!.headers["sec-websocket-protocol"]).toBe("chat.v2, chat.v1");
    expect(ws.protocol).toBe("chat.v2");
  });

  it("uses the first source present, in order: a bad header is not rescued by a good cookie", async () => {
    const key = await signingKey("ES256", "k1");
    const gw = await setupWithKey(key, { tokenFrom: sources });
    const refusal = await expectRefusal(gw.url(), {
      headers: { "X-Token": "Token garbage", Cookie: `session=${await mint(key)}` },
    });
    expect(refusal.status).toBe(401);
  });

  it("never forwards the subprotocol token, even when the token came from another source", async () => {
    const key = await signingKey("ES256", "k1");
    const gw = await setupWithKey(key, { tokenFrom: sources });
    const ws = await open(gw.url(), { headers: { Cookie: `session=${await mint(key)}` } }, [
      "chat.v1",
      `${BEARER_PROTOCOL_PREFIX}c3RhbGU`,
    ]);
    expect(backend!.requests[0]!.headers["sec-websocket-protocol"]).toBe("chat.v1");
    expect(ws.protocol).toBe("chat.v1");
  });
});

describe("claims to headers", () => {
  it("sets claims on the upstream request and removes client-sent copies", async () => {
    const key = await signingKey("RS256", "k1");
    const gw = await setupWithKey(key, {
      claimsToHeaders: { sub: "X-User-Id", roles: "X-User-Roles", "org.id": "X-Org", tenant: "X-Tenant" },
    });
    await open(gw.url(), {
      headers: {
        Authorization: `Bearer ${await mint(key, { roles: ["admin", "ops"], org: { id: 42 } })}`,
        "X-User-Id": "root",
        "x-user-id": "root2",
        "X-Tenant": "spoofed",
      },
    });
    const seen = backend!.requests[0]!;
    expect(seen.headers["x-user-id"]).toBe("alice");
    expect(seen.headers["x-user-roles"]).toBe("admin,ops");
    expect(seen.headers["x-org"]).toBe("42");
    // The token has no tenant claim: the client's copy is still removed.
    expect(seen.headers["x-tenant"]).toBeUndefined();
    expect(seen.rawHeaders.filter((h) => h.toLowerCase() === "x-user-id")).toHaveLength(1);
  });

  it("refuses a claim that would inject a header, and sends UTF-8 claims as their bytes", async () => {
    const key = await signingKey("RS256", "k1");
    const gw = await setupWithKey(key, { claimsToHeaders: { name: "X-User-Name" } });
    const injected = await expectRefusal(gw.url(), bearer(await mint(key, { name: "x\r\nX-Admin: true" })));
    expect(injected.status).toBe(403);
    expect(backend!.requests).toHaveLength(0);
    await open(gw.url(), bearer(await mint(key, { name: "José" })));
    const raw = backend!.requests[0]!.headers["x-user-name"] as string;
    expect(Buffer.from(raw, "latin1").toString("utf8")).toBe("José");
  });
});

describe("key rotation", () => {
  it("follows the Secret: the old key is refused, the new one accepted, open connections untouched", async () => {
    const oldKey = await signingKey("RS256", "2024");
    const newKey = await signingKey("RS256", "2025");
    const gw = await setupWithKey(oldKey);
    const established = await open(gw.url(), bearer(await mint(oldKey)));

    await setup([keySecret("apps", "jwt-keys", "keys", jwksOf(newKey)), jwtRoute({ keys: SECRET })]);
    expect((await expectRefusal(gw.url(), bearer(await mint(oldKey)))).status).toBe(401);
    await open(gw.url(), bearer(await mint(newKey)));
    expect((await roundTrip(established, "still here")).data.toString()).toBe("still here");
  });

  it("refuses every request with 503 while the key Secret is missing or unusable, and recovers when it is fixed", async () => {
    const key = await signingKey("ES256", "k1");
    const gw = await setup([jwtRoute({ keys: SECRET })]);
    const diagnostics = gw.holder.diagnostics.find((d) => d.name === "echo")!;
    expect(diagnostics.conditions.find((c) => c.type === "ResolvedRefs")).toMatchObject({
      status: "False",
      reason: "SecretNotFound",
    });
    const refusal = await expectRefusal(gw.url(), bearer(await mint(key)));
    expect(refusal.status).toBe(503);
    expect(refusal.body).toContain("authentication for this route is misconfigured");
    expect((await httpGet(gw.port, "/", { Authorization: `Bearer ${await mint(key)}` })).status).toBe(503);

    await setup([keySecret("apps", "jwt-keys", "keys", "too short"), jwtRoute({ keys: SECRET })]);
    expect(gw.holder.diagnostics[0]!.conditions[1]).toMatchObject({ status: "False", reason: "InvalidKey" });
    expect((await expectRefusal(gw.url(), bearer(await mint(key)))).status).toBe(503);

    await setupWithKey(key);
    await open(gw.url(), bearer(await mint(key)));
  });
});

describe("closeOnExpiry", () => {
  it("closes a live connection when its token expires: 1008 to the client, 1000 to the backend; not without closeOnExpiry", async () => {
    const key = await signingKey("ES256", "k1");
    const jwt = { issuer: ISSUER, audiences: [AUDIENCE], keys: SECRET };
    const gw = await setup(
      [
        keySecret("apps", "jwt-keys", "keys", jwksOf(key)),
        simpleRoute("apps", "strict", "echo", { auth: { jwt: { ...jwt, closeOnExpiry: true } } }, "/strict"),
        simpleRoute("apps", "lenient", "echo", { auth: { jwt } }, "/lenient"),
      ],
      { auth: { clockSkewSeconds: 0 } },
    );
    // exp has whole seconds: now() + 1 may be a few milliseconds away, and both handshakes
    // must pass before it (2 to 3 s here, with no clock skew allowed).
    const token = await mint(key, { exp: now() + 3 });
    const strict = await open(gw.url("/strict"), bearer(token));
    const lenient = await open(gw.url("/lenient"), bearer(token));
    const [strictBackend] = [...backend!.sockets];
    const backendClosed = new Promise<number>((resolve) =>
      strictBackend!.once("close", (code) => resolve(code)),
    );
    const clientClosed = new Promise<{ code: number; reason: string }>((resolve) =>
      strict.once("close", (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    expect(await clientClosed).toEqual({ code: 1008, reason: "token expired" });
    expect(await backendClosed).toBe(1000);
    // Same token, same sweep: the route without closeOnExpiry keeps its connection.
    expect((await roundTrip(lenient, "still open")).data.toString()).toBe("still open");
    await closeClient(lenient);
  });
});

describe("jwksUri", () => {
  it("fetches the key set once, refetches on an unknown kid, and follows the issuer's rotation", async () => {
    const first = await signingKey("RS256", "a");
    const second = await signingKey("ES256", "b");
    const jwks = await startJwksServer(jwksOf(first));
    servers.push(jwks);
    const gw = await setup([jwtRoute({ keys: { jwksUri: jwks.url } })], {
      auth: { jwks: { cooldownMs: 0 } },
    });
    await open(gw.url(), bearer(await mint(first)));
    await open(gw.url(), bearer(await mint(first)));
    expect(jwks.fetches()).toBe(1);

    jwks.serve(jwksOf(second));
    await open(gw.url(), bearer(await mint(second)));
    expect(jwks.fetches()).toBe(2);
    // The issuer dropped the first key: its tokens are refused once the set was refetched.
    expect((await expectRefusal(gw.url(), bearer(await mint(first)))).status).toBe(401);
  });

  it("rate-limits refetches: unknown kids within the cooldown do not reach the issuer", async () => {
    const key = await signingKey("RS256", "a");
    const jwks = await startJwksServer(jwksOf(key));
    servers.push(jwks);
    const gw = await setup([jwtRoute({ keys: { jwksUri: jwks.url } })]);
    await open(gw.url(), bearer(await mint(key)));
    for (const kid of ["x", "y", "z"]) {
      const stranger = await signingKey("RS256", kid);
      expect((await expectRefusal(gw.url(), bearer(await mint(stranger)))).status).toBe(401);
    }
    expect(jwks.fetches()).toBe(1);
  });

  it("answers 503 when the key set cannot be fetched (fail closed)", async () => {
    const key = await signingKey("RS256", "a");
    const jwks = await startJwksServer(jwksOf(key));
    const url = jwks.url;
    await jwks.close();
    const gw = await setup([jwtRoute({ keys: { jwksUri: url } })]);
    const refusal = await expectRefusal(gw.url(), bearer(await mint(key)));
    expect(refusal.status).toBe(503);
    expect(backend!.requests).toHaveLength(0);
  });
});

describe("plain HTTP", () => {
  it("authenticates plain requests on the route too, with claims to headers", async () => {
    const key = await signingKey("RS256", "k1");
    const gw = await setupWithKey(key, { claimsToHeaders: { sub: "X-User-Id" } });
    const refused = await httpGet(gw.port, "/page");
    expect(refused.status).toBe(401);
    expect(refused.headers["www-authenticate"]).toBe('Bearer realm="wsgate"');
    const expired = await httpGet(gw.port, "/page", {
      Authorization: `Bearer ${await mint(key, { exp: now() - 120 })}`,
    });
    expect(expired.status).toBe(401);

    const ok = await httpGet(gw.port, "/page", {
      Authorization: `Bearer ${await mint(key)}`,
      "X-User-Id": "root",
    });
    expect(ok.status).toBe(200);
    const echoed = JSON.parse(ok.body) as { headers: Record<string, string> };
    expect(echoed.headers["x-user-id"]).toBe("alice");
  });
});
