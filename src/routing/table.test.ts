import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EMPTY_TABLE, canonicalPrefix, normalizeHost, prefixMatches } from "./table.js";

describe("normalizeHost", () => {
  it.each([
    [undefined, ""],
    ["", ""],
    ["chat.example.com", "chat.example.com"],
    ["Chat.Example.COM", "chat.example.com"],
    ["chat.example.com:8443", "chat.example.com"],
    ["CHAT.example.com:80", "chat.example.com"],
    ["chat.example.com.", "chat.example.com"],
    ["chat.example.com.:443", "chat.example.com"],
    ["  chat.example.com  ", "chat.example.com"],
    ["10.0.0.1:8080", "10.0.0.1"],
    ["[::1]:8080", "[::1]"],
    ["[::1]", "[::1]"],
    ["[FD00::1]:443", "[fd00::1]"],
    ["[::1", "[::1"],
  ])("%j → %j", (host, expected) => {
    expect(normalizeHost(host)).toBe(expected);
  });
});

describe("prefixMatches", () => {
  it.each([
    ["/", "/", true],
    ["/", "/anything/at/all", true],
    ["/ws", "/ws", true],
    ["/ws", "/ws/", true],
    ["/ws", "/ws/x", true],
    ["/ws", "/ws/x/y", true],
    ["/ws", "/wsx", false],
    ["/ws", "/w", false],
    ["/ws", "/", false],
    ["/ws", "/WS", false],
    ["/ws/", "/ws", true],
    ["/ws/", "/ws/", true],
    ["/ws/", "/ws/x", true],
    ["/ws/", "/wsx", false],
    ["/a/b", "/a/b/c", true],
    ["/a/b", "/a/bc", false],
    ["/a/b", "/a", false],
  ])("PathPrefix %s vs %s → %s", (prefix, path, expected) => {
    expect(prefixMatches(prefix, path)).toBe(expected);
  });

  /** A path segment: any printable ASCII but "/". */
  const segment = fc.string({ minLength: 1, maxLength: 6 }).filter((s) => !s.includes("/"));
  const segments = fc.array(segment, { minLength: 1, maxLength: 6 });
  const join = (parts: readonly string[]): string => `/${parts.join("/")}`;

  it("holds for every segment-aligned prefix of a path, with or without a trailing slash", () => {
    fc.assert(
      fc.property(segments, fc.boolean(), fc.nat(), fc.boolean(), (parts, pathSlash, cut, prefixSlash) => {
        const path = join(parts) + (pathSlash ? "/" : "");
        const prefix = join(parts.slice(0, (cut % parts.length) + 1)) + (prefixSlash ? "/" : "");
        expect(prefixMatches(prefix, path)).toBe(true);
      }),
    );
  });

  it("does not hold for a prefix that ends in the middle of a segment", () => {
    fc.assert(
      fc.property(
        segments.filter((parts) => parts.some((p) => p.length >= 2)),
        fc.nat(),
        fc.nat(),
        fc.boolean(),
        fc.boolean(),
        (parts, pick, cut, pathSlash, prefixSlash) => {
          const long = parts.map((p, i) => [p, i] as const).filter(([p]) => p.length >= 2);
          const [part, index] = long[pick % long.length] as readonly [string, number];
          const partial = part.slice(0, (cut % (part.length - 1)) + 1); // a proper, non-empty prefix
          const prefix = join([...parts.slice(0, index), partial]) + (prefixSlash ? "/" : "");
          const path = join(parts) + (pathSlash ? "/" : "");
          expect(prefixMatches(prefix, path)).toBe(false);
        },
      ),
    );
  });
});

describe("canonicalPrefix", () => {
  it.each([
    ["/", "/"],
    ["/ws", "/ws"],
    ["/ws/", "/ws"],
    ["/a/b/", "/a/b"],
  ])("%s → %s", (prefix, expected) => {
    expect(canonicalPrefix(prefix)).toBe(expected);
  });
});

describe("EMPTY_TABLE", () => {
  it("is generation 0 and matches nothing", () => {
    expect(EMPTY_TABLE.generation).toBe(0);
    expect(EMPTY_TABLE.routes).toEqual([]);
    expect(EMPTY_TABLE.match("chat.example.com", "/")).toBeUndefined();
    expect(EMPTY_TABLE.match("", "/ws")).toBeUndefined();
  });
});
