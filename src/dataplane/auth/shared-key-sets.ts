/**
 * `jwksUri` key sets with `--workers`: one fetch per process, not one per thread. The main
 * thread fetches, caches and rate-limits each key set ({@link KeySetBroker}, jose's remote
 * set with the usual cache age and cooldown); each data-plane worker verifies tokens with a
 * local copy ({@link SharedKeySets}) and asks the main thread again when the copy is
 * older than the cache age or lacks a token's key. What the issuer sees is what one
 * single-threaded gateway would cause, however many workers serve the handshakes.
 */
import { createLocalJWKSet, type JSONWebKeySet } from "jose";
import { RemoteKeySets, type KeyResolver, type KeySetSource, type RemoteKeySetOptions } from "./jwt.js";

/** A worker's question about the key set at `uri`. */
export interface KeySetRequest {
  readonly uri: string;
  /** The worker's copy has no key for a token: refetch, unless the cooldown holds. */
  readonly unknownKid: boolean;
  /** When the main thread had fetched the worker's copy ({@link KeySetAnswer} `loadedAt`). */
  readonly copyLoadedAt?: number;
}

/** The key set as the main thread has it, or why it has none (the handshake fails closed). */
export type KeySetAnswer =
  { readonly jwks: JSONWebKeySet; readonly loadedAt: number } | { readonly error: string };

/** Main thread: answers the workers' key set requests from one cache per process. */
export class KeySetBroker {
  readonly #remote: RemoteKeySets;
  /** When each key set was last fetched (every fetch is one of ours: workers never fetch). */
  readonly #loadedAt = new Map<string, number>();

  constructor(options: RemoteKeySetOptions = {}) {
    this.#remote = new RemoteKeySets(options);
  }

  /**
   * The key set for `request`, fetched first when missing or stale, or — for an unknown kid
   * — when the worker's copy is the newest there is and the cooldown has passed (another
   * worker's unknown kid may already have brought the key: then the copy is only renewed).
   */
  async answer(request: KeySetRequest): Promise<KeySetAnswer> {
    const { uri } = request;
    try {
      const set = this.#remote.get(uri);
      const loadedAt = this.#loadedAt.get(uri);
      const newerHere = loadedAt !== undefined && loadedAt > (request.copyLoadedAt ?? -1);
      const refetch = request.unknownKid && !newerHere && !set.coolingDown;
      // Concurrent reloads share one fetch (jose).
      if (set.jwks() === undefined || !set.fresh || refetch) {
        await set.reload();
        this.#loadedAt.set(uri, Date.now());
      }
      const jwks = set.jwks();
      return jwks
        ? { jwks, loadedAt: this.#loadedAt.get(uri) ?? 0 }
        : { error: "the key set was not fetched" };
    } catch (err) {
      return { error: (err as Error).message };
    }
  }
}

interface LocalCopy {
  readonly keys: KeyResolver;
  readonly receivedAt: number;
  readonly loadedAt: number;
}

/** Worker thread: key sets asked of the main thread's {@link KeySetBroker}, used locally. */
export class SharedKeySets implements KeySetSource {
  readonly #ask: (request: KeySetRequest) => Promise<KeySetAnswer>;
  readonly #maxAgeMs: number;
  readonly #copies = new Map<string, LocalCopy>();
  /** One question per key set in flight: a burst of handshakes waits for the same answer. */
  readonly #asking = new Map<string, Promise<LocalCopy>>();
  readonly #resolvers = new Map<string, KeyResolver>();

  /**
   * @param ask sends a request to the main thread and resolves with its answer.
   * @param maxAgeMs how long a copy is used before the main thread is asked again (its cache age).
   */
  constructor(ask: (request: KeySetRequest) => Promise<KeySetAnswer>, maxAgeMs = 600_000) {
    this.#ask = ask;
    this.#maxAgeMs = maxAgeMs;
  }

  get(uri: string): KeyResolver {
    let resolver = this.#resolvers.get(uri);
    if (!resolver) {
      resolver = (header, token) => this.#resolve(uri, header, token);
      this.#resolvers.set(uri, resolver);
    }
    return resolver;
  }

  async #resolve(uri: string, ...args: Parameters<KeyResolver>): Promise<Awaited<ReturnType<KeyResolver>>> {
    let copy = this.#copies.get(uri);
    if (!copy || Date.now() - copy.receivedAt > this.#maxAgeMs) copy = await this.#fetch(uri, false);
    try {
      return await copy.keys(...args);
    } catch (err) {
      if ((err as { code?: string }).code !== "ERR_JWKS_NO_MATCHING_KEY") throw err;
      // The issuer may have rotated: the main thread refetches if its cooldown allows.
      return (await this.#fetch(uri, true)).keys(...args);
    }
  }

  #fetch(uri: string, unknownKid: boolean): Promise<LocalCopy> {
    let asking = this.#asking.get(uri);
    if (!asking) {
      const held = this.#copies.get(uri);
      asking = this.#ask({ uri, unknownKid, ...(held ? { copyLoadedAt: held.loadedAt } : {}) })
        .then((answer) => {
          // Thrown without a jose code: verification reports the key set unavailable (503).
          if ("error" in answer) throw new Error(answer.error);
          const copy = {
            keys: createLocalJWKSet(answer.jwks),
            receivedAt: Date.now(),
            loadedAt: answer.loadedAt,
          };
          this.#copies.set(uri, copy);
          return copy;
        })
        .finally(() => this.#asking.delete(uri));
      this.#asking.set(uri, asking);
    }
    return asking;
  }
}
