/**
 * Whole hostile HTTP/1.1 requests, from the targets of targets.ts and the header sets
 * of header-sets.ts: chaotic ones, ones well-formed but for their target, and
 * well-formed ones carrying forged headers. Each request is kept as parts, so a
 * counterexample reads as a request.
 */
import fc from "fast-check";
import {
  FORWARD_AUTH_SLOW_TOKEN,
  FORWARD_AUTH_TOKEN,
  OTHER_HOST,
  PUBLIC_HOST,
  type Tokens,
} from "./fixture.js";
import {
  authHeaders,
  bodyFraming,
  expectContinue,
  forgedForwarding,
  forgedIdentity,
  hopByHop,
  hostHeaders,
  oddHeaders,
  pipelined,
  sometimes,
  upgradeHeaders,
  WS_KEY,
  type Headers,
} from "./header-sets.js";
import { target, withQueryToken } from "./targets.js";

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

const method = fc.oneof(
  { weight: 10, arbitrary: fc.constant("GET") },
  { weight: 3, arbitrary: fc.constantFrom("POST", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH") },
  { weight: 1, arbitrary: fc.constantFrom("CONNECT", "PRI", "get", "FOO", "TRACE") },
);
const version = fc.oneof(
  { weight: 12, arbitrary: fc.constant("HTTP/1.1") },
  { weight: 1, arbitrary: fc.constantFrom("HTTP/1.0", "HTTP/2.0", "HTTP/1.2", "HTTP/0.9", "http/1.1") },
);

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
    fc.record({
      prefix: fc.constantFrom("", "/api", "/slow", "/api/slow"),
      host: fc.constant(PUBLIC_HOST),
      credentials: jwt,
    }),
    fc.record({
      prefix: fc.constantFrom("", "/fa", "/fa/slow"),
      host: fc.constant(OTHER_HOST),
      credentials: fc.constantFrom("none", "forward-auth", "forward-auth-slow"),
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
            : credentials === "forward-auth-slow"
              ? [["Authorization", `Bearer ${FORWARD_AUTH_SLOW_TOKEN}`]]
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
