/**
 * The `WebSocketRoute` API (group `wsgate.io`, version `v1alpha1`) as a zod schema.
 *
 * The CRD in `crds/wsgate.io_websocketroutes.yaml` is what the API server enforces
 * and what `kubectl explain` shows; this schema is its runtime twin for standalone
 * manifests and `wsgate validate`. `route-schema-agreement.test.ts` proves the two
 * accept and reject the same corpus, so a change to one must be made to the other.
 * Field validation is strict (unknown fields are errors), as `kubectl apply` does by
 * default with server-side field validation.
 */
import { z } from "zod";
import { isCidr } from "./cidr.js";
import { DURATION_PATTERN } from "./duration.js";
import { objectMetaSchema } from "./meta.js";
import { rebalanceSchema } from "./rebalance.js";

export const ROUTE_GROUP = "wsgate.io";
export const ROUTE_VERSION = "v1alpha1";
export const ROUTE_API_VERSION = `${ROUTE_GROUP}/${ROUTE_VERSION}`;
export const ROUTE_KIND = "WebSocketRoute";

/** Gateway API hostname: a DNS name, optionally with a leading `*.` label. */
export const HOSTNAME_PATTERN = "^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/** DNS-1123 subdomain: names of Services and Secrets. */
export const DNS_SUBDOMAIN_PATTERN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/** HTTP header field name (RFC 9110 token). */
export const HEADER_NAME_PATTERN = "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$";
/**
 * An absolute `http://` or `https://` URL in plain ASCII: RFC 3986 authority characters, then an optional
 * path, query or fragment. A regex the API server can enforce; `z.url` alone also accepts what the WHATWG
 * parser repairs (`HTTP://`, surrounding spaces, embedded tabs), which the CRD would reject.
 */
export const HTTP_URL_PATTERN = "^https?://[A-Za-z0-9._~%!$&'()*+,;=:@\\[\\]-]+([/?#][!-~]*)?$";

const duration = z
  .string()
  .regex(new RegExp(DURATION_PATTERN), "must be a duration such as 30s, 1m30s or 500ms");
const objectName = z
  .string()
  .min(1)
  .max(253)
  .regex(new RegExp(DNS_SUBDOMAIN_PATTERN), "must be a DNS subdomain name");
const headerName = z
  .string()
  .min(1)
  .max(256)
  .regex(new RegExp(HEADER_NAME_PATTERN), "must be an HTTP header name");
const positiveInt = z.number().int().min(1);
const httpUrl = z
  .string()
  .max(2048)
  .regex(new RegExp(HTTP_URL_PATTERN), "must be an http:// or https:// URL")
  .pipe(z.url({ protocol: /^https?$/ }));

export const pathMatchSchema = z.strictObject({
  type: z.enum(["PathPrefix", "Exact"]).default("PathPrefix"),
  value: z.string().min(1).max(1024).startsWith("/", "must start with /").default("/"),
});

export const routeMatchSchema = z.strictObject({
  path: pathMatchSchema.prefault({}),
});

/** An absolute URI in printable ASCII (a backend certificate's URI subjectAltName, e.g. a SPIFFE ID). */
export const URI_PATTERN = "^[A-Za-z][A-Za-z0-9+.-]*:[!-~]+$";

/** A hostname without a wildcard (Gateway API `PreciseHostname`): SNI and certificate name of a backend. */
const preciseHostname = z
  .string()
  .min(1)
  .max(253)
  .regex(new RegExp(DNS_SUBDOMAIN_PATTERN), "must be a DNS name without a wildcard");

/** A name the backend's certificate may carry, as BackendTLSPolicy's `subjectAltNames` entries. */
export const subjectAltNameSchema = z
  .strictObject({
    type: z.enum(["Hostname", "URI"]),
    hostname: z.string().min(1).max(253).regex(new RegExp(HOSTNAME_PATTERN), "must be a hostname").optional(),
    uri: z.string().min(1).max(253).regex(new RegExp(URI_PATTERN), "must be an absolute URI").optional(),
  })
  .refine(
    (n) =>
      n.type === "Hostname"
        ? n.hostname !== undefined && n.uri === undefined
        : n.uri !== undefined && n.hostname === undefined,
    "type Hostname takes hostname only, type URI takes uri only",
  );

/**
 * TLS to the backend, mirroring BackendTLSPolicy's `validation`: the CAs to trust (a
 * Secret or ConfigMap key `ca.crt` in the route's namespace, or the system's), the SNI
 * hostname, and optionally the subjectAltNames to accept instead of the hostname.
 */
export const backendTlsSchema = z
  .strictObject({
    caCertificateRefs: z
      .array(z.strictObject({ kind: z.enum(["Secret", "ConfigMap"]), name: objectName }))
      .min(1)
      .max(8)
      .optional(),
    wellKnownCACertificates: z.enum(["System"]).optional(),
    hostname: preciseHostname,
    subjectAltNames: z.array(subjectAltNameSchema).min(1).max(5).optional(),
  })
  .refine(
    (t) => (t.caCertificateRefs === undefined) !== (t.wellKnownCACertificates === undefined),
    "exactly one of caCertificateRefs or wellKnownCACertificates must be set",
  );
export type BackendTlsSpec = z.output<typeof backendTlsSchema>;

export const backendRefSchema = z.strictObject({
  name: objectName,
  port: z.number().int().min(1).max(65535),
  weight: z.number().int().min(0).max(1_000_000).default(1),
  backendTLS: backendTlsSchema.optional(),
});

export const ruleSchema = z.strictObject({
  matches: z
    .array(routeMatchSchema)
    .max(16)
    .default([{ path: { type: "PathPrefix", value: "/" } }]),
  backendRefs: z.array(backendRefSchema).min(1).max(16),
});

export const healthCheckSchema = z.strictObject({
  type: z.enum(["HTTP", "TCP", "WebSocket"]).default("HTTP"),
  path: z.string().startsWith("/", "must start with /").max(1024).default("/healthz"),
  interval: duration.default("5s"),
  timeout: duration.default("2s"),
  healthyThreshold: positiveInt.max(100).default(2),
  unhealthyThreshold: positiveInt.max(100).default(3),
});

/** An allowed Origin: `scheme://host[:port]`, the host optionally `*.`-prefixed. */
export const ORIGIN_PATTERN = "^(https?)://(\\*\\.)?[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?(:[0-9]{1,5})?$";

export const originsSchema = z.strictObject({
  allow: z
    .array(
      z.string().regex(new RegExp(ORIGIN_PATTERN), "must look like https://host[:port] or https://*.domain"),
    )
    .max(64)
    .default([]),
  allowMissing: z.boolean().default(false),
});

export const tokenSourceSchema = z
  .strictObject({
    header: headerName.optional(),
    prefix: z.string().max(64).optional(),
    cookie: z.string().min(1).max(256).optional(),
    query: z.string().min(1).max(256).optional(),
    subprotocol: z.strictObject({}).optional(),
  })
  .refine(
    (s) => [s.header, s.cookie, s.query, s.subprotocol].filter((v) => v !== undefined).length === 1,
    "exactly one of header, cookie, query or subprotocol must be set",
  )
  .refine((s) => s.prefix === undefined || s.header !== undefined, "prefix is only valid with header");

export const secretKeyRefSchema = z.strictObject({ name: objectName, key: z.string().min(1).max(253) });

/**
 * How the key Secret's value is read. Absent: detected, and only a JWKS, a single JWK or
 * PEM blocks are recognised — never an HMAC secret, so a public key can never be mistaken
 * for a shared secret that anyone holding it could sign with.
 */
export const KEY_FORMATS = ["JWKS", "PEM", "HMAC"] as const;
export type SecretKeyFormat = (typeof KEY_FORMATS)[number];

export const keySecretRefSchema = secretKeyRefSchema.extend({ format: z.enum(KEY_FORMATS).optional() });

export const jwtSchema = z.strictObject({
  issuer: z.string().min(1).max(2048).optional(),
  audiences: z.array(z.string().min(1).max(2048)).max(16).default([]),
  keys: z
    .strictObject({
      secretRef: keySecretRefSchema.optional(),
      jwksUri: httpUrl.optional(),
    })
    .refine(
      (k) => (k.secretRef === undefined) !== (k.jwksUri === undefined),
      "exactly one of secretRef or jwksUri must be set",
    ),
  tokenFrom: z
    .array(tokenSourceSchema)
    .min(1)
    .max(8)
    .default([{ header: "Authorization", prefix: "Bearer " }]),
  claimsToHeaders: z
    .record(z.string().min(1), headerName)
    .refine((claims) => Object.keys(claims).length <= 32, "at most 32 claims may be copied to headers")
    .default({}),
  closeOnExpiry: z.boolean().default(false),
  allowMissingExp: z.boolean().default(false),
});

export const forwardAuthSchema = z.strictObject({
  url: httpUrl,
  requestHeaders: z.array(headerName).max(32).default([]),
  responseHeaders: z.array(headerName).max(32).default([]),
  timeout: duration.default("2s"),
});

export const authSchema = z
  .strictObject({ jwt: jwtSchema.optional(), forwardAuth: forwardAuthSchema.optional() })
  .refine(
    (a) => a.jwt === undefined || a.forwardAuth === undefined,
    "at most one of jwt or forwardAuth may be set",
  );

export const timeoutsSchema = z.strictObject({
  connect: duration.default("5s"),
  handshake: duration.default("10s"),
  idle: duration.default("1h"),
  maxLifetime: duration.default("0s"),
});

export const keepaliveSchema = z.strictObject({
  interval: duration.default("30s"),
  timeout: duration.default("10s"),
});

export const limitsSchema = z.strictObject({
  maxConnections: positiveInt.optional(),
  maxConnectionsPerClient: positiveInt.optional(),
  handshakesPerClient: z.strictObject({ perSecond: positiveInt, burst: positiveInt.optional() }).optional(),
  maxMessageBytes: positiveInt.optional(),
  /**
   * How `maxMessageBytes` is kept when clients offer permessage-deflate: `Strip` (default)
   * removes the offer from the upstream handshake so messages cross uncompressed;
   * `Inflate` keeps compression end to end and the proxy inflates each message only to
   * count it (bounded, nothing forwarded from the copy). No effect without a limit.
   */
  permessageDeflate: z.enum(["Strip", "Inflate"]).optional(),
});

/** Close codes an endpoint may send: the registered ones that make sense for a drain, or the application range. */
export function isDrainCloseCode(code: number): boolean {
  return [1000, 1001, 1011, 1012, 1013].includes(code) || (code >= 3000 && code <= 4999);
}

export const drainSchema = z.strictObject({
  window: duration.default("30s"),
  closeCode: z
    .number()
    .int()
    .refine(isDrainCloseCode, "must be 1000, 1001, 1011, 1012, 1013 or 3000-4999")
    .default(1012),
});

const cidr = z
  .string()
  .max(64)
  .refine(isCidr, "must be a CIDR block such as 10.0.0.0/8 or 2001:db8::/32 (one address: 10.0.0.1/32)");

/**
 * Which client addresses (the trusted-proxy model's client identity) may use the route:
 * a client in `deny` is refused, and so is one outside a non-empty `allow`. 403 before
 * any backend, upgrades and plain HTTP alike.
 */
export const sourceRangesSchema = z.strictObject({
  allow: z.array(cidr).max(64).default([]),
  deny: z.array(cidr).max(64).default([]),
});

/** A cookie name (RFC 6265 token) and path (printable ASCII without `;`, starting with `/`). */
export const COOKIE_PATH_PATTERN = "^/[!-:<-~]*$";
/** A query parameter name wsgate can find without decoding: RFC 3986 unreserved characters. */
export const QUERY_NAME_PATTERN = "^[A-Za-z0-9._~-]+$";

/**
 * The cookie wsgate issues for `type: Cookie`. `secure` absent: the Secure attribute is set
 * when the client reached the gateway over TLS; `maxAge` absent or `0s`: a session cookie.
 */
export const affinityCookieSchema = z
  .strictObject({
    name: headerName.max(128).default("wsgate-affinity"),
    path: z
      .string()
      .max(1024)
      .regex(new RegExp(COOKIE_PATH_PATTERN), "must start with / and hold no ; or space")
      .default("/"),
    maxAge: duration.optional(),
    sameSite: z.enum(["Strict", "Lax", "None"]).default("Lax"),
    secure: z.boolean().optional(),
  })
  .refine(
    (c) => c.sameSite !== "None" || c.secure === true,
    "sameSite None requires secure: true (browsers drop such a cookie otherwise)",
  );

/**
 * Session affinity: every request of a session (Socket.IO polling, then the upgrade) to one
 * endpoint. `Cookie` pins by a cookie the gateway issues; the hashing types pick by a
 * consistent hash of a header, a query parameter or the client address, with bounded loads.
 */
export const sessionAffinitySchema = z
  .strictObject({
    type: z.enum(["Cookie", "Header", "QueryParameter", "ClientAddress"]),
    cookie: affinityCookieSchema.optional(),
    header: z.strictObject({ name: headerName }).optional(),
    queryParameter: z
      .strictObject({
        name: z
          .string()
          .min(1)
          .max(256)
          .regex(new RegExp(QUERY_NAME_PATTERN), "must be letters, digits or ._~-"),
      })
      .optional(),
    balanceFactorPercent: z.number().int().min(100).max(1000).default(125),
  })
  .refine((a) => a.cookie === undefined || a.type === "Cookie", "cookie is only valid with type Cookie")
  .refine(
    (a) => (a.header !== undefined) === (a.type === "Header"),
    "header is set exactly when type is Header",
  )
  .refine(
    (a) => (a.queryParameter !== undefined) === (a.type === "QueryParameter"),
    "queryParameter is set exactly when type is QueryParameter",
  );

/**
 * The WebSocket behaviour of a route: the one schema source of these fields, shared by
 * WebSocketRoute's spec and WebSocketPolicy's (which sets any subset of them for the
 * objects it targets). The WebSocketPolicy CRD's copies are generated from the
 * WebSocketRoute CRD by name (see `websocket-policy.ts`).
 */
export const routeBehaviourShape = {
  loadBalancing: z
    .strictObject({ policy: z.enum(["LeastConnections", "RoundRobin"]).default("LeastConnections") })
    .prefault({}),
  healthCheck: healthCheckSchema.optional(),
  origins: originsSchema.optional(),
  auth: authSchema.optional(),
  timeouts: timeoutsSchema.prefault({}),
  keepalive: keepaliveSchema.optional(),
  limits: limitsSchema.prefault({}),
  drain: drainSchema.prefault({}),
  sourceRanges: sourceRangesSchema.optional(),
  sessionAffinity: sessionAffinitySchema.optional(),
  rebalance: rebalanceSchema.optional(),
};

/** Names of the behaviour fields, in schema order. */
export const ROUTE_BEHAVIOUR_FIELDS = Object.keys(
  routeBehaviourShape,
) as (keyof typeof routeBehaviourShape)[];

export const routeSpecSchema = z.strictObject({
  ingressClassName: z.string().min(1).max(253).optional(),
  hostnames: z
    .array(
      z
        .string()
        .min(1)
        .max(253)
        .regex(new RegExp(HOSTNAME_PATTERN), "must be a lower-case DNS name, optionally starting with *."),
    )
    .max(16)
    .default([]),
  tls: z.strictObject({ secretName: objectName }).optional(),
  rules: z.array(ruleSchema).min(1).max(16),
  ...routeBehaviourShape,
  /**
   * Serve request paths holding an encoded slash (`%2F`), refused with 400 when absent or false. The
   * route matches `%2F` as a byte of its path segment and the backend receives it encoded;
   * a backend that decodes it into `/` serves another path than the one matched and authorised.
   */
  allowEncodedSlashes: z.boolean().optional(),
});

export const conditionSchema = z.object({
  type: z.string(),
  status: z.enum(["True", "False", "Unknown"]),
  reason: z.string(),
  message: z.string().default(""),
  lastTransitionTime: z.string(),
  observedGeneration: z.number().int().optional(),
});

export const routeStatusSchema = z.object({
  observedGeneration: z.number().int().optional(),
  conditions: z.array(conditionSchema).default([]),
  endpoints: z.object({ ready: z.number().int(), total: z.number().int() }).optional(),
});

export const webSocketRouteSchema = z.object({
  apiVersion: z.literal(ROUTE_API_VERSION),
  kind: z.literal(ROUTE_KIND),
  metadata: objectMetaSchema,
  spec: routeSpecSchema,
  status: routeStatusSchema.optional(),
});

export type PathMatch = z.output<typeof pathMatchSchema>;
export type BackendRef = z.output<typeof backendRefSchema>;
export type RouteRule = z.output<typeof ruleSchema>;
export type HealthCheck = z.output<typeof healthCheckSchema>;
export type Origins = z.output<typeof originsSchema>;
export type RouteAuth = z.output<typeof authSchema>;
export type RouteTimeouts = z.output<typeof timeoutsSchema>;
export type RouteLimits = z.output<typeof limitsSchema>;
export type RouteDrain = z.output<typeof drainSchema>;
export type SourceRanges = z.output<typeof sourceRangesSchema>;
export type SessionAffinity = z.output<typeof sessionAffinitySchema>;
export type RouteSpec = z.output<typeof routeSpecSchema>;
export type Condition = z.output<typeof conditionSchema>;
export type RouteStatus = z.output<typeof routeStatusSchema>;
/** A validated WebSocketRoute with defaults applied. */
export type WebSocketRoute = z.output<typeof webSocketRouteSchema>;
