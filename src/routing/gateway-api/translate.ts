/**
 * Gateway API → the routing model: HTTPRoutes attached to listeners of wsgate's
 * Gateways become {@link TranslatedRoute}s that compile() serves like WebSocketRoutes,
 * and every decision on the way becomes a condition for the object it concerns.
 *
 * What the routing table cannot express is refused with `UnsupportedValue`, never
 * served half-way: header and query matches other than Exact and linear-time
 * RegularExpression (routing/matcher.ts), RegularExpression paths,
 * backendRef filters and the rule filters filters.ts cannot translate (see the README's
 * Gateway API section).
 */
import { GATEWAY_GROUP, type HTTPRoute, type HTTPRouteRule, type ParentRef } from "../../api/gateway-api.js";
import type { Secret, Service } from "../../api/objects.js";
import { routeSpecSchema, type RouteSpec } from "../../api/route.js";
import { formatIssues } from "../../api/parse.js";
import type { Snapshot } from "../store.js";
import type { ListenerKind, TlsCertificate } from "../table.js";
import type { TranslatedRoute } from "../translated.js";
import {
  cond,
  GatewayReason as R,
  type GatewayClassDiagnostics,
  type GatewayCondition,
  type GatewayDiagnostics,
  type HTTPRouteDiagnostics,
  type RouteParentDiagnostics,
} from "./conditions.js";
import { conditionProblems, normalizeConditions } from "../matcher.js";
import { translateFilters } from "./filters.js";
import { ReferenceGrants } from "./grants.js";
import { PolicyAttachments } from "./policies.js";
import { ruleSpecsOf } from "./rule-policies.js";
import { attach, parentKey } from "./attachment.js";
import { missingService, servicesByName, translateBackends } from "./backend-refs.js";
import {
  admitsHTTPRoutes,
  judgeGateways,
  SUPPORTED_KINDS,
  type GatewayApiOptions,
  type GatewayState,
} from "./listeners.js";

/** The behaviour a route gets when nothing sets it: a WebSocketRoute's defaults. */
const DEFAULT_SPEC: RouteSpec = routeSpecSchema.parse({
  rules: [{ backendRefs: [{ name: "defaults", port: 1 }] }],
});

/** One HTTPRoute's translation, before compile() judged conflicts and backends. */
export interface HTTPRouteTranslation {
  readonly route: HTTPRoute;
  /** Parents of our class with the translation's verdict (Accepted and ResolvedRefs). */
  readonly parents: { parentRef: ParentRef; accepted: GatewayCondition }[];
  /** Problems with backendRefs found here (kind, ReferenceGrant); compile adds missing Services. */
  readonly refProblem?: GatewayCondition;
  /** The route compile() serves; absent when no parent accepted it. */
  readonly translated?: TranslatedRoute;
}

export interface GatewayApiTranslation {
  readonly routes: TranslatedRoute[];
  readonly httpRoutes: HTTPRouteTranslation[];
  readonly classes: GatewayClassDiagnostics[];
  readonly gateways: Map<string, GatewayState>;
  /** Listener certificates by hostname, for SNI (WebSocketRoutes' own certificates come first). */
  readonly certificates: Map<string, TlsCertificate>;
  /** The certificate of an HTTPS listener without hostname: for clients whose SNI nothing else names. */
  readonly defaultCertificate?: TlsCertificate;
  /** WebSocketPolicies' attachment verdicts. */
  readonly policies: PolicyAttachments["diagnostics"];
}

/** What in a rule the table cannot serve; each problem names its field. */
function unsupportedIn(rule: HTTPRouteRule, i: number): string[] {
  const problems: string[] = [];
  rule.matches.forEach((m, j) => {
    const at = `spec.rules[${i}].matches[${j}]`;
    if (m.path.type !== "Exact" && m.path.type !== "PathPrefix")
      problems.push(`${at}.path.type ${m.path.type} is not supported (Exact, PathPrefix)`);
    problems.push(...conditionProblems(m, at));
  });
  rule.backendRefs.forEach((b, j) => {
    for (const f of b.filters ?? [])
      problems.push(`spec.rules[${i}].backendRefs[${j}].filters: ${f.type} is not supported`);
  });
  return problems;
}

/** The rules' method, header and query conditions, normalized; `{}` when no match has any. */
function matchConditionsOf(route: HTTPRoute): Pick<TranslatedRoute, "matchConditions"> {
  const matchConditions = route.spec.rules.map((rule) => rule.matches.map(normalizeConditions));
  return matchConditions.some((rule) => rule.some(Boolean)) ? { matchConditions } : {};
}

/** Translates the snapshot's Gateway API objects. Pure, like compile(). */
export function translateGatewayApi(
  snapshot: Snapshot,
  options: GatewayApiOptions,
  secrets: ReadonlyMap<string, Secret>,
): GatewayApiTranslation {
  const grants = new ReferenceGrants(snapshot.referenceGrants ?? []);
  const judged = judgeGateways(
    snapshot.gatewayClasses ?? [],
    snapshot.gateways ?? [],
    options,
    secrets,
    grants,
  );
  const namespaces = new Map((snapshot.namespaces ?? []).map((n) => [n.metadata.name, n]));
  const routes: TranslatedRoute[] = [];
  const httpRoutes: HTTPRouteTranslation[] = [];
  const policies = new PolicyAttachments(snapshot);
  /** Indexed on first need: only routes attached but served nowhere look Services up here. */
  let services: ReadonlyMap<string, Service> | undefined;

  for (const route of snapshot.httpRoutes ?? []) {
    const ours = route.spec.parentRefs.filter(
      (ref) =>
        ref.group === GATEWAY_GROUP &&
        ref.kind === "Gateway" &&
        judged.gateways.has(parentKey(ref, route.metadata.namespace)),
    );
    if (ours.length === 0) continue;
    const filters = route.spec.rules.map((rule, i) =>
      translateFilters(
        rule.filters ?? [],
        `spec.rules[${i}]`,
        rule.matches.map((m) => m.path.type),
      ),
    );
    const unsupported = route.spec.rules.flatMap((rule, i) => [
      ...unsupportedIn(rule, i),
      ...(filters[i]?.problems ?? []),
    ]);
    const ruleFilters = filters.map((f) => f.filters);
    const parents: HTTPRouteTranslation["parents"] = [];
    const served: string[][] = [];
    const servedOn = new Set<ListenerKind>();
    const attachedTo = new Set<string>();
    for (const ref of ours) {
      const state = judged.gateways.get(parentKey(ref, route.metadata.namespace)) as GatewayState;
      const attachment = attach(route, ref, state, namespaces);
      if (attachment.accepted.status === "True" && unsupported.length > 0) {
        parents.push({
          parentRef: ref,
          accepted: cond("Accepted", "False", R.UnsupportedValue, unsupported.join("; ")),
        });
        continue;
      }
      parents.push({ parentRef: ref, accepted: attachment.accepted });
      if (attachment.accepted.status === "True") attachedTo.add(parentKey(ref, route.metadata.namespace));
      for (const l of attachment.listeners) l.attachedRoutes += 1;
      served.push(...attachment.hostnames);
      for (const kind of attachment.servedOn) servedOn.add(kind);
    }
    const backends = translateBackends(route, grants);
    let translated: TranslatedRoute | undefined;
    // WebSocketPolicies: the behaviour fields, merged (Gateway < Service < HTTPRoute), then
    // validated and defaulted by the WebSocketRoute schema itself.
    const policy = policies.behaviourFor(route, [...attachedTo]);
    const behaviour = routeSpecSchema.safeParse({ ...policy.behaviour, rules: DEFAULT_SPEC.rules });
    if (served.length > 0 && !behaviour.success) {
      const message = `WebSocketPolicy ${policy.from.join(", ")} merged: ${formatIssues(behaviour.error.issues).join("; ")}`;
      for (const p of parents)
        if (p.accepted.status === "True") p.accepted = cond("Accepted", "False", R.UnsupportedValue, message);
    }
    // Rules a WebSocketPolicy targets by sectionName: that policy over the route's behaviour.
    const rules = behaviour.success ? ruleSpecsOf(route, policies.ruleBehaviours(route, policy)) : undefined;
    if (served.length > 0 && rules?.problem !== undefined) {
      for (const p of parents)
        if (p.accepted.status === "True")
          p.accepted = cond("Accepted", "False", R.UnsupportedValue, rules.problem);
    }
    if (served.length > 0 && behaviour.success && rules?.problem === undefined) {
      const anyHost = served.some((names) => names.length === 0);
      const hostnames = anyHost ? [] : [...new Set(served.flat())].sort();
      const { namespace, name, generation, creationTimestamp, uid } = route.metadata;
      translated = {
        apiVersion: "wsgate.io/v1alpha1",
        kind: "WebSocketRoute",
        metadata: {
          namespace,
          name: `httproute/${name}`,
          labels: {},
          annotations: {},
          ...(generation === undefined ? {} : { generation }),
          ...(creationTimestamp === undefined ? {} : { creationTimestamp }),
          ...(uid === undefined ? {} : { uid }),
        },
        spec: { ...behaviour.data, hostnames, rules: backends.rules },
        origin: { kind: "HTTPRoute", namespace, name },
        ...(rules?.specs.some(Boolean)
          ? { ruleSpecs: rules.specs.map((spec) => spec && { ...spec, hostnames, rules: backends.rules }) }
          : {}),
        ...(ruleFilters.some(Boolean) ? { ruleFilters } : {}),
        ...matchConditionsOf(route),
        ruleUnresolvedWeights: backends.unresolvedWeights,
        // Listener isolation: attached to listeners of one protocol, served on that listener only.
        ...(servedOn.size === 1 ? { listeners: [...servedOn] } : {}),
      };
      routes.push(translated);
    }
    // Attached but served nowhere (its listeners cannot serve): compile() never sees the
    // route, so a missing Service is found here, or its status would claim resolved refs.
    const refProblem =
      backends.problem ??
      (translated || attachedTo.size === 0
        ? undefined
        : missingService(
            backends.rules,
            route.metadata.namespace,
            (services ??= servicesByName(snapshot.services)),
          ));
    httpRoutes.push({
      route,
      parents,
      ...(refProblem ? { refProblem } : {}),
      ...(translated ? { translated } : {}),
    });
  }

  const certificates = new Map<string, TlsCertificate>();
  let defaultCertificate: TlsCertificate | undefined;
  for (const state of judged.gateways.values()) {
    for (const l of state.listeners) {
      if (!l.usable || !l.certificate) continue;
      const host = l.listener.hostname;
      if (host === undefined || host === "") defaultCertificate ??= l.certificate;
      else if (!certificates.has(host)) certificates.set(host, l.certificate);
    }
  }
  return {
    routes,
    httpRoutes,
    classes: judged.classes,
    gateways: judged.gateways,
    certificates,
    ...(defaultCertificate ? { defaultCertificate } : {}),
    policies: policies.diagnostics,
  };
}

/** The Gateway's and its listeners' conditions, once routes were counted. */
export function gatewayDiagnostics(state: GatewayState): GatewayDiagnostics {
  const { gateway } = state;
  const anyAccepted = state.listeners.some((l) => l.conditions.accepted.status === "True");
  const invalid = state.listeners.filter((l) => l.conditions.accepted.status !== "True");
  const accepted = state.unsupportedAddress
    ? cond(
        "Accepted",
        "False",
        R.UnsupportedAddress,
        "spec.addresses is not supported: the Gateway's address is the wsgate Service's",
      )
    : !anyAccepted && state.listeners.length > 0
      ? cond("Accepted", "False", R.ListenersNotValid, "no listener can be served")
      : invalid.length > 0
        ? // Gateway API: accepted, with the reason saying that some listeners are not.
          cond(
            "Accepted",
            "True",
            R.ListenersNotValid,
            `listeners not accepted: ${invalid.map((l) => l.listener.name).join(", ")}; the others are served`,
          )
        : cond("Accepted", "True", R.Accepted, "Gateway accepted");
  const programmed =
    accepted.status === "True"
      ? cond("Programmed", "True", R.Programmed, "Served by wsgate's listeners")
      : cond("Programmed", "False", R.Invalid, "The Gateway is not accepted");
  return {
    namespace: gateway.metadata.namespace,
    name: gateway.metadata.name,
    ...(gateway.metadata.generation === undefined ? {} : { generation: gateway.metadata.generation }),
    conditions: [accepted, programmed],
    listeners: state.listeners.map((l) => ({
      name: l.listener.name,
      supportedKinds:
        admitsHTTPRoutes(l.listener) && l.conditions.accepted.status === "True" ? SUPPORTED_KINDS : [],
      attachedRoutes: l.attachedRoutes,
      conditions: [
        l.conditions.accepted,
        l.conditions.conflicted,
        l.conditions.resolvedRefs,
        l.usable && l.conditions.resolvedRefs.status === "True"
          ? cond("Programmed", "True", R.Programmed, "Listener programmed")
          : cond("Programmed", "False", R.Invalid, "The listener cannot be served; see its other conditions"),
      ],
    })),
  };
}

/**
 * An HTTPRoute's `status.parents`: the translation's verdicts, refined by compile()'s on
 * the translated route (an older route's claim, a missing Service, an invalid path).
 */
export function httpRouteDiagnostics(
  t: HTTPRouteTranslation,
  compiled: { accepted?: GatewayCondition; resolvedRefs?: GatewayCondition } | undefined,
): HTTPRouteDiagnostics {
  const resolvedRefs =
    t.refProblem ??
    (compiled?.resolvedRefs && compiled.resolvedRefs.status !== "True"
      ? compiled.resolvedRefs
      : cond("ResolvedRefs", "True", R.ResolvedRefs, "All references resolved"));
  const parents: RouteParentDiagnostics[] = t.parents.map((p) => ({
    parentRef: p.parentRef,
    conditions: [
      p.accepted.status === "True" && compiled?.accepted && compiled.accepted.status !== "True"
        ? compiled.accepted
        : p.accepted,
      resolvedRefs,
    ],
  }));
  const { namespace, name, generation } = t.route.metadata;
  return { namespace, name, ...(generation === undefined ? {} : { generation }), parents };
}
