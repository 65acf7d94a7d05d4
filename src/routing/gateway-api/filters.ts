/**
 * HTTPRoute rule filters → {@link RuleFilters}: data the compiled rule carries and the data
 * plane applies (dataplane/request-filters.ts). What wsgate cannot apply faithfully is a
 * problem naming its field, so the translation refuses the route (`UnsupportedValue`)
 * instead of serving it without the filter.
 *
 * Header names wsgate owns for security are refused in a modifier, not quietly skipped:
 * hop-by-hop headers and Host/Content-Length (the proxy frames and routes with them), the
 * forwarding headers (a route must not forge the client address a backend trusts),
 * `Sec-WebSocket-*` (the handshake wsgate relays and its relay reads), and names with `_`
 * (stripped from clients by default, as servers fold `_` into `-`). Identity headers are
 * per table (any route's auth may fill one): the data plane skips those at request time.
 */
import { z } from "zod";
import { FORWARDING_HEADERS, HOP_BY_HOP_HEADERS, UNNOMINABLE_HEADERS } from "../../api/headers.js";

/** A header modifier: `set` replaces every value, `add` appends one, `remove` drops the name. */
export interface HeaderEdits {
  readonly set: readonly (readonly [string, string])[];
  readonly add: readonly (readonly [string, string])[];
  /** Lower case. */
  readonly remove: readonly string[];
}

/** `HTTPPathModifier`. */
export interface PathModifier {
  readonly type: "ReplaceFullPath" | "ReplacePrefixMatch";
  readonly value: string;
}

/** `RequestRedirect`: answered by wsgate, before auth and any backend. */
export interface Redirect {
  readonly scheme?: "http" | "https";
  readonly hostname?: string;
  readonly port?: number;
  readonly statusCode: 301 | 302;
  readonly path?: PathModifier;
}

/** `URLRewrite`: the Host and path sent upstream; matching and auth saw the request's own. */
export interface Rewrite {
  readonly hostname?: string;
  readonly path?: PathModifier;
}

/** What a rule does to requests and responses besides choosing a backend. */
export interface RuleFilters {
  readonly requestHeaders?: HeaderEdits;
  readonly responseHeaders?: HeaderEdits;
  readonly redirect?: Redirect;
  readonly rewrite?: Rewrite;
}

const headerValueSchema = z.object({ name: z.string().min(1), value: z.string() });
const headerModifierSchema = z.object({
  set: z.array(headerValueSchema).default([]),
  add: z.array(headerValueSchema).default([]),
  remove: z.array(z.string().min(1)).default([]),
});
const pathModifierSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("ReplaceFullPath"), replaceFullPath: z.string().startsWith("/") }),
  z.object({ type: z.literal("ReplacePrefixMatch"), replacePrefixMatch: z.string().startsWith("/") }),
]);
const redirectSchema = z.object({
  scheme: z.enum(["http", "https"]).optional(),
  hostname: z.string().min(1).optional(),
  port: z.number().int().min(1).max(65535).optional(),
  statusCode: z.union([z.literal(301), z.literal(302)]).default(302),
  path: pathModifierSchema.optional(),
});
const rewriteSchema = z.object({
  hostname: z.string().min(1).optional(),
  path: pathModifierSchema.optional(),
});

/** Headers a request modifier may not name (see the module comment). */
const REQUEST_OWNED = new Set([...HOP_BY_HOP_HEADERS, ...FORWARDING_HEADERS, ...UNNOMINABLE_HEADERS]);
/** Headers a response modifier may not name: the framing and the connection are wsgate's. */
const RESPONSE_OWNED = new Set([...HOP_BY_HOP_HEADERS, "content-length"]);

/** A host name as Gateway API allows it in a filter: a DNS name, lower-cased here. */
const HOSTNAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function ownedProblem(lower: string, owned: ReadonlySet<string>): string | undefined {
  if (owned.has(lower)) return "is set by wsgate";
  if (lower.startsWith("sec-websocket-")) return "belongs to the WebSocket handshake wsgate relays";
  if (lower.includes("_")) return "contains _, which wsgate never forwards";
  return undefined;
}

function headerEdits(
  raw: unknown,
  at: string,
  owned: ReadonlySet<string>,
  problems: string[],
): HeaderEdits | undefined {
  const parsed = headerModifierSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    problems.push(`${at}: ${parsed.error.issues.map((i) => `${i.path.join(".")} ${i.message}`).join(", ")}`);
    return undefined;
  }
  const { set, add, remove } = parsed.data;
  const names = [...set.map((h) => h.name), ...add.map((h) => h.name), ...remove];
  let ok = true;
  for (const name of names) {
    const why = ownedProblem(name.toLowerCase(), owned);
    if (why) {
      problems.push(`${at}: header ${name} ${why}`);
      ok = false;
    }
  }
  if (!ok) return undefined;
  return {
    set: set.map((h) => [h.name, h.value] as const),
    add: add.map((h) => [h.name, h.value] as const),
    remove: remove.map((n) => n.toLowerCase()),
  };
}

function pathModifier(
  raw: z.output<typeof pathModifierSchema> | undefined,
  at: string,
  matchTypes: readonly string[],
  problems: string[],
): PathModifier | undefined {
  if (!raw) return undefined;
  if (raw.type === "ReplaceFullPath") return { type: raw.type, value: raw.replaceFullPath };
  // The prefix to replace is the rule's matched PathPrefix: an Exact match has none.
  if (matchTypes.some((t) => t !== "PathPrefix")) {
    problems.push(`${at}.path: ReplacePrefixMatch needs every match of the rule to be a PathPrefix`);
    return undefined;
  }
  return { type: raw.type, value: raw.replacePrefixMatch };
}

function hostname(value: string | undefined, at: string, problems: string[]): string | undefined {
  if (value === undefined) return undefined;
  const lower = value.toLowerCase();
  if (!HOSTNAME.test(lower)) {
    problems.push(`${at}.hostname ${value} is not a DNS name`);
    return undefined;
  }
  return lower;
}

function parseWith<T extends z.ZodType>(
  schema: T,
  raw: unknown,
  at: string,
  problems: string[],
): z.output<T> | undefined {
  const parsed = schema.safeParse(raw ?? {});
  if (parsed.success) return parsed.data;
  problems.push(`${at}: ${parsed.error.issues.map((i) => `${i.path.join(".")} ${i.message}`).join(", ")}`);
  return undefined;
}

/**
 * A rule's filters as data, or the problems that refuse the route. `matchTypes` are the
 * path match types of the rule (ReplacePrefixMatch needs PathPrefix matches).
 */
export function translateFilters(
  filters: readonly { readonly type: string; readonly [field: string]: unknown }[],
  at: string,
  matchTypes: readonly string[],
): { filters?: RuleFilters; problems: string[] } {
  const problems: string[] = [];
  const out: {
    requestHeaders?: HeaderEdits;
    responseHeaders?: HeaderEdits;
    redirect?: Redirect;
    rewrite?: Rewrite;
  } = {};
  const seen = new Set<string>();
  filters.forEach((f, k) => {
    const here = `${at}.filters[${k}]`;
    if (seen.has(f.type)) {
      problems.push(`${here}: ${f.type} appears twice in the rule`);
      return;
    }
    seen.add(f.type);
    switch (f.type) {
      case "RequestHeaderModifier": {
        const edits = headerEdits(
          f.requestHeaderModifier,
          `${here}.requestHeaderModifier`,
          REQUEST_OWNED,
          problems,
        );
        if (edits) out.requestHeaders = edits;
        return;
      }
      case "ResponseHeaderModifier": {
        const edits = headerEdits(
          f.responseHeaderModifier,
          `${here}.responseHeaderModifier`,
          RESPONSE_OWNED,
          problems,
        );
        if (edits) out.responseHeaders = edits;
        return;
      }
      case "RequestRedirect": {
        const field = `${here}.requestRedirect`;
        const r = parseWith(redirectSchema, f.requestRedirect, field, problems);
        if (!r) return;
        const host = hostname(r.hostname, field, problems);
        const path = pathModifier(r.path, field, matchTypes, problems);
        out.redirect = {
          statusCode: r.statusCode as 301 | 302,
          ...(r.scheme ? { scheme: r.scheme } : {}),
          ...(host ? { hostname: host } : {}),
          ...(r.port ? { port: r.port } : {}),
          ...(path ? { path } : {}),
        };
        return;
      }
      case "URLRewrite": {
        const field = `${here}.urlRewrite`;
        const r = parseWith(rewriteSchema, f.urlRewrite, field, problems);
        if (!r) return;
        const host = hostname(r.hostname, field, problems);
        const path = pathModifier(r.path, field, matchTypes, problems);
        out.rewrite = { ...(host ? { hostname: host } : {}), ...(path ? { path } : {}) };
        return;
      }
      default:
        problems.push(`${here}: ${f.type} is not supported`);
    }
  });
  if (out.redirect && out.rewrite)
    problems.push(`${at}.filters: RequestRedirect and URLRewrite cannot be combined in one rule`);
  if (problems.length > 0) return { problems };
  return Object.keys(out).length > 0 ? { filters: out, problems } : { problems };
}
