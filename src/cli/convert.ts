/**
 * `wsgate convert FILE...` (or stdin): Ingress manifests → WebSocketRoute manifests,
 * through the same translation the controller runs on live Ingresses, with a comment
 * for everything that could not be carried over. Services in the input resolve named
 * ports. Exit status: 0 everything converted, 3 something was dropped, 1 unreadable input.
 */
import { parseAllDocuments, stringify } from "yaml";
import { ingressSchema, type Ingress } from "../api/ingress.js";
import { serviceSchema, type Service } from "../api/objects.js";
import { formatIssues } from "../api/parse.js";
import { translateIngress } from "../routing/ingress/translate.js";

export interface ConvertInput {
  /** A file name, or `-` for stdin: used in messages only. */
  readonly name: string;
  readonly text: string;
}

export interface ConvertResult {
  /** WebSocketRoute YAML, one document per route, comments for what was dropped. */
  readonly output: string;
  /** Errors about the input itself (not YAML, an invalid Ingress). */
  readonly errors: readonly string[];
  /** Something of an Ingress was not carried over. */
  readonly dropped: boolean;
  readonly ingresses: number;
}

export const CONVERT_EXIT = { converted: 0, failed: 1, dropped: 3 } as const;

function documentsOf(value: unknown): unknown[] {
  const doc = value as { kind?: unknown; items?: unknown };
  return doc?.kind === "List" && Array.isArray(doc.items) ? doc.items : [value];
}

/** Converts every Ingress of the inputs, in input order. */
export function convertManifests(inputs: readonly ConvertInput[]): ConvertResult {
  const errors: string[] = [];
  const ingresses: Ingress[] = [];
  const services = new Map<string, Service>();
  for (const input of inputs) {
    for (const yamlDoc of parseAllDocuments(input.text)) {
      if (yamlDoc.errors.length > 0) {
        errors.push(...yamlDoc.errors.map((e) => `${input.name}: ${e.message}`));
        continue;
      }
      for (const doc of documentsOf(yamlDoc.toJS())) {
        const { kind, apiVersion } = (doc ?? {}) as { kind?: unknown; apiVersion?: unknown };
        if (kind === "Ingress") {
          const parsed = ingressSchema.safeParse(doc);
          if (parsed.success) ingresses.push(parsed.data);
          else
            errors.push(
              `${input.name}: Ingress is not networking.k8s.io/v1 or is malformed: ${formatIssues(parsed.error.issues).join("; ")}`,
            );
        } else if (kind === "Service" && apiVersion === "v1") {
          const parsed = serviceSchema.safeParse(doc);
          if (parsed.success)
            services.set(`${parsed.data.metadata.namespace}/${parsed.data.metadata.name}`, parsed.data);
        }
      }
    }
  }

  let dropped = false;
  const out: string[] = [];
  for (const ingress of ingresses) {
    const { namespace, name } = ingress.metadata;
    const { documents, notices } = translateIngress(ingress, (ns, n) => services.get(`${ns}/${n}`));
    const header = [
      `# Ingress ${namespace}/${name} → ${documents.length} WebSocketRoute(s)`,
      ...notices.map((n) => `# dropped: ${n.message.replace(/\s*\n\s*/g, " ")}`),
    ];
    if (notices.length > 0) dropped = true;
    if (documents.length === 0) {
      out.push(`${header.join("\n")}\n`);
      continue;
    }
    documents.forEach((doc, i) => {
      const metadata = { name: doc.metadata.name, namespace: doc.metadata.namespace };
      const body = stringify({ ...doc, metadata }, { lineWidth: 0 });
      out.push(i === 0 ? `${header.join("\n")}\n${body}` : body);
    });
  }
  return { output: out.join("---\n"), errors, dropped, ingresses: ingresses.length };
}
