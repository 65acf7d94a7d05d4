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
  const seen = new Set<string>();
  for (const h of spec.hostnames) {
    if (seen.has(h)) problems.push(`spec.hostnames: ${h} is listed twice`);
    seen.add(h);
  }
  if (spec.healthCheck && durationToMs(spec.healthCheck.timeout) >= durationToMs(spec.healthCheck.interval)) {
    problems.push("spec.healthCheck.timeout must be shorter than spec.healthCheck.interval");
  }
  if (spec.keepalive && durationToMs(spec.keepalive.interval) === 0) {
    problems.push(
      "spec.keepalive.interval must be greater than 0s; remove spec.keepalive to turn keepalive off",
    );
  }
  problems.push(...authProblems(spec.auth));
  problems.push(...pathProblems(route));
  return problems;
}

/**
 * Path values that are not in the normal form every request path is put in (see
 * api/request-path.ts) could never match: a route `/%61pi` would leave `/api` to a
 * broader, perhaps public, route. Refused, with the value to write instead.
 */
function pathProblems(route: WebSocketRoute): string[] {
  const problems: string[] = [];
  route.spec.rules.forEach((rule, i) => {
    matchesOf(rule).forEach((m, j) => {
      const problem = pathValueProblem(m.path.value);
      if (problem) problems.push(`spec.rules[${i}].matches[${j}].path.value ${m.path.value}: ${problem}`);
    });
  });
  return problems;
}

/** Lower-case headers the route fills from auth: no client may send them, on any route. */
function identityHeadersOf(route: WebSocketRoute): readonly string[] {
  const auth = route.spec.auth;
  const names = [
    ...Object.values(auth?.jwt?.claimsToHeaders ?? {}),
    ...(auth?.forwardAuth?.responseHeaders ?? []),
  ].map((h) => h.toLowerCase());
  return Object.freeze([...new Set(names)].sort());
}

export function routeSettings(route: WebSocketRoute, auth: CompiledAuth | undefined): Route["settings"] {
  const s = route.spec;
  const rebalance = rebalanceSettings(s.rebalance, s.sessionAffinity?.type);
  return Object.freeze({
    policy: s.loadBalancing.policy,
    timeouts: Object.freeze({
      connectMs: durationToMs(s.timeouts.connect),
      handshakeMs: durationToMs(s.timeouts.handshake),
      idleMs: durationToMs(s.timeouts.idle),
      maxLifetimeMs: durationToMs(s.timeouts.maxLifetime),
    }),
    ...(s.keepalive
      ? {
          keepalive: {
            intervalMs: durationToMs(s.keepalive.interval),
            timeoutMs: durationToMs(s.keepalive.timeout),
          },
        }
      : {}),
    limits: s.limits,
    drain: Object.freeze({ windowMs: durationToMs(s.drain.window), closeCode: s.drain.closeCode }),
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
