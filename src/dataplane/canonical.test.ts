import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { normalizePath } from "../api/request-path.js";
import { canonicalize, parseAuthority } from "./canonical.js";

const host = (value: string): string[] => ["Host", value];

describe("parseAuthority", () => {
  it.each([
    ["chat.example.com", "chat.example.com", undefined],
    ["Chat.Example.COM.", "chat.example.com", undefined],
    ["chat.example.com:8080", "chat.example.com", 8080],
    ["chat.example.com:", "chat.example.com", undefined],
    ["10.0.0.1:80", "10.0.0.1", 80],
    ["[::1]:8443", "[::1]", 8443],
    ["[FE80::1]", "[fe80::1]", undefined],
    ["localhost", "localhost", undefined],
  ])("accepts %s as %s port %s", (value, hostname, port) => {
    expect(parseAuthority(value)).toEqual({ ok: true, hostname, ...(port === undefined ? {} : { port }) });
  });

  it.each([
    ["chat.example.com:80@evil.example", "userinfo"],
    ["user@chat.example.com", "userinfo"],
    ["a:b", "invalid port"],
    ["a:99999", "invalid port"],
    ["256.256.256.256", "invalid IPv4"],
    ["1.2.3", "invalid IPv4"],
    ["example.0x10", "invalid IPv4"],
    ["[::1", "unterminated"],
    ["[::g]", "invalid IPv6"],
    ["[fe80::1%25eth0]", "invalid IPv6"],
    ["[::1]x", "unexpected text"],
    ["%zz", "invalid host name"],
    ["a..b", "empty label"],
    ["", "invalid host name"],
    ["a b", "invalid host name"],
  ])("refuses %s (%s) so that the backend never sees a host other than the one routed", (value, why) => {
    const parsed = parseAuthority(value);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.problem).toContain(why);
  });
});

describe("canonicalize", () => {
  it("lower-cases the host, keeps its port for upstream and splits the query off unchanged", () => {
    const c = canonicalize("/Chat/%7euser/?token=A%2fb&x=..", host("Chat.Example.com.:8080"));
    expect(c).toEqual({
      ok: true,
      request: {
        hostname: "chat.example.com",
        authority: "chat.example.com:8080",
        path: "/Chat/~user/",
        query: "?token=A%2fb&x=..",
        target: "/Chat/~user/?token=A%2fb&x=..",
        encodedSlash: false,
      },
    });
  });

  it("converts an absolute-form target whose authority is the Host to origin form", () => {
    for (const target of ["http://chat.example.com/api/x?q", "HTTP://CHAT.example.com:80/api/x?q"]) {
      const c = canonicalize(target, host("chat.example.com"));
      expect(c.ok && c.request.target).toBe("/api/x?q");
    }
    const bare = canonicalize("http://chat.example.com", host("chat.example.com"));
    expect(bare.ok && bare.request.target).toBe("/");
  });

  it.each([
    ["http://other.example.com/api", "chat.example.com", "does not match Host"],
    ["http://chat.example.com:8080/api", "chat.example.com", "does not match Host"],
    ["http://a:b/", "a", "invalid port"],
    ["http://256.256.256.256/", "a", "invalid IPv4"],
    ["http://[::1/", "a", "unterminated"],
    ["http://%zz/", "a", "invalid host name"],
    ["http://u@chat.example.com/", "chat.example.com", "userinfo"],
    ["ftp://chat.example.com/", "chat.example.com", "unsupported scheme"],
    ["*", "chat.example.com", "must be a path"],
    ["/api#x", "chat.example.com", "fragment"],
    ["/public/..%2fapi", "chat.example.com", undefined],
    ["/a%5Cb", "chat.example.com", "backslash"],
    ["/a\\b", "chat.example.com", "backslash"],
    ["/a%00", "chat.example.com", "NUL"],
    ["/a%zz", "chat.example.com", "percent-encoding"],
    ["/", "chat.example.com:80@evil.example", "userinfo"],
  ])("refuses %s with Host %s (%s)", (target, hostValue, why) => {
    const c = canonicalize(target, host(hostValue));
    if (why === undefined) {
      // An encoded slash is canonical but flagged: the route decides.
      expect(c.ok && c.request.encodedSlash).toBe(true);
      return;
    }
    expect(c.ok).toBe(false);
    if (!c.ok) expect(c.message).toContain(why);
  });

  it("refuses a second Host header so that routing and the backend cannot disagree on the host", () => {
    const c = canonicalize("/", [...host("public.example.com"), "X-A", "1", ...host("admin.example.com")]);
    expect(c).toMatchObject({ ok: false, message: "more than one Host header" });
  });

  it("treats a missing or empty Host as no host (HTTP/1.0)", () => {
    expect(canonicalize("/x", [])).toMatchObject({ ok: true, request: { hostname: "", authority: "" } });
    expect(canonicalize("/x", host(""))).toMatchObject({ ok: true, request: { hostname: "" } });
  });

  it("logs the raw path of a refused target without its query", () => {
    const c = canonicalize("/a%zz?token=secret", host("a"));
    expect(c).toMatchObject({ ok: false, path: "/a%zz" });
  });
});

describe("normalizePath", () => {
  it.each([
    ["/", "/"],
    ["/%2e%2e/api/secret", "/api/secret"],
    ["/public/../api", "/api"],
    ["/public/%2E%2E/api", "/api"],
    ["/./api", "/api"],
    ["//api", "/api"],
    ["/a//b/", "/a/b/"],
    ["/a/.", "/a/"],
    ["/a/..", "/"],
    ["/..", "/"],
    ["/%41pi/%7e%2D", "/Api/~-"],
    ["/a%3b%c3%a9", "/a%3B%C3%A9"],
    ["/a|b^c", "/a%7Cb%5Ec"],
    ["/a;b=c:d@e", "/a;b=c:d@e"],
  ])("%s → %s", (raw, normal) => {
    expect(normalizePath(raw)).toEqual({ ok: true, path: normal, encodedSlash: false });
  });

  it("keeps an encoded slash as a byte of its segment and reports it", () => {
    expect(normalizePath("/a/..%2fb")).toEqual({ ok: true, path: "/a/..%2Fb", encodedSlash: true });
  });

  // Fragments a generated path is made of: everything that has bypassed a proxy's matching somewhere.
  const segment = fc.constantFrom(
    "api",
    "public",
    "Secret",
    ".",
    "..",
    "%2e",
    "%2E%2e",
    ".%2e",
    "",
    "%41",
    "a%70i",
    "%2f",
    "%25",
    "%252e",
    ";x",
    "~",
    "%7E",
    "x y",
    "é",
  );
  const paths = fc.array(segment, { maxLength: 8 }).map((s) => `/${s.join("/")}`);

  it("is idempotent and its output is stable under a WHATWG URL parser (what many backends use)", () => {
    fc.assert(
      fc.property(paths, (raw) => {
        const once = normalizePath(raw);
        if (!once.ok) return;
        expect(normalizePath(once.path)).toEqual(once);
        if (once.encodedSlash) return;
        expect(new URL(once.path, "http://backend.invalid").pathname).toBe(once.path);
        expect(once.path).not.toMatch(/\/\.{1,2}(\/|$)|\/\/|%[0-9A-Fa-f]?[a-f]|%(2[Ee]|41|7[Ee])/);
      }),
      { numRuns: 2_000 },
    );
  });
});
