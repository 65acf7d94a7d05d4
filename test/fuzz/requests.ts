/**
 * Generators of hostile HTTP/1.1 requests: request lines with odd targets (absolute
 * and authority form, `*`, dot segments, valid and invalid percent-escapes, `#`,
 * backslashes, unicode, very long), header sets (Host duplicates and laundering,
 * Content-Length/Transfer-Encoding combinations, `_` names, Connection-listed names,
 * forged identity and forwarding headers, odd whitespace), WebSocket upgrade headers
 * and tokens. Each request is kept as parts, so a counterexample reads as a request.
 */
import fc from "fast-check";
import {
  FORWARD_AUTH_TOKEN,
  OTHER_HOST,
  PUBLIC_HOST,
  TOKEN_COOKIE,
  TOKEN_QUERY,
  type Tokens,
} from "./fixture.js";

/** An address no client may claim: it must never reach a backend as the client's identity. */
export const FORGED_ADDRESSES = ["6.6.6.6", "2001:db8:6666::6"] as const;
/** A header the client lists in `Connection`: hop-by-hop, so no backend may receive it. */
export const HOP_MARKER = "X-Hop-Marker";

export interface RawRequest {
  readonly method: string;
  readonly target: string;
  readonly version: string;
  readonly headers: readonly (readonly [string, string])[];
  readonly body: string;
  /** A second request pipelined after the body (request smuggling attempts). */
  readonly pipelined: string;
}

/** The request as bytes on the wire (UTF-8: unicode in a target arrives as raw octets). */
export function serialize(request: RawRequest): Buffer {
  const head = `${request.method} ${request.target} ${request.version}\r\n`;
  const headers = request.headers.map(([name, value]) => `${name}: ${value}\r\n`).join("");
  return Buffer.from(`${head}${headers}\r\n${request.body}${request.pipelined}`, "utf8");
}

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

const method = fc.oneof(
  { weight: 10, arbitrary: fc.constant("GET") },
  { weight: 3, arbitrary: fc.constantFrom("POST", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH") },
  { weight: 1, arbitrary: fc.constantFrom("CONNECT", "PRI", "get", "FOO", "TRACE") },
);
const version = fc.oneof(
  { weight: 12, arbitrary: fc.constant("HTTP/1.1") },
  { weight: 1, arbitrary: fc.constantFrom("HTTP/1.0", "HTTP/2.0", "HTTP/1.2", "HTTP/0.9", "http/1.1") },
);

type Headers = (readonly [string, string])[];

const hostHeaders: fc.Arbitrary<Headers> = fc.oneof(
  { weight: 8, arbitrary: fc.constant<Headers>([["Host", PUBLIC_HOST]]) },
  { weight: 2, arbitrary: fc.constant<Headers>([["Host", OTHER_HOST]]) },
  { weight: 3, arbitrary: fc.constantFrom(...AUTHORITIES).map((a): Headers => [["Host", a]]) },
  { weight: 1, arbitrary: fc.constant<Headers>([]) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(...AUTHORITIES).map((a): Headers => [
      ["Host", PUBLIC_HOST],
      ["Host", a],
    ]),
  },
  { weight: 1, arbitrary: fc.constant<Headers>([["host", ` ${PUBLIC_HOST}\t`]]) },
);

const WS_KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const upgradeHeaders: fc.Arbitrary<Headers> = fc.oneof(
  { weight: 4, arbitrary: fc.constant<Headers>([]) },
  {
    weight: 6,
    arbitrary: fc.constant<Headers>([
      ["Upgrade", "websocket"],
      ["Connection", "Upgrade"],
      ["Sec-WebSocket-Key", WS_KEY],
      ["Sec-WebSocket-Version", "13"],
    ]),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({
        upgrade: fc.constantFrom("websocket", "WebSocket", "h2c", "websocket, h2c", ""),
        connection: fc.constantFrom("Upgrade", "keep-alive, Upgrade", "close", "upgrade, X-User-Id"),
        key: fc.constantFrom(WS_KEY, "short", "", `${WS_KEY}x`),
        version: fc.constantFrom("13", "8", "", "13, 8"),
      })
      .map(({ upgrade, connection, key, version: v }): Headers => [
        ["Upgrade", upgrade],
        ["Connection", connection],
        ["Sec-WebSocket-Key", key],
        ["Sec-WebSocket-Version", v],
      ]),
  },
);

function authHeaders(tokens: Tokens): fc.Arbitrary<Headers> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant<Headers>([]) },
    { weight: 4, arbitrary: fc.constant<Headers>([["Authorization", `Bearer ${tokens.valid}`]]) },
    {
      weight: 2,
      arbitrary: fc
        .constantFrom(
          tokens.expired,
          tokens.wrongAudience,
          tokens.unsigned,
          "x.y.z",
          "",
          tokens.valid.slice(0, -4),
        )
        .map((t): Headers => [["Authorization", `Bearer ${t}`]]),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom<Headers>(
        [
          ["Authorization", `Bearer ${tokens.valid}`],
          ["Authorization", `Bearer ${tokens.unsigned}`],
        ],
        [
          ["Authorization", `Bearer ${tokens.unsigned}`],
          ["Authorization", `Bearer ${tokens.valid}`],
        ],
        [["Authorization", `bearer ${tokens.valid}`]],
        [["Authorization", `Basic YWxpY2U6YWxpY2U=`]],
        [["Authorization", `Bearer  ${tokens.valid}`]],
      ),
    },
    {
      weight: 3,
      arbitrary: fc.constantFrom<Headers>(
        [["Authorization", `Bearer ${FORWARD_AUTH_TOKEN}`]],
        [["Authorization", "Bearer fa-no"]],
        [["Cookie", `${TOKEN_COOKIE}=${tokens.valid}`]],
        [["Cookie", `theme=dark; ${TOKEN_COOKIE}="${tokens.valid}"`]],
        [["Cookie", `${TOKEN_COOKIE}=${tokens.expired}`]],
        [
          ["Cookie", `${TOKEN_COOKIE}=${tokens.unsigned}`],
          ["Cookie", `${TOKEN_COOKIE}=${tokens.valid}`],
        ],
        [
          [
            "Sec-WebSocket-Protocol",
            `chat, ${BEARER_PROTOCOL}${Buffer.from(tokens.valid).toString("base64url")}`,
          ],
        ],
        [["Sec-WebSocket-Protocol", `${BEARER_PROTOCOL}${tokens.valid}`]],
        [["Sec-WebSocket-Protocol", `${BEARER_PROTOCOL}${tokens.expired}, chat`]],
        [["Sec-WebSocket-Protocol", `${BEARER_PROTOCOL}%%%`]],
      ),
    },
  );
}

/** The Kubernetes bearer subprotocol form: the token rides in `Sec-WebSocket-Protocol`. */
const BEARER_PROTOCOL = "base64url.bearer.authorization.k8s.io.";

/** Puts `token` in the target's query (before any fragment), as `?access_token=`. */
export function withQueryToken(target: string, token: string): string {
  const hash = target.indexOf("#");
  const [head, fragment] = hash === -1 ? [target, ""] : [target.slice(0, hash), target.slice(hash)];
  return `${head}${head.includes("?") ? "&" : "?"}${TOKEN_QUERY}=${token}${fragment}`;
}

const forgedIdentity = fc.subarray<readonly [string, string]>(
  [
    ["X-User-Id", "admin"],
    ["X_User_Id", "admin"],
    ["x-user-id", " admin "],
    ["X-USER-ID", "admin"],
  ],
  { minLength: 1 },
);

const forgedForwarding = fc.subarray<readonly [string, string]>(
  [
    ["X-Forwarded-For", FORGED_ADDRESSES[0]],
    ["X-Forwarded-For", `${FORGED_ADDRESSES[0]}, 127.0.0.1`],
    ["Forwarded", `for=${FORGED_ADDRESSES[0]}`],
    ["Forwarded", `for="[${FORGED_ADDRESSES[1]}]"`],
    ["X-Real-IP", FORGED_ADDRESSES[0]],
    ["X-Forwarded-Host", "evil.example"],
    ["X-Forwarded-Proto", "https"],
    ["X_Forwarded_For", FORGED_ADDRESSES[0]],
  ],
  { minLength: 1 },
);

const hopByHop = fc
  .subarray<Headers>(
    [
      [
        ["Connection", `close, ${HOP_MARKER}`],
        [HOP_MARKER, "1"],
      ],
      [
        [HOP_MARKER, "1"],
        ["Connection", HOP_MARKER],
      ],
      [["Keep-Alive", "timeout=5"]],
      [["TE", "trailers"]],
      [["Proxy-Authorization", "Basic Zm9vOmJhcg=="]],
      [["Proxy-Connection", "keep-alive"]],
    ],
    { minLength: 1 },
  )
  .map((groups) => groups.flat());

const oddHeaderSet = fc.subarray<readonly [string, string]>(
  [
    ["Foo ", "bar"],
    [" Foo", "bar"],
    ["Foo", "\tbar\t"],
    ["Foo", "a\u0000b"],
    ["Foo", "é"],
    ["Föo", "x"],
    ["", "x"],
    ["Foo", "a\r\n b"],
    ["X-Long", "a".repeat(20_000)],
  ],
  { minLength: 1, maxLength: 2 },
);
const oddHeaders = fc.oneof(
  { weight: 3, arbitrary: fc.constant<Headers>([]) },
  { weight: 1, arbitrary: oddHeaderSet },
);

/** `Expect: 100-continue` takes another path through Node and http-proxy-3 (no `proxyReq` event). */
const expectContinue = fc.oneof(
  { weight: 5, arbitrary: fc.constant<Headers>([]) },
  { weight: 1, arbitrary: fc.constant<Headers>([["Expect", "100-continue"]]) },
);

/** How the body is framed, and the body that goes with it. */
const bodyFraming: fc.Arbitrary<{ headers: Headers; body: string }> = fc.oneof(
  { weight: 8, arbitrary: fc.constant({ headers: [] as Headers, body: "" }) },
  {
    weight: 3,
    arbitrary: fc
      .nat({ max: 20 })
      .map((n) => ({ headers: [["Content-Length", String(n)]] as Headers, body: "b".repeat(n) })),
  },
  {
    weight: 2,
    arbitrary: fc.constant({
      headers: [["Transfer-Encoding", "chunked"]] as Headers,
      body: "5\r\nhello\r\n0\r\n\r\n",
    }),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      {
        headers: [
          ["Content-Length", "5"],
          ["Transfer-Encoding", "chunked"],
        ] as Headers,
        body: "0\r\n\r\n",
      },
      {
        headers: [
          ["Transfer-Encoding", "chunked"],
          ["Content-Length", "5"],
        ] as Headers,
        body: "0\r\n\r\n",
      },
      {
        headers: [
          ["Content-Length", "5"],
          ["Content-Length", "5"],
        ] as Headers,
        body: "hello",
      },
      {
        headers: [
          ["Content-Length", "5"],
          ["Content-Length", "6"],
        ] as Headers,
        body: "hello!",
      },
      { headers: [["Content-Length", "5, 5"]] as Headers, body: "hello" },
      { headers: [["Content-Length", " 5"]] as Headers, body: "hello" },
      { headers: [["Content-Length", "+5"]] as Headers, body: "hello" },
      { headers: [["Content-Length", "0x5"]] as Headers, body: "hello" },
      { headers: [["Content-Length", "-1"]] as Headers, body: "" },
      { headers: [["Content-Length", "99999999999999999999"]] as Headers, body: "" },
      { headers: [["Transfer-Encoding", "gzip, chunked"]] as Headers, body: "0\r\n\r\n" },
      { headers: [["Transfer-Encoding", "chunked, gzip"]] as Headers, body: "0\r\n\r\n" },
      { headers: [["Transfer-Encoding", "xchunked"]] as Headers, body: "0\r\n\r\n" },
      { headers: [["Transfer-Encoding", " chunked"]] as Headers, body: "0\r\n\r\n" },
      {
        headers: [
          ["Transfer-Encoding", "chunked"],
          ["Transfer-Encoding", "chunked"],
        ] as Headers,
        body: "0\r\n\r\n",
      },
      {
        headers: [["Transfer-Encoding", "chunked"]] as Headers,
        body: "5;ext=1\r\nhello\r\n0\r\nTrailer: x\r\n\r\n",
      },
    ),
  },
);

const pipelined = fc.oneof(
  { weight: 12, arbitrary: fc.constant("") },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      `GET /api/secret HTTP/1.1\r\nHost: ${PUBLIC_HOST}\r\n\r\n`,
      `GET /api HTTP/1.1\r\nHost: ${PUBLIC_HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${WS_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    ),
  },
);

/** Header groups: absent in two cases out of three, so that one request is not every attack at once. */
function sometimes(headers: fc.Arbitrary<Headers>): fc.Arbitrary<Headers> {
  return fc.oneof({ weight: 2, arbitrary: fc.constant<Headers>([]) }, { weight: 1, arbitrary: headers });
}

/** Whole hostile requests. */
export function request(tokens: Tokens): fc.Arbitrary<RawRequest> {
  return fc
    .record({
      method,
      target,
      version,
      host: hostHeaders,
      upgrade: upgradeHeaders,
      auth: authHeaders(tokens),
      identity: sometimes(forgedIdentity),
      forwarding: sometimes(forgedForwarding),
      hop: sometimes(hopByHop),
      odd: oddHeaders,
      expect: expectContinue,
      framing: bodyFraming,
      hostLast: fc.boolean(),
      pipelined,
      queryToken: fc.oneof(
        { weight: 6, arbitrary: fc.constant(undefined) },
        { weight: 1, arbitrary: fc.constantFrom(tokens.valid, tokens.expired, "x") },
      ),
    })
    .map((r) => {
      const rest: Headers = [
        ...r.upgrade,
        ...r.auth,
        ...r.identity,
        ...r.forwarding,
        ...r.hop,
        ...r.odd,
        ...r.expect,
        ...r.framing.headers,
      ];
      return {
        method: r.method,
        target: r.queryToken === undefined ? r.target : withQueryToken(r.target, r.queryToken),
        version: r.version,
        headers: r.hostLast ? [...rest, ...r.host] : [...r.host, ...rest],
        body: r.framing.body,
        pipelined: r.pipelined,
      };
    });
}

/**
 * Requests well-formed but for their target, sent where a wrong reading of the target
 * would pass an auth route by: under its prefix or next to it, with or without the
 * credentials it wants (JWT in the header or the query, forward auth's token).
 */
export function targetedRequest(tokens: Tokens): fc.Arbitrary<RawRequest> {
  const jwt = fc.constantFrom("none", "header", "query");
  const places = fc.oneof(
    fc.record({ prefix: fc.constantFrom("", "/api"), host: fc.constant(PUBLIC_HOST), credentials: jwt }),
    fc.record({
      prefix: fc.constantFrom("", "/fa"),
      host: fc.constant(OTHER_HOST),
      credentials: fc.constantFrom("none", "forward-auth"),
    }),
  );
  return fc
    .record({ place: places, target, upgrade: fc.boolean() })
    .map(({ place: { prefix, host, credentials }, target: t, upgrade }) => {
      const prefixed = t.startsWith("/") ? `${prefix}${t}` : t;
      const auth: Headers =
        credentials === "header"
          ? [["Authorization", `Bearer ${tokens.valid}`]]
          : credentials === "forward-auth"
            ? [["Authorization", `Bearer ${FORWARD_AUTH_TOKEN}`]]
            : [];
      const full = credentials === "query" ? withQueryToken(prefixed, tokens.valid) : prefixed;
      const request = handshake(full, auth, host);
      return upgrade ? request : { ...request, headers: [["Host", host], ...auth] as Headers };
    });
}

/**
 * Well-formed requests to every route, with forged forwarding and identity headers: what
 * a client behind a load balancer sends, to check whom the backends are told it is.
 */
export function wellFormed(tokens: Tokens): fc.Arbitrary<RawRequest> {
  return fc
    .record({
      route: fc.constantFrom(
        { host: PUBLIC_HOST, path: "/", auth: [] as Headers },
        { host: PUBLIC_HOST, path: "/api/x", auth: [["Authorization", `Bearer ${tokens.valid}`]] as Headers },
        { host: OTHER_HOST, path: "/", auth: [] as Headers },
        {
          host: OTHER_HOST,
          path: "/fa/x",
          auth: [["Authorization", `Bearer ${FORWARD_AUTH_TOKEN}`]] as Headers,
        },
      ),
      upgrade: fc.boolean(),
      forged: fc.oneof(forgedForwarding, forgedIdentity),
    })
    .map(({ route, upgrade, forged }) => {
      const request = handshake(route.path, [...route.auth, ...forged], route.host);
      return upgrade
        ? request
        : { ...request, headers: [["Host", route.host], ...route.auth, ...forged] as Headers };
    });
}

/** A plain, well-formed WebSocket handshake for `path` on `host` (the entry to frame fuzzing). */
export function handshake(
  path: string,
  extra: readonly (readonly [string, string])[] = [],
  host = PUBLIC_HOST,
): RawRequest {
  return {
    method: "GET",
    target: path,
    version: "HTTP/1.1",
    headers: [
      ["Host", host],
      ["Upgrade", "websocket"],
      ["Connection", "Upgrade"],
      ["Sec-WebSocket-Key", WS_KEY],
      ["Sec-WebSocket-Version", "13"],
      ...extra,
    ],
    body: "",
    pipelined: "",
  };
}
