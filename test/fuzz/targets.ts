/**
 * Generators of request targets in every form RFC 9112 §3.2 knows and many it does not:
 * origin form with dot segments, valid and invalid percent-escapes, escaped spellings of
 * the protected prefixes, backslashes, unicode, `#`; absolute form with odd schemes and
 * authorities; authority form, `*`, and very long targets.
 */
import fc from "fast-check";
import { OTHER_HOST, PUBLIC_HOST, TOKEN_QUERY } from "./fixture.js";

/** Segments a canonical path may well contain (some spell `api` in escapes). */
const PLAIN_SEGMENTS = [
  "api",
  "api",
  "API",
  "secret",
  "x",
  ".",
  "..",
  "%2e",
  "%2E",
  "%2e%2e",
  ".%2e",
  "%2E.",
  "%61pi",
  "a%70i",
  "%61%70%69",
  "%252e%252e",
  "api;x=1",
  "api%3bx",
  "api%20",
  "~",
  "é",
  "%C3%A9",
  "%ef%bc%8e%ef%bc%8e",
  "．．",
  "",
  "ws",
  "fa",
  "fa",
  "FA",
  "%66a",
  "f%61",
  "slow",
];
/** Segments a strict gateway refuses (encoded slashes, backslashes, NUL, broken escapes). */
const NASTY_SEGMENTS = [
  "%2f",
  "%2F",
  "%5c",
  "%5C",
  "%00",
  "%zz",
  "%",
  "%4",
  "api%2fsecret",
  "\\",
  "..\\",
  "api\\secret",
  "api%23",
];
const segment = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...PLAIN_SEGMENTS) },
  { weight: 1, arbitrary: fc.constantFrom(...NASTY_SEGMENTS) },
);
const separator = fc.oneof(
  { weight: 12, arbitrary: fc.constant("/") },
  { weight: 1, arbitrary: fc.constantFrom("//", "\\", "/./", "%2f") },
);

export const AUTHORITIES = [
  PUBLIC_HOST,
  PUBLIC_HOST,
  "CHAT.Example.COM",
  `${PUBLIC_HOST}.`,
  `${PUBLIC_HOST}:80`,
  `${PUBLIC_HOST}:8080`,
  OTHER_HOST,
  "a:b",
  "256.256.256.256",
  "[::1",
  "[::1]",
  "%zz",
  `user:pw@${PUBLIC_HOST}`,
  `${PUBLIC_HOST}:80@evil.example`,
  "evil.example",
  "",
  `${PUBLIC_HOST}:99999`,
  `${PUBLIC_HOST}:-1`,
  "127.0.0.1",
  `${PUBLIC_HOST}%2f`,
  `${PUBLIC_HOST}\\@evil.example`,
  "chat.example.com ",
];

/** An authority: mostly the routed hosts, sometimes anything in AUTHORITIES. */
const authority = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(PUBLIC_HOST, `${PUBLIC_HOST}:80`, OTHER_HOST) },
  { weight: 2, arbitrary: fc.constantFrom(...AUTHORITIES) },
);

const path = fc
  .array(fc.tuple(separator, segment), { maxLength: 6 })
  .map((parts) => parts.map(([sep, seg], i) => (i === 0 ? seg : `${sep}${seg}`)).join(""));

const query = fc.oneof(
  { weight: 6, arbitrary: fc.constant("") },
  {
    weight: 2,
    arbitrary: fc.constantFrom("a=1", "access_token=x", "../api", "%zz", "x=/api", "").map((q) => `?${q}`),
  },
);
const fragment = fc.oneof(
  { weight: 10, arbitrary: fc.constant("") },
  { weight: 1, arbitrary: fc.constantFrom("", "x", "/../api", "%2e").map((f) => `#${f}`) },
);
const tail = fc.tuple(query, fragment).map(([q, f]) => `${q}${f}`);

/** Request targets in every form RFC 9112 §3.2 knows, and many it does not. */
export const target: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: fc.tuple(path, tail).map(([p, t]) => `/${p}${t}`) },
  {
    weight: 4,
    arbitrary: fc
      .tuple(
        fc.oneof(
          { weight: 4, arbitrary: fc.constantFrom("http", "HTTP") },
          { weight: 1, arbitrary: fc.constantFrom("https", "ws", "wss", "ftp", "http:") },
        ),
        authority,
        path,
        tail,
      )
      .map(([scheme, authority, p, t]) => `${scheme}://${authority}/${p}${t}`),
  },
  { weight: 1, arbitrary: fc.constantFrom(...AUTHORITIES) },
  { weight: 1, arbitrary: fc.constantFrom("*", "", "api/secret", "?x", "#", "//api/secret") },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.constantFrom("a", "../", "%2e%2e/", "api/"),
        fc.constantFrom(1_000, 4_000, 9_000, 17_000, 70_000),
      )
      .map(([unit, bytes]) => `/${unit.repeat(Math.ceil(bytes / unit.length))}`),
  },
);

/** Puts `token` in the target's query (before any fragment), as `?access_token=`. */
export function withQueryToken(target: string, token: string): string {
  const hash = target.indexOf("#");
  const [head, fragment] = hash === -1 ? [target, ""] : [target.slice(0, hash), target.slice(hash)];
  return `${head}${head.includes("?") ? "&" : "?"}${TOKEN_QUERY}=${token}${fragment}`;
}
