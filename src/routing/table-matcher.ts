/**
 * The lookup structure of a routing table (see table.ts): virtual hosts by hostname, with
 * their exact paths and PathPrefixes in Maps, built from the routes' hostnames, matches and
 * order only — so a table whose routes got other endpoints or settings reuses it.
 */
import { isDeepStrictEqual } from "node:util";
import {
  compareConditions,
  conditionSignature,
  conditionTest,
  type ConditionTest,
  type MatchConditions,
} from "./matcher.js";
import type { PathMatch, Route, Rule, TableOptions } from "./table.js";

/**
 * Where a path leads: positions in the table's routes, not the objects, so that a table
 * whose routes only got other endpoints reuses the matcher (see {@link withEndpoints}).
 */
export interface PathEntry {
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

export interface VirtualHost {
  readonly exact: Map<string, PathEntry>;
  /** PathPrefix entries by canonical value (see {@link canonicalPrefix}). */
  readonly prefixes: Map<string, PathEntry>;
  /** The namespace of its oldest route: the hostname's owner (compile refuses other namespaces). */
  readonly namespace: string;
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
export interface Matcher {
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

export function matcherFor(routes: readonly Route[], options: TableOptions): Matcher {
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
