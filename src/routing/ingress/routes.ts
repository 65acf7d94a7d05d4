/**
 * The Ingresses of a snapshot that wsgate serves, translated into routes compile()
 * handles like any other (one table, older claim wins across kinds), and what the
 * Ingress owner must hear about them. Ingress has no conditions: what is not served as
 * written becomes a Kubernetes Event on the Ingress (written by the leader).
 */
import { ConditionType } from "../../api/conditions.js";
import type { Service } from "../../api/objects.js";
import type { Snapshot } from "../store.js";
import type { RouteDiagnostics } from "../table.js";
import type { TranslatedRoute } from "../translated.js";
import { IngressClassFilter, type IngressClassOptions } from "./classes.js";
import { translateIngress, type IngressNotice } from "./translate.js";

/** The kind named in a translated route's origin and its name prefix (`ingress/<name>`). */
export const INGRESS_ORIGIN_KIND = "Ingress";

interface ServedIngress {
  readonly namespace: string;
  readonly name: string;
  readonly generation?: number;
  readonly notices: readonly IngressNotice[];
  /** `namespace/name` of its translated routes. */
  readonly routeKeys: readonly string[];
}

export interface IngressTranslationResult {
  readonly routes: readonly TranslatedRoute[];
  readonly ingresses: readonly ServedIngress[];
}

/** What an Ingress wsgate serves should tell its owner. */
export interface IngressDiagnostics {
  readonly namespace: string;
  readonly name: string;
  readonly generation?: number;
  /** At least one of its routes is in the table. */
  readonly served: boolean;
  /** Each thing not served as written: an Event (type Warning) with this reason and message. */
  readonly notices: readonly { readonly reason: string; readonly message: string }[];
}

/** Translates every Ingress of the snapshot that is of a class wsgate serves. */
export function translateIngresses(
  snapshot: Snapshot,
  options: IngressClassOptions,
): IngressTranslationResult {
  const filter = new IngressClassFilter(snapshot.ingressClasses ?? [], options);
  const services = new Map<string, Service>();
  // Indexed only when there are Ingresses: compile() runs for every change, mostly without any.
  if ((snapshot.ingresses ?? []).length > 0)
    for (const s of snapshot.services) services.set(`${s.metadata.namespace}/${s.metadata.name}`, s);
  const routes: TranslatedRoute[] = [];
  const ingresses: ServedIngress[] = [];
  // Sorted here, not trusted from the snapshot: the result must not depend on its order.
  const sorted = [...(snapshot.ingresses ?? [])].sort((a, b) => {
    const ka = `${a.metadata.namespace}/${a.metadata.name}`;
    const kb = `${b.metadata.namespace}/${b.metadata.name}`;
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
  for (const ingress of sorted) {
    if (!filter.serves(ingress)) continue;
    const { namespace, name, generation } = ingress.metadata;
    const translation = translateIngress(ingress, (ns, n) => services.get(`${ns}/${n}`));
    const origin = { kind: INGRESS_ORIGIN_KIND, namespace, name };
    const routeKeys: string[] = [];
    for (const route of translation.routes) {
      // No Kubernetes name holds a slash: never the name of a WebSocketRoute.
      const internal = `ingress/${route.metadata.name}`;
      routeKeys.push(`${namespace}/${internal}`);
      routes.push({ ...route, metadata: { ...route.metadata, name: internal }, origin });
    }
    ingresses.push({
      namespace,
      name,
      ...(generation === undefined ? {} : { generation }),
      notices: translation.notices,
      routeKeys,
    });
  }
  return { routes, ingresses };
}

/** Joins the translation's notices with compile()'s verdict on each translated route. */
export function ingressDiagnostics(
  translation: IngressTranslationResult,
  diagnostics: readonly RouteDiagnostics[],
): IngressDiagnostics[] {
  // No Ingress served: no key of 10,000 routes' diagnostics to build.
  if (translation.ingresses.length === 0) return [];
  const byKey = new Map(diagnostics.map((d) => [`${d.namespace}/${d.name}`, d]));
  return translation.ingresses.map((ingress) => {
    const notices: { reason: string; message: string }[] = ingress.notices.map(({ reason, message }) => ({
      reason,
      message,
    }));
    let served = false;
    for (const key of ingress.routeKeys) {
      const d = byKey.get(key);
      if (!d) continue;
      const accepted = d.conditions.find((c) => c.type === ConditionType.Accepted);
      if (accepted?.status === "True") served = true;
      const host = d.name.slice(d.name.indexOf("/") + 1);
      for (const c of d.conditions) {
        // Pending only repeats another condition's cause; no ready endpoint is routine churn.
        if (c.status === "True" || c.reason === "Pending" || c.reason === "NoReadyEndpoints") continue;
        notices.push({ reason: c.reason, message: `${host}: ${c.message}` });
      }
    }
    return {
      namespace: ingress.namespace,
      name: ingress.name,
      ...(ingress.generation === undefined ? {} : { generation: ingress.generation }),
      served,
      notices,
    };
  });
}
