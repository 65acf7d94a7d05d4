/**
 * The value of the affinity cookie: an opaque, integrity-protected reference to an
 * endpoint. It is `base64url(HMAC-SHA256(key, endpoint id))` cut to 18 bytes — no address
 * in clear, nothing a client can forge for an endpoint of its choice without the key, and
 * no state: any worker or replica holding the same key reads any other's cookie.
 *
 * A cookie is resolved by comparing it with the tokens of the endpoints that could take
 * the request (a map lookup, tokens cached per endpoint), so a token names an endpoint
 * only while that endpoint is a candidate; otherwise the request gets a fresh pick.
 */
import { createHmac, randomBytes } from "node:crypto";
import type { Endpoint } from "../../routing/table.js";

/** Bytes of a generated key (HMAC-SHA256's block-size-friendly 256 bits). */
export const AFFINITY_KEY_BYTES = 32;
/** Fewer bytes than this is no key (a file holding a typo, an empty Secret). */
export const MIN_AFFINITY_KEY_BYTES = 16;
/** Bytes of HMAC kept in a token: 144 bits, 24 base64url characters. */
const TOKEN_BYTES = 18;
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{24}$/;
/** Tokens remembered before the caches start over (endpoint churn must not grow them forever). */
const MAX_CACHED = 65_536;
/** Domain separation: this key signs nothing else. */
const CONTEXT = "wsgate-affinity/v1\0";

/** True when `value` has the shape of a token (anything else is not worth an HMAC). */
export function isTokenShaped(value: string): boolean {
  return TOKEN_PATTERN.test(value);
}

/** The affinity key and the tokens it gives; the key may be replaced (a Secret read later). */
export class AffinityKey {
  #key: Buffer;
  /** Endpoint id → token, and back. */
  readonly #tokens = new Map<string, string>();
  readonly #endpoints = new Map<string, string>();

  /** @throws Error when `key` is shorter than {@link MIN_AFFINITY_KEY_BYTES}. */
  constructor(key: Uint8Array) {
    this.#key = checked(key);
  }

  /** A fresh random key: fine for one process, but replicas (and restarts) then disagree. */
  static generate(): AffinityKey {
    return new AffinityKey(randomBytes(AFFINITY_KEY_BYTES));
  }

  /** Replaces the key: cookies issued under the old one get a fresh pick from now on. */
  replace(key: Uint8Array): void {
    this.#key = checked(key);
    this.#tokens.clear();
    this.#endpoints.clear();
  }

  /** The cookie value that pins a session to `endpointId`. */
  tokenFor(endpointId: string): string {
    let token = this.#tokens.get(endpointId);
    if (token === undefined) {
      if (this.#tokens.size >= MAX_CACHED) {
        this.#tokens.clear();
        this.#endpoints.clear();
      }
      token = createHmac("sha256", this.#key)
        .update(CONTEXT)
        .update(endpointId)
        .digest()
        .subarray(0, TOKEN_BYTES)
        .toString("base64url");
      this.#tokens.set(endpointId, token);
      this.#endpoints.set(token, endpointId);
    }
    return token;
  }

  /** The candidate `token` refers to, or undefined (unknown, forged, or its endpoint cannot take the request). */
  endpointAmong(token: string, candidates: readonly Endpoint[]): Endpoint | undefined {
    if (!isTokenShaped(token)) return undefined;
    // Every candidate's token is computed (once, then cached), so the lookup below is a map
    // read: no byte-by-byte comparison of a guess with a real token.
    for (const endpoint of candidates) this.tokenFor(endpoint.id);
    const id = this.#endpoints.get(token);
    return id === undefined ? undefined : candidates.find((e) => e.id === id);
  }
}

function checked(key: Uint8Array): Buffer {
  if (key.length < MIN_AFFINITY_KEY_BYTES) {
    throw new Error(`an affinity key needs at least ${MIN_AFFINITY_KEY_BYTES} bytes, got ${key.length}`);
  }
  return Buffer.from(key);
}
