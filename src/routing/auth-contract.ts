/**
 * The table's auth contract: `spec.auth` as the data plane consumes it. Only types and
 * the algorithm allow-lists live here, so the data plane can import them without
 * pulling in key parsing or compile-time resolution (see `keys.ts` and `auth.ts`).
 */
import type { KeyObject } from "node:crypto";

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

/** How the key Secret's value was read: a JWKS (or one JWK), PEM blocks, or a raw HMAC secret. */
export type KeyFormat = "jwks" | "pem" | "hmac";

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
  /**
   * Tokens without `exp` are admitted (`spec.auth.jwt.allowMissingExp`). Off by default:
   * such a token never expires, and closeOnExpiry has nothing to act on.
   */
  readonly allowMissingExp: boolean;
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
