/**
 * What the cluster source makes of a WebSocketRoute event before it reaches the store:
 * whether the route is ours (its ingress class), whether its spec changed at all, and the
 * object to store — the parsed route without status, or an invalid route carrying its
 * errors so that compile() reports them in its status.
 */
import type { KubernetesObject } from "@kubernetes/client-node";
import { parseObject } from "../../api/parse.js";
import type { WebSocketRoute } from "../../api/route.js";
import type { InvalidRoute } from "../../routing/store.js";
import type { InformerLog } from "./informer.js";
import type { RawMeta } from "./raw-meta.js";

/** True when the route names an ingress class other than `ingressClass` (unset means ours). */
export function ofAnotherClass(object: KubernetesObject, ingressClass: string): boolean {
  const named = (object as { spec?: { ingressClassName?: unknown } }).spec?.ingressClassName;
  return typeof named === "string" && named !== ingressClass;
}

/**
 * True when `stored` was compiled from the spec the event carries: same generation and
 * uid, so the event is a status write or a metadata change (the API server bumps
 * `generation` on spec changes only; a recreated route has a new uid).
 */
export function sameSpec(stored: WebSocketRoute | InvalidRoute | undefined, raw: RawMeta): boolean {
  return (
    stored !== undefined &&
    raw.generation !== undefined &&
    stored.metadata.generation === raw.generation &&
    (stored as { metadata: { uid?: string } }).metadata.uid === raw.uid
  );
}

/** The route to store for `object`: parsed and spec-only, or invalid with its errors (logged). */
export function routeToStore(
  object: KubernetesObject,
  raw: RawMeta,
  namespace: string,
  name: string,
  log: InformerLog,
): WebSocketRoute | InvalidRoute {
  const result = parseObject(object);
  if (result.outcome === "ok") {
    // Status is ours to write and not an input of compile(); keep the stored copy spec-only.
    const { status: _status, ...route } = result.object as WebSocketRoute;
    return route as WebSocketRoute;
  }
  const errors = result.outcome === "invalid" ? result.errors : [result.reason];
  log.warn({ route: `${namespace}/${name}`, errors }, "route is invalid");
  return {
    kind: "WebSocketRoute",
    invalid: true,
    metadata: {
      namespace,
      name,
      ...(raw.generation === undefined ? {} : { generation: raw.generation }),
      ...(raw.creationTimestamp === undefined ? {} : { creationTimestamp: raw.creationTimestamp }),
      ...(raw.uid === undefined ? {} : { uid: raw.uid }),
    },
    errors,
  } as InvalidRoute;
}
