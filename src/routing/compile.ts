/**
 * compile(snapshot) → { table, diagnostics }: the whole control-plane logic as one
 * pure, deterministic function. No I/O, no clock, no throwing on bad input — a bad
 * route becomes conditions and every other route keeps working.
 */
import { ConditionType, Reason, type ConditionVerdict } from "../api/conditions.js";
import type { WebSocketRoute } from "../api/route.js";
import { resolveAuth } from "./auth.js";
import { checkCertificate } from "./certificate.js";
import { Lookup, resolveBackends } from "./compile-backends.js";
import { keyOf, LastIndex, routeMemo, sameItems, sameRoute, sameStatus } from "./compile-memo.js";
import { programmedByEndpoints } from "./endpoints.js";
import {
  HostnameOwnership,
  describeHostname,
  hostnameKeys,
  type ForeignClaim,
} from "./hostname-ownership.js";
import { cond as gatewayCondition, type GatewayApiDiagnostics } from "./gateway-api/conditions.js";
import type { GatewayApiOptions } from "./gateway-api/listeners.js";
import { backendTlsPolicyDiagnostics } from "./gateway-api/backend-tls-status.js";
import { gatewayDiagnostics, httpRouteDiagnostics, translateGatewayApi } from "./gateway-api/translate.js";
import {
  INGRESS_ORIGIN_KIND,
  ingressDiagnostics,
  translateIngresses,
  type IngressDiagnostics,
} from "./ingress/routes.js";
import { matchesOf, routeSettings, semanticProblems } from "./route-settings.js";
import { withRuleSettings } from "./rule-settings.js";
import { isInvalidRoute, type InvalidRoute, type Snapshot } from "./store.js";
import {
  buildTable,
  canonicalPrefix,
  type Route,
  type RouteDiagnostics,
  type RoutingTable,
  type TlsCertificate,
} from "./table.js";
import { conditionSignature } from "./matcher.js";
import { conditionsOf, isTranslated } from "./translated.js";

export interface CompileOptions {
  /** Routes whose `ingressClassName` is absent or equal to this are ours. */
  readonly ingressClass: string;
  /** The generation the resulting table will carry. */
  readonly generation: number;
  /** `namespace/name` of the kubernetes.io/tls Secret served for no or unknown SNI. */
  readonly defaultTlsSecret?: string;
  /**
   * `--allow-cross-namespace-hostnames` (ingress-nginx's behaviour): routes of any
   * namespace may share a hostname. Off by default: a hostname belongs to one namespace.
   */
  readonly allowCrossNamespaceHostnames?: boolean;
  /** Gateway API: which GatewayClasses are ours and which listener ports are served. */
  readonly gatewayApi?: GatewayApiOptions;
  /** `--watch-ingress-without-class`: class-less Ingresses are served even when no class of ours is the default. */
  readonly watchIngressWithoutClass?: boolean;
}

/** Without options: the default controller name, listener ports 80 and 443. */
export const DEFAULT_GATEWAY_API_OPTIONS: GatewayApiOptions = Object.freeze({
  controllerName: "wsgate.io/gateway-controller",
  httpPorts: [80],
  httpsPorts: [443],
});

export interface CompileResult {
  readonly table: RoutingTable;
  /** One entry per route in the snapshot, sorted by `namespace/name`. */
  readonly diagnostics: readonly RouteDiagnostics[];
  /** Why `defaultTlsSecret` is not served, when it is set and unusable. */
  readonly defaultTlsProblem?: string;
  /** Status of the Gateway API objects (GatewayClasses, Gateways, HTTPRoutes) of our class. */
  readonly gatewayApi: GatewayApiDiagnostics;
  /** The Ingresses of our classes, sorted by `namespace/name`, with what their Events must say. */
  readonly ingress?: readonly IngressDiagnostics[];
}

type AnyRoute = WebSocketRoute | InvalidRoute;

/** Older first (creationTimestamp, then namespace/name): the precedence for conflicts. */
function byAge(a: AnyRoute, b: AnyRoute): number {
  const ta = createdAt(a);
  const tb = createdAt(b);
  if (ta !== tb) return ta < tb ? -1 : 1;
  const ka = `${a.metadata.namespace}/${a.metadata.name}`;
  const kb = `${b.metadata.namespace}/${b.metadata.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/**
 * Creation time in ms. Compared as instants, not strings, so hand-written offsets and
 * fractions order correctly; a route without one (or with garbage) counts as oldest.
 */
function createdAt(route: AnyRoute): number {
  if (isTranslated(route)) return parseCreatedAt(route);
  if (!isInvalidRoute(route)) {
    const memo = routeMemo(route);
    return (memo.createdAt ??= parseCreatedAt(route));
  }
  let at = CREATED_AT.get(route);
  if (at === undefined) {
    at = parseCreatedAt(route);
    CREATED_AT.set(route, at);
  }
  return at;
}

function parseCreatedAt(route: AnyRoute): number {
  const parsed = Date.parse(route.metadata.creationTimestamp ?? "");
  return Number.isNaN(parsed) ? -Infinity : parsed;
}

/**
 * Creation times already parsed of invalid routes (valid stored ones keep theirs in their
 * memo). Sorting asks again on every compile, and parsing was a tenth of compile() at
 * 10,000 routes (bench C1); stored objects are immutable.
 */
const CREATED_AT = new WeakMap<AnyRoute, number>();

function condition(
  type: ConditionVerdict["type"],
  status: ConditionVerdict["status"],
  reason: ConditionVerdict["reason"],
  message: string,
): ConditionVerdict {
  return { type, status, reason, message };
}

/**
 * Positions of routes oldest first; last time's when every position holds a route of the
 * same name and age (a route edit), so that a recompile does not sort 10,000 routes again.
 */
const AGE_ORDER = new LastIndex<AnyRoute, readonly number[]>(
  (routes) => {
    // Each age once, not twice per comparison (n·log n WeakMap lookups at 10,000 routes).
    const ages = routes.map(createdAt);
    return routes
      .map((_, i) => i)
      .sort((a, b) => {
        const ta = ages[a] as number;
        const tb = ages[b] as number;
        if (ta !== tb) return ta < tb ? -1 : 1;
        return byAge(routes[a] as AnyRoute, routes[b] as AnyRoute) || a - b;
      });
  },
  (a, b) =>
    a.metadata.namespace === b.metadata.namespace &&
    a.metadata.name === b.metadata.name &&
    createdAt(a) === createdAt(b),
);

/** Hostname owners; last time's when every position holds a route of the same namespace, name and hostnames. */
const OWNERSHIP = new LastIndex<WebSocketRoute, HostnameOwnership>(
  (routes) => new HostnameOwnership(routes),
  (a, b) =>
    a.metadata.namespace === b.metadata.namespace &&
    a.metadata.name === b.metadata.name &&
    sameItems(hostnameKeys(a), hostnameKeys(b)),
);

// The verdicts of most routes, one object each (conditions are never changed in place).
const ACCEPTED = Object.freeze(condition(ConditionType.Accepted, "True", Reason.Accepted, "Route accepted"));
const RESOLVED_REFS = Object.freeze(
  condition(ConditionType.ResolvedRefs, "True", Reason.ResolvedRefs, "All references resolved"),
);

function hostnamesOf(route: WebSocketRoute): readonly string[] {
  return Object.freeze([...route.spec.hostnames]);
}

/**
 * The host+path pairs a route claims; `""` stands for "any host". An HTTPRoute match with
 * method, header or query conditions claims the path for its condition signature only
 * (after a newline): routes that differ in conditions share the path.
 */
function claimsOf(route: WebSocketRoute): string[] {
  const hosts = route.spec.hostnames.length > 0 ? route.spec.hostnames : ANY_HOST_ONLY;
  // A list searched in order, not a Set: a route claims a few pairs (built for every route
  // from scratch). Made at its most (a list grown from empty keeps room for 17; the memo keeps it).
  const rules = route.spec.rules;
  let most = 0;
  for (const rule of rules) most += matchesOf(rule).length * hosts.length;
  const claims = new Array<string>(most);
  let count = 0;
  let seen: Set<string> | undefined;
  for (let i = 0; i < rules.length; i++) {
    const matches = matchesOf(rules[i] as WebSocketRoute["spec"]["rules"][number]);
    for (let j = 0; j < matches.length; j++) {
      const m = (matches[j] as (typeof matches)[number]).path;
      const value = m.type === "PathPrefix" ? canonicalPrefix(m.value) : m.value;
      const signature = conditionSignature(conditionsOf(route, i, j));
      const suffix = signature ? `\n${signature}` : "";
      for (const h of hosts) {
        const claim = `${h} ${m.type} ${value}${suffix}`;
        if (seen === undefined && count === SEARCHED_CLAIMS_MAX) seen = new Set(claims.slice(0, count));
        if (seen ? seen.has(claim) : claimedBefore(claims, count, claim)) continue;
        claims[count++] = claim;
        seen?.add(claim);
      }
    }
  }
  if (count < most) claims.length = count;
  return claims;
}

function claimedBefore(claims: readonly string[], count: number, claim: string): boolean {
  for (let i = 0; i < count; i++) if (claims[i] === claim) return true;
  return false;
}

const ANY_HOST_ONLY: readonly string[] = Object.freeze([""]);
/** Up to this many claims a route's list is searched in order; past it a Set keeps them. */
const SEARCHED_CLAIMS_MAX = 16;

/**
 * Whether namespace hostname ownership (the tenancy rule) applies: to WebSocketRoutes and
 * to Ingresses — a tenant's Ingress must not take paths of a hostname another namespace
 * owns — but not to Gateway API routes, which their Gateway's listeners admit.
 */
function tenantRoute(route: WebSocketRoute): boolean {
  return !isTranslated(route) || route.origin.kind === INGRESS_ORIGIN_KIND;
}

/** Routes of another class are not ours: they neither claim hostnames nor get status. */
function isOurClass(route: WebSocketRoute, options: CompileOptions): boolean {
  const routeClass = route.spec.ingressClassName;
  return routeClass === undefined || routeClass === options.ingressClass;
}

function ownedElsewhere({ hostname, owner }: ForeignClaim): string {
  return `${describeHostname(hostname)} belongs to namespace ${owner.namespace} (its oldest route is ${owner.route})`;
}

/** The host+path part of a claim, without its condition signature. */
function pathOfClaim(claim: string): string {
  const newline = claim.indexOf("\n");
  return newline === -1 ? claim : claim.slice(0, newline);
}

function describeClaim(claim: string): string {
  // Host and type never hold a space; the path value may. Conditions follow a newline.
  const newline = claim.indexOf("\n");
  const path = newline === -1 ? claim : claim.slice(0, newline);
  const [host, type, ...value] = path.split(" ");
  const conditions = newline === -1 ? "" : ` with conditions ${claim.slice(newline + 1)}`;
  return `${host || "(any host)"} ${type} ${value.join(" ")}${conditions}`;
}

/** The `--default-tls-secret` certificate, checked like a route's. */
function defaultCertificate(
  lookup: Lookup,
  secretKey: string | undefined,
): { certificate?: TlsCertificate; problem?: string } {
  if (secretKey === undefined) return {};
  const secret = lookup.secrets.get(secretKey);
  if (!secret) return { problem: `default TLS Secret ${secretKey} not found` };
  const checked = checkCertificate(secret);
  if (!checked.ok) return { problem: `default TLS Secret ${secretKey}: ${checked.problem}` };
  return { certificate: { secret: secretKey, certPem: checked.certPem, keyPem: checked.keyPem } };
}

/**
 * Compiles a snapshot into a routing table and per-route diagnostics.
 * Pure and deterministic: the same snapshot and options give the same result.
 */
export function compile(snapshot: Snapshot, options: CompileOptions): CompileResult {
  const lookup = new Lookup(snapshot);
  const claimedBy = new Map<string, string>();
  // Host+path without conditions → its oldest claim: conditions share a path in one namespace only.
  const pathClaimedBy = new Map<string, { namespace: string; route: string }>();
  const tlsHosts = new Map<string, TlsCertificate>();
  const served: Route[] = [];
  const diagnostics: RouteDiagnostics[] = [];
  const gatewayApi = translateGatewayApi(
    snapshot,
    options.gatewayApi ?? DEFAULT_GATEWAY_API_OPTIONS,
    lookup.secrets,
  );
  const ingress = translateIngresses(snapshot, {
    ingressClass: options.ingressClass,
    watchIngressWithoutClass: options.watchIngressWithoutClass === true,
  });
  const all = [...snapshot.routes, ...gatewayApi.routes, ...ingress.routes];
  const oldestFirst = AGE_ORDER.of(all).map((i) => all[i] as AnyRoute);
  // Hostname ownership by namespace is the tenancy rule of WebSocketRoutes and Ingresses;
  // Gateway API routes are admitted by their listeners' allowedRoutes instead, the admin's tool for that.
  const ownership = OWNERSHIP.of(
    oldestFirst.filter(
      (r): r is WebSocketRoute => !isInvalidRoute(r) && tenantRoute(r) && isOurClass(r, options),
    ),
  );

  // `namespace/name` of each status, at the same position: what the status is sorted by.
  const keys: string[] = [];
  for (const route of oldestFirst) {
    const { namespace, name } = route.metadata;
    // Stored routes keep what they compiled to (compile-memo.ts); translated ones are new every time.
    const memo = isTranslated(route) || isInvalidRoute(route) ? undefined : routeMemo(route);
    const key = memo ? memo.key : isTranslated(route) ? `${namespace}/${name}` : keyOf(route);
    keys.push(key);

    if (isInvalidRoute(route)) {
      diagnostics.push(
        diagnosticsOf(
          route,
          true,
          [
            condition(ConditionType.Accepted, "False", Reason.Invalid, route.errors.join("; ")),
            condition(
              ConditionType.ResolvedRefs,
              "Unknown",
              Reason.Pending,
              "References are checked once the route is valid",
            ),
            condition(
              ConditionType.Programmed,
              "False",
              Reason.Pending,
              "The route is not served until it is valid",
            ),
          ],
          0,
          0,
        ),
      );
      continue;
    }

    const routeClass = route.spec.ingressClassName;
    if (routeClass !== undefined && routeClass !== options.ingressClass) {
      diagnostics.push(
        diagnosticsOf(
          route,
          false,
          [
            condition(
              ConditionType.Accepted,
              "False",
              Reason.NotClaimed,
              `ingressClassName "${routeClass}" is not this gateway's class "${options.ingressClass}"`,
            ),
          ],
          0,
          0,
        ),
      );
      continue;
    }

    const resolved = resolveBackends(route, lookup, memo);
    const refProblems: { reason: Reason; message: string }[] = [];
    for (const message of resolved.missing) refProblems.push({ reason: Reason.BackendNotFound, message });
    for (const problem of resolved.tlsProblems) {
      // A policy's InvalidKind is reported on the policy; the route only learns the ref is unusable.
      const reason =
        problem.reason === "NoValidCACertificate"
          ? Reason.NoValidCACertificate
          : Reason.InvalidCACertificateRef;
      refProblems.push({ reason, message: problem.message });
    }
    let certificate: TlsCertificate | undefined;
    if (route.spec.tls) {
      const secretKey = `${namespace}/${route.spec.tls.secretName}`;
      const secret = lookup.secrets.get(secretKey);
      if (!secret) {
        refProblems.push({ reason: Reason.SecretNotFound, message: `Secret ${secretKey} not found` });
      } else {
        const checked = checkCertificate(secret);
        if (checked.ok) certificate = { secret: secretKey, certPem: checked.certPem, keyPem: checked.keyPem };
        else
          refProblems.push({
            reason: Reason.InvalidCertificate,
            message: `Secret ${secretKey}: ${checked.problem}`,
          });
      }
    }
    const auth = resolveAuth(route, lookup.secrets);
    if (auth.problem) refProblems.push({ ...auth.problem, reason: Reason[auth.problem.reason] });
    // HTTPRoute rules with a WebSocketPolicy of their own (sectionName) get their own settings.
    const ruled = withRuleSettings(route, resolved.rules, lookup.secrets);
    for (const p of ruled.problems) refProblems.push({ ...p, reason: Reason[p.reason] });
    const resolvedRefs =
      refProblems.length === 0
        ? RESOLVED_REFS
        : condition(
            ConditionType.ResolvedRefs,
            "False",
            (refProblems[0] as { reason: Reason }).reason,
            refProblems.map((p) => p.message).join("; "),
          );

    let accepted: ConditionVerdict;
    const problems = memo ? (memo.problems ??= semanticProblems(route)) : semanticProblems(route);
    const claims = memo ? (memo.claims ??= claimsOf(route)) : claimsOf(route);
    const conflict = claims.length === 0 ? undefined : firstClaimed(claims, claimedBy);
    // A route of another namespace cannot take part of an older route's path by adding a
    // method, header or query match (one that holds for most requests would take it all).
    const claimPaths = memo ? (memo.claimPaths ??= claimPathsOf(claims)) : claimPathsOf(claims);
    const foreignPath = firstForeignPath(claims, claimPaths, pathClaimedBy, namespace);
    // Tenants stay in their namespace; with the opt-out, certificates still come from the owner's.
    const foreign = tenantRoute(route) ? ownership.foreignClaim(route) : undefined;
    const hostnameConflict = options.allowCrossNamespaceHostnames ? undefined : foreign;
    const foreignTls = options.allowCrossNamespaceHostnames && certificate ? foreign : undefined;
    const tlsConflict = certificate
      ? route.spec.hostnames.find((h) => {
          const other = tlsHosts.get(h);
          return other !== undefined && other.secret !== certificate.secret;
        })
      : undefined;
    if (problems.length > 0) {
      accepted = condition(ConditionType.Accepted, "False", Reason.Invalid, problems.join("; "));
    } else if (hostnameConflict !== undefined) {
      accepted = condition(
        ConditionType.Accepted,
        "False",
        Reason.HostnameConflict,
        `${ownedElsewhere(hostnameConflict)}; routes of other namespaces cannot claim it unless the gateway runs with --allow-cross-namespace-hostnames`,
      );
    } else if (foreignTls !== undefined) {
      accepted = condition(
        ConditionType.Accepted,
        "False",
        Reason.HostnameConflict,
        `${ownedElsewhere(foreignTls)}, and its TLS certificate comes from that namespace only: remove spec.tls from this route`,
      );
    } else if (conflict !== undefined) {
      accepted = condition(
        ConditionType.Accepted,
        "False",
        Reason.Conflicted,
        `${describeClaim(conflict)} is already served by the older route ${claimedBy.get(conflict)}`,
      );
    } else if (foreignPath !== undefined) {
      const path = pathOfClaim(foreignPath);
      const owner = pathClaimedBy.get(path);
      accepted = condition(
        ConditionType.Accepted,
        "False",
        Reason.Conflicted,
        `${describeClaim(path)} is already served by the older route ${owner?.route}; routes of different namespaces cannot share a path, with method, header or query conditions or without`,
      );
    } else if (tlsConflict !== undefined) {
      accepted = condition(
        ConditionType.Accepted,
        "False",
        Reason.Conflicted,
        `hostname ${tlsConflict} already has the TLS Secret ${tlsHosts.get(tlsConflict)?.secret} from an older route`,
      );
    } else {
      accepted = ACCEPTED;
      const owner = memo ? (memo.owner ??= { namespace, route: key }) : { namespace, route: key };
      for (let i = 0; i < claims.length; i++) {
        claimedBy.set(claims[i] as string, key);
        const path = claimPaths[i] as string;
        if (!pathClaimedBy.has(path)) pathClaimedBy.set(path, owner);
      }
      if (certificate)
        for (const h of route.spec.hostnames) if (!tlsHosts.has(h)) tlsHosts.set(h, certificate);
      const settings =
        auth.auth === undefined && memo
          ? (memo.settings ??= routeSettings(route, undefined))
          : routeSettings(route, auth.auth);
      const last = memo?.route;
      if (last !== undefined && last.settings === settings && sameItems(last.rules, ruled.rules)) {
        served.push(last);
      } else {
        const compiled: Route = Object.freeze({
          namespace,
          name,
          key,
          hostnames: memo ? (memo.hostnames ??= hostnamesOf(route)) : hostnamesOf(route),
          rules: Object.freeze(ruled.rules),
          // Settings with resolved auth keys are made anew: the keys come from Secrets.
          settings,
          ...(isTranslated(route) && route.listeners ? { listeners: route.listeners } : {}),
        });
        served.push(memo ? (memo.route = sameRoute(memo.route, compiled)) : compiled);
      }
    }

    const programmed =
      accepted.status !== "True"
        ? condition(
            ConditionType.Programmed,
            "False",
            Reason.Pending,
            "The route is not served until it is accepted",
          )
        : programmedByEndpoints(resolved);

    // Fail closed: the route keeps its hosts and paths, and every request to it gets 503.
    const refusing =
      accepted.status === "True" && auth.auth?.kind === "unresolved"
        ? condition(
            ConditionType.Programmed,
            "False",
            Reason.Pending,
            "Handshakes and requests are refused (503) until spec.auth's key Secret resolves",
          )
        : undefined;

    const conditions = [accepted, resolvedRefs, refusing ?? programmed];
    // A stored route's status as last time (same route: same name, generation, claimed) is kept.
    const last = memo?.diagnostics;
    if (last?.claimed && sameStatus(last, conditions, resolved.ready, resolved.total)) {
      diagnostics.push(last);
      continue;
    }
    const d = diagnosticsOf(route, true, conditions, resolved.ready, resolved.total);
    if (memo) memo.diagnostics = d;
    diagnostics.push(d);
  }

  sortByKey(diagnostics, keys);
  // Gateway listeners' certificates serve the hostnames no WebSocketRoute has one for.
  for (const [host, certificate] of gatewayApi.certificates)
    if (!tlsHosts.has(host)) tlsHosts.set(host, certificate);
  const certificates = new Map([...tlsHosts.entries()].sort(([a], [b]) => (a < b ? -1 : 1)));
  const fallback = defaultCertificate(lookup, options.defaultTlsSecret);
  const fallbackCertificate = fallback.certificate ?? gatewayApi.defaultCertificate;
  return {
    table: buildTable(options.generation, served, certificates, fallbackCertificate, {
      crossNamespaceFallthrough: options.allowCrossNamespaceHostnames === true,
    }),
    diagnostics,
    gatewayApi: {
      ...gatewayApiDiagnostics(gatewayApi, diagnostics),
      backendTlsPolicies: backendTlsPolicyDiagnostics(
        snapshot.backendTLSPolicies ?? [],
        lookup.backendTlsPolicies,
        gatewayApi.httpRoutes,
        lookup,
      ),
    },
    ingress: ingressDiagnostics(ingress, diagnostics),
    ...(fallback.problem === undefined ? {} : { defaultTlsProblem: fallback.problem }),
  };
}

/** Sorts status by `namespace/name` (`keys`, at the same positions). */
function sortByKey(diagnostics: RouteDiagnostics[], keys: readonly string[]): void {
  // Positions break ties: the sort stays stable, as a sort of the objects is.
  const order = keys.map((_, i) => i);
  order.sort((a, b) => {
    const ka = keys[a] as string;
    const kb = keys[b] as string;
    return ka < kb ? -1 : ka > kb ? 1 : a - b;
  });
  const sorted = order.map((i) => diagnostics[i] as RouteDiagnostics);
  sorted.forEach((d, i) => (diagnostics[i] = d));
}

/** A route's status; its properties in one order whatever the route (one object shape). */
function diagnosticsOf(
  route: AnyRoute,
  claimed: boolean,
  conditions: readonly ConditionVerdict[],
  ready: number,
  total: number,
): RouteDiagnostics {
  const { namespace, name, generation } = route.metadata;
  const endpoints = { ready, total };
  if (isTranslated(route))
    return {
      namespace,
      name,
      ...(generation === undefined ? {} : { generation }),
      origin: route.origin,
      claimed,
      conditions,
      endpoints,
    };
  return generation === undefined
    ? { namespace, name, claimed, conditions, endpoints }
    : { namespace, name, generation, claimed, conditions, endpoints };
}

/** The first claim an older route already holds. */
function firstClaimed(claims: readonly string[], claimedBy: ReadonlyMap<string, string>): string | undefined {
  for (const c of claims) if (claimedBy.has(c)) return c;
  return undefined;
}

/** The first claim whose path (conditions aside) an older route of another namespace holds. */
function firstForeignPath(
  claims: readonly string[],
  claimPaths: readonly string[],
  pathClaimedBy: ReadonlyMap<string, { readonly namespace: string }>,
  namespace: string,
): string | undefined {
  for (let i = 0; i < claims.length; i++) {
    const owner = pathClaimedBy.get(claimPaths[i] as string);
    if (owner !== undefined && owner.namespace !== namespace) return claims[i];
  }
  return undefined;
}

function claimPathsOf(claims: readonly string[]): readonly string[] {
  return claims.map(pathOfClaim);
}

/** Gateway API status: the translation's verdicts, with compile()'s on each translated route. */
function gatewayApiDiagnostics(
  translation: ReturnType<typeof translateGatewayApi>,
  diagnostics: readonly RouteDiagnostics[],
): GatewayApiDiagnostics {
  const byRoute = new Map(diagnostics.filter((d) => d.origin).map((d) => [`${d.namespace}/${d.name}`, d]));
  return {
    gatewayClasses: translation.classes,
    policies: translation.policies,
    gateways: [...translation.gateways.values()].map(gatewayDiagnostics),
    httpRoutes: translation.httpRoutes.map((t) => {
      const d = t.translated
        ? byRoute.get(`${t.translated.metadata.namespace}/${t.translated.metadata.name}`)
        : undefined;
      const accepted = d?.conditions.find((c) => c.type === ConditionType.Accepted);
      const resolved = d?.conditions.find((c) => c.type === ConditionType.ResolvedRefs);
      return httpRouteDiagnostics(t, {
        // A route refused for a spec compile() checks (a path not in normal form) has an unsupported value.
        ...(accepted && accepted.status !== "True"
          ? {
              accepted: gatewayCondition(
                "Accepted",
                "False",
                accepted.reason === Reason.Invalid ? "UnsupportedValue" : accepted.reason,
                accepted.message,
              ),
            }
          : {}),
        ...(resolved
          ? {
              resolvedRefs: gatewayCondition(
                "ResolvedRefs",
                resolved.status,
                resolved.reason,
                resolved.message,
              ),
            }
          : {}),
      });
    }),
  };
}
