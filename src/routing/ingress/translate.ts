/**
 * One Ingress → the WebSocketRoutes that serve it as ingress-nginx would, plus a notice
 * for everything not served as written. Pure: `compile()` runs it on every Ingress of
 * the snapshot (so Ingresses and WebSocketRoutes meet in one table under one conflict
 * rule) and `wsgate convert` runs it on files.
 *
 * Shape: one route per host (TLS is per host in an Ingress, per route in a
 * WebSocketRoute); a rule without a host becomes a route for any host. As in
 * ingress-nginx, `spec.defaultBackend` serves `/` of every host of the Ingress that has no
 * `/` path of its own, and is the catch-all only for an Ingress without rules.
 */
import { formatIssues } from "../../api/parse.js";
import type { IngressBackend, Ingress } from "../../api/ingress.js";
import type { Service } from "../../api/objects.js";
import { webSocketRouteSchema, ROUTE_API_VERSION, ROUTE_KIND, type WebSocketRoute } from "../../api/route.js";
import { applyAnnotations, type AnnotationNotice } from "./annotations.js";

/** Something about an Ingress that is not served as written; it becomes an Event (or a comment). */
export interface IngressNotice {
  readonly reason:
    | AnnotationNotice["reason"]
    | "PathNotConvertible"
    | "BackendNotFound"
    | "UnsupportedBackend"
    | "TLSWithoutHosts"
    | "AccessNotApplied"
    | "Invalid";
  readonly message: string;
  /** The annotation key, for annotation notices. */
  readonly annotation?: string;
}

export interface IngressTranslation {
  /** Named `<ingress>` (one host) or `<ingress>-<host>`, in the Ingress's namespace. */
  readonly routes: readonly WebSocketRoute[];
  /** Each route as written, before defaults: what `wsgate convert` prints. Parallel to `routes`. */
  readonly documents: readonly RouteDocument[];
  readonly notices: readonly IngressNotice[];
}

/** A WebSocketRoute manifest as plain data. */
export interface RouteDocument {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: Record<string, unknown>;
  readonly spec: Record<string, unknown>;
}

/** Finds a Service of the Ingress's namespace by name (port names are resolved through it). */
export type ServiceLookup = (namespace: string, name: string) => Service | undefined;

/** Characters that make an nginx location a regex rather than a path. */
const REGEX_SYNTAX = /[\^$*+?()[\]{}|\\]/;

interface RawRule {
  matches: { path: { type: "PathPrefix" | "Exact"; value: string } }[];
  backendRefs: { name: string; port: number }[];
}

/** `service:port` of a backend, or why it cannot be one. */
function backendRef(
  backend: IngressBackend,
  namespace: string,
  services: ServiceLookup,
): { ref: { name: string; port: number } } | { notice: IngressNotice } {
  if (!backend.service) {
    const kind = backend.resource?.kind ?? "(none)";
    return {
      notice: {
        reason: "UnsupportedBackend",
        message: `backend resource ${kind}/${backend.resource?.name ?? ""}: only Service backends are served`,
      },
    };
  }
  const { name, port } = backend.service;
  if (port.number !== undefined) return { ref: { name, port: port.number } };
  const servicePort = services(namespace, name)?.spec.ports.find((p) => p.name === port.name);
  if (!servicePort) {
    return {
      notice: {
        reason: "BackendNotFound",
        message: `Service ${namespace}/${name} has no port named "${port.name ?? ""}" (port names are resolved through the Service)`,
      },
    };
  }
  return { ref: { name, port: servicePort.port } };
}

function routeName(ingress: string, host: string, single: boolean): string {
  if (single) return ingress;
  const slug = host === "" ? "default" : host.replace(/^\*\./, "wildcard.");
  return `${ingress}-${slug}`.slice(0, 253).replace(/[-.]+$/, "");
}

/** Adds a match to the rule of the same backend (fewer rules; a route holds at most 16). */
function addMatch(
  rules: RawRule[],
  match: RawRule["matches"][number],
  ref: RawRule["backendRefs"][number],
): void {
  const same = rules.find((r) => {
    const b = r.backendRefs[0];
    return b?.name === ref.name && b.port === ref.port && r.matches.length < 16;
  });
  if (same) {
    if (!same.matches.some((m) => m.path.type === match.path.type && m.path.value === match.path.value))
      same.matches.push(match);
  } else rules.push({ matches: [match], backendRefs: [ref] });
}

/** Translates one Ingress (already known to be of a class wsgate serves). */
export function translateIngress(ingress: Ingress, services: ServiceLookup): IngressTranslation {
  const { namespace, name } = ingress.metadata;
  const notices: IngressNotice[] = [];
  const applied = applyAnnotations(ingress.metadata.annotations);
  notices.push(...applied.notices);
  const regexPaths =
    applied.regexPaths || "nginx.ingress.kubernetes.io/rewrite-target" in ingress.metadata.annotations;

  const hosts = new Map<string, RawRule[]>();
  for (const rule of ingress.spec.rules) {
    const host = rule.host ?? "";
    const rules = hosts.get(host) ?? [];
    hosts.set(host, rules);
    for (const p of rule.http?.paths ?? []) {
      const value = p.path ?? "/";
      if (p.pathType === "ImplementationSpecific" && regexPaths && REGEX_SYNTAX.test(value)) {
        notices.push({
          reason: "PathNotConvertible",
          message: `path ${value} of host ${host || "(any)"} is an nginx regex (use-regex/rewrite-target); wsgate matches exact paths and prefixes only, so it is not served`,
        });
        continue;
      }
      const resolved = backendRef(p.backend, namespace, services);
      if ("notice" in resolved) {
        notices.push({
          ...resolved.notice,
          message: `path ${value} of host ${host || "(any)"}: ${resolved.notice.message}`,
        });
        continue;
      }
      const type = p.pathType === "Exact" ? "Exact" : "PathPrefix";
      addMatch(rules, { path: { type, value } }, resolved.ref);
    }
  }

  const fallback = ingress.spec.defaultBackend;
  if (fallback) {
    const resolved = backendRef(fallback, namespace, services);
    if ("notice" in resolved) {
      notices.push({ ...resolved.notice, message: `defaultBackend: ${resolved.notice.message}` });
    } else {
      if (hosts.size === 0) hosts.set("", []);
      for (const rules of hosts.values()) {
        const hasRoot = rules.some((r) =>
          r.matches.some((m) => m.path.type === "PathPrefix" && m.path.value === "/"),
        );
        if (!hasRoot) addMatch(rules, { path: { type: "PathPrefix", value: "/" } }, resolved.ref);
      }
    }
  }

  const secretOf = new Map<string, string>();
  for (const tls of ingress.spec.tls) {
    if (tls.hosts.length === 0) {
      notices.push({
        reason: "TLSWithoutHosts",
        message: `tls entry${tls.secretName ? ` with Secret ${tls.secretName}` : ""} lists no hosts; wsgate serves certificates by host (use --default-tls-secret for the rest)`,
      });
    }
    // The first entry naming a host wins, as in ingress-nginx.
    for (const h of tls.hosts) if (tls.secretName && !secretOf.has(h)) secretOf.set(h, tls.secretName);
  }

  const routes: WebSocketRoute[] = [];
  const documents: RouteDocument[] = [];
  const guard = applied.notices.find((n) => n.failClosed);
  if (guard) {
    notices.push({
      reason: "AccessNotApplied",
      message: `not served: ${guard.annotation} restricts who may connect and could not be applied; serving without it would open the Ingress to everyone`,
    });
    return { routes, documents, notices };
  }
  const groups = [...hosts.entries()].filter(([, rules]) => rules.length > 0);
  for (const [host, rules] of groups) {
    const secret = host === "" ? undefined : secretOf.get(host);
    const doc: RouteDocument = {
      apiVersion: ROUTE_API_VERSION,
      kind: ROUTE_KIND,
      metadata: {
        name: routeName(name, host, groups.length === 1),
        namespace,
        ...(ingress.metadata.creationTimestamp
          ? { creationTimestamp: ingress.metadata.creationTimestamp }
          : {}),
        ...(ingress.metadata.generation === undefined ? {} : { generation: ingress.metadata.generation }),
      },
      spec: {
        ...(host === "" ? {} : { hostnames: [host] }),
        ...(secret ? { tls: { secretName: secret } } : {}),
        rules,
        // Each route its own copy: the draft is shared by every host of the Ingress.
        ...structuredClone(applied.draft),
      },
    };
    const parsed = webSocketRouteSchema.safeParse(doc);
    if (parsed.success) {
      routes.push(parsed.data);
      documents.push(doc);
    } else
      notices.push({
        reason: "Invalid",
        message: `host ${host || "(any)"} cannot be served: ${formatIssues(parsed.error.issues).join("; ")}`,
      });
  }
  return { routes, documents, notices };
}
