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
import type { EndpointSlice } from "../api/objects.js";
import type { WebSocketRoute } from "../api/route.js";
import { backendEndpoints, weighEndpoints, type BackendEndpoints } from "./endpoints.js";
import type { Backend, Endpoint, PathMatch, Route, RouteDiagnostics, RouteSettings, Rule } from "./table.js";

/** One backend's endpoints from one set of slices, for one slice port name, by weight. */
interface BackendMemo {
  readonly portName: string;
  readonly resolved: BackendEndpoints;
  readonly byWeight: Map<number, readonly Endpoint[]>;
}

/** What one Service's slices resolved to, by backend key (`namespace/service:port`). */
interface SlicesMemo {
  readonly slices: readonly EndpointSlice[];
  readonly backends: Map<string, BackendMemo>;
}

/**
 * Bounds on what a slice set keeps: a route whose weight is edited again and again must not
 * grow the memo of a Service that stays. Past them the memo starts afresh.
 */
const MAX_BACKENDS_PER_SLICES = 64;
const MAX_WEIGHTS_PER_BACKEND = 16;

const NO_ENDPOINTS: readonly Endpoint[] = Object.freeze([]);

/** A Service's slices are memoized under the first of them (sorted, so always the same one). */
const BY_FIRST_SLICE = new WeakMap<EndpointSlice, SlicesMemo>();

function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
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
  let memo = BY_FIRST_SLICE.get(first);
  if (!memo || !sameItems(memo.slices, slices) || memo.backends.size >= MAX_BACKENDS_PER_SLICES) {
    memo = { slices: [...slices], backends: new Map() };
    BY_FIRST_SLICE.set(first, memo);
  }
  let backend = memo.backends.get(key);
  // The Service may have renamed its port while its slices stayed.
  if (!backend || backend.portName !== portName || backend.byWeight.size >= MAX_WEIGHTS_PER_BACKEND) {
    backend = { portName, resolved: backendEndpoints(key, portName, slices), byWeight: new Map() };
    memo.backends.set(key, backend);
  }
  let endpoints = backend.byWeight.get(weight);
  if (!endpoints) {
    endpoints = weighEndpoints(key, backend.resolved, weight);
    backend.byWeight.set(weight, endpoints);
  }
  return endpoints;
}

/**
 * What compile() made of one stored WebSocketRoute: what depends on the route alone, and
 * its last compiled pieces, handed out again when they come out equal.
 */
export interface RouteMemo {
  /** Per rule, its path matches, compiled. */
  readonly matches: (readonly PathMatch[])[];
  claims?: readonly string[];
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

/** The memo of a stored route (translated routes are new objects every compile: none). */
export function routeMemo(route: WebSocketRoute): RouteMemo {
  let memo = ROUTES.get(route);
  if (!memo) {
    memo = { matches: [], backends: [], rules: [], route: undefined, diagnostics: undefined };
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
  if (
    previous === undefined ||
    previous.namespace !== d.namespace ||
    previous.name !== d.name ||
    previous.generation !== d.generation ||
    previous.claimed !== d.claimed ||
    previous.origin !== d.origin ||
    previous.endpoints.ready !== d.endpoints.ready ||
    previous.endpoints.total !== d.endpoints.total ||
    previous.conditions.length !== d.conditions.length
  )
    return d;
  for (let i = 0; i < d.conditions.length; i++) {
    const a = previous.conditions[i];
    const b = d.conditions[i];
    if (
      a === undefined ||
      b === undefined ||
      a.type !== b.type ||
      a.status !== b.status ||
      a.reason !== b.reason ||
      a.message !== b.message
    )
      return d;
  }
  return previous;
}
