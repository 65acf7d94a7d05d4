/**
 * Real keys, real tokens and real auth servers for authentication tests: keys are
 * generated with jose in the test, tokens signed with them, JWKS documents and
 * forward-auth answers served by HTTP servers on port 0.
 */
import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import {
  SignJWT,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  type CryptoKey,
  type JWK,
  type JWTPayload,
} from "jose";
import { parseObject } from "../../src/api/parse.js";
import type { StoredObject } from "../../src/routing/store.js";
import { serviceWithEndpoints, simpleRoute } from "./objects.js";

export const ISSUER = "https://issuer.test";
export const AUDIENCE = "chat";

export type SigningAlg = "RS256" | "ES256" | "EdDSA" | "HS256";

export interface SigningKey {
  readonly alg: SigningAlg;
  readonly kid: string | undefined;
  readonly privateKey: CryptoKey | Uint8Array;
  /** The verification key as a JWK (for HS256 the secret itself, as `oct`). */
  readonly jwk: JWK;
  /** The verification key as PEM (SPKI); undefined for HS256. */
  readonly pem: string | undefined;
  /** The HMAC secret's bytes; undefined for asymmetric keys. */
  readonly secret: Buffer | undefined;
}

export async function signingKey(alg: SigningAlg, kid?: string): Promise<SigningKey> {
  if (alg === "HS256") {
    const secret = randomBytes(32);
    return {
      alg,
      kid,
      privateKey: new Uint8Array(secret),
      jwk: { kty: "oct", k: secret.toString("base64url"), ...(kid ? { kid } : {}) },
      pem: undefined,
      secret,
    };
  }
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), ...(kid ? { kid } : {}) };
  return { alg, kid, privateKey, jwk, pem: await exportSPKI(publicKey), secret: undefined };
}

/**
 * The RSA public key as an OpenSSH `authorized_keys` line (RFC 4253 §6.6: string
 * "ssh-rsa", mpint e, mpint n): the shape an admin pastes when a PEM was asked for.
 */
export function sshRsaLine(key: SigningKey, comment = "issuer@example"): string {
  if (key.jwk.kty !== "RSA") throw new Error("sshRsaLine needs an RSA key");
  const field = (bytes: Buffer): Buffer => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    return Buffer.concat([length, bytes]);
  };
  // An mpint whose high bit is set gets a leading zero byte, so it does not read as negative.
  const mpint = (b64url: string): Buffer => {
    const bytes = Buffer.from(b64url, "base64url");
    return field((bytes[0] as number) & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
  };
  const blob = Buffer.concat([field(Buffer.from("ssh-rsa")), mpint(key.jwk.e!), mpint(key.jwk.n!)]);
  return `ssh-rsa ${blob.toString("base64")} ${comment}\n`;
}

/** A JWKS document with the keys' public halves. */
export function jwksOf(...keys: SigningKey[]): string {
  return JSON.stringify({ keys: keys.map((k) => k.jwk) });
}

/** Seconds since the epoch. */
export function now(): number {
  return Math.floor(Date.now() / 1000);
}

/**
 * A token signed by `key`: issuer, audience `chat`, subject `alice`, valid for 5 minutes,
 * unless `claims` says otherwise (`undefined` removes a claim).
 */
export async function mint(
  key: SigningKey,
  claims: Record<string, unknown> = {},
  header: { kid?: string } = {},
): Promise<string> {
  const payload: Record<string, unknown> = {
    iss: ISSUER,
    aud: AUDIENCE,
    sub: "alice",
    iat: now(),
    exp: now() + 300,
    ...claims,
  };
  for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k];
  const kid = header.kid ?? key.kid;
  return new SignJWT(payload as JWTPayload)
    .setProtectedHeader({ alg: key.alg, ...(kid ? { kid } : {}) })
    .sign(key.privateKey);
}

/** An Opaque Secret holding `value` under `key`. */
export function keySecret(
  namespace: string,
  name: string,
  key: string,
  value: string | Buffer,
): StoredObject {
  const result = parseObject({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace },
    type: "Opaque",
    data: { [key]: Buffer.from(value).toString("base64") },
  });
  if (result.outcome !== "ok") throw new Error(`test Secret invalid: ${JSON.stringify(result)}`);
  return result.object;
}

/** A route to Service `echo` (port 80) with `spec.auth.jwt` set to `jwt`. */
export function jwtRoute(jwt: Record<string, unknown>, extra: Record<string, unknown> = {}): StoredObject {
  return simpleRoute("apps", "echo", "echo", {
    auth: { jwt: { issuer: ISSUER, audiences: [AUDIENCE], ...jwt } },
    ...extra,
  });
}

/**
 * The path-bypass setup: on one host, a public route `/` to Service `public` and a JWT
 * route `/api` to Service `secret` (keys: the JWKS `jwks` in Secret `keys`), each
 * Service with one endpoint on 127.0.0.1.
 */
export function publicAndJwtRoutes(publicPort: number, secretPort: number, jwks: string): StoredObject[] {
  return [
    ...serviceWithEndpoints("apps", "public", [{ port: publicPort }]),
    ...serviceWithEndpoints("apps", "secret", [{ port: secretPort }]),
    keySecret("apps", "keys", "jwks.json", jwks),
    simpleRoute("apps", "public", "public"),
    simpleRoute(
      "apps",
      "api",
      "secret",
      {
        auth: {
          jwt: {
            issuer: ISSUER,
            audiences: [AUDIENCE],
            keys: { secretRef: { name: "keys", key: "jwks.json" } },
          },
        },
      },
      "/api",
    ),
  ];
}

export interface HttpAnswer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** A plain HTTP GET through the gateway. */
export function httpGet(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path, headers, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

export interface TestServer {
  readonly url: string;
  readonly port: number;
  /** Requests seen, in order. */
  readonly requests: http.IncomingMessage[];
  /** TCP connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1, port 0, answering with `handler`. */
export async function startHttpServer(
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void,
  path = "/",
): Promise<TestServer> {
  const requests: http.IncomingMessage[] = [];
  let connections = 0;
  const server = http.createServer((req, res) => {
    requests.push(req);
    handler(req, res);
  });
  server.on("connection", () => connections++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}${path}`,
    port,
    requests,
    connections: () => connections,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A JWKS endpoint whose document the test can change (key rotation at the issuer). */
export async function startJwksServer(
  document: string,
): Promise<TestServer & { serve(document: string): void; fetches(): number }> {
  let current = document;
  const server = await startHttpServer((_req, res) => {
    res.writeHead(200, { "Content-Type": "application/jwk-set+json" });
    res.end(current);
  }, "/.well-known/jwks.json");
  return {
    ...server,
    serve: (d: string) => (current = d),
    fetches: () => server.requests.length,
  };
}
