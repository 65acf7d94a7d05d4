/**
 * `spec.auth` compiled for the data plane. Key material from a Secret is parsed here,
 * with node:crypto's synchronous importers (no I/O, no clock), so a bad key is a
 * condition on the route instead of a failed handshake, and a rotated Secret becomes a
 * new table without a restart. `jwksUri` keys are fetched by the data plane.
 *
 * Fail closed: a route whose auth references do not resolve is still compiled into
 * the table — holding its host and path, so no broader route serves them instead —
 * with {@link UnresolvedAuth}, which the data plane answers with 503.
 */
import { createPublicKey, createSecretKey, type JsonWebKey, type KeyObject } from "node:crypto";
import { durationToMs } from "../api/duration.js";
import { FORWARDING_HEADERS, HOP_BY_HOP_HEADERS } from "../api/headers.js";
import type { Secret } from "../api/objects.js";
import type { RouteAuth, WebSocketRoute } from "../api/route.js";

/** Asymmetric JWS algorithms wsgate verifies; `none` is never among them. */
export const ASYMMETRIC_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
] as const;
/** HMAC algorithms, only for keys from a Secret (a shared secret has no business at a public URL). */
export const HMAC_ALGORITHMS = ["HS256", "HS384", "HS512"] as const;

/** One key that may verify a token signed with one of `algorithms`. */
export interface VerificationKey {
  readonly kid?: string;
  /** The algorithms this key verifies: fixed by its type (and by the JWK's `alg`, when set). */
  readonly algorithms: readonly string[];
  /** The key itself; not enumerable, so /debug/config and logs never print it. */
  readonly key: KeyObject;
}

export type TokenSource =
  | { readonly type: "header"; readonly name: string; readonly prefix?: string }
  | { readonly type: "cookie"; readonly name: string }
  | { readonly type: "query"; readonly name: string }
  | { readonly type: "subprotocol" };

export type JwtKeys =
  | {
      readonly source: "secret";
      /** `namespace/name` of the Secret and the key in its data. */
      readonly secret: string;
      readonly key: string;
      readonly format: KeyFormat;
      readonly keys: readonly VerificationKey[];
    }
  | { readonly source: "jwksUri"; readonly uri: string };

export interface CompiledJwt {
  readonly kind: "jwt";
  readonly issuer?: string;
  readonly audiences: readonly string[];
  readonly keys: JwtKeys;
  /** The allow-list handed to the verifier: what the keys can verify. */
  readonly algorithms: readonly string[];
  readonly tokenFrom: readonly TokenSource[];
  /** `[claim, header]` pairs, sorted by claim. */
  readonly claimsToHeaders: readonly (readonly [string, string])[];
  readonly closeOnExpiry: boolean;
}

export interface CompiledForwardAuth {
  readonly kind: "forwardAuth";
  readonly url: string;
  readonly requestHeaders: readonly string[];
  readonly responseHeaders: readonly string[];
  readonly timeoutMs: number;
}

/** Auth that cannot be enforced (its key Secret is missing or unusable): every request gets 503. */
export interface UnresolvedAuth {
  readonly kind: "unresolved";
  /** What is wrong, for status and logs; clients get a generic message. */
  readonly problem: string;
}

export type CompiledAuth = CompiledJwt | CompiledForwardAuth | UnresolvedAuth;

export type KeyFormat = "jwks" | "pem" | "hmac";

export type KeyParse =
  { ok: true; format: KeyFormat; keys: VerificationKey[] } | { ok: false; problem: string };

/** A problem with auth references: the ResolvedRefs reason and a message. */
export interface AuthRefProblem {
  readonly reason: "SecretNotFound" | "InvalidKey";
  readonly message: string;
}

function verificationKey(key: KeyObject, algorithms: readonly string[], kid?: string): VerificationKey {
  const entry = { ...(kid === undefined ? {} : { kid }), algorithms: Object.freeze([...algorithms]) };
  Object.defineProperty(entry, "key", { value: key, enumerable: false });
  return Object.freeze(entry as VerificationKey);
}

/** The algorithms an asymmetric key can verify, or a problem. */
function asymmetricAlgorithms(key: KeyObject): string[] | string {
  switch (key.asymmetricKeyType) {
    case "rsa":
    case "rsa-pss": {
      const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
      if (bits < 2048) return `RSA keys must have at least 2048 bits; this one has ${bits}`;
      return key.asymmetricKeyType === "rsa"
        ? ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]
        : ["PS256", "PS384", "PS512"];
    }
    case "ec": {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (curve === "prime256v1") return ["ES256"];
      if (curve === "secp384r1") return ["ES384"];
      if (curve === "secp521r1") return ["ES512"];
      return `EC curve ${curve ?? "(unknown)"} is not supported; use P-256, P-384 or P-521`;
    }
    case "ed25519":
      return ["EdDSA", "Ed25519"];
    default:
      return `${key.asymmetricKeyType ?? "unknown"} keys are not supported; use RSA, EC (P-256/384/521) or Ed25519`;
  }
}

/** HMAC algorithms whose minimum key size (RFC 7518 §3.2: the hash size) the secret meets. */
function hmacAlgorithms(bytes: number): string[] {
  return HMAC_ALGORITHMS.filter((_, i) => bytes >= [32, 48, 64][i]!);
}

/** Narrows to the JWK's own `alg`, when it names one. */
function withJwkAlg(algorithms: string[], alg: unknown): string[] | string {
  if (alg === undefined) return algorithms;
  if (typeof alg !== "string" || !algorithms.includes(alg)) {
    return `alg ${JSON.stringify(alg)} does not fit this key (it can verify ${algorithms.join(", ")})`;
  }
  return [alg];
}

const PUBLIC_MEMBERS: Record<string, readonly string[]> = {
  RSA: ["kty", "n", "e"],
  EC: ["kty", "crv", "x", "y"],
  OKP: ["kty", "crv", "x"],
};

function parseJwk(jwk: Record<string, unknown>): VerificationKey | string | undefined {
  if (jwk.use !== undefined && jwk.use !== "sig") return undefined; // an encryption key: not ours
  if (
    jwk.key_ops !== undefined &&
    !(Array.isArray(jwk.key_ops) && (jwk.key_ops as unknown[]).includes("verify"))
  ) {
    return undefined;
  }
  if (jwk.kid !== undefined && typeof jwk.kid !== "string") return "kid must be a string";
  const kid = jwk.kid as string | undefined;
  let key: KeyObject;
  let algorithms: string[] | string;
  if (jwk.kty === "oct") {
    if (typeof jwk.k !== "string" || !/^[A-Za-z0-9_-]+$/.test(jwk.k)) return "k must be base64url";
    const secret = Buffer.from(jwk.k, "base64url");
    algorithms = hmacAlgorithms(secret.length);
    if (algorithms.length === 0) {
      return `an HMAC key must have at least 32 bytes (256 bits); this one has ${secret.length}`;
    }
    key = createSecretKey(secret);
  } else {
    const members = typeof jwk.kty === "string" ? PUBLIC_MEMBERS[jwk.kty] : undefined;
    if (!members) return `kty ${JSON.stringify(jwk.kty)} is not supported; use RSA, EC, OKP or oct`;
    // Only the public members: a JWKS that carries private parts still verifies, and never signs.
    const pub = Object.fromEntries(members.filter((m) => jwk[m] !== undefined).map((m) => [m, jwk[m]]));
    try {
      key = createPublicKey({ key: pub as JsonWebKey, format: "jwk" });
    } catch (err) {
      return `not a valid ${String(jwk.kty)} key (${(err as Error).message})`;
    }
    algorithms = asymmetricAlgorithms(key);
  }
  if (typeof algorithms === "string") return algorithms;
  const narrowed = withJwkAlg(algorithms, jwk.alg);
  if (typeof narrowed === "string") return narrowed;
  return verificationKey(key, narrowed, kid);
}

function parseJson(text: string): KeyParse {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return { ok: false, problem: "starts with { but is not valid JSON (expected a JWKS document)" };
  }
  const obj = doc as Record<string, unknown>;
  const list: unknown[] | undefined = Array.isArray(obj?.keys)
    ? (obj.keys as unknown[])
    : typeof obj?.kty === "string"
      ? [obj]
      : undefined;
  if (!list) return { ok: false, problem: 'JSON but not a JWKS ({"keys": [...]}) or a single JWK' };
  const keys: VerificationKey[] = [];
  for (const [i, jwk] of list.entries()) {
    if (typeof jwk !== "object" || jwk === null || Array.isArray(jwk)) {
      return { ok: false, problem: `keys[${i}] is not an object` };
    }
    const parsed = parseJwk(jwk as Record<string, unknown>);
    if (typeof parsed === "string") {
      const kid = (jwk as { kid?: unknown }).kid;
      return { ok: false, problem: `keys[${i}]${typeof kid === "string" ? ` (kid ${kid})` : ""}: ${parsed}` };
    }
    if (parsed) keys.push(parsed);
  }
  if (keys.length === 0) return { ok: false, problem: "the JWKS has no signature verification key" };
  return { ok: true, format: "jwks", keys };
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]+?-----END \1-----/g;

function parsePem(text: string): KeyParse {
  const blocks = [...text.matchAll(PEM_BLOCK)];
  if (blocks.length === 0) return { ok: false, problem: "starts like PEM but holds no complete PEM block" };
  const keys: VerificationKey[] = [];
  for (const [i, block] of blocks.entries()) {
    const label = block[1] as string;
    let key: KeyObject;
    try {
      // A public key, a certificate (its key is used) or a private key (its public half is used).
      key = createPublicKey(block[0]);
    } catch {
      return { ok: false, problem: `PEM block ${i + 1} (${label}) is not a usable public key` };
    }
    const algorithms = asymmetricAlgorithms(key);
    if (typeof algorithms === "string") return { ok: false, problem: `PEM block ${i + 1}: ${algorithms}` };
    keys.push(verificationKey(key, algorithms));
  }
  return { ok: true, format: "pem", keys };
}

/**
 * Parses verification keys from a Secret value, by its content: a JSON document is a
 * JWKS (or one JWK); text with `-----BEGIN` is PEM (public keys, certificates — several
 * blocks allowed, for rotation); anything else is an HMAC secret, its bytes used as they
 * are (mind a trailing newline from `kubectl create secret --from-file`).
 */
export function parseKeyMaterial(bytes: Buffer): KeyParse {
  const text = bytes.toString("utf8").trim();
  if (text.startsWith("{")) return parseJson(text);
  if (text.startsWith("-----BEGIN")) return parsePem(text);
  const algorithms = hmacAlgorithms(bytes.length);
  if (algorithms.length === 0) {
    return {
      ok: false,
      problem: `neither JSON (JWKS) nor PEM, so read as an HMAC secret, which must have at least 32 bytes (256 bits); this one has ${bytes.length}`,
    };
  }
  return { ok: true, format: "hmac", keys: [verificationKey(createSecretKey(bytes), algorithms)] };
}

/** `namespace/name` of the Secret holding the route's JWT keys, if it names one. */
export function authSecretKey(route: WebSocketRoute): string | undefined {
  const ref = route.spec.auth?.jwt?.keys.secretRef;
  return ref ? `${route.metadata.namespace}/${ref.name}` : undefined;
}

/** Headers that describe the client's own connection or body, not the client: never sent to an auth service. */
const UNCOPYABLE_HEADERS = new Set([...HOP_BY_HOP_HEADERS, "host", "content-length"]);

/** Headers wsgate itself controls: auth may not set them from claims or an auth answer. */
const RESERVED_HEADERS = new Set([
  ...UNCOPYABLE_HEADERS,
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-extensions",
  "sec-websocket-protocol",
  "sec-websocket-accept",
  ...FORWARDING_HEADERS,
  "x-forwarded-method",
  "x-forwarded-uri",
]);

/** What the schema cannot express about `spec.auth`. */
export function authProblems(auth: RouteAuth | undefined): string[] {
  const problems: string[] = [];
  if (auth?.jwt) {
    const targets = new Map<string, string>();
    for (const [claim, header] of Object.entries(auth.jwt.claimsToHeaders)) {
      const lower = header.toLowerCase();
      if (RESERVED_HEADERS.has(lower)) {
        problems.push(
          `spec.auth.jwt.claimsToHeaders.${claim}: ${header} is set by wsgate; choose another header`,
        );
      } else if (targets.has(lower)) {
        problems.push(
          `spec.auth.jwt.claimsToHeaders: claims ${targets.get(lower)} and ${claim} both write ${header}`,
        );
      }
      targets.set(lower, claim);
    }
  }
  if (auth?.forwardAuth) {
    const fa = auth.forwardAuth;
    if (durationToMs(fa.timeout) === 0)
      problems.push("spec.auth.forwardAuth.timeout must be greater than 0s");
    for (const header of fa.responseHeaders) {
      if (RESERVED_HEADERS.has(header.toLowerCase())) {
        problems.push(`spec.auth.forwardAuth.responseHeaders: ${header} is set by wsgate; remove it`);
      }
    }
    for (const header of fa.requestHeaders) {
      if (UNCOPYABLE_HEADERS.has(header.toLowerCase())) {
        problems.push(`spec.auth.forwardAuth.requestHeaders: ${header} cannot be copied to the auth request`);
      }
    }
  }
  return problems;
}

function tokenSources(sources: NonNullable<RouteAuth["jwt"]>["tokenFrom"]): TokenSource[] {
  return sources.map((s): TokenSource => {
    if (s.header !== undefined) {
      return Object.freeze({
        type: "header",
        name: s.header.toLowerCase(),
        ...(s.prefix ? { prefix: s.prefix } : {}),
      });
    }
    if (s.cookie !== undefined) return Object.freeze({ type: "cookie", name: s.cookie });
    if (s.query !== undefined) return Object.freeze({ type: "query", name: s.query });
    return Object.freeze({ type: "subprotocol" });
  });
}

export interface AuthResolution {
  readonly auth?: CompiledAuth;
  readonly problem?: AuthRefProblem;
}

/**
 * Compiles `spec.auth`, resolving `keys.secretRef` against the Secrets of the snapshot
 * (same namespace only). Unresolvable references give an {@link UnresolvedAuth} and a
 * ResolvedRefs problem; the route is never served without the auth it asks for.
 */
export function resolveAuth(route: WebSocketRoute, secrets: ReadonlyMap<string, Secret>): AuthResolution {
  const auth = route.spec.auth;
  if (!auth) return {};
  if (auth.forwardAuth) {
    const fa = auth.forwardAuth;
    return {
      auth: Object.freeze({
        kind: "forwardAuth",
        url: fa.url,
        requestHeaders: Object.freeze([...fa.requestHeaders]),
        responseHeaders: Object.freeze([...fa.responseHeaders]),
        timeoutMs: durationToMs(fa.timeout),
      }),
    };
  }
  const jwt = auth.jwt;
  if (!jwt) return {};
  let keys: JwtKeys;
  let algorithms: readonly string[];
  const ref = jwt.keys.secretRef;
  if (ref) {
    const secretKey = `${route.metadata.namespace}/${ref.name}`;
    const secret = secrets.get(secretKey);
    const value = secret?.data[ref.key];
    const unresolved = (problem: AuthRefProblem): AuthResolution => ({
      auth: Object.freeze({ kind: "unresolved", problem: problem.message }),
      problem,
    });
    if (!secret) return unresolved({ reason: "SecretNotFound", message: `Secret ${secretKey} not found` });
    if (value === undefined) {
      return unresolved({ reason: "SecretNotFound", message: `Secret ${secretKey} has no key ${ref.key}` });
    }
    const parsed = parseKeyMaterial(Buffer.from(value, "base64"));
    if (!parsed.ok) {
      return unresolved({
        reason: "InvalidKey",
        message: `Secret ${secretKey} key ${ref.key}: ${parsed.problem}`,
      });
    }
    keys = Object.freeze({
      source: "secret",
      secret: secretKey,
      key: ref.key,
      format: parsed.format,
      keys: Object.freeze(parsed.keys),
    });
    const allowed = new Set(parsed.keys.flatMap((k) => k.algorithms));
    algorithms = [...ASYMMETRIC_ALGORITHMS, ...HMAC_ALGORITHMS].filter((a) => allowed.has(a));
  } else {
    keys = Object.freeze({ source: "jwksUri", uri: jwt.keys.jwksUri as string });
    algorithms = ASYMMETRIC_ALGORITHMS;
  }
  return {
    auth: Object.freeze({
      kind: "jwt",
      ...(jwt.issuer === undefined ? {} : { issuer: jwt.issuer }),
      audiences: Object.freeze([...jwt.audiences]),
      keys,
      algorithms: Object.freeze([...algorithms]),
      tokenFrom: Object.freeze(tokenSources(jwt.tokenFrom)),
      claimsToHeaders: Object.freeze(
        Object.entries(jwt.claimsToHeaders)
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          .map(([claim, header]) => Object.freeze([claim, header] as const)),
      ),
      closeOnExpiry: jwt.closeOnExpiry,
    }),
  };
}
