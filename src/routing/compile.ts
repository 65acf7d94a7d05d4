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
import {
  claimPathsOf,
  claimsOf,
  describeClaim,
  firstClaimed,
  firstForeignPath,
  pathOfClaim,
} from "./compile-claims.js";
import { keyOf, routeMemo, sameItems, sameRoute, sameStatus } from "./compile-memo.js";
import { AGE_ORDER, OWNERSHIP, type AnyRoute } from "./compile-order.js";
import {
  ACCEPTED,
  RESOLVED_REFS,
  condition,
  diagnosticsOf,
  gatewayApiDiagnostics,
  sortByKey,
} from "./compile-status.js";
import { programmedByEndpoints } from "./endpoints.js";
import { describeHostname, type ForeignClaim } from "./hostname-ownership.js";
import type { GatewayApiDiagnostics } from "./gateway-api/conditions.js";
import type { GatewayApiOptions } from "./gateway-api/listeners.js";
import { backendTlsPolicyDiagnostics } from "./gateway-api/backend-tls-status.js";
import { translateGatewayApi } from "./gateway-api/translate.js";
import {
  INGRESS_ORIGIN_KIND,
  ingressDiagnostics,
  translateIngresses,
  type IngressDiagnostics,
} from "./ingress/routes.js";
import { routeSettings, semanticProblems } from "./route-settings.js";
import { withRuleSettings } from "./rule-settings.js";
import { isInvalidRoute, type Snapshot } from "./store.js";
import {
  buildTable,
  type Route,
  type RouteDiagnostics,
  type RoutingTable,
  type TlsCertificate,
} from "./table.js";
import { isTranslated } from "./translated.js";

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

function hostnamesOf(route: WebSocketRoute): readonly string[] {
  return Object.freeze([...route.spec.hostnames]);
}

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
