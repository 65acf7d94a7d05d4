/**
 * Property: the routing table's matcher — hashed per host and path, candidate lists sorted
 * once, conditions read lazily — picks the same rule as a slow reference that lists every
 * (route, rule, match) the request satisfies and sorts them by Gateway API precedence:
 * the most specific hostname that has any match, then Exact path, then the longest
 * PathPrefix, then a method match, more header matches, more query matches, the older
 * route, the earlier rule. Requests repeat headers and query parameters and vary case.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { normalizeConditions, type MatchConditions, type ValueCondition } from "../src/routing/matcher.js";
import { tableFromMessage, TableEncoder } from "../src/workers/table-transfer.js";
import {
  buildTable,
  canonicalPrefix,
  type PathMatch,
  type Route,
  type RouteSettings,
} from "../src/routing/table.js";

const SETTINGS: RouteSettings = {
  policy: "LeastConnections",
  timeouts: { connectMs: 1, handshakeMs: 1, idleMs: 0, maxLifetimeMs: 0 },
  limits: {},
  drain: { windowMs: 0, closeCode: 1001 },
};

const HOSTNAMES = ["a.example.com", "*.example.com", "b.example.com"];
const PATHS = ["/", "/ws", "/ws/", "/ws/a", "/api"];
const REQUEST_PATHS = ["/", "/ws", "/ws/a", "/ws/a/b", "/wsx", "/api", "/api/x"];
const REQUEST_HOSTS = ["a.example.com", "b.example.com", "c.example.com", "other.org"];

const valueCondition = (names: string[]): fc.Arbitrary<{ type: string; name: string; value: string }> =>
  fc.oneof(
    fc.record({
      type: fc.constant("Exact"),
      name: fc.constantFrom(...names),
      value: fc.constantFrom("1", "2"),
    }),
    fc.record({
      type: fc.constant("RegularExpression"),
      name: fc.constantFrom(...names),
      value: fc.constantFrom("[12]", "1|3", "2+"),
    }),
  );

const conditions: fc.Arbitrary<MatchConditions | undefined> = fc
  .record(
    {
      method: fc.constantFrom("GET", "POST"),
      headers: fc.array(valueCondition(["X-A", "x-b", "X-B"]), { maxLength: 2 }),
      queryParams: fc.array(valueCondition(["q", "Q"]), { maxLength: 2 }),
    },
    { requiredKeys: [] },
  )
  .map((written) => normalizeConditions(written));

const pathMatch: fc.Arbitrary<PathMatch> = fc
  .record({
    type: fc.constantFrom("Exact" as const, "PathPrefix" as const),
    value: fc.constantFrom(...PATHS),
    conditions,
  })
  .map(({ conditions: c, ...path }) => (c ? { ...path, conditions: c } : path));

const routes: fc.Arbitrary<Route[]> = fc
  .array(
    fc.record({
      hostnames: fc.subarray(HOSTNAMES, { maxLength: 2 }),
      rules: fc.array(fc.array(pathMatch, { minLength: 1, maxLength: 2 }), { minLength: 1, maxLength: 3 }),
    }),
    { minLength: 1, maxLength: 5 },
  )
  .map((list) =>
    list.map((r, i) => ({
      namespace: "ns",
      name: `r${i}`,
      key: `ns/r${i}`,
      hostnames: r.hostnames,
      rules: r.rules.map((matches, j) => ({ key: `ns/r${i}#${j}`, matches, backends: [] })),
      settings: SETTINGS,
    })),
  );

interface Request {
  host: string;
  path: string;
  method: string;
  rawHeaders: string[];
  query: string;
}

const request: fc.Arbitrary<Request> = fc.record({
  host: fc.constantFrom(...REQUEST_HOSTS),
  path: fc.constantFrom(...REQUEST_PATHS),
  method: fc.constantFrom("GET", "POST", "get"),
  rawHeaders: fc
    .array(fc.tuple(fc.constantFrom("X-A", "x-a", "X-B", "x-c"), fc.constantFrom("1", "2", "3", "22")), {
      maxLength: 4,
    })
    .map((pairs) => pairs.flat()),
  query: fc
    .array(fc.tuple(fc.constantFrom("q", "Q", "r"), fc.constantFrom("1", "2", "%31", "2+")), { maxLength: 3 })
    .map((pairs) => (pairs.length === 0 ? "" : `?${pairs.map(([k, v]) => `${k}=${v}`).join("&")}`)),
});

// --- The slow reference: written from the Gateway API text, sharing no code with the table.

function headerValue(req: Request, name: string): string | undefined {
  const values: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2)
    if ((req.rawHeaders[i] as string).toLowerCase() === name) values.push(req.rawHeaders[i + 1] as string);
  return values.length === 0 ? undefined : values.join(", ");
}

function queryValue(req: Request, name: string): string | undefined {
  for (const pair of req.query.slice(1).split("&")) {
    const eq = pair.indexOf("=");
    const key = decodeURIComponent((eq === -1 ? pair : pair.slice(0, eq)).replaceAll("+", " "));
    if (key === name) return decodeURIComponent((eq === -1 ? "" : pair.slice(eq + 1)).replaceAll("+", " "));
  }
  return undefined;
}

function valueHolds(c: ValueCondition, value: string | undefined): boolean {
  if (value === undefined) return false;
  return c.type === "Exact" ? value === c.value : new RegExp(`^(?:${c.value})$`).test(value);
}

function conditionsHold(c: MatchConditions | undefined, req: Request): boolean {
  if (!c) return true;
  if (c.method !== undefined && c.method !== req.method) return false;
  return (
    (c.headers ?? []).every((h) => valueHolds(h, headerValue(req, h.name))) &&
    (c.queryParams ?? []).every((q) => valueHolds(q, queryValue(req, q.name)))
  );
}

function pathHolds(m: PathMatch, path: string): boolean {
  if (m.type === "Exact") return m.value === path;
  const p = canonicalPrefix(m.value);
  return p === "/" || path === p || path.startsWith(`${p}/`);
}

/** 0 for the exact hostname, then wildcards (longer suffix first), then any host; -1: no. */
function hostRank(hostnames: readonly string[], host: string): number[] {
  if (hostnames.length === 0) return [Number.MAX_SAFE_INTEGER];
  const ranks: number[] = [];
  for (const h of hostnames) {
    if (h === host) ranks.push(0);
    else if (h.startsWith("*.") && host.endsWith(h.slice(1)) && host.length > h.length - 1)
      ranks.push(1_000 - h.length);
  }
  return ranks;
}

function reference(list: readonly Route[], req: Request): string | null {
  const found: { key: string; sort: number[] }[] = [];
  list.forEach((route, r) => {
    for (const rank of hostRank(route.hostnames, req.host)) {
      route.rules.forEach((rule, i) => {
        rule.matches.forEach((m, j) => {
          if (!pathHolds(m, req.path) || !conditionsHold(m.conditions, req)) return;
          found.push({
            key: rule.key,
            sort: [
              rank,
              m.type === "Exact" ? 0 : 1,
              -canonicalPrefix(m.value).length,
              m.conditions?.method === undefined ? 1 : 0,
              -(m.conditions?.headers?.length ?? 0),
              -(m.conditions?.queryParams?.length ?? 0),
              r,
              i,
              j,
            ],
          });
        });
      });
    }
  });
  found.sort((a, b) => {
    for (let k = 0; k < a.sort.length; k++)
      if (a.sort[k] !== b.sort[k]) return (a.sort[k] as number) - (b.sort[k] as number);
    return 0;
  });
  return found[0]?.key ?? null;
}

describe("HTTPRoute matches: the table against a slow reference", () => {
  it("picks the rule Gateway API precedence picks, for any routes and any request", () => {
    fc.assert(
      fc.property(routes, fc.array(request, { minLength: 1, maxLength: 8 }), (list, requests) => {
        const table = buildTable(1, list, new Map());
        for (const req of requests) {
          const got = table.match(req.host, req.path, req)?.rule.key ?? null;
          expect(got).toBe(reference(list, req));
        }
      }),
      { numRuns: 2_000 },
    );
  });
});

describe("HTTPRoute matches in worker threads", () => {
  it("keeps a table's conditions through the copy a worker decodes, so every worker routes alike", () => {
    const conditions = normalizeConditions({
      method: "GET",
      headers: [{ type: "RegularExpression", name: "X-A", value: "[12]" }],
      queryParams: [{ type: "Exact", name: "q", value: "1" }],
    });
    const route: Route = {
      namespace: "ns",
      name: "r",
      key: "ns/r",
      hostnames: [],
      rules: [
        {
          key: "ns/r#0",
          matches: [{ type: "PathPrefix", value: "/", ...(conditions ? { conditions } : {}) }],
          backends: [],
        },
        { key: "ns/r#1", matches: [{ type: "PathPrefix", value: "/" }], backends: [] },
      ],
      settings: SETTINGS,
    };
    const inWorker = tableFromMessage(
      structuredClone(new TableEncoder().encode(buildTable(1, [route], new Map()))),
      false,
    );
    const req = { method: "GET", rawHeaders: ["X-A", "2"], query: "?q=1" };
    expect(inWorker.match("h", "/x", req)?.rule.key).toBe("ns/r#0");
    expect(inWorker.match("h", "/x", { ...req, rawHeaders: ["X-A", "3"] })?.rule.key).toBe("ns/r#1");
  });
});
