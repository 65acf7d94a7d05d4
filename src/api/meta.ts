import { z } from "zod";

/** The part of `metav1.ObjectMeta` that wsgate reads. Namespace defaults as kubectl does. */
export const objectMetaSchema = z.object({
  name: z.string().min(1).max(253),
  namespace: z.string().min(1).max(63).default("default"),
  uid: z.string().optional(),
  generation: z.number().int().optional(),
  resourceVersion: z.string().optional(),
  creationTimestamp: z.string().optional(),
  deletionTimestamp: z.string().optional(),
  labels: z.record(z.string(), z.string()).default({}),
  annotations: z.record(z.string(), z.string()).default({}),
});

export type ObjectMeta = z.output<typeof objectMetaSchema>;

/** `namespace/name`, the key objects are stored and reported under. */
export function objectKey(meta: { namespace: string; name: string }): string {
  return `${meta.namespace}/${meta.name}`;
}
