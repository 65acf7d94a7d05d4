/**
 * The routing table: the compiled, immutable product of one store snapshot.
 * The data plane reads it; nothing mutates it after {@link buildTable} froze it.
 * Live state (connection counts, health, drain) is keyed by {@link Endpoint.id}
 * and lives outside, so a swap never touches an established connection.
 */
import type { ConditionVerdict } from "../api/conditions.js";
import type { HealthCheck, Origins, RouteLimits, SourceRanges } from "../api/route.js";
import type { CompiledAffinity } from "./affinity-settings.js";
import type { CompiledAuth } from "./auth-contract.js";
import type { RuleFilters } from "./gateway-api/filters.js";
import type { RebalanceSettings } from "./rebalance-settings.js";
import { RequestFacts, type MatchConditions, type MatchRequest } from "./matcher.js";
import {
  canonicalPrefix,
  matcherFor,
  normalizeHost,
  type Matcher,
  type PathEntry,
  type VirtualHost,
} from "./table-matcher.js";
import type { RouteOrigin } from "./translated.js";

// Host and path helpers live with the matcher; their users import them from here.
export { canonicalPrefix, normalizeHost, prefixMatches } from "./table-matcher.js";

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

/**
 * TLS to a backend (a backendRef's `backendTLS`, a BackendTLSPolicy, `appProtocol: kubernetes.io/wss`):
 * plain data, so it crosses to workers by structured clone; the data plane builds its
 * SecureContext once per object (dataplane/backend-tls.ts).
 */
export interface BackendTls {
  /** PEM bundle of the trusted CAs; absent: the system's well-known CAs. */
  readonly caPem?: string;
  /** SNI, and the name the certificate must carry unless `subjectAltNames` is set. */
  readonly hostname: string;
  /** When set, the certificate must carry one of these (DNS names or URIs) instead of `hostname`. */
  readonly subjectAltNames?: readonly BackendSubjectAltName[];
}

/** A subjectAltName a backend's certificate may present (Gateway API's `SubjectAltName`). */
export type BackendSubjectAltName =
  { readonly type: "Hostname"; readonly hostname: string } | { readonly type: "URI"; readonly uri: string };

export interface Backend {
  /** `namespace/service:port`, the `backend` label of metrics. */
  readonly key: string;
  readonly weight: number;
  readonly endpoints: readonly Endpoint[];
  /** Present when connections to this backend use TLS. */
  readonly tls?: BackendTls;
}

export interface PathMatch {
  readonly type: "PathPrefix" | "Exact";
  readonly value: string;
  /** An HTTPRoute match's method, header and query parameter conditions (see matcher.ts). */
  readonly conditions?: MatchConditions;
}

export interface Rule {
  /** `namespace/route#index`, the key for per-rule balancer state. */
  readonly key: string;
  readonly matches: readonly PathMatch[];
  readonly backends: readonly Backend[];
  /** HTTPRoute filters (header modifiers, redirect, rewrite) the data plane applies; plain data. */
  readonly filters?: RuleFilters;
  /**
   * HTTPRoutes only: the summed weight of backendRefs that cannot be served (a missing or
   * foreign Service without ReferenceGrant, another kind, no port, unusable TLS), or 1 for a
   * rule without backendRefs. Gateway API wants 500 for that share of requests, not 503.
   */
  readonly unresolvedWeight?: number;
  /**
   * HTTPRoute rules with a WebSocketPolicy of their own (targetRef `sectionName`): the
   * settings of requests and connections this rule matches ({@link RouteMatch.route} then
   * carries them); absent: the route's.
   */
  readonly settings?: RouteSettings;
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
  /**
   * Lower-case headers this route fills from auth (jwt `claimsToHeaders`, forwardAuth
   * `responseHeaders`), even while its auth is unresolved. Their union over all routes is
   * the table's {@link RoutingTable.identityHeaders}.
   */
  readonly identityHeaders?: readonly string[];
  /** `spec.allowEncodedSlashes`: a path with `%2F` is served (as a byte of its segment) instead of refused. */
  readonly allowEncodedSlashes?: boolean;
  /** `spec.sourceRanges`, present only when it lists at least one block. */
  readonly sourceRanges?: SourceRanges;
  /** `spec.rebalance`, present only when the route rebalances (see rebalance-settings.ts). */
  readonly rebalance?: RebalanceSettings;
  /** `spec.sessionAffinity`: how a session is pinned to an endpoint (dataplane/affinity). */
  readonly affinity?: CompiledAffinity;
}

/** wsgate's two listeners: a Gateway listener of protocol HTTP maps to `http`, HTTPS to `https`. */
export type ListenerKind = "http" | "https";

export interface Route {
  readonly namespace: string;
  readonly name: string;
  /** `namespace/name`. */
  readonly key: string;
  readonly hostnames: readonly string[];
  readonly rules: readonly Rule[];
  readonly settings: RouteSettings;
  /**
   * HTTPRoutes: the only listeners that serve the route (those of the Gateway listeners it
   * attached to); absent: both. On the other listener its hosts and paths answer 404.
   */
  readonly listeners?: readonly ListenerKind[];
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
  /**
   * Set for a route translated from another kind (HTTPRoute, Ingress): its status goes to
   * that object, by that kind's rules, not to a WebSocketRoute.
   */
  readonly origin?: RouteOrigin;
  readonly conditions: readonly ConditionVerdict[];
  readonly endpoints: { readonly ready: number; readonly total: number };
}

/** The result of a successful match. */
export interface RouteMatch {
  /** The matched route; its `settings` are the rule's when the rule has its own. */
  readonly route: Route;
  readonly rule: Rule;
}

export interface TableOptions {
  /**
   * `--allow-cross-namespace-hostnames`: a request that no path of its host matches may fall
   * through to a wildcard or any-host route of another namespace. Off by default, so a
   * tenant's users (and their cookies) never reach another namespace's route by a typo'd path.
   */
  readonly crossNamespaceFallthrough?: boolean;
}

export interface RoutingTable {
  /** Increases by one on every publish; 0 means nothing was published yet. */
  readonly generation: number;
  readonly routes: readonly Route[];
  /** SNI name (exact or `*.suffix`) → certificate. */
  readonly certificates: ReadonlyMap<string, TlsCertificate>;
  /** The certificate for no or unknown SNI (`--default-tls-secret`), when that Secret is usable. */
  readonly defaultCertificate?: TlsCertificate;
  /**
   * Every header some route fills from auth, lower case. Removed from client requests on
   * every route, with auth or without: a header that means "the gateway vouches for this
   * identity" on one route must not be forgeable through another route to the same backends.
   */
  readonly identityHeaders: ReadonlySet<string>;
  /**
   * Finds the route and rule for a request; `undefined` means 404. `request` is read only
   * when a candidate of the path has method, header or query conditions; without it such
   * candidates never match.
   */
  match(host: string, path: string, request?: MatchRequest): RouteMatch | undefined;
}

/** Each table's matcher, for {@link withEndpoints}. Weak: a table no one holds takes its matcher along. */
const MATCHERS = new WeakMap<RoutingTable, Matcher>();

function tableOf(
  generation: number,
  routes: readonly Route[],
  matcher: Matcher,
  certificates: ReadonlyMap<string, TlsCertificate>,
  defaultCertificate: TlsCertificate | undefined,
): RoutingTable {
  const { hosts, wildcards, any, crossNamespace } = matcher;

  // Routes with a rule that has settings of its own (by position): per rule, the route as that
  // rule's requests see it — made once here, so matching allocates nothing more, and nothing
  // at all is made or looked up for tables without such rules.
  const views = new Map<number, readonly Route[]>();
  for (const i of matcher.ruleSettingsRoutes) {
    const route = routes[i] as Route;
    views.set(
      i,
      route.rules.map((rule) =>
        rule.settings ? Object.freeze({ ...route, settings: rule.settings }) : route,
      ),
    );
  }

  function at(entry: PathEntry): RouteMatch {
    const route = (views.size > 0 && views.get(entry.route)?.[entry.rule]) || (routes[entry.route] as Route);
    return { route, rule: route.rules[entry.rule] as Rule };
  }

  /** The first candidate whose conditions hold; `facts` is made on the first condition read. */
  function pick(path: PathEntry, request: MatchRequest | undefined): RouteMatch | undefined {
    const candidates = path.candidates;
    // A path without conditional matches: the hot path, one property read more than a plain lookup.
    if (candidates === undefined) return at(path);
    let facts: RequestFacts | undefined;
    for (const entry of candidates) {
      if (entry.test === undefined || entry.test((facts ??= new RequestFacts(request ?? {}))))
        return at(entry);
    }
    return undefined;
  }

  // A path whose candidates all fail their conditions falls through to the next shorter
  // prefix, as Gateway API precedence among all matching rules demands.
  function matchIn(
    vhost: VirtualHost,
    path: string,
    request: MatchRequest | undefined,
  ): RouteMatch | undefined {
    const exact = vhost.exact.get(path);
    if (exact) {
      const found = pick(exact, request);
      if (found) return found;
    }
    if (vhost.prefixes.size === 0) return undefined;
    let candidate = canonicalPrefix(path);
    for (;;) {
      const entries = vhost.prefixes.get(candidate);
      if (entries) {
        const found = pick(entries, request);
        if (found) return found;
      }
      if (candidate === "/") return undefined;
      const slash = candidate.lastIndexOf("/");
      candidate = slash <= 0 ? "/" : candidate.slice(0, slash);
    }
  }

  const table: RoutingTable = Object.freeze({
    generation,
    routes,
    certificates,
    ...(defaultCertificate ? { defaultCertificate } : {}),
    identityHeaders: matcher.identityHeaders,
    // Gateway API precedence: the most specific hostname that has a matching path wins;
    // a host whose routes match no path falls through to wildcards, then to any-host routes —
    // of the same namespace as the most specific host that exists (its owner), unless
    // cross-namespace fallthrough is allowed.
    match(host: string, path: string, request?: MatchRequest): RouteMatch | undefined {
      const name = normalizeHost(host);
      let owner: string | undefined;
      const tryIn = (vhost: VirtualHost | undefined): RouteMatch | undefined => {
        if (!vhost) return undefined;
        if (owner === undefined) owner = vhost.namespace;
        else if (!crossNamespace && vhost.namespace !== owner) return undefined;
        return matchIn(vhost, path, request);
      };
      // A literal "*.x" Host must not select the wildcard's virtual host as if it were exact.
      const found = tryIn(name.startsWith("*") ? undefined : hosts.get(name));
      if (found) return found;
      // Most specific wildcard first: `*.b.example.com` before `*.example.com`.
      for (let dot = name.indexOf("."); dot > 0; dot = name.indexOf(".", dot + 1)) {
        const m = tryIn(wildcards.get(name.slice(dot)));
        if (m) return m;
      }
      return tryIn(any);
    },
  });
  MATCHERS.set(table, matcher);
  return table;
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
  options: TableOptions = {},
): RoutingTable {
  const frozen = Object.freeze([...routes]);
  return tableOf(generation, frozen, matcherFor(frozen, options), certificates, defaultCertificate);
}

/**
 * The table `previous` becomes when its routes only got other endpoints: `routes` must be
 * `previous.routes` with, at any position, a route of the same hostnames, rule matches and
 * settings. The matcher is reused (building it is most of a table's cost at 10,000
 * routes); undefined when `previous` was not built here or the routes do not line up.
 */
export function withEndpoints(
  previous: RoutingTable,
  generation: number,
  routes: readonly Route[],
): RoutingTable | undefined {
  const matcher = MATCHERS.get(previous);
  if (!matcher || routes.length !== previous.routes.length) return undefined;
  return tableOf(
    generation,
    Object.freeze([...routes]),
    matcher,
    previous.certificates,
    previous.defaultCertificate,
  );
}

/** The table before anything was compiled: matches nothing. */
export const EMPTY_TABLE: RoutingTable = buildTable(0, [], new Map());
