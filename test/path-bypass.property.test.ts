/**
 * Property: whatever request target goes in — dot segments, escapes, slashes, backslashes,
 * absolute form — the path that reaches a backend is matched by the route that authorised
 * it, or the request is refused. A public route `/` and a JWT route `/api` share one host;
 * no token is ever sent, so the JWT route's backend must receive nothing and the public
 * backend nothing under `/api`.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalize } from "../src/dataplane/canonical.js";
import { compile } from "../src/routing/compile.js";
import { ObjectStore } from "../src/routing/store.js";
import type { RoutingTable } from "../src/routing/table.js";
import { jwksOf, publicAndJwtRoutes, signingKey } from "./helpers/auth.js";
import { startTestGateway, type TestGateway } from "./helpers/gateway.js";
import { getRequest, rawRequest, upgradeRequest } from "./helpers/raw-http.js";
import { startRecordingBackend, type RecordingBackend } from "./helpers/recording-backend.js";

const HOST = "chat.example.com";

const segment = fc.constantFrom(
  "api",
  "API",
  "public",
  "secret",
  ".",
  "..",
  "%2e",
  "%2E%2e",
  ".%2e",
  "%2e.",
  "",
  "%61pi",
  "a%70i",
  "%2f",
  "%2F",
  "%5c",
  "\\",
  "%00",
  "%25",
  "%252e%252e",
  "%zz",
  ";",
  "..;",
  "~",
  "%7E",
  "#x",
);
const prefix = fc.constantFrom(
  "",
  "/",
  "//",
  "/./",
  "http://chat.example.com",
  "HTTP://Chat.Example.Com:80",
  "http://other.example.com",
  "https://chat.example.com",
  "http://chat.example.com@evil",
);
const query = fc.constantFrom("", "?x=1", "?a=/../api", "?t=%2F&u=%2e%2e", "?");
const targets = fc
  .tuple(prefix, fc.array(segment, { maxLength: 6 }), query)
  .map(([p, segments, q]) => `${p}${p.endsWith("/") || p === "" ? "" : "/"}${segments.join("/")}${q}`)
  .filter((t) => t !== "");

function pathOf(target: string): string {
  const q = target.indexOf("?");
  return q === -1 ? target : target.slice(0, q);
}

describe("the path that reaches a backend is the path its route authorised", () => {
  it("for the canonical target a backend receives, a WHATWG URL parser and a segment-wise decoder see the same route", async () => {
    const key = await signingKey("ES256");
    const store = new ObjectStore();
    store.replaceAll(publicAndJwtRoutes(1, 2, jwksOf(key)));
    const { table } = compile(store.snapshot(), { ingressClass: "wsgate", generation: 1 });
    fc.assert(
      fc.property(targets, (target) => {
        const c = canonicalize(target, ["Host", HOST]);
        if (!c.ok) return;
        const { request } = c;
        const authorised = table.match(request.hostname, request.path);
        if (!authorised || (request.encodedSlash && !authorised.route.settings.allowEncodedSlashes)) return;
        // A backend resolving the request line with WHATWG URL (Node, browsers' fetch, many frameworks).
        const whatwg = new URL(request.target, `http://${HOST}`).pathname;
        expect(routeOf(table, whatwg)).toBe(authorised.route.key);
        // A backend splitting on "/" and decoding each segment once.
        const decoded = pathOf(request.target)
          .split("/")
          .slice(1)
          .map((s) => decodeURIComponent(s));
        for (const [i, s] of decoded.entries()) {
          expect([".", ".."]).not.toContain(s);
          expect(s).not.toMatch(/[/\\]/);
          if (i < decoded.length - 1) expect(s).not.toBe("");
        }
        expect(routeOf(table, `/${decoded.join("/")}`)).toBe(authorised.route.key);
      }),
      { numRuns: 5_000 },
    );
  });

  describe("through real sockets", () => {
    let gw: TestGateway;
    let publicBackend: RecordingBackend;
    let secretBackend: RecordingBackend;

    beforeAll(async () => {
      publicBackend = await startRecordingBackend();
      secretBackend = await startRecordingBackend();
      const key = await signingKey("ES256");
      gw = await startTestGateway();
      gw.apply(publicAndJwtRoutes(publicBackend.port, secretBackend.port, jwksOf(key)));
    });

    afterAll(async () => {
      await gw.close();
      await publicBackend.close();
      await secretBackend.close();
    });

    for (const [label, send, served] of [
      ["plain HTTP", getRequest, 200],
      ["upgrade", upgradeRequest, 101],
    ] as const) {
      it(`${label}: every answer is a status; the JWT route's backend gets nothing, the public one nothing under /api`, async () => {
        await fc.assert(
          fc.asyncProperty(targets, async (target) => {
            const before = publicBackend.received.length;
            const answer = await rawRequest(gw.port, send(target, HOST));
            expect([served, 400, 401, 404]).toContain(answer.status);
            expect(secretBackend.received).toEqual([]);
            const got = publicBackend.received.slice(before);
            expect(got.length).toBe(answer.status === served ? 1 : 0);
            for (const r of got) {
              expect(routeOf(gw.holder.current, pathOf(r.target))).toBe("apps/public");
              expect(routeOf(gw.holder.current, new URL(r.target, `http://${HOST}`).pathname)).toBe(
                "apps/public",
              );
            }
          }),
          { numRuns: 150 },
        );
      });
    }
  });
});

function routeOf(table: RoutingTable, path: string): string | undefined {
  return table.match(HOST, path)?.route.key;
}
