/**
 * `networking.k8s.io/v1` Ingress and IngressClass, reduced to the fields wsgate reads.
 * Lenient like the other foreign kinds (objects.ts): the API server already validated
 * them, and a field wsgate does not read is not ours to police. Annotations are read
 * from `metadata.annotations` by routing/ingress/annotations.ts.
 */
import { z } from "zod";
import { objectMetaSchema } from "./meta.js";

export const INGRESS_API_VERSION = "networking.k8s.io/v1";
/** `spec.controller` of the IngressClasses wsgate serves. */
export const INGRESS_CONTROLLER = "wsgate.io/ingress-controller";
/** Marks the cluster's default IngressClass: class-less Ingresses belong to it. */
export const DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class";
/** The class annotation that preceded `spec.ingressClassName` (still honoured by ingress-nginx). */
export const LEGACY_CLASS_ANNOTATION = "kubernetes.io/ingress.class";

const serviceBackendSchema = z.object({
  name: z.string().min(1),
  port: z.object({ number: z.number().int().optional(), name: z.string().optional() }).prefault({}),
});

/** A backend: a Service (or, unsupported by wsgate, a `resource` reference). */
export const ingressBackendSchema = z.object({
  service: serviceBackendSchema.optional(),
  resource: z.object({ kind: z.string(), name: z.string(), apiGroup: z.string().optional() }).optional(),
});

export const ingressPathSchema = z.object({
  path: z.string().optional(),
  pathType: z.string().default("ImplementationSpecific"),
  backend: ingressBackendSchema,
});

export const ingressRuleSchema = z.object({
  host: z.string().optional(),
  http: z.object({ paths: z.array(ingressPathSchema).default([]) }).optional(),
});

export const ingressSchema = z.object({
  apiVersion: z.literal(INGRESS_API_VERSION),
  kind: z.literal("Ingress"),
  metadata: objectMetaSchema,
  spec: z
    .object({
      ingressClassName: z.string().optional(),
      defaultBackend: ingressBackendSchema.optional(),
      tls: z
        .array(z.object({ hosts: z.array(z.string()).default([]), secretName: z.string().optional() }))
        .default([]),
      rules: z.array(ingressRuleSchema).default([]),
    })
    .prefault({}),
  status: z.unknown().optional(),
});

export const ingressClassSchema = z.object({
  apiVersion: z.literal(INGRESS_API_VERSION),
  kind: z.literal("IngressClass"),
  metadata: objectMetaSchema,
  spec: z.object({ controller: z.string().default("") }).prefault({}),
});

export type IngressBackend = z.output<typeof ingressBackendSchema>;
export type IngressPath = z.output<typeof ingressPathSchema>;
export type Ingress = z.output<typeof ingressSchema>;
export type IngressClass = z.output<typeof ingressClassSchema>;
