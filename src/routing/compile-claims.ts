/**
 * The host+path claims of a route, as compile() checks them against older routes': a claim
 * is `host type path`, with the match's condition signature after a newline.
 */
import type { WebSocketRoute } from "../api/route.js";
import { conditionSignature } from "./matcher.js";
import { matchesOf } from "./route-settings.js";
import { canonicalPrefix } from "./table.js";
import { conditionsOf } from "./translated.js";

/**
 * The host+path pairs a route claims; `""` stands for "any host". An HTTPRoute match with
 * method, header or query conditions claims the path for its condition signature only
 * (after a newline): routes that differ in conditions share the path.
 */
export function claimsOf(route: WebSocketRoute): string[] {
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

/** The host+path part of a claim, without its condition signature. */
export function pathOfClaim(claim: string): string {
  const newline = claim.indexOf("\n");
  return newline === -1 ? claim : claim.slice(0, newline);
}

export function describeClaim(claim: string): string {
  // Host and type never hold a space; the path value may. Conditions follow a newline.
  const newline = claim.indexOf("\n");
  const path = newline === -1 ? claim : claim.slice(0, newline);
  const [host, type, ...value] = path.split(" ");
  const conditions = newline === -1 ? "" : ` with conditions ${claim.slice(newline + 1)}`;
  return `${host || "(any host)"} ${type} ${value.join(" ")}${conditions}`;
}

/** The first claim an older route already holds. */
export function firstClaimed(
  claims: readonly string[],
  claimedBy: ReadonlyMap<string, string>,
): string | undefined {
  for (const c of claims) if (claimedBy.has(c)) return c;
  return undefined;
}

/** The first claim whose path (conditions aside) an older route of another namespace holds. */
export function firstForeignPath(
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

export function claimPathsOf(claims: readonly string[]): readonly string[] {
  // Most claims have no conditions: their paths are the claims themselves, the same list.
  for (const claim of claims) if (claim.includes("\n")) return claims.map(pathOfClaim);
  return claims;
}
