/**
 * `spec.auth` resolved at compile time into the table's auth contract
 * (`auth-contract.ts`): the key Secret is looked up in the snapshot and parsed
 * (`keys.ts`), and what the schema cannot express is checked ({@link authProblems}). A
 * rotated Secret becomes a new table without a restart; `jwksUri` keys are fetched by
 * the data plane.
 *
 * Fail closed: a route whose auth references do not resolve is still compiled into
 * the table — holding its host and path, so no broader route serves them instead —
 * with {@link UnresolvedAuth}, which the data plane answers with 503.
 */
import { durationToMs } from "../api/duration.js";
import { FORWARDING_HEADERS, HOP_BY_HOP_HEADERS } from "../api/headers.js";
import type { Secret } from "../api/objects.js";
import type { RouteAuth, WebSocketRoute } from "../api/route.js";
import { jwtKeySecret } from "../api/secret-refs.js";
import {
  ASYMMETRIC_ALGORITHMS,
  HMAC_ALGORITHMS,
  type CompiledAuth,
  type JwtKeys,
  type TokenSource,
  type UnresolvedAuth,
} from "./auth-contract.js";
import { parseKeyMaterial } from "./keys.js";

/** A problem with auth references: the ResolvedRefs reason and a message. */
export interface AuthRefProblem {
  readonly reason: "SecretNotFound" | "InvalidKey";
  readonly message: string;
}

/** Headers that describe the client's own connection or body, not the client: never sent to an auth service. */
const UNCOPYABLE_HEADERS = new Set([...HOP_BY_HOP_HEADERS, "host", "content-length"]);

/** Headers wsgate itself controls: auth may not set them from claims or an auth answer. */
const RESERVED_HEADERS = new Set([
  ...UNCOPYABLE_HEADERS,
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-extensions",
  "sec-websocket-protocol",
  "sec-websocket-accept",
  ...FORWARDING_HEADERS,
  "x-forwarded-method",
  "x-forwarded-uri",
]);

/** What the schema cannot express about `spec.auth`. */
export function authProblems(auth: RouteAuth | undefined): string[] {
  const problems: string[] = [];
  if (auth?.jwt) {
    const targets = new Map<string, string>();
    for (const [claim, header] of Object.entries(auth.jwt.claimsToHeaders)) {
      const lower = header.toLowerCase();
      if (RESERVED_HEADERS.has(lower)) {
        problems.push(
          `spec.auth.jwt.claimsToHeaders.${claim}: ${header} is set by wsgate; choose another header`,
        );
      } else if (targets.has(lower)) {
        problems.push(
          `spec.auth.jwt.claimsToHeaders: claims ${targets.get(lower)} and ${claim} both write ${header}`,
        );
      }
      targets.set(lower, claim);
    }
  }
  if (auth?.forwardAuth) {
    const fa = auth.forwardAuth;
    if (durationToMs(fa.timeout) === 0)
      problems.push("spec.auth.forwardAuth.timeout must be greater than 0s");
    for (const header of fa.responseHeaders) {
      if (RESERVED_HEADERS.has(header.toLowerCase())) {
        problems.push(`spec.auth.forwardAuth.responseHeaders: ${header} is set by wsgate; remove it`);
      }
    }
    for (const header of fa.requestHeaders) {
      if (UNCOPYABLE_HEADERS.has(header.toLowerCase())) {
        problems.push(`spec.auth.forwardAuth.requestHeaders: ${header} cannot be copied to the auth request`);
      }
    }
  }
  return problems;
}

function tokenSources(sources: NonNullable<RouteAuth["jwt"]>["tokenFrom"]): TokenSource[] {
  return sources.map((s): TokenSource => {
    if (s.header !== undefined) {
      return Object.freeze({
        type: "header",
        name: s.header.toLowerCase(),
        ...(s.prefix ? { prefix: s.prefix } : {}),
      });
    }
    if (s.cookie !== undefined) return Object.freeze({ type: "cookie", name: s.cookie });
    if (s.query !== undefined) return Object.freeze({ type: "query", name: s.query });
    return Object.freeze({ type: "subprotocol" });
  });
}

export interface AuthResolution {
  readonly auth?: CompiledAuth;
  readonly problem?: AuthRefProblem;
}

/**
 * Compiles `spec.auth`, resolving `keys.secretRef` against the Secrets of the snapshot
 * (same namespace only). Unresolvable references give an {@link UnresolvedAuth} and a
 * ResolvedRefs problem; the route is never served without the auth it asks for.
 */
export function resolveAuth(route: WebSocketRoute, secrets: ReadonlyMap<string, Secret>): AuthResolution {
  const auth = route.spec.auth;
  if (!auth) return {};
  if (auth.forwardAuth) {
    const fa = auth.forwardAuth;
    return {
      auth: Object.freeze({
        kind: "forwardAuth",
        url: fa.url,
        requestHeaders: Object.freeze([...fa.requestHeaders]),
        responseHeaders: Object.freeze([...fa.responseHeaders]),
        timeoutMs: durationToMs(fa.timeout),
      }),
    };
  }
  const jwt = auth.jwt;
  if (!jwt) return {};
  let keys: JwtKeys;
  let algorithms: readonly string[];
  const ref = jwt.keys.secretRef;
  const secretKey = jwtKeySecret(route);
  if (ref && secretKey) {
    const secret = secrets.get(secretKey);
    const value = secret?.data[ref.key];
    const unresolved = (problem: AuthRefProblem): AuthResolution => ({
      auth: Object.freeze<UnresolvedAuth>({ kind: "unresolved", problem: problem.message }),
      problem,
    });
    if (!secret) return unresolved({ reason: "SecretNotFound", message: `Secret ${secretKey} not found` });
    if (value === undefined) {
      return unresolved({ reason: "SecretNotFound", message: `Secret ${secretKey} has no key ${ref.key}` });
    }
    const parsed = parseKeyMaterial(Buffer.from(value, "base64"), ref.format);
    if (!parsed.ok) {
      return unresolved({
        reason: "InvalidKey",
        message: `Secret ${secretKey} key ${ref.key}: ${parsed.problem}`,
      });
    }
    keys = Object.freeze({
      source: "secret",
      secret: secretKey,
      key: ref.key,
      format: parsed.format,
      keys: Object.freeze(parsed.keys),
    });
    const allowed = new Set(parsed.keys.flatMap((k) => k.algorithms));
    algorithms = [...ASYMMETRIC_ALGORITHMS, ...HMAC_ALGORITHMS].filter((a) => allowed.has(a));
  } else {
    // A key set at a URL is public: it never verifies HMAC tokens, whatever it serves.
    keys = Object.freeze({ source: "jwksUri", uri: jwt.keys.jwksUri as string });
    algorithms = ASYMMETRIC_ALGORITHMS;
  }
  return {
    auth: Object.freeze({
      kind: "jwt",
      ...(jwt.issuer === undefined ? {} : { issuer: jwt.issuer }),
      audiences: Object.freeze([...jwt.audiences]),
      keys,
      algorithms: Object.freeze([...algorithms]),
      tokenFrom: Object.freeze(tokenSources(jwt.tokenFrom)),
      claimsToHeaders: Object.freeze(
        Object.entries(jwt.claimsToHeaders)
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          .map(([claim, header]) => Object.freeze([claim, header] as const)),
      ),
      closeOnExpiry: jwt.closeOnExpiry,
      allowMissingExp: jwt.allowMissingExp,
    }),
  };
}
