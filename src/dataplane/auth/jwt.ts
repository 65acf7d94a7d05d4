/**
 * JWT verification at the handshake, with jose: signature by a key of the route (from
 * its Secret, or its `jwksUri`), algorithm allow-list, `exp`/`nbf` with a small clock
 * skew, then `iss` and `aud`. Missing or invalid token → 401 with `WWW-Authenticate`;
 * a verified token whose issuer or audience is not accepted → 403. A token without `exp`
 * would never expire, so it is refused (401) unless the route sets `allowMissingExp`.
 */
import type { IncomingMessage } from "node:http";
import {
  createRemoteJWKSet,
  type CryptoKey,
  decodeProtectedHeader,
  type FlattenedJWSInput,
  type JWSHeaderParameters,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyResult,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
} from "jose";
import type { CompiledJwt, VerificationKey } from "../../routing/auth-contract.js";
import { findToken } from "./tokens.js";
import type { AuthRefusal, AuthVerdict } from "./verdict.js";

export interface RemoteKeySetOptions {
  /** Minimum time between two fetches caused by unknown `kid`s (rate limit). Default 30 s. */
  readonly cooldownMs?: number;
  /** A fetched key set is used for this long before it is fetched again. Default 10 min. */
  readonly cacheMaxAgeMs?: number;
  /** Fetch timeout. Default 5 s. */
  readonly timeoutMs?: number;
}

type RemoteKeySet = ReturnType<typeof createRemoteJWKSet>;

/** The key of a token's header, from a key set (jose's resolver shape: it throws jose's codes). */
export type KeyResolver = (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey>;

/**
 * Where `jwksUri` key sets come from: fetched by this thread ({@link RemoteKeySets}), or
 * asked of the main thread by a data-plane worker (shared-key-sets.ts).
 */
export interface KeySetSource {
  get(uri: string): KeyResolver;
}

/** The key set could not be fetched or read: the request is refused with 503, never let through. */
class KeySetUnavailable extends Error {}

/**
 * Remote JWKS documents by URI, shared by every route that names the same URI:
 * cached, fetched again on an unknown `kid` at most once per cooldown.
 */
export class RemoteKeySets implements KeySetSource {
  readonly #sets = new Map<string, RemoteKeySet>();
  readonly #options: RemoteKeySetOptions;

  constructor(options: RemoteKeySetOptions = {}) {
    this.#options = options;
  }

  get(uri: string): RemoteKeySet {
    let set = this.#sets.get(uri);
    if (!set) {
      set = createRemoteJWKSet(new URL(uri), {
        cooldownDuration: this.#options.cooldownMs ?? 30_000,
        cacheMaxAge: this.#options.cacheMaxAgeMs ?? 600_000,
        timeoutDuration: this.#options.timeoutMs ?? 5_000,
      });
      this.#sets.set(uri, set);
    }
    return set;
  }
}

export interface JwtVerifierOptions {
  readonly remote: KeySetSource;
  /** Tolerance for `exp` and `nbf`, in seconds. */
  readonly clockSkewSeconds: number;
}

const REALM = 'Bearer realm="wsgate"';

function unauthorized(message: string, description?: string): AuthRefusal {
  return {
    status: 401,
    reason: "unauthorized",
    message,
    headers: {
      "WWW-Authenticate": description
        ? `${REALM}, error="invalid_token", error_description="${description}"`
        : REALM,
    },
  };
}

function forbidden(message: string): AuthRefusal {
  return {
    status: 403,
    reason: "forbidden",
    message,
    headers: { "WWW-Authenticate": `${REALM}, error="insufficient_scope", error_description="${message}"` },
  };
}

function unavailable(message: string): AuthRefusal {
  return { status: 503, reason: "auth_unavailable", message, headers: { "Retry-After": "5" } };
}

/** jose's verdicts, as the client should hear them. Messages never include the token. */
function refusalFor(err: unknown): AuthRefusal {
  if (err instanceof KeySetUnavailable) return unavailable(err.message);
  const code = (err as { code?: string }).code;
  const claim = (err as { claim?: string }).claim;
  switch (code) {
    case "ERR_JWT_EXPIRED":
      return unauthorized("token expired", "token expired");
    case "ERR_JWT_CLAIM_VALIDATION_FAILED":
      if (claim === "iss") return forbidden("token issuer not accepted");
      if (claim === "aud") return forbidden("token audience not accepted");
      if (claim === "nbf") return unauthorized("token not yet valid", "token not yet valid");
      if (claim === "exp" && (err as { reason?: string }).reason === "missing") {
        return unauthorized("token has no exp", "token has no expiry");
      }
      return unauthorized(`token claim ${claim ?? ""} invalid`.trim(), "token claims invalid");
    case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
      return unauthorized("token signature invalid", "signature invalid");
    case "ERR_JWKS_NO_MATCHING_KEY":
      return unauthorized("no key for the token's kid and alg", "unknown key");
    case "ERR_JOSE_ALG_NOT_ALLOWED":
    case "ERR_JOSE_NOT_SUPPORTED":
      return unauthorized("token algorithm not allowed", "algorithm not allowed");
    default:
      return unauthorized("token malformed", "token malformed");
  }
}

/** Keys of the route's Secret that may have signed a token with this header. */
function candidates(keys: readonly VerificationKey[], alg: string, kid: unknown): VerificationKey[] {
  return keys.filter(
    (k) => k.algorithms.includes(alg) && (kid === undefined || k.kid === undefined || k.kid === kid),
  );
}

async function verifyWithSecretKeys(
  token: string,
  keys: readonly VerificationKey[],
  options: JWTVerifyOptions,
): Promise<JWTVerifyResult> {
  const header = decodeProtectedHeader(token);
  const alg = header.alg;
  if (typeof alg !== "string" || !options.algorithms?.includes(alg)) {
    throw Object.assign(new Error("alg not allowed"), { code: "ERR_JOSE_ALG_NOT_ALLOWED" });
  }
  const found = candidates(keys, alg, header.kid);
  if (found.length === 0) throw Object.assign(new Error("no key"), { code: "ERR_JWKS_NO_MATCHING_KEY" });
  // Without a kid several keys may fit (a rotation overlap): the one whose signature verifies wins.
  let lastError: unknown;
  for (const candidate of found) {
    try {
      return await jwtVerify(token, candidate.key, options);
    } catch (err) {
      if ((err as { code?: string }).code !== "ERR_JWS_SIGNATURE_VERIFICATION_FAILED") throw err;
      lastError = err;
    }
  }
  throw lastError;
}

async function verifyWithRemoteKeys(
  token: string,
  set: KeyResolver,
  options: JWTVerifyOptions,
): Promise<JWTVerifyResult> {
  const keys: JWTVerifyGetKey = async (header, jws) => {
    try {
      return await set(header, jws);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (
        code === "ERR_JWKS_NO_MATCHING_KEY" ||
        code === "ERR_JWKS_MULTIPLE_MATCHING_KEYS" ||
        code === "ERR_JOSE_NOT_SUPPORTED"
      ) {
        throw err;
      }
      throw new KeySetUnavailable("the key set (jwksUri) could not be fetched or read", { cause: err });
    }
  };
  try {
    return await jwtVerify(token, keys, options);
  } catch (err) {
    if ((err as { code?: string }).code !== "ERR_JWKS_MULTIPLE_MATCHING_KEYS") throw err;
    // No kid and several keys of the right type: try each.
    let lastError: unknown = err;
    for await (const key of err as AsyncIterable<CryptoKey>) {
      try {
        return await jwtVerify(token, key, options);
      } catch (inner) {
        if ((inner as { code?: string }).code !== "ERR_JWS_SIGNATURE_VERIFICATION_FAILED") throw inner;
        lastError = inner;
      }
    }
    throw lastError;
  }
}

/** A claim by name, or by a dotted path into nested objects (`realm_access.roles`). */
function claimValue(payload: JWTPayload, claim: string): unknown {
  if (claim in payload) return payload[claim];
  let value: unknown = payload;
  for (const part of claim.split(".")) {
    if (typeof value !== "object" || value === null) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** A claim as a header value: strings as they are, arrays joined with commas, objects as JSON. */
function headerValue(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  const text =
    typeof value === "string"
      ? value
      : Array.isArray(value) && value.every((v) => typeof v !== "object" || v === null)
        ? value.join(",")
        : typeof value === "object"
          ? JSON.stringify(value)
          : String(value);
  // Header values are bytes: UTF-8 goes out as its bytes (Node writes header strings as latin1).
  return Buffer.from(text, "utf8").toString("latin1");
}

/** Control characters (other than tab) would split or corrupt the header: such a claim is refused, not mangled. */
function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return true;
  }
  return false;
}

export async function verifyJwt(
  req: IncomingMessage,
  config: CompiledJwt,
  options: JwtVerifierOptions,
): Promise<AuthVerdict> {
  const found = findToken(req, config.tokenFrom);
  if (!found) return { ok: false, ...unauthorized("no token") };
  if (found.token === "") return { ok: false, ...unauthorized("empty token", "token malformed") };
  const verifyOptions: JWTVerifyOptions = {
    algorithms: [...config.algorithms],
    clockTolerance: options.clockSkewSeconds,
    ...(config.allowMissingExp ? {} : { requiredClaims: ["exp"] }),
    ...(config.issuer === undefined ? {} : { issuer: config.issuer }),
    ...(config.audiences.length > 0 ? { audience: [...config.audiences] } : {}),
  };
  let payload: JWTPayload;
  try {
    const result =
      config.keys.source === "secret"
        ? await verifyWithSecretKeys(found.token, config.keys.keys, verifyOptions)
        : await verifyWithRemoteKeys(found.token, options.remote.get(config.keys.uri), verifyOptions);
    payload = result.payload;
  } catch (err) {
    return { ok: false, ...refusalFor(err) };
  }

  const set: [string, string][] = [];
  for (const [claim, header] of config.claimsToHeaders) {
    const value = headerValue(claimValue(payload, claim));
    if (value === undefined) continue;
    if (hasControlCharacter(value)) {
      return { ok: false, ...forbidden(`claim ${claim} cannot be sent as a header`) };
    }
    set.push([header, value]);
  }
  const exp = payload.exp;
  return {
    ok: true,
    grant: {
      remove: new Set(config.claimsToHeaders.map(([, header]) => header.toLowerCase())),
      set,
      stripBearerProtocol: config.tokenFrom.some((s) => s.type === "subprotocol"),
      ...(config.closeOnExpiry && typeof exp === "number"
        ? { expiresAt: (exp + options.clockSkewSeconds) * 1000 }
        : {}),
    },
  };
}
