/**
 * The routing table: the compiled, immutable product of one store snapshot.
 * The data plane reads it; nothing mutates it after {@link buildMatcher} froze it.
 * Live state (connection counts, health, drain) is keyed by {@link Endpoint.id}
 * and lives outside, so a swap never touches an established connection.
 */
import { isDeepStrictEqual } from "node:util";
import type { ConditionVerdict } from "../api/conditions.js";
import type { HealthCheck, Origins, RouteLimits, SourceRanges } from "../api/route.js";
import type { CompiledAffinity } from "./affinity-settings.js";
import type { CompiledAuth } from "./auth-contract.js";
import type { RuleFilters } from "./gateway-api/filters.js";
import type { RebalanceSettings } from "./rebalance-settings.js";
import {
  compareConditions,
  conditionSignature,
  conditionTest,
  RequestFacts,
  type ConditionTest,
  type MatchConditions,
  type MatchRequest,
} from "./matcher.js";
import type { RouteOrigin } from "./translated.js";

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

/**
 * Where a path leads: positions in the table's routes, not the objects, so that a table
 * whose routes only got other endpoints reuses the matcher (see {@link withEndpoints}).
 */
interface PathEntry {
  readonly route: number;
  readonly rule: number;
  /** The match's method, header and query conditions; undefined: every request of the path. */
  readonly test: ConditionTest | undefined;
  /**
   * Set only on the entry of a path that has conditional matches: every entry of the path
   * (`route` and `rule` are then -1), in Gateway API precedence — method, header count,
   * query count, older route, rule order — one per condition signature, the one without
   * conditions last. A path without conditions is its one entry, looked up as before.
   */
  readonly candidates: readonly PathEntry[] | undefined;
}

interface VirtualHost {
  readonly exact: Map<string, PathEntry>;
  /** PathPrefix entries by canonical value (see {@link canonicalPrefix}). */
  readonly prefixes: Map<string, PathEntry>;
  /** The namespace of its oldest route: the hostname's owner (compile refuses other namespaces). */
  readonly namespace: string;
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

function entryOf(
  route: number,
  rule: number,
  conditions: MatchConditions | undefined,
  identityHeaders: ReadonlySet<string>,
): PathEntry {
  const test = conditions ? conditionTest(conditions, identityHeaders) : undefined;
  return { route, rule, test, candidates: undefined };
}

/** A path's candidate list while the matcher is built. */
class Dispatch {
  readonly entry: PathEntry;
  readonly #candidates: PathEntry[] = [];
  readonly #signatures = new Set<string>();
  readonly #conditions = new Map<PathEntry, MatchConditions | undefined>();

  /** `unconditional`: the path's entry so far, which had no conditions. */
  constructor(unconditional: PathEntry | undefined) {
    this.entry = { route: -1, rule: -1, test: undefined, candidates: this.#candidates };
    if (unconditional) this.add(unconditional, undefined);
  }

  /** Adds an entry unless one of the same condition signature came first (an older claim). */
  add(entry: PathEntry, conditions: MatchConditions | undefined): void {
    const signature = conditionSignature(conditions);
    if (this.#signatures.has(signature)) return;
    this.#signatures.add(signature);
    this.#conditions.set(entry, conditions);
    this.#candidates.push(entry);
  }

  /** Gateway API precedence; the sort is stable, so equals keep the older route's, then earlier rule's, first. */
  sort(): void {
    this.#candidates.sort((a, b) => compareConditions(this.#conditions.get(a), this.#conditions.get(b)));
  }
}

/** The lookup structure of a table: depends on the routes' hostnames, matches and order only. */
interface Matcher {
  readonly hosts: ReadonlyMap<string, VirtualHost>;
  /** Wildcard virtual hosts by suffix (`*.example.com` → `.example.com`). */
  readonly wildcards: ReadonlyMap<string, VirtualHost>;
  readonly any: VirtualHost | undefined;
  readonly crossNamespace: boolean;
  readonly identityHeaders: ReadonlySet<string>;
  /**
   * Positions of the routes with a rule that has settings of its own: the same in every
   * table sharing this matcher (their routes differ in endpoints only).
   */
  readonly ruleSettingsRoutes: readonly number[];
}

/** Each table's matcher, for {@link withEndpoints}. Weak: a table no one holds takes its matcher along. */
const MATCHERS = new WeakMap<RoutingTable, Matcher>();

function buildMatcher(routes: readonly Route[], options: TableOptions): Matcher {
  // Every lookup is a Map get: exact paths by value, PathPrefixes by canonical value
  // (tried from the longest segment-aligned prefix of the request path down), and
  // wildcard hosts by suffix (tried from the most specific suffix of the Host down).
  const hosts = new Map<string, VirtualHost>();
  // Paths with conditional matches: what their candidate lists hold so far.
  const dispatch = new Map<PathEntry, Dispatch>();
  const identityHeaders = new Set<string>();
  const ruleSettingsRoutes: number[] = [];
  routes.forEach((route, i) => {
    for (const h of route.settings.identityHeaders ?? []) identityHeaders.add(h);
    let ruleSettings = false;
    for (const rule of route.rules) {
      if (!rule.settings) continue;
      ruleSettings = true;
      for (const h of rule.settings.identityHeaders ?? []) identityHeaders.add(h);
    }
    if (ruleSettings) ruleSettingsRoutes.push(i);
  });
  routes.forEach((route, routeIndex) => {
    const names = route.hostnames.length > 0 ? route.hostnames : [""];
    route.rules.forEach((rule, ruleIndex) => {
      for (const match of rule.matches) {
        for (const name of names) {
          let vhost = hosts.get(name);
          if (!vhost) {
            vhost = { exact: new Map(), prefixes: new Map(), namespace: route.namespace };
            hosts.set(name, vhost);
          }
          // The first claim of a path and condition signature stays: routes come older first.
          // `/ws/` and `/ws` are one path.
          const map = match.type === "Exact" ? vhost.exact : vhost.prefixes;
          const key = match.type === "Exact" ? match.value : canonicalPrefix(match.value);
          let found = map.get(key);
          if (!match.conditions) {
            const entry = entryOf(routeIndex, ruleIndex, undefined, identityHeaders);
            if (!found) map.set(key, entry);
            else dispatch.get(found)?.add(entry, undefined);
            continue;
          }
          if (!found?.candidates) {
            const d = new Dispatch(found);
            found = d.entry;
            map.set(key, found);
            dispatch.set(found, d);
          }
          const entry = entryOf(routeIndex, ruleIndex, match.conditions, identityHeaders);
          dispatch.get(found)?.add(entry, match.conditions);
        }
      }
    });
  });
  for (const d of dispatch.values()) d.sort();
  const wildcards = new Map<string, VirtualHost>();
  for (const [name, vhost] of hosts) if (name.startsWith("*.")) wildcards.set(name.slice(1), vhost);
  return {
    hosts,
    wildcards,
    any: hosts.get(""),
    crossNamespace: options.crossNamespaceFallthrough === true,
    identityHeaders,
    ruleSettingsRoutes,
  };
}

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
 * The last matcher built and the routes it was built from. A recompile whose routes came
 * back as the same objects (routing/compile-memo.ts), or as routes of the same shape at
 * the same positions (a route's timeouts, limits or backends edited), reuses it, as
 * {@link withEndpoints} does: building it is most of a table's cost at 10,000 routes.
 * One matcher at most is held here, the one the newest table most likely uses anyway.
 */
let lastMatcher:
  | { readonly routes: readonly Route[]; readonly crossNamespace: boolean; readonly matcher: Matcher }
  | undefined;

function matcherFor(routes: readonly Route[], options: TableOptions): Matcher {
  const crossNamespace = options.crossNamespaceFallthrough === true;
  const last = lastMatcher;
  if (
    last !== undefined &&
    last.crossNamespace === crossNamespace &&
    last.routes.length === routes.length &&
    last.routes.every((route, i) => route === routes[i] || sameShape(route, routes[i] as Route))
  ) {
    lastMatcher = { routes, crossNamespace, matcher: last.matcher };
    return last.matcher;
  }
  const matcher = buildMatcher(routes, options);
  lastMatcher = routes.length > 0 ? { routes, crossNamespace, matcher } : undefined;
  return matcher;
}

function sameStrings(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Whether `b` gives the matcher what `a` did: what {@link buildMatcher} reads — namespace,
 * hostnames, each rule's matches (path and conditions) and whether it has settings of its
 * own, and the identity headers the conditions and the table strip.
 */
function sameShape(a: Route, b: Route): boolean {
  if (
    a.namespace !== b.namespace ||
    a.rules.length !== b.rules.length ||
    !sameStrings(a.hostnames, b.hostnames) ||
    !sameStrings(a.settings.identityHeaders, b.settings.identityHeaders)
  )
    return false;
  for (let i = 0; i < a.rules.length; i++) {
    const ra = a.rules[i] as Rule;
    const rb = b.rules[i] as Rule;
    if (
      (ra.settings === undefined) !== (rb.settings === undefined) ||
      !sameStrings(ra.settings?.identityHeaders, rb.settings?.identityHeaders)
    )
      return false;
    if (ra.matches === rb.matches) continue;
    if (ra.matches.length !== rb.matches.length) return false;
    for (let j = 0; j < ra.matches.length; j++) {
      const ma = ra.matches[j] as PathMatch;
      const mb = rb.matches[j] as PathMatch;
      if (ma.type !== mb.type || ma.value !== mb.value || !isDeepStrictEqual(ma.conditions, mb.conditions))
        return false;
    }
  }
  return true;
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
