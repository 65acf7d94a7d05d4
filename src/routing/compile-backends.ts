/**
 * The backends of compile(): the snapshot's indexes (kept while the snapshot holds the same
 * objects) and kube-proxy's resolution of a route's backendRefs into endpoints, with what a
 * stored route resolved to last time reused (compile-memo.ts).
 */
import {
  SERVICE_NAME_LABEL,
  type ConfigMap,
  type EndpointSlice,
  type Secret,
  type Service,
} from "../api/objects.js";
import type { BackendRef, RouteRule, WebSocketRoute } from "../api/route.js";
import {
  BackendTlsPolicies,
  requestOf,
  resolveBackendTls,
  type BackendTlsProblem,
  type CaSources,
} from "./backend-tls.js";
import {
  keyOf,
  LastIndex,
  memoCounts,
  memoEndpoints,
  refKeys,
  sameBackend,
  sameItems,
  sameRule,
  serviceKeyOf,
  type RefKeys,
  type RouteMemo,
} from "./compile-memo.js";
import type { EndpointCounts } from "./endpoints.js";
import { matchesOf } from "./route-settings.js";
import type { Snapshot } from "./store.js";
import type { Backend, Endpoint, PathMatch, Rule } from "./table.js";
import { backendNamespace, conditionsOf, isTranslated } from "./translated.js";

/** Indexes of the snapshot the compiler looks things up in. */
export class Lookup implements CaSources {
  readonly services: ReadonlyMap<string, Service>;
  readonly secrets: ReadonlyMap<string, Secret>;
  readonly configMaps: ReadonlyMap<string, ConfigMap>;
  readonly backendTlsPolicies: BackendTlsPolicies;

  secretData(key: string): Readonly<Record<string, string>> | undefined {
    return this.secrets.get(key)?.data;
  }

  configMapData(key: string): Readonly<Record<string, string>> | undefined {
    return this.configMaps.get(key)?.data;
  }
  readonly slicesByService: ReadonlyMap<string, readonly EndpointSlice[]>;

  /**
   * The endpoints of backend `key` (`namespace/service:port`) of Service `service`, its slice
   * port named `portName`: resolved once per set of slices (compile-memo.ts), as rules often
   * name one Service port with other weights and most slices did not change since last time.
   */
  endpointsOf(key: string, service: string, portName: string, weight: number): readonly Endpoint[] {
    return memoEndpoints(key, portName, weight, this.slicesByService.get(service) ?? NO_SLICES);
  }

  constructor(snapshot: Snapshot) {
    this.services = SERVICES.of(snapshot.services);
    this.secrets = SECRETS.of(snapshot.secrets);
    this.configMaps = CONFIG_MAPS.of(snapshot.configMaps ?? []);
    this.backendTlsPolicies = new BackendTlsPolicies(snapshot.backendTLSPolicies ?? []);
    this.slicesByService = SLICES.of(snapshot.endpointSlices);
  }
}

/** Stored objects by `namespace/name`. */
function byKey<T extends { readonly metadata: { readonly namespace: string; readonly name: string } }>(
  objects: readonly T[],
): ReadonlyMap<string, T> {
  const map = new Map<string, T>();
  for (const o of objects) map.set(keyOf(o), o);
  return map;
}

/** EndpointSlices by the `namespace/name` of their Service (unlabelled ones left out). */
function slicesByService(slices: readonly EndpointSlice[]): ReadonlyMap<string, readonly EndpointSlice[]> {
  const map = new Map<string, EndpointSlice[]>();
  for (const slice of slices) {
    const service = slice.metadata.labels[SERVICE_NAME_LABEL];
    if (!service) continue;
    const key = serviceKeyOf(slice, service);
    const list = map.get(key);
    if (list) list.push(slice);
    else map.set(key, [slice]);
  }
  return map;
}

// The indexes of the last compile, kept while the snapshot holds the same objects.
const SERVICES = new LastIndex<Service, ReadonlyMap<string, Service>>(byKey);
const SECRETS = new LastIndex<Secret, ReadonlyMap<string, Secret>>(byKey);
const CONFIG_MAPS = new LastIndex<ConfigMap, ReadonlyMap<string, ConfigMap>>(byKey);
const SLICES = new LastIndex(slicesByService);

const NO_SLICES: readonly EndpointSlice[] = Object.freeze([]);

export interface ResolvedBackends extends EndpointCounts {
  readonly rules: readonly Rule[];
  readonly missing: readonly string[];
  /** Backends left out because their TLS cannot be set up (never plain text to a TLS port). */
  readonly tlsProblems: readonly BackendTlsProblem[];
}

// Most routes have no problem: one empty list for all (the memo keeps each route's).
const NO_MISSING: readonly string[] = Object.freeze([]);
const NO_TLS_PROBLEMS: readonly BackendTlsProblem[] = Object.freeze([]);

/**
 * kube-proxy's resolution: backendRef port → ServicePort → its name → the port of
 * that name in the Service's EndpointSlices.
 */
export function resolveBackends(
  route: WebSocketRoute,
  lookup: Lookup,
  memo: RouteMemo | undefined,
): ResolvedBackends {
  if (!memo) return resolveBackendsAnew(route, lookup, undefined);
  // A stored route whose Services and slice lists are the objects of last time resolves as
  // it did then — unless TLS is involved, whose Secrets and ConfigMaps are not compared.
  const inputs = backendInputs(route, lookup, memo);
  const last = memo.resolvedFrom;
  if (last !== undefined && inputs !== undefined && sameItems(last.inputs, inputs))
    return last.resolved as ResolvedBackends;
  const resolved = resolveBackendsAnew(route, lookup, memo);
  memo.resolvedFrom =
    inputs !== undefined && resolved.tlsProblems.length === 0 && !usesTls(resolved.rules)
      ? { inputs, resolved }
      : undefined;
  return resolved;
}

/** Per backendRef of a stored route: its Service and slice list; undefined when TLS may be involved. */
function backendInputs(route: WebSocketRoute, lookup: Lookup, memo: RouteMemo): unknown[] | undefined {
  if (lookup.backendTlsPolicies.size > 0) return undefined;
  let refs = 0;
  for (const rule of route.spec.rules) refs += rule.backendRefs.length;
  // At its length: kept in the route's memo (a list grown from empty keeps room for 17).
  const inputs = new Array<unknown>(refs * 2);
  let at = 0;
  const rules = route.spec.rules;
  for (let ruleIndex = 0; ruleIndex < rules.length; ruleIndex++) {
    const refs = (rules[ruleIndex] as RouteRule).backendRefs;
    for (let refIndex = 0; refIndex < refs.length; refIndex++) {
      const ref = refs[refIndex] as BackendRef;
      if (ref.backendTLS) return undefined;
      const keys = refKeys(memo, ruleIndex, refIndex, refs, backendNamespace(ref, route.metadata.namespace));
      inputs[at++] = lookup.services.get(keys.service);
      inputs[at++] = lookup.slicesByService.get(keys.service);
    }
  }
  return inputs;
}

function usesTls(rules: readonly Rule[]): boolean {
  return rules.some((rule) => rule.backends.some((b) => b.tls !== undefined));
}

function resolveBackendsAnew(
  route: WebSocketRoute,
  lookup: Lookup,
  memo: RouteMemo | undefined,
): ResolvedBackends {
  // Plain loops and literals of one shape: a compile from scratch runs this for every route,
  // and each closure, spread or temporary here is garbage of 10,000 routes (bench C1).
  const ns = route.metadata.namespace;
  const missing: string[] = [];
  const tlsProblems: BackendTlsProblem[] = [];
  // An HTTPRoute's rule filters, translated already (gateway-api/filters.ts).
  const filters = isTranslated(route) ? route.ruleFilters : undefined;
  // HTTPRoutes: refs that cannot be served keep their share of requests, answered 500.
  const unresolvedByRule = isTranslated(route) ? route.ruleUnresolvedWeights : undefined;
  const specRules = route.spec.rules;
  const rules = new Array<Rule>(specRules.length);
  for (let index = 0; index < specRules.length; index++) {
    const rule = specRules[index] as RouteRule;
    // The backends this rule's refs compiled to last time (by ref position).
    const refs = rule.backendRefs.length;
    const previous = memo ? (memo.backends[index] ??= new Array<Backend | undefined>(refs)) : undefined;
    // At its length (a list grown from empty keeps room for 17), cut if a ref is not served.
    const backends = new Array<Backend>(refs);
    let served = 0;
    let unresolved = unresolvedByRule?.[index] ?? 0;
    for (let refIndex = 0; refIndex < rule.backendRefs.length; refIndex++) {
      const ref = rule.backendRefs[refIndex] as BackendRef;
      const keys = memo
        ? refKeys(memo, index, refIndex, rule.backendRefs, backendNamespace(ref, ns))
        : undefined;
      const backend = resolveRef(ref, ns, lookup, keys, previous?.[refIndex], missing, tlsProblems);
      if (backend === undefined) {
        unresolved += ref.weight;
        continue;
      }
      backends[served++] = backend;
      if (previous) previous[refIndex] = backend;
    }
    if (served < refs) backends.length = served;
    const key = memo ? (memo.ruleKeys[index] ??= ruleKey(route, index)) : ruleKey(route, index);
    const matches = memo
      ? (memo.matches[index] ??= matchesOfRule(route, rule, index))
      : matchesOfRule(route, rule, index);
    const filtersHere = filters?.[index];
    const unresolvedWeight = unresolvedByRule && unresolved > 0 ? unresolved : undefined;
    const compiled: Rule = Object.freeze(
      filtersHere === undefined && unresolvedWeight === undefined
        ? { key, matches, backends: Object.freeze(backends) }
        : {
            key,
            matches,
            backends: Object.freeze(backends),
            ...(filtersHere ? { filters: filtersHere } : {}),
            ...(unresolvedWeight !== undefined ? { unresolvedWeight } : {}),
          },
    );
    rules[index] = memo ? sameRule(memo.rules[index], compiled) : compiled;
  }
  if (memo) memo.rules = rules;
  const counts = memoCounts(memo, rules);
  return {
    rules,
    missing: missing.length === 0 ? NO_MISSING : missing,
    tlsProblems: tlsProblems.length === 0 ? NO_TLS_PROBLEMS : tlsProblems,
    ready: counts.ready,
    total: counts.total,
    routable: counts.routable,
  };
}

function ruleKey(route: WebSocketRoute, index: number): string {
  return `${route.metadata.namespace}/${route.metadata.name}#${index}`;
}

/**
 * The backend of one backendRef; undefined (and the problem recorded) when it cannot be
 * served. `keys`: the ref's keys, kept for a stored route (undefined: a translated one).
 * `last`: what the ref compiled to last time, handed back when it is the same.
 */
function resolveRef(
  ref: BackendRef,
  routeNamespace: string,
  lookup: Lookup,
  keys: RefKeys | undefined,
  last: Backend | undefined,
  missing: string[],
  tlsProblems: BackendTlsProblem[],
): Backend | undefined {
  // Translated routes may name another namespace's Service (a ReferenceGrant allowed it).
  const refNs = backendNamespace(ref, routeNamespace);
  const stored = keys !== undefined;
  const serviceKey = keys ? keys.service : `${refNs}/${ref.name}`;
  const service = lookup.services.get(serviceKey);
  if (!service) {
    missing.push(`Service ${refNs}/${ref.name} not found`);
    return undefined;
  }
  const servicePort = tcpPortOf(service, ref.port);
  if (!servicePort) {
    missing.push(`Service ${refNs}/${ref.name} has no TCP port ${ref.port}`);
    return undefined;
  }
  const key = keys ? keys.backend : `${serviceKey}:${ref.port}`;
  const portName = servicePort.name ?? "";
  const endpoints = lookup.endpointsOf(key, serviceKey, portName, ref.weight);
  // The backendRef's own backendTLS, else a BackendTLSPolicy of the port, else appProtocol wss.
  const request = ref.backendTLS
    ? requestOf(ref.backendTLS)
    : lookup.backendTlsPolicies.size === 0 && servicePort.appProtocol === undefined
      ? undefined
      : lookup.backendTlsPolicies.requestFor(
          { namespace: refNs, service: ref.name, portName },
          servicePort.appProtocol,
        );
  const tls = request ? resolveBackendTls(request, refNs, lookup) : undefined;
  if (tls && !tls.ok) {
    tlsProblems.push({ ...tls.problem, message: `backendRef ${key}: ${tls.problem.message}` });
    return undefined;
  }
  // Unchanged (the weight comes from the route, which is the same object).
  if (last && !tls && last.tls === undefined && last.endpoints === endpoints && last.key === key) return last;
  const backend: Backend = Object.freeze(
    tls ? { key, weight: ref.weight, endpoints, tls: tls.tls } : { key, weight: ref.weight, endpoints },
  );
  return stored ? sameBackend(last, backend) : backend;
}

/** The Service's TCP port numbered `port`. */
function tcpPortOf(service: Service, port: number): Service["spec"]["ports"][number] | undefined {
  for (const p of service.spec.ports) if (p.port === port && p.protocol === "TCP") return p;
  return undefined;
}

/** A rule's path matches as the table holds them, with their conditions (HTTPRoutes). */
function matchesOfRule(route: WebSocketRoute, rule: RouteRule, index: number): readonly PathMatch[] {
  return Object.freeze(
    matchesOf(rule).map((m, j) => {
      const conditions = conditionsOf(route, index, j);
      return Object.freeze({ ...m.path, ...(conditions ? { conditions } : {}) });
    }),
  );
}
