/**
 * Properties of the hand-written translations between HTTP/2 and the HTTP/1.1 pipeline:
 * the request view never lets a pseudo-header reach a backend and names exactly one
 * Host, and the response head translation keeps every end-to-end field, drops every
 * connection-specific one, and survives any input.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalize } from "../canonical.js";
import { upgradeRawHeaders } from "./extended-connect.js";
import { http1RawHeaders } from "./request-view.js";
import { headEnd, translateHead } from "./response-head.js";

const token = fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/);
const value = fc.stringMatching(/^[\x21-\x7e]([\x20-\x7e]{0,30}[\x21-\x7e])?$/);
const CONNECTION_SPECIFIC = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "te",
];

describe("request view", () => {
  const pseudo = fc.constantFrom(":method", ":scheme", ":path", ":protocol");
  const field = fc.oneof(
    fc.tuple(token, value),
    fc.tuple(pseudo, value),
    fc.tuple(fc.constant("cookie"), value),
  );

  it("drops every pseudo-header, puts :authority first as the one Host and joins cookie crumbs", () => {
    fc.assert(
      fc.property(
        fc.array(field, { maxLength: 12 }),
        fc.option(fc.constantFrom("chat.example.com", "a.b:8443")),
        (fields, authority) => {
          const raw = [...(authority === null ? [] : [":authority", authority]), ...fields.flat()];
          const out = http1RawHeaders(raw);
          const names = out.filter((_, i) => i % 2 === 0);
          expect(names.some((n) => n.startsWith(":"))).toBe(false);
          expect(names.filter((n) => n === "cookie").length).toBeLessThanOrEqual(1);
          if (authority !== null) {
            expect(out.slice(0, 2)).toEqual(["host", authority]);
            const hosts = names.filter((n) => n.toLowerCase() === "host").length;
            const clientHosts = fields.filter(([n]) => n === "host").length;
            expect(hosts).toBe(1 + clientHosts);
          }
          const cookies = fields.filter(([n]) => n === "cookie").map(([, v]) => v);
          if (cookies.length > 0) expect(out[out.indexOf("cookie") + 1]).toBe(cookies.join("; "));
        },
      ),
    );
  });

  it("gives the upgrade exactly one generated key and never the client's Upgrade, Connection or key", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom("upgrade", "connection", "sec-websocket-key", "origin"), value), {
          maxLength: 6,
        }),
        (fields) => {
          const out = upgradeRawHeaders([":authority", "chat.example.com", ":path", "/", ...fields.flat()]);
          const pairs = out.reduce<[string, string][]>(
            (acc, _, i) => (i % 2 === 0 ? [...acc, [out[i]!, out[i + 1]!]] : acc),
            [],
          );
          const of = (n: string): string[] => pairs.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
          expect(of("upgrade")).toEqual(["websocket"]);
          expect(of("connection")).toEqual(["Upgrade"]);
          expect(of("sec-websocket-key")).toHaveLength(1);
          expect(of("sec-websocket-key")[0]).toMatch(/^[A-Za-z0-9+/]{22}==$/);
          expect(of("origin")).toEqual(fields.filter(([n]) => n === "origin").map(([, v]) => v));
          // The pipeline's canonical request sees the :authority as Host.
          const canonical = canonicalize("/", out);
          expect(canonical.ok && canonical.request.hostname).toBe("chat.example.com");
        },
      ),
    );
  });
});

describe("response head translation", () => {
  const status = fc.constantFrom(101, 200, 302, 401, 403, 404, 426, 429, 500, 502, 503);
  const fields = fc.array(
    fc.tuple(
      fc.oneof(token, fc.constantFrom(...CONNECTION_SPECIFIC, "sec-websocket-accept", "content-length")),
      value,
    ),
    { maxLength: 10 },
  );

  it("maps 101 to 200, keeps end-to-end fields and drops connection-specific ones", () => {
    fc.assert(
      fc.property(status, fields, (code, list) => {
        const head = `HTTP/1.1 ${code} Reason Phrase\r\n${list.map(([n, v]) => `${n}: ${v}\r\n`).join("")}\r\n`;
        const out = translateHead(head);
        expect(out).toBeDefined();
        const { headers, upgraded } = out!;
        expect(upgraded).toBe(code === 101);
        expect(headers[":status"]).toBe(code === 101 ? 200 : code);
        for (const name of CONNECTION_SPECIFIC) expect(headers[name]).toBeUndefined();
        expect(headers["sec-websocket-accept"]).toBeUndefined();
        if (code === 101) expect(headers["content-length"]).toBeUndefined();
        for (const [name, v] of list) {
          if (CONNECTION_SPECIFIC.includes(name) || name === "sec-websocket-accept") continue;
          if (code === 101 && name === "content-length") continue;
          const got = headers[name];
          expect(Array.isArray(got) ? got : [got]).toContain(
            // A field that may appear once keeps its first value.
            Array.isArray(got) ? v : (list.find(([n]) => n === name)?.[1] ?? v),
          );
        }
      }),
    );
  });

  it("never throws on arbitrary bytes, and names only valid lower-case fields", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (text) => {
        const out = translateHead(text);
        if (out === undefined) return;
        for (const name of Object.keys(out.headers)) {
          if (name === ":status") continue;
          expect(name).toMatch(/^[!#$%&'*+.^_`|~0-9a-z-]+$/);
        }
      }),
    );
  });

  it("finds the end of a head however its bytes are split", () => {
    fc.assert(
      fc.property(fields, fc.array(fc.nat(), { maxLength: 5 }), (list, cuts) => {
        const head = Buffer.from(
          `HTTP/1.1 101 Switching Protocols\r\n${list.map(([n, v]) => `${n}: ${v}\r\n`).join("")}\r\n`,
        );
        const bytes = Buffer.concat([head, Buffer.from([0x81, 0x00])]);
        // Accumulated chunk by chunk, as the stream socket does: the end is found once, at the same place.
        const points = [...new Set(cuts.map((c) => c % bytes.length))].sort((a, b) => a - b);
        let buffer = Buffer.alloc(0);
        let found = -1;
        let from = 0;
        for (const to of [...points, bytes.length]) {
          buffer = Buffer.concat([buffer, bytes.subarray(from, to)]);
          from = to;
          if (found === -1) found = headEnd(buffer);
        }
        expect(found).toBe(head.length);
      }),
    );
  });
});
