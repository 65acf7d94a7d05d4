/**
 * Which Secrets the cluster source lets into the object store. The informers see every
 * TLS and Opaque Secret of the watched namespaces — most of them none of our business —
 * and each store write schedules a recompile. So a Secret is stored only while some
 * route names it (or it is pinned, like the default certificate): it is admitted when
 * the first route names it, evicted when the last one stops naming it (the route was
 * deleted, changed, became invalid or moved to another class), and while nobody names
 * it, its updates wait outside and cause no work. A second gate of kind ConfigMap keeps
 * the ConfigMaps named as backend CA bundles (backendTLS, BackendTLSPolicy) the same way.
 */
import { objectKey } from "../../api/meta.js";
import type { ConfigMap, Secret } from "../../api/objects.js";
import type { ObjectStore } from "../../routing/store.js";

/** Told of every Secret write the gate makes, to publish it like any other store write. */
export type SecretWritten = (namespace: string, name: string, change: "upsert" | "delete") => void;

/** What a gate keeps out of the store until something names it. */
type Gated = Secret | ConfigMap;

/** Compares Secrets without the fields that change on every write (a relist, a no-op apply). */
function fingerprint(secret: Gated): string {
  return JSON.stringify({ ...secret, metadata: { ...secret.metadata, resourceVersion: undefined } });
}

export class SecretGate {
  readonly #store: ObjectStore;
  readonly #pinned: ReadonlySet<string>;
  readonly #kind: Gated["kind"];
  /** Every Secret the informers delivered, stored or waiting outside. */
  readonly #seen = new Map<string, Gated>();
  /** Fingerprints of the Secrets in the store, to drop no-op updates. */
  readonly #stored = new Map<string, string>();
  /** Secret key → keys of the routes naming it. */
  readonly #namedBy = new Map<string, Set<string>>();

  constructor(store: ObjectStore, pinned: Iterable<string> = [], kind: Gated["kind"] = "Secret") {
    this.#store = store;
    this.#pinned = new Set(pinned);
    this.#kind = kind;
  }

  /** Whether the Secret `namespace/name` belongs in the store. */
  isReferenced(secretKey: string): boolean {
    return this.#pinned.has(secretKey) || (this.#namedBy.get(secretKey)?.size ?? 0) > 0;
  }

  /** `namespace/name` of the Secrets in the store, sorted (for tests and /debug/config). */
  stored(): string[] {
    return [...this.#stored.keys()].sort();
  }

  /** The informer delivered a Secret (added or changed): stored if referenced, else it waits. */
  upsert(secret: Gated, written: SecretWritten): void {
    const key = objectKey(secret.metadata);
    this.#seen.set(key, secret);
    if (this.isReferenced(key)) this.#write(key, written);
  }

  /** The Secret is gone from the API (deleted, or missing from a fresh list). */
  remove(secretKey: string, written: SecretWritten): void {
    this.#seen.delete(secretKey);
    this.#evict(secretKey, written);
  }

  /**
   * Route `routeKey` named `before` and now names `after` (either empty when the route
   * appears or goes): Secrets it newly names are admitted, and those no route names any
   * more are evicted.
   */
  routeChanged(
    routeKey: string,
    before: readonly string[],
    after: readonly string[],
    written: SecretWritten,
  ): void {
    for (const secretKey of after) {
      if (before.includes(secretKey)) continue;
      let routes = this.#namedBy.get(secretKey);
      if (!routes) this.#namedBy.set(secretKey, (routes = new Set()));
      routes.add(routeKey);
      this.#write(secretKey, written);
    }
    for (const secretKey of before) {
      if (after.includes(secretKey)) continue;
      const routes = this.#namedBy.get(secretKey);
      routes?.delete(routeKey);
      if (routes?.size === 0) this.#namedBy.delete(secretKey);
      if (!this.isReferenced(secretKey)) this.#evict(secretKey, written);
    }
  }

  /** Stores the seen copy of a referenced Secret, unless the store already has exactly it. */
  #write(secretKey: string, written: SecretWritten): void {
    const secret = this.#seen.get(secretKey);
    if (!secret) return; // named but not (yet) in the API: compile reports SecretNotFound
    const print = fingerprint(secret);
    if (this.#stored.get(secretKey) === print) return;
    this.#stored.set(secretKey, print);
    this.#store.upsert(secret);
    written(secret.metadata.namespace, secret.metadata.name, "upsert");
  }

  #evict(secretKey: string, written: SecretWritten): void {
    if (!this.#stored.delete(secretKey)) return;
    const [namespace, name] = secretKey.split("/") as [string, string];
    this.#store.remove(this.#kind, namespace, name);
    written(namespace, name, "delete");
  }
}
