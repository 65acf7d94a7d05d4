/**
 * The ingress-nginx annotations wsgate reads: one row per annotation, the single source
 * for the translation (each row parses its value into a WebSocketRoute spec fragment)
 * and for the README table (`annotationTableMarkdown`). Units and companion defaults are
 * ingress-nginx's (timeouts in whole seconds, `limit-burst-multiplier` 5).
 *
 * Every annotation under a prefix wsgate reads ends in exactly one of: applied, refused
 * with a notice saying why (unsupported, or an invalid value), or — for snippets — ignored
 * with a notice. Snippets are raw nginx configuration and are never executed: running
 * them is what made CVE-2025-1974 possible.
 */
import { isCidr } from "../../api/cidr.js";
import { HEADER_NAME_PATTERN, HTTP_URL_PATTERN } from "../../api/route.js";
import { AFFINITY_ANNOTATIONS } from "./affinity-annotations.js";

/** The prefixes read, in precedence order: a `wsgate.io/` annotation beats its nginx twin. */
export const ANNOTATION_PREFIXES = ["wsgate.io/", "nginx.ingress.kubernetes.io/"] as const;

export type Support = "supported" | "unsupported" | "ignored";

/**
 * The raw (pre-zod) WebSocketRoute spec fields annotations fill. The translation
 * validates the finished document with the route schema.
 */
export interface SpecDraft {
  timeouts?: { connect?: string; idle?: string };
  limits?: { maxConnectionsPerClient?: number; handshakesPerClient?: { perSecond: number; burst: number } };
  auth?: { forwardAuth: { url: string; requestHeaders: string[]; responseHeaders: string[] } };
  sourceRanges?: { allow?: string[]; deny?: string[] };
  loadBalancing?: { policy: "LeastConnections" | "RoundRobin" };
  sessionAffinity?: {
    type: "Cookie" | "Header" | "QueryParameter" | "ClientAddress";
    cookie?: { name: string; path?: string; maxAge?: string; sameSite?: string; secure?: boolean };
    header?: { name: string };
    queryParameter?: { name: string };
  };
}

/** Why an annotation (or a value of it) is not served as written. */
export interface Refusal {
  readonly kind: "invalid" | "unsupported";
  readonly message: string;
}

/** Reads another annotation of the same Ingress by bare name (either prefix). */
export type Lookup = (name: string) => string | undefined;

export interface AnnotationRow {
  /** The name after the prefix. */
  readonly name: string;
  readonly support: Support;
  /** What it becomes in a WebSocketRoute (markdown), or `—`. */
  readonly mappedTo: string;
  /** One or two sentences for the README and for the notice when it is not served. */
  readonly doc: string;
  /**
   * It restricts who may use the route: when its value cannot be applied, the Ingress is not
   * served at all (fail closed) rather than served open to everyone.
   */
  readonly guards?: true;
  /** Applies a value to the draft; a refusal leaves the draft untouched. */
  readonly apply?: (value: string, draft: SpecDraft, get: Lookup) => Refusal | undefined;
}

const invalid = (message: string): Refusal => ({ kind: "invalid", message });
const unsupported = (message: string): Refusal => ({ kind: "unsupported", message });

/** ingress-nginx writes timeouts as whole seconds. */
function seconds(value: string): string | Refusal {
  const v = value.trim();
  return /^\d{1,9}$/.test(v) ? `${Number(v)}s` : invalid(`"${value}" is not a whole number of seconds`);
}

function positiveInt(value: string): number | Refusal {
  const v = value.trim();
  const n = Number(v);
  return /^\d{1,9}$/.test(v) && n >= 1 ? n : invalid(`"${value}" is not a positive whole number`);
}

function bool(value: string): boolean | Refusal {
  const v = value.trim().toLowerCase();
  return v === "true" ? true : v === "false" ? false : invalid(`"${value}" is neither true nor false`);
}

/** A comma-separated list of CIDRs or single addresses (ingress-nginx accepts both). */
export function cidrList(value: string): string[] | Refusal {
  const blocks: string[] = [];
  for (const item of value.split(",")) {
    const v = item.trim();
    if (v === "") continue;
    const block = v.includes("/") ? v : `${v}/${v.includes(":") ? 128 : 32}`;
    if (!isCidr(block)) return invalid(`"${v}" is not an IP address or CIDR block`);
    blocks.push(block);
  }
  return blocks.length > 0 ? blocks : invalid("lists no address");
}

function headerList(value: string): string[] | Refusal {
  const names = value
    .split(",")
    .map((h) => h.trim())
    .filter((h) => h !== "");
  const bad = names.find((h) => !new RegExp(HEADER_NAME_PATTERN).test(h));
  return bad === undefined ? names : invalid(`"${bad}" is not a header name`);
}

function isRefusal<T>(value: T | Refusal): value is Refusal {
  return typeof value === "object" && value !== null && "kind" in value && "message" in value;
}

/** The longer of two durations in whole seconds (`Ns`). */
function longer(a: string | undefined, b: string): string {
  return a !== undefined && Number.parseInt(a, 10) >= Number.parseInt(b, 10) ? a : b;
}

const forwardAuthOf = (draft: SpecDraft): NonNullable<SpecDraft["auth"]>["forwardAuth"] | undefined =>
  draft.auth?.forwardAuth;

/** A switch whose `false` is what wsgate does anyway and whose `true` it cannot do. */
function offOnly(what: string): AnnotationRow["apply"] {
  return (value) => {
    const on = bool(value);
    if (isRefusal(on)) return on;
    return on ? unsupported(what) : undefined;
  };
}

/** Every annotation wsgate knows, in README order. */
export const ANNOTATIONS: readonly AnnotationRow[] = [
  {
    name: "proxy-read-timeout",
    support: "supported",
    mappedTo: "`spec.timeouts.idle` (the larger of read and send)",
    doc: "Seconds without a message in either direction before the connection is closed. Absent: wsgate's default of 1h, not nginx's 60s that cut idle WebSockets.",
    apply: (value, draft) => {
      const s = seconds(value);
      if (isRefusal(s)) return s;
      draft.timeouts = { ...draft.timeouts, idle: longer(draft.timeouts?.idle, s) };
      return undefined;
    },
  },
  {
    name: "proxy-send-timeout",
    support: "supported",
    mappedTo: "`spec.timeouts.idle` (the larger of read and send)",
    doc: "As proxy-read-timeout: wsgate has one idle timeout for both directions.",
    apply: (value, draft) => {
      const s = seconds(value);
      if (isRefusal(s)) return s;
      draft.timeouts = { ...draft.timeouts, idle: longer(draft.timeouts?.idle, s) };
      return undefined;
    },
  },
  {
    name: "proxy-connect-timeout",
    support: "supported",
    mappedTo: "`spec.timeouts.connect`",
    doc: "Seconds to connect to a backend (retried on another endpoint within this time).",
    apply: (value, draft) => {
      const s = seconds(value);
      if (isRefusal(s)) return s;
      draft.timeouts = { ...draft.timeouts, connect: s };
      return undefined;
    },
  },
  {
    name: "auth-url",
    support: "supported",
    guards: true,
    mappedTo: "`spec.auth.forwardAuth.url`",
    doc: "Forward auth: a GET to this URL with the client's Authorization and Cookie headers decides; 2xx admits, 401/403/redirects are passed to the client, anything else is 503. nginx variables ($host, …) cannot be expanded.",
    apply: (value, draft) => {
      const url = value.trim();
      if (url.includes("$")) return unsupported(`"${url}" uses nginx variables, which wsgate cannot expand`);
      if (!new RegExp(HTTP_URL_PATTERN).test(url))
        return invalid(`"${url}" is not an http:// or https:// URL`);
      draft.auth = {
        forwardAuth: {
          url,
          requestHeaders: ["Authorization", "Cookie"],
          responseHeaders: forwardAuthOf(draft)?.responseHeaders ?? [],
        },
      };
      return undefined;
    },
  },
  {
    name: "auth-response-headers",
    support: "supported",
    mappedTo: "`spec.auth.forwardAuth.responseHeaders`",
    doc: "Headers of the auth service's answer copied to the backend request (and never accepted from clients).",
    apply: (value, draft, get) => {
      if (get("auth-url") === undefined) return invalid("has no effect without auth-url");
      const names = headerList(value);
      if (isRefusal(names)) return names;
      const forwardAuth = forwardAuthOf(draft);
      // auth-url refused: its own notice says so; nothing to attach the headers to.
      if (forwardAuth) forwardAuth.responseHeaders = names;
      return undefined;
    },
  },
  {
    name: "auth-method",
    support: "supported",
    mappedTo: "GET only",
    doc: "wsgate's forward auth always sends GET; other methods are refused.",
    apply: (value) =>
      value.trim().toUpperCase() === "GET"
        ? undefined
        : unsupported(`method "${value}": wsgate's forward auth sends GET only`),
  },
  {
    name: "limit-connections",
    support: "supported",
    mappedTo: "`spec.limits.maxConnectionsPerClient`",
    doc: "Concurrent WebSocket connections per client address (the trusted-proxy model's client); over → 429.",
    apply: (value, draft) => {
      const n = positiveInt(value);
      if (isRefusal(n)) return n;
      draft.limits = { ...draft.limits, maxConnectionsPerClient: n };
      return undefined;
    },
  },
  {
    name: "limit-rps",
    support: "supported",
    mappedTo: "`spec.limits.handshakesPerClient` (burst = rps × limit-burst-multiplier)",
    doc: "Handshakes per second per client (plain HTTP requests too on routes with auth); over → 429 + Retry-After.",
    apply: (value, draft, get) => {
      const rps = positiveInt(value);
      if (isRefusal(rps)) return rps;
      const m = get("limit-burst-multiplier");
      const multiplier = m === undefined ? 5 : positiveInt(m);
      // A bad multiplier has its own notice; the limit still holds with nginx's default.
      const burst = rps * (isRefusal(multiplier) ? 5 : multiplier);
      draft.limits = { ...draft.limits, handshakesPerClient: { perSecond: rps, burst } };
      return undefined;
    },
  },
  {
    name: "limit-burst-multiplier",
    support: "supported",
    mappedTo: "burst of `spec.limits.handshakesPerClient`",
    doc: "Multiplies limit-rps into the bucket's burst; default 5, as in ingress-nginx.",
    apply: (value, _draft, get) => {
      const m = positiveInt(value);
      if (isRefusal(m)) return m;
      return get("limit-rps") === undefined ? invalid("has no effect without limit-rps") : undefined;
    },
  },
  {
    name: "whitelist-source-range",
    support: "supported",
    guards: true,
    mappedTo: "`spec.sourceRanges.allow`",
    doc: "Comma-separated CIDRs (or addresses) allowed; others get 403. Judged on the client behind --trusted-proxies.",
    apply: (value, draft) => allow(value, draft),
  },
  {
    name: "allowlist-source-range",
    support: "supported",
    guards: true,
    mappedTo: "`spec.sourceRanges.allow`",
    doc: "The newer name of whitelist-source-range; both lists are joined.",
    apply: (value, draft) => allow(value, draft),
  },
  {
    name: "denylist-source-range",
    support: "supported",
    guards: true,
    mappedTo: "`spec.sourceRanges.deny`",
    doc: "Comma-separated CIDRs (or addresses) refused with 403, even when allowed.",
    apply: (value, draft) => {
      const blocks = cidrList(value);
      if (isRefusal(blocks)) return blocks;
      draft.sourceRanges = { ...draft.sourceRanges, deny: [...(draft.sourceRanges?.deny ?? []), ...blocks] };
      return undefined;
    },
  },
  {
    name: "load-balance",
    support: "supported",
    mappedTo: "`spec.loadBalancing.policy`",
    doc: "round_robin → RoundRobin; ewma → LeastConnections (the better fit for long-lived connections: wsgate balances by live connections, not latency).",
    apply: (value, draft) => {
      const v = value.trim();
      if (v === "round_robin") draft.loadBalancing = { policy: "RoundRobin" };
      else if (v === "ewma") draft.loadBalancing = { policy: "LeastConnections" };
      else return unsupported(`"${v}": only round_robin and ewma are supported`);
      return undefined;
    },
  },
  {
    name: "backend-protocol",
    support: "supported",
    mappedTo: "HTTP only",
    doc: "HTTP is what wsgate speaks to backends; HTTPS, GRPC and the rest are refused (TLS to backends comes with the Gateway API work).",
    apply: (value) =>
      value.trim().toUpperCase() === "HTTP"
        ? undefined
        : unsupported(`"${value}": wsgate connects to backends over plain HTTP only`),
  },
  {
    name: "ssl-redirect",
    support: "supported",
    mappedTo: '`"false"` only',
    doc: "wsgate does not redirect plain HTTP to HTTPS: false is what it does anyway, true is refused.",
    apply: offOnly("wsgate serves plain HTTP as it is and does not redirect it to HTTPS"),
  },
  {
    name: "force-ssl-redirect",
    support: "supported",
    mappedTo: '`"false"` only',
    doc: "As ssl-redirect.",
    apply: offOnly("wsgate serves plain HTTP as it is and does not redirect it to HTTPS"),
  },
  {
    name: "use-regex",
    support: "supported",
    mappedTo: "paths without regex syntax only",
    doc: "true: paths are nginx regexes; those that are plain paths are served as prefixes, the others are not served.",
    apply: (value) => {
      const on = bool(value);
      return isRefusal(on) ? on : undefined;
    },
  },
  {
    name: "enable-cors",
    support: "unsupported",
    mappedTo: "—",
    doc: "Browsers do not apply CORS to WebSocket handshakes; restrict them with spec.origins (Origin checks) instead. Plain HTTP answers get no CORS headers from wsgate.",
  },
  ...AFFINITY_ANNOTATIONS,
  {
    name: "rewrite-target",
    support: "unsupported",
    mappedTo: "—",
    doc: "wsgate sends the path it matched, unchanged: the backend receives exactly what was matched and authorised.",
  },
  {
    name: "auth-signin",
    support: "unsupported",
    mappedTo: "—",
    doc: "No redirect to a sign-in page; let the auth service answer the redirect itself (it is passed to the client).",
  },
  {
    name: "configuration-snippet",
    support: "ignored",
    mappedTo: "—",
    doc: "Never executed (CVE-2025-1974).",
  },
  { name: "server-snippet", support: "ignored", mappedTo: "—", doc: "Never executed (CVE-2025-1974)." },
  { name: "auth-snippet", support: "ignored", mappedTo: "—", doc: "Never executed (CVE-2025-1974)." },
  { name: "stream-snippet", support: "ignored", mappedTo: "—", doc: "Never executed (CVE-2025-1974)." },
  { name: "modsecurity-snippet", support: "ignored", mappedTo: "—", doc: "Never executed (CVE-2025-1974)." },
];

function allow(value: string, draft: SpecDraft): Refusal | undefined {
  const blocks = cidrList(value);
  if (isRefusal(blocks)) return blocks;
  draft.sourceRanges = { ...draft.sourceRanges, allow: [...(draft.sourceRanges?.allow ?? []), ...blocks] };
  return undefined;
}

const BY_NAME = new Map(ANNOTATIONS.map((row) => [row.name, row]));

/** True for any annotation ending in `-snippet`: raw nginx configuration, never executed. */
function isSnippet(name: string): boolean {
  return name.endsWith("-snippet");
}

/** What became of one annotation that is not served as written. */
export interface AnnotationNotice {
  /** The full annotation key, prefix included. */
  readonly annotation: string;
  readonly reason: "SnippetIgnored" | "UnsupportedAnnotation" | "InvalidAnnotation" | "UnknownAnnotation";
  readonly message: string;
  /** An access restriction that could not be applied: the Ingress must not be served. */
  readonly failClosed?: true;
}

export interface AppliedAnnotations {
  readonly draft: SpecDraft;
  readonly notices: readonly AnnotationNotice[];
  /** `use-regex: "true"`: paths are regexes. */
  readonly regexPaths: boolean;
}

/**
 * Applies an Ingress's annotations under both prefixes. Annotations of other prefixes
 * (kubectl's, cert-manager's, …) are not wsgate's business and pass silently.
 */
export function applyAnnotations(annotations: Readonly<Record<string, string>>): AppliedAnnotations {
  const values = new Map<string, { key: string; value: string }>();
  const notices: AnnotationNotice[] = [];
  // The later prefix in the loop is the weaker one: set it first, let the stronger overwrite.
  for (const prefix of [...ANNOTATION_PREFIXES].reverse()) {
    for (const [key, value] of Object.entries(annotations)) {
      if (key.startsWith(prefix)) values.set(key.slice(prefix.length), { key, value });
    }
  }
  const get: Lookup = (name) => values.get(name)?.value;
  const draft: SpecDraft = {};
  const seen = [...values.entries()].sort(([a], [b]) => order(a) - order(b) || (a < b ? -1 : a > b ? 1 : 0));
  for (const [name, { key, value }] of seen) {
    const row = BY_NAME.get(name);
    if (row?.support === "ignored" || (!row && isSnippet(name))) {
      notices.push({
        annotation: key,
        reason: "SnippetIgnored",
        message: `${key} ignored: snippets are raw nginx configuration and wsgate never executes them (CVE-2025-1974)`,
      });
    } else if (!row) {
      notices.push({
        annotation: key,
        reason: "UnknownAnnotation",
        message: `${key} is not an annotation wsgate knows; ignored (see the annotation table in the README)`,
      });
    } else if (row.support === "unsupported" || !row.apply) {
      notices.push({
        annotation: key,
        reason: "UnsupportedAnnotation",
        message: `${key} not supported: ${row.doc}`,
      });
    } else {
      const refusal = row.apply(value, draft, get);
      if (refusal) {
        notices.push({
          annotation: key,
          reason: refusal.kind === "invalid" ? "InvalidAnnotation" : "UnsupportedAnnotation",
          message: `${key} ${refusal.kind === "invalid" ? "ignored" : "not supported"}: ${refusal.message}`,
          ...(row.guards ? { failClosed: true as const } : {}),
        });
      }
    }
  }
  const regex = get("use-regex");
  return { draft, notices, regexPaths: regex !== undefined && bool(regex) === true };
}

/** Table order, so that a companion (auth-url before auth-response-headers) is applied first. */
function order(name: string): number {
  const index = ANNOTATIONS.findIndex((row) => row.name === name);
  return index === -1 ? ANNOTATIONS.length : index;
}

/** The README's annotation table, generated from {@link ANNOTATIONS}. */
export function annotationTableMarkdown(): string {
  const label: Record<Support, string> = {
    supported: "supported",
    unsupported: "not supported",
    ignored: "ignored (never executed)",
  };
  const lines = ["| Annotation | Support | In a WebSocketRoute | Notes |", "| --- | --- | --- | --- |"];
  for (const row of ANNOTATIONS) {
    lines.push(`| \`${row.name}\` | ${label[row.support]} | ${row.mappedTo} | ${row.doc} |`);
  }
  lines.push(
    "| any other `*-snippet` | ignored (never executed) | — | An Event names it. |",
    "| any other name under the prefixes | not supported | — | An Event names it. |",
  );
  return lines.join("\n");
}
