/**
 * The API collections the cluster source watches from the start — kinds every supported
 * cluster serves (wsgate's own CRD included) — and how a collection becomes one watched
 * resource per namespace. The Gateway API kinds, watched only once discovery shows their
 * CRDs, are in `optional-collections.ts`.
 */
import type { Kind } from "../../api/parse.js";
import { ROUTE_API_VERSION, ROUTE_GROUP, ROUTE_VERSION } from "../../api/route.js";
import type { WatchedResource } from "./informer.js";

export const TLS_SECRET_FIELD_SELECTOR = "type=kubernetes.io/tls";
export const OPAQUE_SECRET_FIELD_SELECTOR = "type=Opaque";

/** One kind's collection, before it is scoped to the watched namespaces. */
export interface Collection {
  readonly kind: Kind;
  readonly apiVersion: string;
  /** Path prefix before the optional `/namespaces/NS` part. */
  readonly prefix: string;
  readonly plural: string;
  readonly fieldSelector?: string;
  /** Listed across the cluster whatever namespaces are watched (IngressClass). */
  readonly clusterScoped?: boolean;
}

/** networking.k8s.io/v1 is served by every supported cluster: no discovery needed. */
const INGRESS_COLLECTIONS: readonly Collection[] = [
  {
    kind: "Ingress",
    apiVersion: "networking.k8s.io/v1",
    prefix: "/apis/networking.k8s.io/v1",
    plural: "ingresses",
  },
  {
    kind: "IngressClass",
    apiVersion: "networking.k8s.io/v1",
    prefix: "/apis/networking.k8s.io/v1",
    plural: "ingressclasses",
    clusterScoped: true,
  },
];

const COLLECTIONS: readonly Collection[] = [
  {
    kind: "WebSocketRoute",
    apiVersion: ROUTE_API_VERSION,
    prefix: `/apis/${ROUTE_GROUP}/${ROUTE_VERSION}`,
    plural: "websocketroutes",
  },
  { kind: "Service", apiVersion: "v1", prefix: "/api/v1", plural: "services" },
  {
    kind: "EndpointSlice",
    apiVersion: "discovery.k8s.io/v1",
    prefix: "/apis/discovery.k8s.io/v1",
    plural: "endpointslices",
  },
  {
    kind: "Secret",
    apiVersion: "v1",
    prefix: "/api/v1",
    plural: "secrets",
    fieldSelector: TLS_SECRET_FIELD_SELECTOR,
  },
  {
    // JWT key Secrets (spec.auth.jwt.keys.secretRef) are plain Opaque Secrets. Both
    // informers keep only Secrets some route names; the others wait outside the store.
    kind: "Secret",
    apiVersion: "v1",
    prefix: "/api/v1",
    plural: "secrets",
    fieldSelector: OPAQUE_SECRET_FIELD_SELECTOR,
  },
  // Backend CA bundles (backendTLS, BackendTLSPolicy): only the ConfigMaps something names
  // are stored; the others wait outside the store, as unnamed Secrets do.
  { kind: "ConfigMap", apiVersion: "v1", prefix: "/api/v1", plural: "configmaps" },
];

/**
 * The resources (one informer each) that watch `collection` in `namespaces` (empty: all):
 * one per namespace, sorted and without repeats, or one across the cluster for a
 * cluster-scoped kind or when every namespace is watched.
 */
export function scopedResources(collection: Collection, namespaces: readonly string[]): WatchedResource[] {
  const scopes = collection.clusterScoped || namespaces.length === 0 ? [""] : [...new Set(namespaces)].sort();
  return scopes.map((namespace) => ({
    kind: collection.kind,
    apiVersion: collection.apiVersion,
    path: namespace
      ? `${collection.prefix}/namespaces/${namespace}/${collection.plural}`
      : `${collection.prefix}/${collection.plural}`,
    namespace,
    ...(collection.fieldSelector ? { fieldSelector: collection.fieldSelector } : {}),
  }));
}

/**
 * The collections a source with these namespaces watches from the start, one informer
 * each; Ingress and IngressClass unless `ingress` is false (`--disable-ingress`).
 */
export function watchedResources(
  namespaces: readonly string[],
  { ingress = true }: { ingress?: boolean } = {},
): WatchedResource[] {
  return [...COLLECTIONS, ...(ingress ? INGRESS_COLLECTIONS : [])].flatMap((c) =>
    scopedResources(c, namespaces),
  );
}
