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
import { createHash, createHmac, randomBytes } from "node:crypto";
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

/** Int32 slots before the key bytes: a sequence number, odd while a key is being written. */
const KEY_OFFSET = 4;
/** The HMAC key kept: SHA-256 of the key material, whatever its length. */
const KEY_LENGTH = 32;

/**
 * The affinity key and the tokens it gives. The key lives in shared memory, so data-plane
 * worker threads (`--workers`) sign and read with the main thread's key — also one read
 * from a Secret after they started: {@link AffinityKey.replace} is seen by every thread.
 */
export class AffinityKey {
  /** Give this to another thread, which builds `new AffinityKey(memory)` over it. */
  readonly memory: SharedArrayBuffer;
  readonly #sequence: Int32Array;
  readonly #bytes: Uint8Array;
  /** The sequence number of {@link #key}; -1 before the first read. */
  #seen = -1;
  #key: Buffer = Buffer.alloc(0);
  /** Endpoint id → token, and back, under {@link #key}. */
  readonly #tokens = new Map<string, string>();
  readonly #endpoints = new Map<string, string>();

  /**
   * A key from `source`: key material (at least {@link MIN_AFFINITY_KEY_BYTES} bytes), or
   * the {@link AffinityKey.memory} of a key held by another thread.
   * @throws Error when the material is too short.
   */
  constructor(source: Uint8Array | SharedArrayBuffer) {
    const shared = source instanceof SharedArrayBuffer;
    this.memory = shared ? source : new SharedArrayBuffer(KEY_OFFSET + KEY_LENGTH);
    this.#sequence = new Int32Array(this.memory, 0, 1);
    this.#bytes = new Uint8Array(this.memory, KEY_OFFSET, KEY_LENGTH);
    if (!shared) this.replace(source);
  }

  /** A fresh random key: fine for one process, but replicas (and restarts) then disagree. */
  static generate(): AffinityKey {
    return new AffinityKey(randomBytes(AFFINITY_KEY_BYTES));
  }

  /** Replaces the key for every thread: cookies issued under the old one get a fresh pick. */
  replace(material: Uint8Array): void {
    const key = derived(material);
    // A seqlock: readers retry while the number is odd or changed under them.
    Atomics.add(this.#sequence, 0, 1);
    this.#bytes.set(key);
    Atomics.add(this.#sequence, 0, 1);
  }

  /** The cookie value that pins a session to `endpointId`. */
  tokenFor(endpointId: string): string {
    this.#refresh();
    let token = this.#tokens.get(endpointId);
    if (token === undefined) {
      if (this.#tokens.size >= MAX_CACHED) this.#forget();
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

  /** Reads the key again when another thread replaced it. */
  #refresh(): void {
    for (;;) {
      const before = Atomics.load(this.#sequence, 0);
      if (before === this.#seen) return;
      if (before % 2 === 1) continue; // being written
      const key = Buffer.from(this.#bytes);
      if (Atomics.load(this.#sequence, 0) !== before) continue;
      this.#key = key;
      this.#seen = before;
      this.#forget();
      return;
    }
  }

  #forget(): void {
    this.#tokens.clear();
    this.#endpoints.clear();
  }
}

function derived(material: Uint8Array): Buffer {
  if (material.length < MIN_AFFINITY_KEY_BYTES) {
    throw new Error(`an affinity key needs at least ${MIN_AFFINITY_KEY_BYTES} bytes, got ${material.length}`);
  }
  return createHash("sha256").update(CONTEXT).update(material).digest();
}
