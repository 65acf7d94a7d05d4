/**
 * One route's own spec, checked and turned into the settings the data plane uses:
 * what the schema cannot express (problems), and durations in milliseconds.
 * Pure, like compile(), of which it is a part.
 */
import { durationToMs } from "../api/duration.js";
import { pathValueProblem } from "../api/request-path.js";
import type { RouteRule, WebSocketRoute } from "../api/route.js";
import { affinitySettings } from "./affinity-settings.js";
import type { CompiledAuth } from "./auth-contract.js";
import { authProblems } from "./auth.js";
import { rebalanceSettings } from "./rebalance-settings.js";
import type { Route } from "./table.js";

/** A rule's matches; none at all means PathPrefix `/`, as in Gateway API. */
export function matchesOf(rule: RouteRule): RouteRule["matches"] {
  return rule.matches.length > 0 ? rule.matches : DEFAULT_MATCHES;
}

const DEFAULT_MATCHES: RouteRule["matches"] = [{ path: { type: "PathPrefix", value: "/" } }];

/** Checks the spec for what its schema cannot express. Returns readable problems. */
export function semanticProblems(route: WebSocketRoute): string[] {
  const problems: string[] = [];
  const spec = route.spec;
  // Most routes name a hostname or two: a Set only for longer lists (every route, from scratch).
  const seen = spec.hostnames.length > 8 ? new Set<string>() : undefined;
  spec.hostnames.forEach((h, i) => {
    if (seen ? seen.has(h) : spec.hostnames.indexOf(h) < i)
      problems.push(`spec.hostnames: ${h} is listed twice`);
    seen?.add(h);
  });
  if (spec.healthCheck && durationToMs(spec.healthCheck.timeout) >= durationToMs(spec.healthCheck.interval)) {
    problems.push("spec.healthCheck.timeout must be shorter than spec.healthCheck.interval");
  }
  if (spec.keepalive && durationToMs(spec.keepalive.interval) === 0) {
    problems.push(
      "spec.keepalive.interval must be greater than 0s; remove spec.keepalive to turn keepalive off",
    );
  }
  if (spec.auth) problems.push(...authProblems(spec.auth));
  pathProblems(route, problems);
  return problems;
}

/**
 * Path values that are not in the normal form every request path is put in (see
 * api/request-path.ts) could never match: a route `/%61pi` would leave `/api` to a
 * broader, perhaps public, route. Refused, with the value to write instead.
 */
function pathProblems(route: WebSocketRoute, problems: string[]): void {
  const rules = route.spec.rules;
  for (let i = 0; i < rules.length; i++) {
    const matches = matchesOf(rules[i] as RouteRule);
    for (let j = 0; j < matches.length; j++) {
      const value = (matches[j] as RouteRule["matches"][number]).path.value;
      const problem = pathProblemOf(value);
      if (problem) problems.push(`spec.rules[${i}].matches[${j}].path.value ${value}: ${problem}`);
    }
  }
}

/**
 * Path values already checked, with their problem ("" for none): 10,000 routes mostly use
 * a few values (`/ws`, `/socket.io`), and normalizing one allocates. Bounded.
 */
const PATH_PROBLEMS = new Map<string, string>();
const MAX_PATH_PROBLEMS = 4096;

function pathProblemOf(value: string): string | undefined {
  let problem = PATH_PROBLEMS.get(value);
  if (problem === undefined) {
    problem = pathValueProblem(value) ?? "";
    if (PATH_PROBLEMS.size < MAX_PATH_PROBLEMS) PATH_PROBLEMS.set(value, problem);
  }
  return problem === "" ? undefined : problem;
}

/** Lower-case headers the route fills from auth: no client may send them, on any route. */
function identityHeadersOf(route: WebSocketRoute): readonly string[] {
  const auth = route.spec.auth;
  if (!auth?.jwt && !auth?.forwardAuth) return NO_HEADERS;
  const names = [
    ...Object.values(auth?.jwt?.claimsToHeaders ?? {}),
    ...(auth?.forwardAuth?.responseHeaders ?? []),
  ].map((h) => h.toLowerCase());
  return Object.freeze([...new Set(names)].sort());
}

const NO_HEADERS: readonly string[] = Object.freeze([]);

export function routeSettings(route: WebSocketRoute, auth: CompiledAuth | undefined): Route["settings"] {
  const s = route.spec;
  const timeouts = Object.freeze({
    connectMs: durationToMs(s.timeouts.connect),
    handshakeMs: durationToMs(s.timeouts.handshake),
    idleMs: durationToMs(s.timeouts.idle),
    maxLifetimeMs: durationToMs(s.timeouts.maxLifetime),
  });
  const drain = Object.freeze({ windowMs: durationToMs(s.drain.window), closeCode: s.drain.closeCode });
  // Most routes set none of the optional parts: one literal, the properties in the order of
  // the general case below (made for every route of a compile from scratch, bench C1).
  if (
    !s.keepalive &&
    !s.origins &&
    !s.healthCheck &&
    !auth &&
    !s.auth &&
    !s.allowEncodedSlashes &&
    !s.sourceRanges &&
    !s.sessionAffinity &&
    !s.rebalance
  )
    return Object.freeze({
      policy: s.loadBalancing.policy,
      timeouts,
      limits: s.limits,
      drain,
      identityHeaders: NO_HEADERS,
    });
  const rebalance = rebalanceSettings(s.rebalance, s.sessionAffinity?.type);
  return Object.freeze({
    policy: s.loadBalancing.policy,
    timeouts,
    ...(s.keepalive
      ? {
          keepalive: {
            intervalMs: durationToMs(s.keepalive.interval),
            timeoutMs: durationToMs(s.keepalive.timeout),
          },
        }
      : {}),
    limits: s.limits,
    drain,
    ...(s.origins ? { origins: s.origins } : {}),
    ...(s.healthCheck ? { healthCheck: s.healthCheck } : {}),
    ...(auth ? { auth } : {}),
    identityHeaders: identityHeadersOf(route),
    ...(s.allowEncodedSlashes ? { allowEncodedSlashes: true } : {}),
    ...(s.sourceRanges && s.sourceRanges.allow.length + s.sourceRanges.deny.length > 0
      ? { sourceRanges: s.sourceRanges }
      : {}),
    ...(s.sessionAffinity ? { affinity: affinitySettings(s.sessionAffinity) } : {}),
    ...(rebalance ? { rebalance } : {}),
  });
}
