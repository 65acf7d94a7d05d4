/**
 * The Gateway API objects wsgate reads (`gateway.networking.k8s.io`, standard channel,
 * the CRDs vendored in `crds/gateway-api/`), reduced to the fields it acts on.
 *
 * The API server validates these objects against the upstream CRDs; these schemas only
 * give the subset a type and defaults. They are loose (unknown fields pass) on purpose:
 * a field wsgate does not read must not make an object unreadable — what it cannot
 * honour is reported by the translation as a condition (`UnsupportedValue`), never
 * dropped in silence.
 *
 * `status` is not read (z.object drops it): it is ours to write, and a status write must
 * not look like a change that needs a recompile.
 *
 * Cluster-scoped kinds (GatewayClass, Namespace) are stored under the namespace
 * `default`, as every object without `metadata.namespace` is (see `objectMetaSchema`).
 */
import { z } from "zod";
import { objectMetaSchema } from "./meta.js";

export const GATEWAY_GROUP = "gateway.networking.k8s.io";
export const GATEWAY_VERSION = "v1";
export const GATEWAY_API_VERSION = `${GATEWAY_GROUP}/${GATEWAY_VERSION}`;
/** The default `spec.controllerName` of the GatewayClasses wsgate serves (--gateway-class-controller). */
export const DEFAULT_GATEWAY_CONTROLLER = "wsgate.io/gateway-controller";

/** GEP-1911 appProtocols: a Service port speaking WebSocket, in clear or over TLS. */
export const WS_APP_PROTOCOL = "kubernetes.io/ws";
export const WSS_APP_PROTOCOL = "kubernetes.io/wss";

export const gatewayClassSchema = z.object({
  apiVersion: z.literal(GATEWAY_API_VERSION),
  kind: z.literal("GatewayClass"),
  metadata: objectMetaSchema,
  spec: z.object({ controllerName: z.string(), description: z.string().optional() }),
});

/** `RouteGroupKind`: the group defaults to Gateway API's. */
const routeGroupKindSchema = z.object({
  group: z.string().default(GATEWAY_GROUP),
  kind: z.string(),
});

const labelSelectorSchema = z.object({
  matchLabels: z.record(z.string(), z.string()).default({}),
  matchExpressions: z
    .array(
      z.object({
        key: z.string(),
        operator: z.enum(["In", "NotIn", "Exists", "DoesNotExist"]),
        values: z.array(z.string()).default([]),
      }),
    )
    .default([]),
});
export type LabelSelector = z.output<typeof labelSelectorSchema>;

/** `SecretObjectReference` and its kin: group "" and kind Secret by default. */
const secretRefSchema = z.object({
  group: z.string().default(""),
  kind: z.string().default("Secret"),
  name: z.string(),
  namespace: z.string().optional(),
});

export const listenerSchema = z.object({
  name: z.string(),
  hostname: z.string().optional(),
  port: z.number().int(),
  protocol: z.string(),
  tls: z
    .object({
      mode: z.string().default("Terminate"),
      certificateRefs: z.array(secretRefSchema).default([]),
    })
    .optional(),
  allowedRoutes: z
    .object({
      namespaces: z
        .object({
          from: z.enum(["All", "Same", "Selector"]).default("Same"),
          selector: labelSelectorSchema.optional(),
        })
        .prefault({}),
      kinds: z.array(routeGroupKindSchema).optional(),
    })
    .prefault({}),
});

export const gatewaySchema = z.object({
  apiVersion: z.literal(GATEWAY_API_VERSION),
  kind: z.literal("Gateway"),
  metadata: objectMetaSchema,
  spec: z.object({
    gatewayClassName: z.string(),
    listeners: z.array(listenerSchema).default([]),
    addresses: z.array(z.object({ type: z.string().optional(), value: z.string() })).optional(),
  }),
});

export const parentRefSchema = z.object({
  group: z.string().default(GATEWAY_GROUP),
  kind: z.string().default("Gateway"),
  namespace: z.string().optional(),
  name: z.string(),
  sectionName: z.string().optional(),
  port: z.number().int().optional(),
});

const headerMatchSchema = z.object({
  type: z.string().default("Exact"),
  name: z.string(),
  value: z.string(),
});

export const httpRouteMatchSchema = z.object({
  path: z.object({ type: z.string().default("PathPrefix"), value: z.string().default("/") }).prefault({}),
  headers: z.array(headerMatchSchema).optional(),
  queryParams: z.array(headerMatchSchema).optional(),
  method: z.string().optional(),
});

/** A filter: only its `type` is read here; the translation reports the ones it cannot apply. */
const filterSchema = z.looseObject({ type: z.string() });

export const httpBackendRefSchema = z.object({
  group: z.string().default(""),
  kind: z.string().default("Service"),
  name: z.string(),
  namespace: z.string().optional(),
  port: z.number().int().optional(),
  weight: z.number().int().default(1),
  filters: z.array(filterSchema).optional(),
});

export const httpRouteRuleSchema = z.object({
  name: z.string().optional(),
  matches: z.array(httpRouteMatchSchema).default([{ path: { type: "PathPrefix", value: "/" } }]),
  filters: z.array(filterSchema).optional(),
  backendRefs: z.array(httpBackendRefSchema).default([]),
  timeouts: z.unknown().optional(),
  retry: z.unknown().optional(),
  sessionPersistence: z.unknown().optional(),
});

export const httpRouteSchema = z.object({
  apiVersion: z.literal(GATEWAY_API_VERSION),
  kind: z.literal("HTTPRoute"),
  metadata: objectMetaSchema,
  spec: z
    .object({
      parentRefs: z.array(parentRefSchema).default([]),
      hostnames: z.array(z.string()).default([]),
      rules: z
        .array(httpRouteRuleSchema)
        .default([{ matches: [{ path: { type: "PathPrefix", value: "/" } }], backendRefs: [] }]),
    })
    .prefault({}),
});

export const referenceGrantSchema = z.object({
  apiVersion: z.literal(GATEWAY_API_VERSION),
  kind: z.literal("ReferenceGrant"),
  metadata: objectMetaSchema,
  spec: z.object({
    from: z.array(z.object({ group: z.string(), kind: z.string(), namespace: z.string() })),
    to: z.array(z.object({ group: z.string(), kind: z.string(), name: z.string().optional() })),
  }),
});

export const backendTlsPolicySchema = z.object({
  apiVersion: z.literal(GATEWAY_API_VERSION),
  kind: z.literal("BackendTLSPolicy"),
  metadata: objectMetaSchema,
  spec: z.object({
    targetRefs: z.array(
      z.object({ group: z.string(), kind: z.string(), name: z.string(), sectionName: z.string().optional() }),
    ),
    validation: z.object({
      caCertificateRefs: z
        .array(z.object({ group: z.string(), kind: z.string(), name: z.string() }))
        .default([]),
      wellKnownCACertificates: z.string().optional(),
      hostname: z.string(),
      subjectAltNames: z
        .array(z.object({ type: z.string(), hostname: z.string().optional(), uri: z.string().optional() }))
        .default([]),
    }),
  }),
});

/** Namespaces: only their labels, for `allowedRoutes.namespaces.from: Selector`. */
export const namespaceSchema = z.object({
  apiVersion: z.literal("v1"),
  kind: z.literal("Namespace"),
  metadata: objectMetaSchema,
});

export type GatewayClass = z.output<typeof gatewayClassSchema>;
export type Gateway = z.output<typeof gatewaySchema>;
export type Listener = z.output<typeof listenerSchema>;
export type ParentRef = z.output<typeof parentRefSchema>;
export type HTTPRoute = z.output<typeof httpRouteSchema>;
export type HTTPRouteRule = z.output<typeof httpRouteRuleSchema>;
export type HTTPBackendRef = z.output<typeof httpBackendRefSchema>;
export type ReferenceGrant = z.output<typeof referenceGrantSchema>;
export type BackendTLSPolicy = z.output<typeof backendTlsPolicySchema>;
export type Namespace = z.output<typeof namespaceSchema>;

/** True when `labels` satisfy a Kubernetes label selector (an empty selector selects everything). */
export function selectorMatches(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels)) if (labels[key] !== value) return false;
  for (const e of selector.matchExpressions) {
    const has = Object.hasOwn(labels, e.key);
    const value = labels[e.key];
    if (e.operator === "In" && !(has && e.values.includes(value as string))) return false;
    if (e.operator === "NotIn" && has && e.values.includes(value as string)) return false;
    if (e.operator === "Exists" && !has) return false;
    if (e.operator === "DoesNotExist" && has) return false;
  }
  return true;
}
