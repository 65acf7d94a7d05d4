/**
 * Turns untyped documents (YAML manifests, API server objects) into validated,
 * defaulted objects of the kinds wsgate reads — or into readable errors.
 */
import type { z } from "zod";
import {
  configMapSchema,
  endpointSliceSchema,
  secretSchema,
  serviceSchema,
  type ConfigMap,
  type EndpointSlice,
  type Secret,
  type Service,
} from "./objects.js";
import {
  GATEWAY_API_VERSION,
  GATEWAY_GROUP,
  GATEWAY_VERSION,
  backendTlsPolicySchema,
  gatewayClassSchema,
  gatewaySchema,
  httpRouteSchema,
  namespaceSchema,
  referenceGrantSchema,
  type BackendTLSPolicy,
  type Gateway,
  type GatewayClass,
  type HTTPRoute,
  type Namespace,
  type ReferenceGrant,
} from "./gateway-api.js";
import {
  INGRESS_API_VERSION,
  ingressClassSchema,
  ingressSchema,
  type Ingress,
  type IngressClass,
} from "./ingress.js";
import { ROUTE_API_VERSION, ROUTE_KIND, webSocketRouteSchema, type WebSocketRoute } from "./route.js";
import { POLICY_KIND, webSocketPolicySchema, type WebSocketPolicy } from "./websocket-policy.js";

/** Every kind the object store holds. */
export type KubeObject =
  | WebSocketRoute
  | Service
  | EndpointSlice
  | Secret
  | ConfigMap
  | GatewayClass
  | Gateway
  | HTTPRoute
  | ReferenceGrant
  | BackendTLSPolicy
  | Namespace
  | Ingress
  | IngressClass
  | WebSocketPolicy;
export type Kind = KubeObject["kind"];
export const KINDS: readonly Kind[] = [
  "WebSocketRoute",
  "Service",
  "EndpointSlice",
  "Secret",
  "ConfigMap",
  "GatewayClass",
  "Gateway",
  "HTTPRoute",
  "ReferenceGrant",
  "BackendTLSPolicy",
  "Namespace",
  "Ingress",
  "IngressClass",
  "WebSocketPolicy",
];

export type ParseResult =
  | { outcome: "ok"; object: KubeObject }
  | { outcome: "ignored"; reason: string }
  | { outcome: "invalid"; errors: string[] };

const SCHEMAS: Record<string, z.ZodType<KubeObject>> = {
  [`${ROUTE_API_VERSION} ${ROUTE_KIND}`]: webSocketRouteSchema,
  "v1 Service": serviceSchema,
  "discovery.k8s.io/v1 EndpointSlice": endpointSliceSchema,
  "v1 Secret": secretSchema,
  "v1 ConfigMap": configMapSchema,
  [`${GATEWAY_API_VERSION} GatewayClass`]: gatewayClassSchema,
  [`${GATEWAY_API_VERSION} Gateway`]: gatewaySchema,
  [`${GATEWAY_API_VERSION} HTTPRoute`]: httpRouteSchema,
  [`${GATEWAY_API_VERSION} ReferenceGrant`]: referenceGrantSchema,
  [`${GATEWAY_API_VERSION} BackendTLSPolicy`]: backendTlsPolicySchema,
  "v1 Namespace": namespaceSchema,
  [`${INGRESS_API_VERSION} Ingress`]: ingressSchema,
  [`${INGRESS_API_VERSION} IngressClass`]: ingressClassSchema,
  [`${ROUTE_API_VERSION} ${POLICY_KIND}`]: webSocketPolicySchema,
};

/**
 * The Gateway API versions other than v1 that the bundled CRDs (`crds/gateway-api/`, v1.6.3)
 * serve, per kind wsgate reads. Their schema is v1's (the CRDs convert with strategy None:
 * the API server only rewrites `apiVersion`), so a standalone manifest written in one is read
 * as v1 — what a cluster hands wsgate's v1 watch for the same object. ReferenceGrant's storage
 * version is still v1beta1, and users write it. BackendTLSPolicy serves v1 only.
 */
const GATEWAY_API_ALSO_SERVED: Readonly<Record<string, readonly string[]>> = {
  GatewayClass: ["v1beta1"],
  Gateway: ["v1beta1"],
  HTTPRoute: ["v1beta1"],
  ReferenceGrant: ["v1beta1"],
  BackendTLSPolicy: [],
};

/**
 * A Gateway API document of a kind wsgate reads, in a version the CRDs serve, as v1; an
 * error naming the served versions for a version they do not serve (the API server would
 * refuse it too: ignoring it would leave the user a route that silently never attaches).
 * Other documents pass unchanged.
 */
function asGatewayApiV1(
  doc: object,
  apiVersion: string,
  kind: string,
): { doc: object; apiVersion: string } | { error: string } {
  const also = GATEWAY_API_ALSO_SERVED[kind];
  if (!also || !apiVersion.startsWith(`${GATEWAY_GROUP}/`) || apiVersion === GATEWAY_API_VERSION) {
    return { doc, apiVersion };
  }
  const version = apiVersion.slice(GATEWAY_GROUP.length + 1);
  if (also.includes(version)) {
    return { doc: { ...doc, apiVersion: GATEWAY_API_VERSION }, apiVersion: GATEWAY_API_VERSION };
  }
  const served = [GATEWAY_VERSION, ...also].map((v) => `${GATEWAY_GROUP}/${v}`).join(" or ");
  return { error: `apiVersion: ${kind} is served as ${served}, not ${apiVersion}` };
}

/** Formats zod issues as `path: message` lines that point at the offending field. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => {
    const path = issue.path
      .map((part, i) =>
        typeof part === "number" ? `[${part}]` : i === 0 ? String(part) : `.${String(part)}`,
      )
      .join("");
    return `${path || "(object)"}: ${issue.message}`;
  });
}

/** Validates one document. Kinds wsgate does not read are `ignored`, not errors. */
export function parseObject(doc: unknown): ParseResult {
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    return { outcome: "invalid", errors: ["document is not an object"] };
  }
  const { apiVersion, kind } = doc as { apiVersion?: unknown; kind?: unknown };
  if (typeof apiVersion !== "string" || typeof kind !== "string") {
    return { outcome: "invalid", errors: ["apiVersion and kind must be strings"] };
  }
  if (kind === ROUTE_KIND && apiVersion !== ROUTE_API_VERSION) {
    return {
      outcome: "invalid",
      errors: [`apiVersion: ${kind} is served as ${ROUTE_API_VERSION}, not ${apiVersion}`],
    };
  }
  const read = asGatewayApiV1(doc, apiVersion, kind);
  if ("error" in read) return { outcome: "invalid", errors: [read.error] };
  const schema = SCHEMAS[`${read.apiVersion} ${kind}`];
  if (!schema) return { outcome: "ignored", reason: `${apiVersion} ${kind} is not read by wsgate` };
  const result = schema.safeParse(read.doc);
  if (!result.success) return { outcome: "invalid", errors: formatIssues(result.error.issues) };
  return { outcome: "ok", object: result.data };
}
