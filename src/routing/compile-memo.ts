/**
 * What compile() made of each stored object last time, reused while the objects it came
 * from are the same. Stored objects are never changed in place (a change is a new object
 * in the store), so an object's identity stands for its content; the memos are weak, so
 * they leave with the objects.
 *
 * Why: at 10,000 routes most of compile()'s time went to garbage collection of its own
 * output — a table of 100,000 endpoint objects copied twice by the young-generation
 * collector before it reached the old generation. A recompile (one route or Service
 * changed) now builds only what changed and hands back the previous objects for the rest,
 * so the collector copies nothing new and a worker receives only the routes that changed
 * (workers/table-transfer.ts sends routes by identity). compile() stays a function of its
 * snapshot: the same inputs give a deep-equal result, memo or not (compile-memo.test.ts).
 */
import type { ConditionVerdict } from "../api/conditions.js";
import type { EndpointSlice } from "../api/objects.js";
import type { WebSocketRoute } from "../api/route.js";
import {
  backendEndpoints,
  countEndpoints,
  weighEndpoints,
  type BackendEndpoints,
  type EndpointCounts,
} from "./endpoints.js";
import type { Backend, Endpoint, PathMatch, Route, RouteDiagnostics, RouteSettings, Rule } from "./table.js";

/** One backend's endpoints from one set of slices, for one slice port name, by weight. */
interface BackendMemo {
  readonly key: string;
  readonly portName: string;
  readonly resolved: BackendEndpoints;
  /** The weights asked for, and at the same position their endpoints. */
  readonly weights: number[];
  readonly endpoints: (readonly Endpoint[])[];
}

/**
 * What one Service's slices resolved to, per backend (`namespace/service:port` and slice port
 * name). Short lists, searched in order: a Service has a port or two, a backend a weight or two.
 */
interface SlicesMemo {
  readonly slices: readonly EndpointSlice[];
  readonly backends: BackendMemo[];
}

/**
 * Bounds on what a slice set keeps: a route whose weight is edited again and again must not
 * grow the memo of a Service that stays. Past them the memo starts afresh.
 */
const MAX_BACKENDS_PER_SLICES = 64;
const MAX_WEIGHTS_PER_BACKEND = 16;

const NO_ENDPOINTS: readonly Endpoint[] = Object.freeze([]);

/**
 * What is kept of one slice: its Service's key, and — on the first slice of a Service (sorted,
 * so always the same one) — what the Service's slices resolved to. One entry per slice.
 */
interface SliceFacts {
  service: string | undefined;
  endpoints: SlicesMemo | undefined;
}

const SLICE_FACTS = new WeakMap<EndpointSlice, SliceFacts>();

function sliceFacts(slice: EndpointSlice): SliceFacts {
  let facts = SLICE_FACTS.get(slice);
  if (facts === undefined) {
    facts = { service: undefined, endpoints: undefined };
    SLICE_FACTS.set(slice, facts);
  }
  return facts;
}

/** `namespace/service` of a slice's Service (`service`: its service-name label), made once per slice. */
export function serviceKeyOf(slice: EndpointSlice, service: string): string {
  const facts = sliceFacts(slice);
  return (facts.service ??= `${slice.metadata.namespace}/${service}`);
}

export function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The endpoints of backend `key`, whose Service port's name is `portName`, from `slices` (all
 * of its Service, in snapshot order), with `weight` shared among the ready ones: the same
 * frozen array as last time when the slices are the same objects.
 */
export function memoEndpoints(
  key: string,
  portName: string,
  weight: number,
  slices: readonly EndpointSlice[],
): readonly Endpoint[] {
  const first = slices[0];
  if (first === undefined) return NO_ENDPOINTS;
  const facts = sliceFacts(first);
  let memo = facts.endpoints;
  if (!memo || !sameItems(memo.slices, slices) || memo.backends.length >= MAX_BACKENDS_PER_SLICES) {
    // Lists made at their length (literals): a list grown by push from empty keeps room for
    // 17, and a compile from scratch keeps 10,000 of these (bench C1).
    const backend = newBackendMemo(key, portName, weight, slices);
    memo = { slices: slices.length === 1 ? [first] : [...slices], backends: [backend] };
    facts.endpoints = memo;
    return backend.endpoints[0] as readonly Endpoint[];
  }
  // The Service may have renamed its port while its slices stayed: the port name is part of it.
  let backend: BackendMemo | undefined;
  for (const b of memo.backends) if (b.key === key && b.portName === portName) backend = b;
  if (!backend || backend.weights.length >= MAX_WEIGHTS_PER_BACKEND) {
    if (backend) memo.backends.splice(memo.backends.indexOf(backend), 1);
    backend = newBackendMemo(key, portName, weight, slices);
    memo.backends.push(backend);
    return backend.endpoints[0] as readonly Endpoint[];
  }
  const at = backend.weights.indexOf(weight);
  if (at !== -1) return backend.endpoints[at] as readonly Endpoint[];
  const endpoints = weighEndpoints(key, backend.resolved, weight);
  backend.weights.push(weight);
  backend.endpoints.push(endpoints);
  return endpoints;
}

/** A backend's memo with its endpoints for `weight`. */
function newBackendMemo(
  key: string,
  portName: string,
  weight: number,
  slices: readonly EndpointSlice[],
): BackendMemo {
  const found = backendEndpoints(key, portName, slices);
  const endpoints = weighEndpoints(key, found, weight);
  // Other weights are made from these endpoints (they hold all that was found): the memo keeps
  // no second object per endpoint, the found ones die young (50,000 fewer kept from scratch).
  const resolved: BackendEndpoints = { found: endpoints, ready: found.ready };
  return { key, portName, resolved, weights: [weight], endpoints: [endpoints] };
}

/** `namespace/name` of stored objects, made once: a compile looks up every Service, Secret and slice. */
const KEYS = new WeakMap<object, string>();

/** `namespace/name` of a stored object. */
export function keyOf(object: {
  readonly metadata: { readonly namespace: string; readonly name: string };
}): string {
  let key = KEYS.get(object);
  if (key === undefined) {
    key = `${object.metadata.namespace}/${object.metadata.name}`;
    KEYS.set(object, key);
  }
  return key;
}

/** A backendRef's Service (`namespace/name`) and backend (`namespace/name:port`) keys. */
export interface RefKeys {
  readonly namespace: string;
  readonly service: string;
  readonly backend: string;
}

/**
 * The keys of backendRef `refIndex` (of `refs`) of rule `ruleIndex` of a stored route, its Service in
 * `namespace`, made once and kept in the route's memo (one entry per route, not per ref).
 */
export function refKeys(
  memo: RouteMemo,
  ruleIndex: number,
  refIndex: number,
  refs: readonly { readonly name: string; readonly port: number }[],
  namespace: string,
): RefKeys {
  const ref = refs[refIndex] as (typeof refs)[number];
  // At its length: a list grown from empty keeps room for 17.
  const rule = (memo.refKeys[ruleIndex] ??= new Array<RefKeys>(refs.length));
  let keys = rule[refIndex];
  if (keys === undefined || keys.namespace !== namespace) {
    const service = `${namespace}/${ref.name}`;
    keys = { namespace, service, backend: `${service}:${ref.port}` };
    rule[refIndex] = keys;
  }
  return keys;
}

/**
 * What compile() made of one stored WebSocketRoute: what depends on the route alone, and
 * its last compiled pieces, handed out again when they come out equal.
 */
export interface RouteMemo {
  /** `namespace/name`. */
  readonly key: string;
  /** Its creationTimestamp in ms, once parsed (see compile.ts). */
  createdAt: number | undefined;
  /** Per rule, per backendRef: its keys (see {@link refKeys}). */
  readonly refKeys: RefKeys[][];
  /** Per rule, its path matches, compiled. */
  readonly matches: (readonly PathMatch[])[];
  /** Per rule, its key (`namespace/name#index`). */
  readonly ruleKeys: string[];
  claims?: readonly string[];
  /** Per claim, its host+path without conditions. */
  claimPaths?: readonly string[];
  /** The route as the owner of a path or hostname it claims. */
  owner?: { readonly namespace: string; readonly route: string };
  /** Its hostname claim keys (hostname-ownership.ts). */
  hostnameKeys?: readonly string[];
  /**
   * What the backends were resolved from last time — per backendRef, in order, its Service
   * and that Service's slice list (undefined: none) — and what they resolved to; set only
   * when no backend needed TLS (its Secrets and ConfigMaps are not in this list).
   */
  resolvedFrom?: { readonly inputs: readonly unknown[]; readonly resolved: unknown };
  /** The endpoint counts of `rules`, when they were counted. */
  counts?: { readonly rules: readonly Rule[]; readonly counts: EndpointCounts };
  problems?: readonly string[];
  hostnames?: readonly string[];
  /** Its settings without auth (with auth they hold keys from Secrets: made anew). */
  settings?: RouteSettings;
  /** Per rule, per backendRef: the backend compiled last time. */
  readonly backends: (Backend | undefined)[][];
  rules: readonly Rule[];
  route: Route | undefined;
  diagnostics: RouteDiagnostics | undefined;
}

const ROUTES = new WeakMap<WebSocketRoute, RouteMemo>();
const NO_RULES: readonly Rule[] = Object.freeze([]);

/** The memo of a stored route (translated routes are new objects every compile: none). */
export function routeMemo(route: WebSocketRoute): RouteMemo {
  let memo = ROUTES.get(route);
  if (!memo) {
    // Lists at their length (a list grown from empty keeps room for 17; 10,000 routes keep theirs).
    const rules = route.spec.rules.length;
    // Every property from the start: added later they would go to a second object.
    // What compile() needs of every route (key, age, backendRef keys) is kept here too: one
    // WeakMap entry per route instead of one per fact (a compile from scratch adds them all).
    memo = {
      key: `${route.metadata.namespace}/${route.metadata.name}`,
      createdAt: undefined,
      refKeys: new Array(rules),
      matches: new Array(rules),
      ruleKeys: new Array(rules),
      claims: undefined,
      claimPaths: undefined,
      owner: undefined,
      hostnameKeys: undefined,
      resolvedFrom: undefined,
      counts: undefined,
      problems: undefined,
      hostnames: undefined,
      settings: undefined,
      backends: new Array(rules),
      rules: NO_RULES,
      route: undefined,
      diagnostics: undefined,
    };
    ROUTES.set(route, memo);
  }
  return memo;
}

/** `backend`, or the equal one compiled last time (same key, weight and endpoints; no TLS). */
export function sameBackend(previous: Backend | undefined, backend: Backend): Backend {
  return previous !== undefined &&
    previous.tls === undefined &&
    backend.tls === undefined &&
    previous.key === backend.key &&
    previous.weight === backend.weight &&
    previous.endpoints === backend.endpoints
    ? previous
    : backend;
}

/** `rule`, or the equal one compiled last time: same key, matches and backends (a stored route has no filters). */
export function sameRule(previous: Rule | undefined, rule: Rule): Rule {
  return previous !== undefined &&
    previous.key === rule.key &&
    previous.matches === rule.matches &&
    previous.filters === undefined &&
    rule.filters === undefined &&
    previous.unresolvedWeight === rule.unresolvedWeight &&
    previous.settings === rule.settings &&
    sameItems(previous.backends, rule.backends)
    ? previous
    : rule;
}

/** `route`, or the equal one compiled last time: same rules and settings (hostnames come from the stored route). */
export function sameRoute(previous: Route | undefined, route: Route): Route {
  return previous !== undefined &&
    previous.key === route.key &&
    previous.hostnames === route.hostnames &&
    previous.settings === route.settings &&
    previous.listeners === route.listeners &&
    sameItems(previous.rules, route.rules)
    ? previous
    : route;
}

/** `d`, or the equal status compiled last time. */
export function sameDiagnostics(
  previous: RouteDiagnostics | undefined,
  d: RouteDiagnostics,
): RouteDiagnostics {
  return previous !== undefined &&
    previous.namespace === d.namespace &&
    previous.name === d.name &&
    previous.generation === d.generation &&
    previous.claimed === d.claimed &&
    previous.origin === d.origin &&
    sameStatus(previous, d.conditions, d.endpoints.ready, d.endpoints.total)
    ? previous
    : d;
}

/** The endpoint counts of a route's rules, counted again only when a rule changed. */
export function memoCounts(memo: RouteMemo | undefined, rules: readonly Rule[]): EndpointCounts {
  if (!memo) return countEndpoints(rules);
  if (memo.counts && sameItems(memo.counts.rules, rules)) return memo.counts.counts;
  const counts = countEndpoints(rules);
  memo.counts = { rules, counts };
  return counts;
}

/**
 * An index built from a list of stored objects, built again only when the list holds other
 * objects than last time: a route edit recompiles with the same 10,000 Services and slices.
 * Holds the last list and its index only; the index must not be changed by its users.
 */
export class LastIndex<T, I> {
  readonly #build: (items: readonly T[]) => I;
  readonly #same: ((a: T, b: T) => boolean) | undefined;
  #items: readonly T[] | undefined;
  #index: I | undefined;

  /** `same`: when two different objects count as the same for the index (default: none do). */
  constructor(build: (items: readonly T[]) => I, same?: (a: T, b: T) => boolean) {
    this.#build = build;
    this.#same = same;
    LAST_INDEXES.push(this);
  }

  /** Drops the last list and index: the next one is built. */
  forget(): void {
    this.#items = undefined;
    this.#index = undefined;
  }

  of(items: readonly T[]): I {
    const last = this.#items;
    if (last !== undefined && last.length === items.length) {
      const same = this.#same;
      let i = 0;
      while (i < items.length && (last[i] === items[i] || (same?.(last[i] as T, items[i] as T) ?? false)))
        i++;
      if (i === items.length) {
        this.#items = items;
        return this.#index as I;
      }
    }
    const index = this.#build(items);
    this.#items = items;
    this.#index = index;
    return index;
  }
}

const LAST_INDEXES: { forget(): void }[] = [];

/**
 * Makes every {@link LastIndex} build anew, as in a process that never compiled: what a test
 * compares the memoized compile() with.
 */
export function forgetLastIndexes(): void {
  for (const index of LAST_INDEXES) index.forget();
}

/** Whether `previous` says what a route's status now says: the same conditions and endpoint counts. */
export function sameStatus(
  previous: RouteDiagnostics,
  conditions: readonly ConditionVerdict[],
  ready: number,
  total: number,
): boolean {
  if (
    previous.endpoints.ready !== ready ||
    previous.endpoints.total !== total ||
    previous.conditions.length !== conditions.length
  )
    return false;
  for (let i = 0; i < conditions.length; i++) {
    const a = previous.conditions[i] as ConditionVerdict;
    const b = conditions[i] as ConditionVerdict;
    if (a.type !== b.type || a.status !== b.status || a.reason !== b.reason || a.message !== b.message)
      return false;
  }
  return true;
}
