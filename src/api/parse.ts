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
  const schema = SCHEMAS[`${apiVersion} ${kind}`];
  if (!schema) return { outcome: "ignored", reason: `${apiVersion} ${kind} is not read by wsgate` };
  const result = schema.safeParse(doc);
  if (!result.success) return { outcome: "invalid", errors: formatIssues(result.error.issues) };
  return { outcome: "ok", object: result.data };
}
