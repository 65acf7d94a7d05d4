/**
 * Generators of hostile header sets: Host duplicates and laundering, WebSocket upgrade
 * headers right and wrong, tokens in every place the JWT route reads them and forward
 * auth's, forged identity and forwarding headers, `_` names, Connection-listed and other
 * hop-by-hop headers, odd whitespace, Content-Length/Transfer-Encoding combinations with
 * their bodies, `Expect: 100-continue`, and pipelined second requests.
 */
import fc from "fast-check";
import {
  FORWARD_AUTH_SLOW_TOKEN,
  FORWARD_AUTH_TOKEN,
  OTHER_HOST,
  PUBLIC_HOST,
  TOKEN_COOKIE,
  type Tokens,
} from "./fixture.js";
import { AUTHORITIES } from "./targets.js";

/** An address no client may claim: it must never reach a backend as the client's identity. */
export const FORGED_ADDRESSES = ["6.6.6.6", "2001:db8:6666::6"] as const;
/** A header the client lists in `Connection`: hop-by-hop, so no backend may receive it. */
export const HOP_MARKER = "X-Hop-Marker";

export type Headers = (readonly [string, string])[];

export const hostHeaders: fc.Arbitrary<Headers> = fc.oneof(
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

export const WS_KEY = "dGhlIHNhbXBsZSBub25jZQ==";
export const upgradeHeaders: fc.Arbitrary<Headers> = fc.oneof(
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

export function authHeaders(tokens: Tokens): fc.Arbitrary<Headers> {
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
        [["Authorization", `Bearer ${FORWARD_AUTH_SLOW_TOKEN}`]],
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

export const forgedIdentity = fc.subarray<readonly [string, string]>(
  [
    ["X-User-Id", "admin"],
    ["X_User_Id", "admin"],
    ["x-user-id", " admin "],
    ["X-USER-ID", "admin"],
  ],
  { minLength: 1 },
);

export const forgedForwarding = fc.subarray<readonly [string, string]>(
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

export const hopByHop = fc
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
export const oddHeaders = fc.oneof(
  { weight: 3, arbitrary: fc.constant<Headers>([]) },
  { weight: 1, arbitrary: oddHeaderSet },
);

/** `Expect: 100-continue` takes another path through Node and http-proxy-3 (no `proxyReq` event). */
export const expectContinue = fc.oneof(
  { weight: 5, arbitrary: fc.constant<Headers>([]) },
  { weight: 1, arbitrary: fc.constant<Headers>([["Expect", "100-continue"]]) },
);

/** How the body is framed, and the body that goes with it. */
export const bodyFraming: fc.Arbitrary<{ headers: Headers; body: string }> = fc.oneof(
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

export const pipelined = fc.oneof(
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
export function sometimes(headers: fc.Arbitrary<Headers>): fc.Arbitrary<Headers> {
  return fc.oneof({ weight: 2, arbitrary: fc.constant<Headers>([]) }, { weight: 1, arbitrary: headers });
}
