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
import { ROUTE_KIND, webSocketRouteSchema } from "../api/route.js";
import { translateIngress } from "../routing/ingress/translate.js";
import { convertToGatewayApi, type RouteToConvert } from "./convert-gateway-api.js";

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

/** What `--to` names: WebSocketRoutes (the default), or Gateway API objects + WebSocketPolicies. */
export type ConvertTarget = "websocketroute" | "gateway-api";

function documentsOf(value: unknown): unknown[] {
  const doc = value as { kind?: unknown; items?: unknown };
  return doc?.kind === "List" && Array.isArray(doc.items) ? doc.items : [value];
}

/**
 * Converts every Ingress of the inputs, in input order; with `to: "gateway-api"`, the
 * WebSocketRoutes of the inputs too (after the Ingresses), see convert-gateway-api.ts.
 */
export function convertManifests(
  inputs: readonly ConvertInput[],
  to: ConvertTarget = "websocketroute",
): ConvertResult {
  const errors: string[] = [];
  const ingresses: Ingress[] = [];
  const routes: RouteToConvert[] = [];
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
        } else if (kind === ROUTE_KIND && to === "gateway-api") {
          const parsed = webSocketRouteSchema.safeParse(doc);
          if (!parsed.success) {
            errors.push(
              `${input.name}: invalid WebSocketRoute: ${formatIssues(parsed.error.issues).join("; ")}`,
            );
            continue;
          }
          // As written: the defaults the schema fills in are not repeated in the policy.
          const { name, namespace } = parsed.data.metadata;
          const spec = (doc as { spec: Record<string, unknown> }).spec;
          routes.push({ source: `WebSocketRoute ${namespace}/${name}`, metadata: { name, namespace }, spec });
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
  const fromIngresses: RouteToConvert[] = [];
  for (const ingress of ingresses) {
    const { namespace, name } = ingress.metadata;
    const { documents, notices } = translateIngress(ingress, (ns, n) => services.get(`${ns}/${n}`));
    if (to === "gateway-api") {
      documents.forEach((doc, i) =>
        fromIngresses.push({
          source: `Ingress ${namespace}/${name}`,
          metadata: { name: String(doc.metadata.name), namespace: String(doc.metadata.namespace) },
          spec: doc.spec,
          // The Ingress's own notices go with its first route.
          ...(i === 0 ? { dropped: notices.map((n) => n.message) } : {}),
        }),
      );
      if (documents.length === 0 && notices.length > 0) {
        dropped = true;
        out.push(
          `# Ingress ${namespace}/${name} → nothing\n${notices.map((n) => `# dropped: ${n.message.replace(/\s*\n\s*/g, " ")}`).join("\n")}\n`,
        );
      }
      continue;
    }
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
  if (to === "gateway-api") {
    const converted = convertToGatewayApi([...fromIngresses, ...routes]);
    return {
      output: [...out, ...(converted.output ? [converted.output] : [])].join("---\n"),
      errors,
      dropped: dropped || converted.dropped,
      ingresses: ingresses.length + routes.length,
    };
  }
  return { output: out.join("---\n"), errors, dropped, ingresses: ingresses.length };
}
