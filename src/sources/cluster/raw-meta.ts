/**
 * The metadata of an object as the API server sends it, read before the object is parsed:
 * its store key must be known even when it does not parse (to forget an old copy).
 */
import type { KubernetesObject } from "@kubernetes/client-node";

/** The `metadata` fields the cluster source reads. */
export interface RawMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
}

/** The store address of `object` (cluster-scoped kinds under `default`, as the store keeps them) and its raw metadata. */
export function metaOf(object: KubernetesObject): { namespace: string; name: string; raw: RawMeta } {
  const raw = (object.metadata ?? {}) as RawMeta;
  return { namespace: raw.namespace ?? "default", name: raw.name ?? "", raw };
}
