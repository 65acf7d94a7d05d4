/**
 * HTTPRoute match conditions beyond the path — method, headers, query parameters — as
 * plain data on the compiled rule (so they cross to worker threads by structured clone),
 * their Gateway API precedence, and the predicate the table evaluates on a request.
 *
 * A request is judged on what the client sent, read once and lazily: only a path whose
 * candidates carry conditions ever looks at headers or the query, so routes without
 * conditions cost nothing extra. Semantics an attacker could play with are fixed here:
 * - a header sent more than once is matched as its values joined in order by `, `
 *   (RFC 9110 §5.3; `; ` for Cookie) — what the backend's HTTP parser makes of them — so
 *   `X-Env: a` sent twice is `a, a` and matches no `Exact a`;
 * - a query parameter sent more than once is matched by its first value (Gateway API's
 *   recommendation); names and values are form-decoded (`+` is a space);
 * - a header some route fills from auth (an identity header) is never matched from the
 *   client: wsgate removes the client's copy, so it must not choose the route either;
 * - RegularExpression matches must match the whole value, run on V8's linear-time engine
 *   (no backreferences, no lookahead: see {@link linearRegExp}), and never match a value
 *   longer than {@link REGEX_INPUT_LIMIT}.
 */
import { setFlagsFromString } from "node:v8";

/** One header or query parameter condition. Header names are lower case here. */
export interface ValueCondition {
  readonly name: string;
  readonly type: "Exact" | "RegularExpression";
  readonly value: string;
}

/** A match's conditions besides its path; at least one field is present. */
export interface MatchConditions {
  readonly method?: string;
  readonly headers?: readonly ValueCondition[];
  readonly queryParams?: readonly ValueCondition[];
}

/** What the table may read of a request to judge conditions: the raw parts, read lazily. */
export interface MatchRequest {
  readonly method?: string;
  /** Node's `req.rawHeaders`: name, value, name, value… as received. */
  readonly rawHeaders?: readonly string[];
  /** `""` or `?…` as the client sent it (the canonical request's query). */
  readonly query?: string;
}

/** A compiled condition set: true when the request satisfies every condition. */
export type ConditionTest = (facts: RequestFacts) => boolean;

/** Values longer than this never match a RegularExpression: it bounds the work per request. */
export const REGEX_INPUT_LIMIT = 1024;

/** Longer patterns are refused: the linear engine's work grows with the pattern too. */
const REGEX_PATTERN_LIMIT = 1024;

/** V8's linear-time engine (a variable: linters only know the standard flags). */
const LINEAR = "l";

const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]);

/** The request's headers and query parameters, each parsed on first use only. */
export class RequestFacts {
  readonly #request: MatchRequest;
  #headers: Map<string, string> | undefined;
  #query: Map<string, string> | undefined;

  constructor(request: MatchRequest) {
    this.#request = request;
  }

  get method(): string | undefined {
    return this.#request.method;
  }

  /** The header's values joined in order (`, `, or `; ` for Cookie); `name` in lower case. */
  header(name: string): string | undefined {
    if (!this.#headers) {
      const headers = new Map<string, string>();
      const raw = this.#request.rawHeaders ?? [];
      for (let i = 0; i + 1 < raw.length; i += 2) {
        const key = (raw[i] as string).toLowerCase();
        const value = raw[i + 1] as string;
        const seen = headers.get(key);
        headers.set(key, seen === undefined ? value : `${seen}${key === "cookie" ? "; " : ", "}${value}`);
      }
      this.#headers = headers;
    }
    return this.#headers.get(name);
  }

  /** The parameter's first value, form-decoded. */
  queryParam(name: string): string | undefined {
    if (!this.#query) {
      const query = new Map<string, string>();
      const text = this.#request.query ?? "";
      for (const [key, value] of new URLSearchParams(text.startsWith("?") ? text.slice(1) : text)) {
        if (!query.has(key)) query.set(key, value);
      }
      this.#query = query;
    }
    return this.#query.get(name);
  }
}

let linearEngine: boolean | undefined;

/**
 * A RegExp that must match the whole value, compiled for V8's linear-time engine (the
 * `l` flag): its cost is linear in the input whatever the pattern, as with RE2. Patterns
 * the engine cannot run in linear time (backreferences, lookahead, large counted
 * repetitions) are refused, with why.
 */
export function linearRegExp(pattern: string): { ok: true; regexp: RegExp } | { ok: false; problem: string } {
  if (pattern.length > REGEX_PATTERN_LIMIT)
    return { ok: false, problem: `longer than ${REGEX_PATTERN_LIMIT} characters` };
  if (linearEngine === undefined) {
    // Process-wide and idempotent; it only makes the `l` flag available.
    setFlagsFromString("--enable-experimental-regexp-engine");
    try {
      new RegExp("a", LINEAR);
      linearEngine = true;
    } catch {
      linearEngine = false;
    }
  }
  if (!linearEngine)
    return { ok: false, problem: "this Node.js has no linear-time regular expression engine" };
  try {
    new RegExp(pattern);
  } catch (error) {
    return { ok: false, problem: `invalid regular expression: ${(error as Error).message}` };
  }
  try {
    return { ok: true, regexp: new RegExp(`^(?:${pattern})$`, LINEAR) };
  } catch {
    return {
      ok: false,
      problem:
        "cannot be matched in linear time (backreferences, lookahead and large counted repetitions are not supported)",
    };
  }
}

function valueProblem(c: { type: string; value: string }): string | undefined {
  if (c.type === "Exact") return undefined;
  if (c.type !== "RegularExpression") return `type ${c.type} is not supported (Exact, RegularExpression)`;
  const compiled = linearRegExp(c.value);
  return compiled.ok ? undefined : `RegularExpression ${JSON.stringify(c.value)}: ${compiled.problem}`;
}

/** An HTTPRoute match's conditions as written (the Gateway API shape). */
export interface WrittenConditions {
  readonly method?: string | undefined;
  readonly headers?: readonly { type: string; name: string; value: string }[] | undefined;
  readonly queryParams?: readonly { type: string; name: string; value: string }[] | undefined;
}

/**
 * What in a match's conditions cannot be served, each problem naming its field under `at`
 * (`spec.rules[0].matches[1]`).
 */
export function conditionProblems(written: WrittenConditions, at: string): string[] {
  const problems: string[] = [];
  if (written.method !== undefined && !METHODS.has(written.method))
    problems.push(`${at}.method ${written.method} is not an HTTP method Gateway API names`);
  (written.headers ?? []).forEach((h, k) => {
    const problem = valueProblem(h);
    if (problem) problems.push(`${at}.headers[${k}] ${h.name}: ${problem}`);
  });
  (written.queryParams ?? []).forEach((q, k) => {
    const problem = valueProblem(q);
    if (problem) problems.push(`${at}.queryParams[${k}] ${q.name}: ${problem}`);
  });
  return problems;
}

function normalizeValues(
  written: readonly { type: string; name: string; value: string }[] | undefined,
  key: (name: string) => string,
): ValueCondition[] {
  // Gateway API: of entries with equivalent names, only the first is considered.
  const byName = new Map<string, ValueCondition>();
  for (const c of written ?? []) {
    const name = key(c.name);
    if (!byName.has(name)) byName.set(name, { name, type: c.type as ValueCondition["type"], value: c.value });
  }
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * The conditions in canonical form (header names in lower case, one entry per name, sorted),
 * or `undefined` when there are none. Check {@link conditionProblems} first.
 */
export function normalizeConditions(written: WrittenConditions): MatchConditions | undefined {
  const headers = normalizeValues(written.headers, (n) => n.toLowerCase());
  const queryParams = normalizeValues(written.queryParams, (n) => n);
  if (written.method === undefined && headers.length === 0 && queryParams.length === 0) return undefined;
  return Object.freeze({
    ...(written.method === undefined ? {} : { method: written.method }),
    ...(headers.length > 0 ? { headers: Object.freeze(headers) } : {}),
    ...(queryParams.length > 0 ? { queryParams: Object.freeze(queryParams) } : {}),
  });
}

/**
 * The identity of a condition set, for claims: two matches of one host and path with the
 * same signature are the same claim (the older wins); different signatures both live.
 * `""` for no conditions. Expects normalized conditions.
 */
export function conditionSignature(conditions: MatchConditions | undefined): string {
  if (!conditions) return "";
  // `=` Exact, `~` RegularExpression; query parameters after `?`: `POST x-env="canary" ?v~"[0-9]+"`.
  const value = (c: ValueCondition): string =>
    `${c.name}${c.type === "Exact" ? "=" : "~"}${JSON.stringify(c.value)}`;
  return [
    ...(conditions.method === undefined ? [] : [conditions.method]),
    ...(conditions.headers ?? []).map(value),
    ...(conditions.queryParams ?? []).map((c) => `?${value(c)}`),
  ].join(" ");
}

/**
 * Gateway API precedence among matches of one path: a method match first, then more
 * header matches, then more query parameter matches. Negative when `a` goes first; 0 keeps
 * the order they came in (older route, then rule and match order).
 */
export function compareConditions(a: MatchConditions | undefined, b: MatchConditions | undefined): number {
  const method = Number(b?.method !== undefined) - Number(a?.method !== undefined);
  if (method !== 0) return method;
  const headers = (b?.headers?.length ?? 0) - (a?.headers?.length ?? 0);
  if (headers !== 0) return headers;
  return (b?.queryParams?.length ?? 0) - (a?.queryParams?.length ?? 0);
}

function valueTest(c: ValueCondition): (value: string | undefined) => boolean {
  if (c.type === "Exact") return (value) => value === c.value;
  const compiled = linearRegExp(c.value);
  // compile() refused what does not compile; a table built from elsewhere matches nothing then.
  if (!compiled.ok) return () => false;
  const { regexp } = compiled;
  return (value) => value !== undefined && value.length <= REGEX_INPUT_LIMIT && regexp.test(value);
}

/**
 * The predicate of a condition set (built once per table, where the matcher is built).
 * `identityHeaders` (lower case) are judged as absent: wsgate removes them from every client
 * request because a route fills them from auth, so a client's copy must not choose a route
 * either — `X-User-Id: admin` from a client never satisfies a match on it.
 */
export function conditionTest(
  conditions: MatchConditions,
  identityHeaders: ReadonlySet<string> = new Set(),
): ConditionTest {
  const { method } = conditions;
  const headers = (conditions.headers ?? []).map((c) => ({
    name: c.name,
    test: identityHeaders.has(c.name) ? () => false : valueTest(c),
  }));
  const query = (conditions.queryParams ?? []).map((c) => ({ name: c.name, test: valueTest(c) }));
  return (facts) => {
    if (method !== undefined && facts.method !== method) return false;
    for (const h of headers) if (!h.test(facts.header(h.name))) return false;
    for (const q of query) if (!q.test(facts.queryParam(q.name))) return false;
    return true;
  };
}
