/**
 * The routing table: the compiled, immutable product of one store snapshot.
 * The data plane reads it; nothing mutates it after {@link buildMatcher} froze it.
 * Live state (connection counts, health, drain) is keyed by {@link Endpoint.id}
 * and lives outside, so a swap never touches an established connection.
 */
import type { ConditionVerdict } from "../api/conditions.js";
import type { HealthCheck, Origins, RouteLimits } from "../api/route.js";
import type { CompiledAuth } from "./auth.js";

/** One backend address, e.g. `apps/chat:8080@10.244.0.7:8080`. */
export interface Endpoint {
  /** `namespace/service:servicePort@ip:targetPort` — stable across table swaps. */
  readonly id: string;
  /** `namespace/service:servicePort`, the backend this endpoint serves. */
  readonly backend: string;
  readonly address: string;
  readonly port: number;
  /** EndpointSlice `conditions.ready` (absent counts as ready, as kube-proxy does). */
  readonly ready: boolean;
  /** EndpointSlice `conditions.terminating`: gets no new connections and is drained. */
  readonly terminating: boolean;
  /** The backendRef weight shared among the backend's ready endpoints. */
  readonly weight: number;
}

export interface Backend {
  /** `namespace/service:port`, the `backend` label of metrics. */
  readonly key: string;
  readonly weight: number;
  readonly endpoints: readonly Endpoint[];
}

export interface PathMatch {
  readonly type: "PathPrefix" | "Exact";
  readonly value: string;
}

export interface Rule {
  /** `namespace/route#index`, the key for per-rule balancer state. */
  readonly key: string;
  readonly matches: readonly PathMatch[];
  readonly backends: readonly Backend[];
}

/** Route settings in the units the data plane uses (milliseconds). */
export interface RouteSettings {
  readonly policy: "LeastConnections" | "RoundRobin";
  readonly timeouts: {
    readonly connectMs: number;
    readonly handshakeMs: number;
    readonly idleMs: number;
    readonly maxLifetimeMs: number;
  };
  readonly keepalive?: { readonly intervalMs: number; readonly timeoutMs: number };
  readonly limits: RouteLimits;
  readonly drain: { readonly windowMs: number; readonly closeCode: number };
  readonly origins?: Origins;
  readonly healthCheck?: HealthCheck;
  /** `spec.auth` with its keys resolved; `kind: "unresolved"` refuses every request (fail closed). */
  readonly auth?: CompiledAuth;
}

export interface Route {
  readonly namespace: string;
  readonly name: string;
  /** `namespace/name`. */
  readonly key: string;
  readonly hostnames: readonly string[];
  readonly rules: readonly Rule[];
  readonly settings: RouteSettings;
}

/** A certificate chosen by SNI for a hostname. */
export interface TlsCertificate {
  /** `namespace/name` of the kubernetes.io/tls Secret. */
  readonly secret: string;
  readonly certPem: string;
  readonly keyPem: string;
}

/** What compile() found about one route; stamped into status by the status writer. */
export interface RouteDiagnostics {
  readonly namespace: string;
  readonly name: string;
  readonly generation?: number;
  /** False for routes of another ingress class: they get no status at all. */
  readonly claimed: boolean;
  readonly conditions: readonly ConditionVerdict[];
  readonly endpoints: { readonly ready: number; readonly total: number };
}

/** The result of a successful match. */
export interface RouteMatch {
  readonly route: Route;
  readonly rule: Rule;
}

interface PathEntry {
  readonly match: PathMatch;
  readonly route: Route;
  readonly rule: Rule;
}

interface VirtualHost {
  readonly exact: ReadonlyMap<string, PathEntry>;
  /** PathPrefix entries, longest value first. */
  readonly prefixes: readonly PathEntry[];
}

export interface RoutingTable {
  /** Increases by one on every publish; 0 means nothing was published yet. */
  readonly generation: number;
  readonly routes: readonly Route[];
  /** SNI name (exact or `*.suffix`) → certificate. */
  readonly certificates: ReadonlyMap<string, TlsCertificate>;
  /** The certificate for no or unknown SNI (`--default-tls-secret`), when that Secret is usable. */
  readonly defaultCertificate?: TlsCertificate;
  /** Finds the route and rule for a request; `undefined` means 404. */
  match(host: string, path: string): RouteMatch | undefined;
}

/** Lower-cases a Host header and strips the port and a trailing dot. */
export function normalizeHost(host: string | undefined): string {
  if (!host) return "";
  let h = host.trim().toLowerCase();
  if (h.startsWith("[")) {
    const end = h.indexOf("]");
    return end === -1 ? h : h.slice(0, end + 1);
  }
  const colon = h.indexOf(":");
  if (colon !== -1) h = h.slice(0, colon);
  return h.endsWith(".") ? h.slice(0, -1) : h;
}

/**
 * A PathPrefix value without its trailing slash, which matching ignores (Gateway API):
 * `/ws/` and `/ws` match the same paths, so they are the same claim. `/` stays `/`.
 */
export function canonicalPrefix(prefix: string): string {
  return prefix.length > 1 && prefix.endsWith("/") ? prefix.slice(0, -1) : prefix;
}

/** True when `path` is matched by a PathPrefix `prefix`, segment-wise. */
export function prefixMatches(prefix: string, path: string): boolean {
  if (prefix === "/") return true;
  const p = canonicalPrefix(prefix);
  // The prefix ends at a segment boundary of the path: the path ends there or a "/" (47) follows.
  return path === p || (path.startsWith(p) && path.charCodeAt(p.length) === 47);
}

/**
 * Builds the immutable table with its matcher. Routes come in precedence order
 * (older first); host+path conflicts were already resolved by compile().
 */
export function buildTable(
  generation: number,
  routes: readonly Route[],
  certificates: ReadonlyMap<string, TlsCertificate>,
  defaultCertificate?: TlsCertificate,
): RoutingTable {
  const hosts = new Map<string, { exact: Map<string, PathEntry>; prefixes: PathEntry[] }>();
  for (const route of routes) {
    const names = route.hostnames.length > 0 ? route.hostnames : [""];
    for (const rule of route.rules) {
      for (const match of rule.matches) {
        for (const name of names) {
          let vhost = hosts.get(name);
          if (!vhost) hosts.set(name, (vhost = { exact: new Map(), prefixes: [] }));
          const entry = { match, route, rule };
          if (match.type === "Exact") {
            if (!vhost.exact.has(match.value)) vhost.exact.set(match.value, entry);
          } else if (
            !vhost.prefixes.some((e) => canonicalPrefix(e.match.value) === canonicalPrefix(match.value))
          ) {
            // `/ws/` and `/ws` are one claim: the older route keeps it.
            vhost.prefixes.push(entry);
          }
        }
      }
    }
  }
  const frozen = new Map<string, VirtualHost>();
  for (const [name, vhost] of hosts) {
    vhost.prefixes.sort(
      (a, b) => canonicalPrefix(b.match.value).length - canonicalPrefix(a.match.value).length,
    );
    frozen.set(name, Object.freeze({ exact: vhost.exact, prefixes: Object.freeze(vhost.prefixes) }));
  }
  // Wildcards checked most specific (longest suffix) first.
  const wildcards = [...frozen.keys()]
    .filter((h) => h.startsWith("*."))
    .sort((a, b) => b.length - a.length || (a < b ? -1 : 1))
    .map((h) => ({ suffix: h.slice(1), vhost: frozen.get(h) as VirtualHost }));
  const any = frozen.get("");

  function matchIn(vhost: VirtualHost, path: string): RouteMatch | undefined {
    const exact = vhost.exact.get(path);
    if (exact) return { route: exact.route, rule: exact.rule };
    for (const entry of vhost.prefixes) {
      if (prefixMatches(entry.match.value, path)) return { route: entry.route, rule: entry.rule };
    }
    return undefined;
  }

  return Object.freeze({
    generation,
    routes: Object.freeze([...routes]),
    certificates,
    ...(defaultCertificate ? { defaultCertificate } : {}),
    // Gateway API precedence: the most specific hostname that has a matching path wins;
    // a host whose routes match no path falls through to wildcards, then to any-host routes.
    match(host: string, path: string): RouteMatch | undefined {
      const name = normalizeHost(host);
      const exact = frozen.get(name);
      const found = exact && matchIn(exact, path);
      if (found) return found;
      for (const w of wildcards) {
        if (name.length > w.suffix.length && name.endsWith(w.suffix)) {
          const m = matchIn(w.vhost, path);
          if (m) return m;
        }
      }
      return any && matchIn(any, path);
    },
  });
}

/** The table before anything was compiled: matches nothing. */
export const EMPTY_TABLE: RoutingTable = buildTable(0, [], new Map());
