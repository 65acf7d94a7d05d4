import { describe, expect, it } from "vitest";
import type { Rule } from "../routing/table.js";
import type { CanonicalRequest } from "./canonical.js";
import { editHeaders, modifiedPath, redirectLocation } from "./request-filters.js";

function rule(...prefixes: string[]): Rule {
  return { key: "apps/r#0", matches: prefixes.map((value) => ({ type: "PathPrefix", value })), backends: [] };
}

const replace = (value: string) => ({ type: "ReplacePrefixMatch", value }) as const;

describe("modifiedPath", () => {
  it.each([
    ["/api", "/v2", "/api/x", "/v2/x"],
    ["/api", "/v2", "/api", "/v2"],
    ["/api", "/v2", "/api/", "/v2/"],
    ["/api/", "/v2/", "/api/x", "/v2/x"],
    ["/api", "/", "/api/x", "/x"],
    ["/api", "/", "/api", "/"],
    ["/", "/v2", "/x/y", "/v2/x/y"],
    ["/", "/", "/x", "/x"],
  ])(
    "replaces the matched prefix %s by %s segment-wise (%s → %s), so that no request gains or loses a segment",
    (prefix, value, path, expected) => {
      expect(modifiedPath(path, rule(prefix), replace(value))).toBe(expected);
    },
  );

  it("replaces the longest matching prefix of the rule, as the table matched it", () => {
    expect(modifiedPath("/a/b/c", rule("/a", "/a/b"), replace("/z"))).toBe("/z/c");
  });
});

describe("editHeaders", () => {
  it("never sets or adds a protected name, so that identity headers cannot be forged by a filter", () => {
    const edits = { set: [["X-User", "admin"] as const, ["X-A", "1"] as const], add: [], remove: ["x-b"] };
    const out = editHeaders(["X-A", "0", "X-B", "gone", "X-C", "kept"], edits, new Set(["x-user"]));
    expect(out).toEqual(["X-C", "kept", "X-A", "1"]);
  });
});

describe("redirectLocation", () => {
  const request: CanonicalRequest = {
    hostname: "[::1]",
    authority: "[::1]:8443",
    path: "/p",
    query: "?q",
    target: "/p?q",
    encodedSlash: false,
  };

  it("keeps a bracketed IPv6 host and the client's port when only the path changes", () => {
    const redirect = { statusCode: 302, path: { type: "ReplaceFullPath", value: "/n" } } as const;
    expect(redirectLocation(request, "https", rule("/"), redirect)).toBe("https://[::1]:8443/n?q");
  });

  it("leaves out the well-known port of the scheme", () => {
    expect(
      redirectLocation(request, "http", rule("/"), { statusCode: 301, scheme: "https", port: 443 }),
    ).toBe("https://[::1]/p?q");
  });
});
