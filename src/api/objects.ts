/**
 * The Kubernetes core objects wsgate consumes, reduced to the fields it reads.
 * Unknown fields are ignored (these are not ours to police).
 */
import { z } from "zod";
import { objectMetaSchema } from "./meta.js";

export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";

export const serviceSchema = z.object({
  apiVersion: z.literal("v1"),
  kind: z.literal("Service"),
  metadata: objectMetaSchema,
  spec: z
    .object({
      ports: z
        .array(
          z.object({
            name: z.string().optional(),
            port: z.number().int(),
            targetPort: z.union([z.number().int(), z.string()]).optional(),
            protocol: z.string().default("TCP"),
            /** GEP-1911: `kubernetes.io/ws` and `kubernetes.io/wss` mark WebSocket backends. */
            appProtocol: z.string().optional(),
          }),
        )
        .default([]),
    })
    .prefault({}),
});

export const endpointSliceSchema = z.object({
  apiVersion: z.literal("discovery.k8s.io/v1"),
  kind: z.literal("EndpointSlice"),
  metadata: objectMetaSchema,
  addressType: z.enum(["IPv4", "IPv6", "FQDN"]),
  endpoints: z
    .array(
      z.object({
        addresses: z.array(z.string()).min(1),
        conditions: z
          .object({
            ready: z.boolean().optional(),
            serving: z.boolean().optional(),
            terminating: z.boolean().optional(),
          })
          .default({}),
        nodeName: z.string().optional(),
        zone: z.string().optional(),
      }),
    )
    .nullish()
    .transform((e) => e ?? []),
  ports: z
    .array(
      z.object({
        name: z.string().optional(),
        port: z.number().int().optional(),
        protocol: z.string().default("TCP"),
      }),
    )
    .nullish()
    .transform((p) => p ?? []),
});

export const secretSchema = z
  .object({
    apiVersion: z.literal("v1"),
    kind: z.literal("Secret"),
    metadata: objectMetaSchema,
    type: z.string().default("Opaque"),
    data: z.record(z.string(), z.string()).default({}),
    /** Manifests may carry plain-text values; the API server folds them into `data`, and so do we. */
    stringData: z.record(z.string(), z.string()).optional(),
  })
  .transform(({ stringData, ...secret }) => {
    if (!stringData) return secret;
    const data = { ...secret.data };
    for (const [key, value] of Object.entries(stringData)) data[key] = Buffer.from(value).toString("base64");
    return { ...secret, data };
  });

/**
 * A ConfigMap: wsgate reads only `data` (a BackendTLSPolicy's or backendTLS's CA bundle under
 * `ca.crt`); `binaryData` is not a PEM bundle and is left out.
 */
export const configMapSchema = z.object({
  apiVersion: z.literal("v1"),
  kind: z.literal("ConfigMap"),
  metadata: objectMetaSchema,
  data: z
    .record(z.string(), z.string())
    .nullish()
    .transform((d) => d ?? {}),
});

export type ConfigMap = z.output<typeof configMapSchema>;
export type Service = z.output<typeof serviceSchema>;
export type EndpointSlice = z.output<typeof endpointSliceSchema>;
export type Secret = z.output<typeof secretSchema>;
