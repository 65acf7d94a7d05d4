import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ANNOTATIONS, annotationTableMarkdown, applyAnnotations, cidrList } from "./annotations.js";

const N = "nginx.ingress.kubernetes.io/";

describe("the annotation table", () => {
  it("has one row per name, each with doc text, so that code and README cannot disagree on a name", () => {
    const names = ANNOTATIONS.map((r) => r.name);
    expect(new Set(names).size).toBe(names.length);
    for (const row of ANNOTATIONS) {
      expect(row.doc.length, row.name).toBeGreaterThan(10);
      expect(row.support === "supported", `${row.name}: a supported row applies its value`).toBe(
        row.apply !== undefined,
      );
    }
  });

  it("lists every row in the generated README table", () => {
    const table = annotationTableMarkdown();
    for (const row of ANNOTATIONS) expect(table).toContain(`| \`${row.name}\` |`);
  });
});

describe("session affinity annotations", () => {
  it("turns affinity: cookie and its companions into Cookie affinity, with nginx's cookie name by default", () => {
    expect(applyAnnotations({ [`${N}affinity`]: "cookie" }).draft).toEqual({
      sessionAffinity: { type: "Cookie", cookie: { name: "INGRESSCOOKIE" } },
    });
    const { draft, notices } = applyAnnotations({
      [`${N}affinity`]: "cookie",
      [`${N}affinity-mode`]: "persistent",
      [`${N}session-cookie-name`]: "route",
      [`${N}session-cookie-path`]: "/socket.io",
      [`${N}session-cookie-max-age`]: "172800",
      [`${N}session-cookie-expires`]: "100",
      [`${N}session-cookie-samesite`]: "none",
    });
    expect(notices).toEqual([]);
    expect(draft).toEqual({
      sessionAffinity: {
        type: "Cookie",
        // max-age wins over expires; SameSite=None needs Secure.
        cookie: { name: "route", path: "/socket.io", maxAge: "48h", sameSite: "None", secure: true },
      },
    });
  });

  it("refuses cookie companions without affinity, and bad values, each with a notice, leaving the rest", () => {
    const alone = applyAnnotations({ [`${N}session-cookie-name`]: "route" });
    expect(alone.notices.map((n) => n.reason)).toEqual(["InvalidAnnotation"]);
    expect(alone.draft).toEqual({});
    const bad = applyAnnotations({
      [`${N}affinity`]: "cookie",
      [`${N}session-cookie-path`]: "/;Domain=evil.example",
      [`${N}session-cookie-secure`]: "yes",
    });
    expect(bad.notices.map((n) => [n.annotation, n.reason])).toEqual([
      [`${N}session-cookie-path`, "InvalidAnnotation"],
      [`${N}session-cookie-secure`, "InvalidAnnotation"],
    ]);
    expect(bad.draft).toEqual({ sessionAffinity: { type: "Cookie", cookie: { name: "INGRESSCOOKIE" } } });
  });

  it("turns upstream-hash-by on the client address, a header or a parameter into hashing, and refuses the rest", () => {
    const hash = (v: string) => applyAnnotations({ [`${N}upstream-hash-by`]: v });
    expect(hash("$remote_addr").draft).toEqual({ sessionAffinity: { type: "ClientAddress" } });
    expect(hash("$http_x_session_id").draft).toEqual({
      sessionAffinity: { type: "Header", header: { name: "x-session-id" } },
    });
    expect(hash("$arg_sid").draft).toEqual({
      sessionAffinity: { type: "QueryParameter", queryParameter: { name: "sid" } },
    });
    const other = hash("$request_uri$host");
    expect(other.notices.map((n) => n.reason)).toEqual(["UnsupportedAnnotation"]);
    expect(other.draft).toEqual({});
  });
});

describe("applyAnnotations", () => {
  it("takes the larger of read and send timeout as the idle timeout, in ingress-nginx's seconds", () => {
    const { draft, notices } = applyAnnotations({
      [`${N}proxy-read-timeout`]: "3600",
      [`${N}proxy-send-timeout`]: "60",
      [`${N}proxy-connect-timeout`]: "5",
    });
    expect(notices).toEqual([]);
    expect(draft.timeouts).toEqual({ idle: "3600s", connect: "5s" });
  });

  it("refuses to execute any snippet, even one the table does not name, so that no nginx config runs", () => {
    const { notices, draft } = applyAnnotations({
      [`${N}configuration-snippet`]: "more_set_headers 'X: y';",
      [`${N}some-future-snippet`]: "lua_code_cache off;",
    });
    expect(notices.map((n) => n.reason)).toEqual(["SnippetIgnored", "SnippetIgnored"]);
    expect(draft).toEqual({});
  });

  it("names unknown annotations under both prefixes and passes other prefixes silently", () => {
    const { notices } = applyAnnotations({
      [`${N}proxy-body-size`]: "8m",
      "wsgate.io/no-such-thing": "1",
      "cert-manager.io/cluster-issuer": "letsencrypt",
    });
    expect(notices.map((n) => [n.annotation, n.reason])).toEqual([
      ["wsgate.io/no-such-thing", "UnknownAnnotation"],
      [`${N}proxy-body-size`, "UnknownAnnotation"],
    ]);
  });

  it("lets wsgate.io/ win over its nginx twin so that a migration can override without deleting", () => {
    const { draft } = applyAnnotations({
      [`${N}limit-connections`]: "100",
      "wsgate.io/limit-connections": "5",
    });
    expect(draft.limits).toEqual({ maxConnectionsPerClient: 5 });
  });

  it("computes the burst from limit-burst-multiplier, default 5 as in ingress-nginx", () => {
    expect(applyAnnotations({ [`${N}limit-rps`]: "4" }).draft.limits).toEqual({
      handshakesPerClient: { perSecond: 4, burst: 20 },
    });
    expect(
      applyAnnotations({ [`${N}limit-rps`]: "4", [`${N}limit-burst-multiplier`]: "2" }).draft.limits,
    ).toEqual({ handshakesPerClient: { perSecond: 4, burst: 8 } });
  });

  it("joins allow lists and marks an unreadable one fail-closed so that the route is never served open", () => {
    const ok = applyAnnotations({
      [`${N}whitelist-source-range`]: "10.0.0.0/8",
      [`${N}allowlist-source-range`]: "192.0.2.1, 2001:db8::1",
      [`${N}denylist-source-range`]: "10.6.0.0/16",
    });
    expect(ok.draft.sourceRanges).toEqual({
      allow: ["10.0.0.0/8", "192.0.2.1/32", "2001:db8::1/128"],
      deny: ["10.6.0.0/16"],
    });
    const bad = applyAnnotations({ [`${N}whitelist-source-range`]: "10.0.0.0/8, lan" });
    expect(bad.notices).toMatchObject([{ reason: "InvalidAnnotation", failClosed: true }]);
    expect(bad.draft.sourceRanges).toBeUndefined();
  });

  it("refuses auth-url with nginx variables, fail-closed, so that a protected app is not exposed", () => {
    const { notices, draft } = applyAnnotations({ [`${N}auth-url`]: "https://$host/oauth2/auth" });
    expect(notices).toMatchObject([{ reason: "UnsupportedAnnotation", failClosed: true }]);
    expect(draft.auth).toBeUndefined();
  });

  it("maps auth-url and auth-response-headers to forward auth with the client's credentials", () => {
    const { draft, notices } = applyAnnotations({
      [`${N}auth-response-headers`]: "X-User, X-Email",
      [`${N}auth-url`]: "http://auth.sso.svc:4180/verify",
      [`${N}auth-method`]: "GET",
    });
    expect(notices).toEqual([]);
    expect(draft.auth).toEqual({
      forwardAuth: {
        url: "http://auth.sso.svc:4180/verify",
        requestHeaders: ["Authorization", "Cookie"],
        responseHeaders: ["X-User", "X-Email"],
      },
    });
  });

  it("maps ewma to least connections and refuses other balancers", () => {
    expect(applyAnnotations({ [`${N}load-balance`]: "ewma" }).draft.loadBalancing).toEqual({
      policy: "LeastConnections",
    });
    expect(applyAnnotations({ [`${N}load-balance`]: "chash" }).notices).toMatchObject([
      { reason: "UnsupportedAnnotation" },
    ]);
  });

  it("accepts off switches wsgate honours anyway and refuses the on switches it cannot honour", () => {
    expect(
      applyAnnotations({ [`${N}ssl-redirect`]: "false", [`${N}enable-cors`]: "true" }).notices,
    ).toMatchObject([{ annotation: `${N}enable-cors`, reason: "UnsupportedAnnotation" }]);
    expect(applyAnnotations({ [`${N}force-ssl-redirect`]: "true" }).notices).toHaveLength(1);
  });
});

describe("cidrList", () => {
  it("turns single addresses into /32 and /128 blocks as ingress-nginx does", () => {
    expect(cidrList("203.0.113.7, ::1")).toEqual(["203.0.113.7/32", "::1/128"]);
  });
});

describe("the README", () => {
  it("shows exactly the generated annotation table, so that the docs cannot drift from the code", () => {
    const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8");
    const table = /<!-- annotation-table:begin -->\n([\s\S]*?)\n<!-- annotation-table:end -->/.exec(readme);
    expect(table?.[1]).toBe(annotationTableMarkdown());
  });
});
