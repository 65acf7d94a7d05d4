/**
 * ingress-nginx's session affinity annotations, translated to `spec.sessionAffinity`:
 * `affinity: cookie` with its `session-cookie-*` companions becomes Cookie affinity (with
 * nginx's cookie name INGRESSCOOKIE unless one is given), and `upstream-hash-by` on the
 * client address, a header or a query parameter becomes consistent hashing with bounded
 * loads. Kept apart from annotations.ts, which lists these rows with the others.
 */
import { COOKIE_PATH_PATTERN, HEADER_NAME_PATTERN, QUERY_NAME_PATTERN } from "../../api/route.js";
import type { AnnotationRow, Lookup, Refusal, SpecDraft } from "./annotations.js";

/** ingress-nginx's default cookie name: a migrated app's clients keep their cookie's name. */
export const NGINX_COOKIE_NAME = "INGRESSCOOKIE";

const invalid = (message: string): Refusal => ({ kind: "invalid", message });
const unsupported = (message: string): Refusal => ({ kind: "unsupported", message });
const WITHOUT_AFFINITY = invalid("has no effect without affinity: cookie");

type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly refusal: Refusal };
const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const no = <T>(refusal: Refusal): Parsed<T> => ({ ok: false, refusal });

function cookieName(value: string): Parsed<string> {
  const v = value.trim();
  return v.length <= 128 && new RegExp(HEADER_NAME_PATTERN).test(v)
    ? ok(v)
    : no(invalid(`"${value}" is not a cookie name`));
}

function cookiePath(value: string): Parsed<string> {
  const v = value.trim();
  return v.length <= 1024 && new RegExp(COOKIE_PATH_PATTERN).test(v)
    ? ok(v)
    : no(invalid(`"${value}" is not a cookie path (starts with /, no ; or space)`));
}

/** Whole seconds, as ingress-nginx writes max-age and expires, as a Duration (`172800` → `48h`). */
function seconds(value: string): Parsed<string> {
  const v = value.trim();
  const n = Number(v);
  // A Duration's groups hold at most 5 digits: up to 99999h (11 years).
  if (!/^\d{1,9}$/.test(v) || n >= 99_999 * 3600)
    return no(invalid(`"${value}" is not a whole number of seconds`));
  const [h, m, s] = [Math.floor(n / 3600), Math.floor((n % 3600) / 60), n % 60];
  const text = `${h ? `${h}h` : ""}${m ? `${m}m` : ""}${s ? `${s}s` : ""}`;
  return ok(text || "0s");
}

const SAME_SITE = { none: "None", lax: "Lax", strict: "Strict" } as const;
type SameSite = (typeof SAME_SITE)[keyof typeof SAME_SITE];

function sameSite(value: string): Parsed<SameSite> {
  const v = SAME_SITE[value.trim().toLowerCase() as keyof typeof SAME_SITE];
  return v ? ok(v) : no(invalid(`"${value}" is not None, Lax or Strict`));
}

function bool(value: string): Parsed<boolean> {
  const v = value.trim().toLowerCase();
  return v === "true"
    ? ok(true)
    : v === "false"
      ? ok(false)
      : no(invalid(`"${value}" is neither true nor false`));
}

/** A companion's value when it parses; a bad one has its own notice and is left out. */
function companion<T>(get: Lookup, name: string, parse: (v: string) => Parsed<T>): T | undefined {
  const raw = get(name);
  if (raw === undefined) return undefined;
  const parsed = parse(raw);
  return parsed.ok ? parsed.value : undefined;
}

/** The cookie of `affinity: cookie`, from its companions. */
function cookieOf(get: Lookup): NonNullable<SpecDraft["sessionAffinity"]>["cookie"] {
  const maxAge =
    companion(get, "session-cookie-max-age", seconds) ?? companion(get, "session-cookie-expires", seconds);
  const site = companion(get, "session-cookie-samesite", sameSite);
  const secure = companion(get, "session-cookie-secure", bool);
  return {
    name: companion(get, "session-cookie-name", cookieName) ?? NGINX_COOKIE_NAME,
    ...(companion(get, "session-cookie-path", cookiePath) !== undefined
      ? { path: companion(get, "session-cookie-path", cookiePath) as string }
      : {}),
    ...(maxAge !== undefined ? { maxAge } : {}),
    ...(site !== undefined ? { sameSite: site } : {}),
    // Browsers drop SameSite=None without Secure: None implies Secure.
    ...(site === "None" ? { secure: true } : secure !== undefined ? { secure } : {}),
  };
}

/** A companion row: its value is checked, and it needs `affinity: cookie` to mean anything. */
function cookieCompanion<T>(
  name: string,
  mappedTo: string,
  doc: string,
  parse: (value: string) => Parsed<T>,
): AnnotationRow {
  return {
    name,
    support: "supported",
    mappedTo,
    doc,
    apply: (value, _draft, get) => {
      const parsed = parse(value);
      if (!parsed.ok) return parsed.refusal;
      return get("affinity")?.trim() === "cookie" ? undefined : WITHOUT_AFFINITY;
    },
  };
}

/** `$remote_addr`, `$http_<header>` or `$arg_<param>`: what wsgate can hash on. */
function hashTarget(value: string): Parsed<NonNullable<SpecDraft["sessionAffinity"]>> {
  const v = value.trim();
  if (v === "$remote_addr" || v === "$binary_remote_addr") return ok({ type: "ClientAddress" });
  const header = /^\$http_([a-z0-9_]+)$/.exec(v);
  if (header) return ok({ type: "Header", header: { name: (header[1] as string).replaceAll("_", "-") } });
  const arg = /^\$arg_([A-Za-z0-9._~-]+)$/.exec(v);
  if (arg && new RegExp(QUERY_NAME_PATTERN).test(arg[1] as string)) {
    return ok({ type: "QueryParameter", queryParameter: { name: arg[1] as string } });
  }
  return no(
    unsupported(`"${value}": wsgate hashes on $remote_addr, one $http_<header> or one $arg_<parameter> only`),
  );
}

export const AFFINITY_ANNOTATIONS: readonly AnnotationRow[] = [
  {
    name: "affinity",
    support: "supported",
    mappedTo: "`spec.sessionAffinity.type: Cookie`",
    doc: "`cookie` pins each session (Socket.IO polling and its upgrade alike) to one endpoint with a signed cookie, named INGRESSCOOKIE unless session-cookie-name says otherwise; see Session affinity.",
    apply: (value, draft, get) => {
      if (value.trim() !== "cookie") return invalid(`"${value}": the only affinity is cookie`);
      draft.sessionAffinity = { type: "Cookie", cookie: cookieOf(get) };
      return undefined;
    },
  },
  {
    name: "affinity-mode",
    support: "supported",
    mappedTo: "—",
    doc: "`persistent` and `balanced` are both served as persistent: a session stays on its endpoint while that endpoint can take connections.",
    apply: (value, _draft, get) => {
      const v = value.trim();
      if (v !== "persistent" && v !== "balanced")
        return invalid(`"${value}" is neither persistent nor balanced`);
      return get("affinity")?.trim() === "cookie" ? undefined : WITHOUT_AFFINITY;
    },
  },
  cookieCompanion(
    "session-cookie-name",
    "`spec.sessionAffinity.cookie.name`",
    "The cookie's name; default INGRESSCOOKIE, as ingress-nginx.",
    cookieName,
  ),
  cookieCompanion(
    "session-cookie-path",
    "`spec.sessionAffinity.cookie.path`",
    "The cookie's Path; default `/`.",
    cookiePath,
  ),
  cookieCompanion(
    "session-cookie-max-age",
    "`spec.sessionAffinity.cookie.maxAge`",
    "Seconds the cookie lives (Max-Age); absent: a session cookie.",
    seconds,
  ),
  cookieCompanion(
    "session-cookie-expires",
    "`spec.sessionAffinity.cookie.maxAge`",
    "Seconds, used as Max-Age when session-cookie-max-age is absent.",
    seconds,
  ),
  cookieCompanion(
    "session-cookie-samesite",
    "`spec.sessionAffinity.cookie.sameSite`",
    "None, Lax (default) or Strict; None sets Secure too (browsers drop it otherwise).",
    sameSite,
  ),
  cookieCompanion(
    "session-cookie-secure",
    "`spec.sessionAffinity.cookie.secure`",
    "The Secure attribute; absent: set when the client came over TLS.",
    bool,
  ),
  {
    name: "upstream-hash-by",
    support: "supported",
    mappedTo: "`spec.sessionAffinity` Header, QueryParameter or ClientAddress",
    doc: "`$remote_addr`, `$http_<header>` or `$arg_<parameter>`: consistent hashing with bounded loads (125%), so hashing never undoes least connections. Other nginx variables are refused.",
    apply: (value, draft, get) => {
      const target = hashTarget(value);
      if (!target.ok) return target.refusal;
      if (get("affinity")?.trim() === "cookie")
        return invalid("affinity: cookie is in force; remove one of them");
      draft.sessionAffinity = target.value;
      return undefined;
    },
  },
];
