/**
 * The `WebSocketPolicy` API (group `wsgate.io`, version `v1alpha1`, short name `wsp`):
 * Gateway API direct policy attachment (GEP-713) for what Gateway API has no words for —
 * WebSocket timeouts, keepalive, limits, drain, origins, auth, balancing, health checks.
 *
 * `spec.targetRefs` names HTTPRoutes (or one rule of an HTTPRoute, by `sectionName` = the
 * rule's `name`, GEP-713), Gateways or Services of the policy's namespace; every other field is a WebSocketRoute behaviour field, validated by the very schema
 * WebSocketRoute uses ({@link routeBehaviourShape}). A policy keeps what it was given as
 * written (no defaults filled in), so that merging several policies field by field can
 * tell "set" from "defaulted": precedence is route rule > route > Service > Gateway.
 */
import { z } from "zod";
import { GATEWAY_GROUP } from "./gateway-api.js";
import { objectMetaSchema } from "./meta.js";
import { ROUTE_API_VERSION, ROUTE_BEHAVIOUR_FIELDS, routeBehaviourShape } from "./route.js";

export const POLICY_KIND = "WebSocketPolicy";
export const POLICY_PLURAL = "websocketpolicies";

export const policyTargetRefSchema = z.strictObject({
  group: z.string().max(253),
  kind: z.enum(["HTTPRoute", "Gateway", "Service"]),
  name: z.string().min(1).max(253),
  sectionName: z.string().min(1).max(253).optional(),
});

/** The spec as validated: targets plus any subset of the behaviour fields. */
export const policySpecSchema = z
  .strictObject({
    targetRefs: z.array(policyTargetRefSchema).min(1).max(16),
    ...routeBehaviourShape,
  })
  .refine(
    (s) => s.targetRefs.every((t) => (t.kind === "Service" ? t.group === "" : t.group === GATEWAY_GROUP)),
    'targetRefs: group must be gateway.networking.k8s.io for HTTPRoute and Gateway, "" for Service',
  );

export type PolicyTargetRef = z.output<typeof policyTargetRefSchema>;

/** Behaviour fields exactly as written in the policy (no defaults): the input of field-by-field merging. */
export type PolicyBehaviour = Partial<Record<(typeof ROUTE_BEHAVIOUR_FIELDS)[number], unknown>>;

export const webSocketPolicySchema = z
  .object({
    apiVersion: z.literal(ROUTE_API_VERSION),
    kind: z.literal(POLICY_KIND),
    metadata: objectMetaSchema,
    spec: z.record(z.string(), z.unknown()),
  })
  .superRefine((policy, ctx) => {
    const result = policySpecSchema.safeParse(policy.spec);
    if (!result.success) {
      // Each issue keeps its path under spec (parse.ts formats paths as `spec.limits.maxMessageBytes`).
      for (const issue of result.error.issues)
        ctx.addIssue({ code: "custom", path: ["spec", ...issue.path], message: issue.message });
    }
  })
  .transform((policy) => {
    const spec = policy.spec as { targetRefs: PolicyTargetRef[] } & Record<string, unknown>;
    const behaviour: PolicyBehaviour = {};
    for (const field of ROUTE_BEHAVIOUR_FIELDS) if (spec[field] !== undefined) behaviour[field] = spec[field];
    return {
      apiVersion: policy.apiVersion,
      kind: policy.kind,
      metadata: policy.metadata,
      spec: { targetRefs: spec.targetRefs, behaviour },
    };
  });

export type WebSocketPolicy = z.output<typeof webSocketPolicySchema>;

/**
 * Behaviour fields whose shape is chosen by their `type`: a policy naming another type
 * replaces the field whole (a Gateway's Cookie affinity under a route's Header affinity
 * would otherwise merge into a Header affinity with a cookie, which is invalid).
 */
const TYPED_FIELDS = ["sessionAffinity"] as const;

/** Deep merge of plain objects: `over`'s leaves win, arrays are replaced whole. */
export function mergeBehaviour(under: PolicyBehaviour, over: PolicyBehaviour): PolicyBehaviour {
  const plain = (v: unknown): v is Record<string, unknown> =>
    typeof v === "object" && v !== null && !Array.isArray(v);
  const merge = (a: unknown, b: unknown): unknown => {
    if (b === undefined) return a;
    if (!plain(a) || !plain(b)) return b;
    const out: Record<string, unknown> = { ...a };
    for (const [k, v] of Object.entries(b)) out[k] = merge(a[k], v);
    return out;
  };
  const merged = merge(under, over) as PolicyBehaviour;
  for (const field of TYPED_FIELDS) {
    const [a, b] = [under[field], over[field]];
    if (plain(a) && plain(b) && b.type !== undefined && b.type !== a.type) merged[field] = b;
  }
  return merged;
}

interface CrdLike {
  spec: {
    versions: {
      schema: { openAPIV3Schema: { properties: { spec: { properties: Record<string, unknown> } } } };
    }[];
  };
}

/**
 * The WebSocketPolicy CRD, generated from the WebSocketRoute CRD: its behaviour fields'
 * schemas are taken from there by name, so the two never drift (the packaging test
 * regenerates and compares `crds/wsgate.io_websocketpolicies.yaml`).
 */
export function policyCrd(routeCrd: CrdLike): object {
  const routeSpec = routeCrd.spec.versions[0]!.schema.openAPIV3Schema.properties.spec.properties;
  const behaviour: Record<string, unknown> = {};
  for (const field of ROUTE_BEHAVIOUR_FIELDS) {
    const schema = routeSpec[field] as Record<string, unknown> | undefined;
    if (!schema) throw new Error(`the WebSocketRoute CRD has no spec.${field}`);
    // A policy sets only what it names: no defaults, or every policy would set every field.
    behaviour[field] = withoutDefaults(schema);
  }
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${POLICY_PLURAL}.wsgate.io` },
    spec: {
      group: "wsgate.io",
      names: {
        kind: POLICY_KIND,
        listKind: `${POLICY_KIND}List`,
        plural: POLICY_PLURAL,
        singular: "websocketpolicy",
        shortNames: ["wsp"],
        categories: ["wsgate"],
      },
      scope: "Namespaced",
      versions: [
        {
          name: "v1alpha1",
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: "Target kinds", type: "string", jsonPath: ".spec.targetRefs[*].kind" },
            { name: "Targets", type: "string", jsonPath: ".spec.targetRefs[*].name" },
            { name: "Rules", type: "string", jsonPath: ".spec.targetRefs[*].sectionName" },
            {
              name: "Accepted",
              type: "string",
              jsonPath: '.status.conditions[?(@.type=="Accepted")].status',
            },
            { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
          ],
          schema: {
            openAPIV3Schema: {
              type: "object",
              description:
                "WebSocket behaviour (timeouts, keepalive, limits, drain, origins, auth, balancing, health checks, source ranges) attached to HTTPRoutes, HTTPRoute rules, Gateways or Services of its namespace (Gateway API direct policy attachment). Precedence, field by field: HTTPRoute rule > HTTPRoute > Service > Gateway.",
              required: ["spec"],
              properties: {
                apiVersion: { type: "string" },
                kind: { type: "string" },
                metadata: { type: "object" },
                spec: {
                  type: "object",
                  required: ["targetRefs"],
                  properties: {
                    targetRefs: {
                      type: "array",
                      minItems: 1,
                      maxItems: 16,
                      description: "The objects (in this namespace) this policy applies to.",
                      items: {
                        type: "object",
                        required: ["group", "kind", "name"],
                        properties: {
                          group: {
                            type: "string",
                            maxLength: 253,
                            description: 'gateway.networking.k8s.io, or "" for a Service.',
                          },
                          kind: { type: "string", enum: ["HTTPRoute", "Gateway", "Service"] },
                          name: { type: "string", minLength: 1, maxLength: 253 },
                          sectionName: {
                            type: "string",
                            minLength: 1,
                            maxLength: 253,
                            description:
                              "HTTPRoute targets only: the name of one rule of the route (spec.rules[].name); the policy applies to that rule only, over the route's own policy. A name no rule has is TargetNotFound.",
                          },
                        },
                      },
                    },
                    ...behaviour,
                  },
                },
                status: {
                  type: "object",
                  properties: {
                    conditions: {
                      type: "array",
                      "x-kubernetes-list-type": "map",
                      "x-kubernetes-list-map-keys": ["type"],
                      items: {
                        type: "object",
                        required: ["type", "status", "reason", "lastTransitionTime"],
                        properties: {
                          type: { type: "string" },
                          status: { type: "string", enum: ["True", "False", "Unknown"] },
                          reason: { type: "string" },
                          message: { type: "string" },
                          lastTransitionTime: { type: "string", format: "date-time" },
                          observedGeneration: { type: "integer", format: "int64" },
                        },
                      },
                    },
                  },
                },
              },
            },
          },
        },
      ],
    },
  };
}

function withoutDefaults(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(withoutDefaults);
  if (typeof schema !== "object" || schema === null) return schema;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) if (k !== "default") out[k] = withoutDefaults(v);
  return out;
}
