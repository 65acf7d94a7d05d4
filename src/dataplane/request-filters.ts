/**
 * A matched rule's HTTPRoute filters, applied (routing/gateway-api/filters.ts translated
 * them): header modifiers on the request sent upstream and on the response, the Host and
 * path a URLRewrite sends upstream, and the Location of a RequestRedirect.
 *
 * Matching, auth and logs keep the canonical request (canonical.ts: canonicalise once);
 * a rewritten path is computed from that canonical path, and only the request sent
 * upstream carries it. X-Forwarded-Host keeps the host the client asked for.
 *
 * What wins: the translation refuses modifiers naming headers wsgate owns (hop-by-hop,
 * Host, Content-Length, forwarding, `Sec-WebSocket-*`, `_` names); identity headers that
 * routes fill from auth are skipped here (the set is per table), and the route's auth
 * grant is applied after the filters, so a filter never adds or replaces an identity.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";
import type { HeaderEdits, PathModifier, Redirect } from "../routing/gateway-api/filters.js";
import { canonicalPrefix, prefixMatches, type Rule } from "../routing/table.js";
import type { CanonicalRequest } from "./canonical.js";

const NOTHING: ReadonlySet<string> = new Set();

/**
 * Flat `[name, value…]` headers with `edits` applied: `remove` and `set` names dropped,
 * then `set`, then `add` appended. Names in `protectedNames` (lower case) are never
 * set or added.
 */
export function editHeaders(
  flat: readonly string[],
  edits: HeaderEdits,
  protectedNames: ReadonlySet<string> = NOTHING,
): string[] {
  const dropped = new Set(edits.remove);
  for (const [name] of edits.set) {
    const lower = name.toLowerCase();
    if (!protectedNames.has(lower)) dropped.add(lower);
  }
  const out: string[] = [];
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i] as string;
    if (!dropped.has(name.toLowerCase())) out.push(name, flat[i + 1] as string);
  }
  for (const [name, value] of [...edits.set, ...edits.add])
    if (!protectedNames.has(name.toLowerCase())) out.push(name, value);
  return out;
}

/** `edits` applied to a response's header object (what http-proxy-3 copies to the client). */
export function editHeaderObject(
  headers: IncomingHttpHeaders | OutgoingHttpHeaders,
  edits: HeaderEdits,
): void {
  const target = headers as Record<string, string | string[] | number | undefined>;
  for (const name of edits.remove) delete target[name];
  for (const [name, value] of edits.set) target[name.toLowerCase()] = value;
  for (const [name, value] of edits.add) {
    const lower = name.toLowerCase();
    const seen = target[lower];
    target[lower] =
      seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [String(seen), value];
  }
}

/**
 * The path a modifier makes of the canonical `path`. ReplacePrefixMatch replaces the
 * longest PathPrefix of the rule that matches (segment-wise, as the table matched), and
 * keeps the rest: `/api` → `/v2` turns `/api/x` into `/v2/x`, `/api` → `/` turns it into `/x`.
 */
export function modifiedPath(path: string, rule: Rule, modifier: PathModifier): string {
  if (modifier.type === "ReplaceFullPath") return modifier.value;
  let longest: string | undefined;
  for (const m of rule.matches) {
    if (m.type !== "PathPrefix" || !prefixMatches(m.value, path)) continue;
    const p = canonicalPrefix(m.value);
    if (longest === undefined || p.length > longest.length) longest = p;
  }
  if (longest === undefined) return path;
  const rest = longest === "/" ? path.slice(1) : path.slice(longest.length);
  const base = modifier.value.endsWith("/") ? modifier.value.slice(0, -1) : modifier.value;
  const joined = rest === "" ? base : `${base}/${rest.startsWith("/") ? rest.slice(1) : rest}`;
  return joined === "" ? "/" : joined;
}

/** The request target sent upstream: the canonical one, unless a URLRewrite rewrites the path. */
export function upstreamTarget(request: CanonicalRequest, rule: Rule): string {
  const path = rule.filters?.rewrite?.path;
  return path ? modifiedPath(request.path, rule, path) + request.query : request.target;
}

/**
 * The rule's request filters applied to the headers built for upstream: the header
 * modifier (never touching `identityHeaders`), then a URLRewrite's Host.
 */
export function filterRequestHeaders(
  flat: string[],
  rule: Rule,
  identityHeaders: ReadonlySet<string>,
): string[] {
  const filters = rule.filters;
  if (!filters) return flat;
  let out = filters.requestHeaders ? editHeaders(flat, filters.requestHeaders, identityHeaders) : flat;
  const host = filters.rewrite?.hostname;
  if (host) {
    out = out === flat ? [...flat] : out;
    for (let i = 0; i < out.length; i += 2)
      if ((out[i] as string).toLowerCase() === "host") out[i + 1] = host;
  }
  return out;
}

function portOf(authority: string): number | undefined {
  const colon = authority.lastIndexOf(":");
  if (colon === -1 || authority.endsWith("]")) return undefined;
  const port = Number(authority.slice(colon + 1));
  return Number.isInteger(port) ? port : undefined;
}

/**
 * The Location of a RequestRedirect (Gateway API rules): the scheme, host and path change
 * as the filter says, the query stays. Without a port, a changed scheme goes to its
 * well-known port and an unchanged one to the port the client reached; 80 for http and
 * 443 for https are left out.
 */
export function redirectLocation(
  request: CanonicalRequest,
  proto: "http" | "https",
  rule: Rule,
  redirect: Redirect,
): string {
  const path =
    (redirect.path ? modifiedPath(request.path, rule, redirect.path) : request.path) + request.query;
  const host = redirect.hostname ?? request.hostname;
  if (host === "") return path;
  const scheme = redirect.scheme ?? proto;
  const port = redirect.port ?? (redirect.scheme ? undefined : portOf(request.authority));
  const wellKnown =
    port === undefined || (scheme === "http" && port === 80) || (scheme === "https" && port === 443);
  return `${scheme}://${host}${wellKnown ? "" : `:${port}`}${path}`;
}
