/**
 * The object store: every Kubernetes object wsgate reads, by kind and
 * `namespace/name`. Sources (cluster informers or a manifest directory) write it;
 * the compiler reads immutable snapshots of it.
 */
import { objectKey } from "../api/meta.js";
import type {
  BackendTLSPolicy,
  Gateway,
  GatewayClass,
  HTTPRoute,
  Namespace,
  ReferenceGrant,
} from "../api/gateway-api.js";
import type { Ingress, IngressClass } from "../api/ingress.js";
import type { WebSocketPolicy } from "../api/websocket-policy.js";
import type { ConfigMap, EndpointSlice, Secret, Service } from "../api/objects.js";
import { KINDS, type Kind, type KubeObject } from "../api/parse.js";
import type { WebSocketRoute } from "../api/route.js";

/**
 * A route whose document failed validation. It is kept so that the route can be
 * reported (`Accepted=False, reason=Invalid`) instead of silently vanishing.
 */
export interface InvalidRoute {
  kind: "WebSocketRoute";
  invalid: true;
  metadata: { namespace: string; name: string; generation?: number; creationTimestamp?: string };
  errors: string[];
}

export type StoredObject = KubeObject | InvalidRoute;

/** A consistent, immutable view of the store, each list sorted by `namespace/name`. */
export interface Snapshot {
  readonly routes: readonly (WebSocketRoute | InvalidRoute)[];
  readonly services: readonly Service[];
  readonly endpointSlices: readonly EndpointSlice[];
  readonly secrets: readonly Secret[];
  /** ConfigMaps holding backend CA bundles (absent means none). */
  readonly configMaps?: readonly ConfigMap[];
  /** Gateway API (none until its CRDs are installed and watched; absent means none). */
  readonly gatewayClasses?: readonly GatewayClass[];
  readonly gateways?: readonly Gateway[];
  readonly httpRoutes?: readonly HTTPRoute[];
  readonly referenceGrants?: readonly ReferenceGrant[];
  readonly backendTLSPolicies?: readonly BackendTLSPolicy[];
  /** Namespaces (their labels): for Gateway listeners' `allowedRoutes` selectors. */
  readonly namespaces?: readonly Namespace[];
  /** networking.k8s.io/v1 (absent means none): translated into routes by compile(). */
  readonly ingresses?: readonly Ingress[];
  readonly ingressClasses?: readonly IngressClass[];
  /** WebSocketPolicies (GEP-713 attachment to HTTPRoutes, Gateways, Services); absent means none. */
  readonly webSocketPolicies?: readonly WebSocketPolicy[];
}

export function isInvalidRoute(route: WebSocketRoute | InvalidRoute): route is InvalidRoute {
  return "invalid" in route;
}

/**
 * Hears of a change of `kind`: of the object `key` (`namespace/name`) when one object
 * changed, of the whole kind when `key` is absent.
 */
type Listener = (kind: Kind, key?: string) => void;

export class ObjectStore {
  readonly #objects = new Map<Kind, Map<string, StoredObject>>();
  readonly #listeners = new Set<Listener>();

  /** Inserts or replaces an object; listeners hear of it. */
  upsert(object: StoredObject): void {
    const key = objectKey(object.metadata as { namespace: string; name: string });
    this.#bucket(object.kind).set(key, object);
    this.#notify(object.kind, key);
  }

  /** Removes an object if present; listeners hear of it only when something was removed. */
  remove(kind: Kind, namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    if (this.#bucket(kind).delete(key)) this.#notify(kind, key);
  }

  /** Replaces the whole content (a manifest directory reload); notifies once per kind. */
  replaceAll(objects: readonly StoredObject[]): void {
    this.#objects.clear();
    for (const object of objects) {
      this.#bucket(object.kind).set(
        objectKey(object.metadata as { namespace: string; name: string }),
        object,
      );
    }
    for (const kind of KINDS) this.#notify(kind);
  }

  get(kind: Kind, namespace: string, name: string): StoredObject | undefined {
    return this.#objects.get(kind)?.get(`${namespace}/${name}`);
  }

  /** Subscribes to changes; returns the unsubscribe function. */
  onChange(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  snapshot(): Snapshot {
    return Object.freeze({
      routes: this.#sorted("WebSocketRoute") as (WebSocketRoute | InvalidRoute)[],
      services: this.#sorted("Service") as Service[],
      endpointSlices: this.#sorted("EndpointSlice") as EndpointSlice[],
      secrets: this.#sorted("Secret") as Secret[],
      configMaps: this.#sorted("ConfigMap") as ConfigMap[],
      gatewayClasses: this.#sorted("GatewayClass") as GatewayClass[],
      gateways: this.#sorted("Gateway") as Gateway[],
      httpRoutes: this.#sorted("HTTPRoute") as HTTPRoute[],
      referenceGrants: this.#sorted("ReferenceGrant") as ReferenceGrant[],
      backendTLSPolicies: this.#sorted("BackendTLSPolicy") as BackendTLSPolicy[],
      namespaces: this.#sorted("Namespace") as Namespace[],
      ingresses: this.#sorted("Ingress") as Ingress[],
      ingressClasses: this.#sorted("IngressClass") as IngressClass[],
      webSocketPolicies: this.#sorted("WebSocketPolicy") as WebSocketPolicy[],
    });
  }

  #bucket(kind: Kind): Map<string, StoredObject> {
    let bucket = this.#objects.get(kind);
    if (!bucket) this.#objects.set(kind, (bucket = new Map()));
    return bucket;
  }

  #sorted(kind: Kind): StoredObject[] {
    const bucket = this.#objects.get(kind);
    if (!bucket) return [];
    return [...bucket.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, o]) => o);
  }

  #notify(kind: Kind, key?: string): void {
    for (const listener of this.#listeners) listener(kind, key);
  }
}
