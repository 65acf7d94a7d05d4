import { describe, expect, it } from "vitest";
import {
  compareConditions,
  conditionProblems,
  conditionSignature,
  conditionTest,
  linearRegExp,
  normalizeConditions,
  REGEX_INPUT_LIMIT,
  RequestFacts,
  type MatchConditions,
} from "./matcher.js";

const facts = (rawHeaders: string[], query = "", method = "GET"): RequestFacts =>
  new RequestFacts({ method, rawHeaders, query });

describe("request facts", () => {
  it("joins a header sent twice, so that `X-Env: a` twice is `a, a` and matches no Exact `a`", () => {
    const twice = facts(["X-Env", "a", "x-env", "a"]);
    expect(twice.header("x-env")).toBe("a, a");
    const test = conditionTest({ headers: [{ name: "x-env", type: "Exact", value: "a" }] });
    expect(test(twice)).toBe(false);
    expect(test(facts(["X-Env", "a"]))).toBe(true);
  });

  it("joins Cookie headers with `; `, as a backend's parser does", () => {
    expect(facts(["Cookie", "a=1", "Cookie", "b=2"]).header("cookie")).toBe("a=1; b=2");
  });

  it("takes the first value of a repeated query parameter, form-decoded", () => {
    const f = facts([], "?v=1&v=2&name=a+b%21");
    expect(f.queryParam("v")).toBe("1");
    expect(f.queryParam("name")).toBe("a b!");
    expect(f.queryParam("V")).toBeUndefined();
  });
});

describe("linear-time regular expressions", () => {
  it.each(["(a)\\1", "(?<n>a)\\k<n>", "(?=a)a", "a{1,100000}"])(
    "refuses %s, so that no pattern can backtrack on a client's header",
    (pattern) => {
      expect(linearRegExp(pattern).ok).toBe(false);
    },
  );

  it("runs a pattern that backtracks exponentially elsewhere in linear time", () => {
    const compiled = linearRegExp("(a+)+");
    expect(compiled.ok).toBe(true);
    // A backtracking engine takes 2^1000 steps here: the test would never finish.
    const test = conditionTest({ headers: [{ name: "x-a", type: "RegularExpression", value: "(a+)+" }] });
    expect(test(facts(["X-A", `${"a".repeat(1000)}b`]))).toBe(false);
    expect(test(facts(["X-A", "a".repeat(1000)]))).toBe(true);
  });

  it("matches the whole value, never a part of it", () => {
    const test = conditionTest({ headers: [{ name: "x-a", type: "RegularExpression", value: "v[0-9]" }] });
    expect(test(facts(["X-A", "v1"]))).toBe(true);
    expect(test(facts(["X-A", "xv1"]))).toBe(false);
    expect(test(facts(["X-A", "v1x"]))).toBe(false);
  });

  it("never matches a value longer than the limit, so that the work per request stays bounded", () => {
    const test = conditionTest({ headers: [{ name: "x-a", type: "RegularExpression", value: "a*" }] });
    expect(test(facts(["X-A", "a".repeat(REGEX_INPUT_LIMIT)]))).toBe(true);
    expect(test(facts(["X-A", "a".repeat(REGEX_INPUT_LIMIT + 1)]))).toBe(false);
  });
});

describe("conditions", () => {
  it("keeps the first of header entries with equivalent names (Gateway API) and sorts them", () => {
    const c = normalizeConditions({
      headers: [
        { type: "Exact", name: "X-B", value: "1" },
        { type: "Exact", name: "X-A", value: "1" },
        { type: "Exact", name: "x-b", value: "2" },
      ],
      queryParams: [{ type: "Exact", name: "Q", value: "1" }],
    });
    expect(c).toEqual({
      headers: [
        { name: "x-a", type: "Exact", value: "1" },
        { name: "x-b", type: "Exact", value: "1" },
      ],
      queryParams: [{ name: "Q", type: "Exact", value: "1" }],
    });
    expect(normalizeConditions({ headers: [], queryParams: [] })).toBeUndefined();
  });

  it("gives equal condition sets one signature whatever the order and case of header names", () => {
    const a = normalizeConditions({
      headers: [
        { type: "Exact", name: "X-A", value: "1" },
        { type: "Exact", name: "X-B", value: "2" },
      ],
    });
    const b = normalizeConditions({
      headers: [
        { type: "Exact", name: "x-b", value: "2" },
        { type: "Exact", name: "x-a", value: "1" },
      ],
    });
    expect(conditionSignature(a)).toBe(conditionSignature(b));
    expect(conditionSignature(a)).not.toBe(
      conditionSignature(
        normalizeConditions({ headers: [{ type: "RegularExpression", name: "X-A", value: "1" }] }),
      ),
    );
    expect(conditionSignature(undefined)).toBe("");
  });

  it("orders a method match before header matches, and more headers before more query parameters", () => {
    const method: MatchConditions = { method: "GET" };
    const headers: MatchConditions = {
      headers: [
        { name: "a", type: "Exact", value: "1" },
        { name: "b", type: "Exact", value: "1" },
      ],
    };
    const query: MatchConditions = { queryParams: [{ name: "a", type: "Exact", value: "1" }] };
    const sorted = [undefined, query, headers, method].sort(compareConditions);
    expect(sorted).toEqual([method, headers, query, undefined]);
  });

  it("names each field it cannot serve", () => {
    expect(
      conditionProblems(
        {
          method: "get",
          headers: [{ type: "Prefix", name: "X-A", value: "a" }],
          queryParams: [{ type: "RegularExpression", name: "q", value: "(" }],
        },
        "spec.rules[0].matches[0]",
      ),
    ).toEqual([
      "spec.rules[0].matches[0].method get is not an HTTP method Gateway API names",
      "spec.rules[0].matches[0].headers[0] X-A: type Prefix is not supported (Exact, RegularExpression)",
      expect.stringMatching(
        /^spec\.rules\[0\]\.matches\[0\]\.queryParams\[0\] q: RegularExpression "\(": invalid/,
      ),
    ]);
  });

  it("judges the method case-sensitively and a missing header as no match", () => {
    const test = conditionTest({ method: "POST", headers: [{ name: "x-a", type: "Exact", value: "1" }] });
    expect(test(facts(["X-A", "1"], "", "POST"))).toBe(true);
    expect(test(facts(["X-A", "1"], "", "post"))).toBe(false);
    expect(test(facts([], "", "POST"))).toBe(false);
  });
});
