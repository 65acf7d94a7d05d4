/**
 * `wsgate convert --to gateway-api`: WebSocketRoutes (written, or translated from
 * Ingresses) → one GatewayClass, one Gateway per namespace served by wsgate, and per route
 * an HTTPRoute for the routing plus a WebSocketPolicy for the WebSocket behaviour. A route's
 * `tls.secretName` becomes an HTTPS listener per hostname on its namespace's Gateway. What
 * Gateway API cannot say is reported as dropped, never left out silently.
 */
import { stringify } from "yaml";
import { GATEWAY_API_VERSION, GATEWAY_GROUP } from "../api/gateway-api.js";
import { ROUTE_API_VERSION, ROUTE_BEHAVIOUR_FIELDS } from "../api/route.js";
import { POLICY_KIND } from "../api/websocket-policy.js";

/** The GatewayClass and Gateways the output defines, by these names. */
export const CONVERTED_CLASS = "wsgate";
export const CONVERTED_GATEWAY = "wsgate";
const CONTROLLER = "wsgate.io/gateway-controller";

/** A WebSocketRoute as written (no defaults filled in), with where it came from. */
export interface RouteToConvert {
  /** `Ingress ns/name` or `WebSocketRoute ns/name`, for the comment above its documents. */
  readonly source: string;
  readonly metadata: { readonly name: string; readonly namespace: string };
  readonly spec: Readonly<Record<string, unknown>>;
  /** What was dropped before (an Ingress's annotations): repeated in the comment. */
  readonly dropped?: readonly string[];
}

interface WrittenRule {
  matches?: { path?: { type?: string; value?: string } }[];
  backendRefs?: { name: string; port: number; weight?: number; backendTLS?: unknown }[];
}

type Doc = Record<string, unknown>;

interface Listener {
  name: string;
  port: number;
  protocol: "HTTP" | "HTTPS";
  hostname?: string;
  tls?: { mode: "Terminate"; certificateRefs: { name: string }[] };
  allowedRoutes: { namespaces: { from: "Same" } };
}

/** A listener name (Gateway API SectionName: a DNS subdomain) for an HTTPS hostname. */
function listenerName(hostname: string | undefined): string {
  if (hostname === undefined) return "https";
  return `https-${hostname.startsWith("*.") ? `wildcard${hostname.slice(1)}` : hostname}`.slice(0, 253);
}

function yamlOf(doc: Doc): string {
  return stringify(doc, { lineWidth: 0 });
}

/** The documents for `routes`, as YAML, and whether anything was dropped. */
export function convertToGatewayApi(routes: readonly RouteToConvert[]): { output: string; dropped: boolean } {
  const gateways = new Map<string, Listener[]>();
  const sections: string[] = [];
  let dropped = false;

  for (const route of routes) {
    const { name, namespace } = route.metadata;
    const spec = route.spec;
    const notices = [...(route.dropped ?? [])];
    let listeners = gateways.get(namespace);
    if (!listeners) {
      listeners = [
        { name: "http", port: 80, protocol: "HTTP", allowedRoutes: { namespaces: { from: "Same" } } },
      ];
      gateways.set(namespace, listeners);
    }
    const hostnames = (spec.hostnames as string[] | undefined) ?? [];
    const tls = spec.tls as { secretName: string } | undefined;
    if (tls) {
      for (const hostname of hostnames.length > 0 ? hostnames : [undefined]) {
        const section = listenerName(hostname);
        const existing = listeners.find((l) => l.name === section);
        const secret = existing?.tls?.certificateRefs[0]?.name;
        if (existing && secret !== tls.secretName) {
          notices.push(
            `tls.secretName ${tls.secretName} for ${hostname ?? "any host"}: the Gateway's listener ${section} already serves Secret ${secret}`,
          );
        } else if (!existing) {
          listeners.push({
            name: section,
            port: 443,
            protocol: "HTTPS",
            ...(hostname === undefined ? {} : { hostname }),
            tls: { mode: "Terminate", certificateRefs: [{ name: tls.secretName }] },
            allowedRoutes: { namespaces: { from: "Same" } },
          });
        }
      }
    }
    if (spec.allowEncodedSlashes === true)
      notices.push(
        "allowEncodedSlashes: Gateway API has no equivalent; wsgate answers 400 to paths with %2F",
      );

    const rules = ((spec.rules as WrittenRule[] | undefined) ?? []).map((rule, i) => ({
      ...(rule.matches && rule.matches.length > 0
        ? {
            matches: rule.matches.map((m) => ({
              path: { type: m.path?.type ?? "PathPrefix", value: m.path?.value ?? "/" },
            })),
          }
        : {}),
      backendRefs: (rule.backendRefs ?? []).map((ref, j) => {
        if (ref.backendTLS !== undefined)
          notices.push(
            `rules[${i}].backendRefs[${j}].backendTLS: write a BackendTLSPolicy for Service ${ref.name} (Gateway API's TLS to backends)`,
          );
        return {
          name: ref.name,
          port: ref.port,
          ...(ref.weight === undefined ? {} : { weight: ref.weight }),
        };
      }),
    }));
    const httpRoute: Doc = {
      apiVersion: GATEWAY_API_VERSION,
      kind: "HTTPRoute",
      metadata: { name, namespace },
      spec: {
        parentRefs: [{ name: CONVERTED_GATEWAY }],
        ...(hostnames.length > 0 ? { hostnames } : {}),
        rules,
      },
    };
    const behaviour: Doc = {};
    for (const field of ROUTE_BEHAVIOUR_FIELDS) if (spec[field] !== undefined) behaviour[field] = spec[field];
    const documents = [httpRoute];
    if (Object.keys(behaviour).length > 0) {
      documents.push({
        apiVersion: ROUTE_API_VERSION,
        kind: POLICY_KIND,
        metadata: { name, namespace },
        spec: { targetRefs: [{ group: GATEWAY_GROUP, kind: "HTTPRoute", name }], ...behaviour },
      });
    }
    if (notices.length > 0) dropped = true;
    const header = [
      `# ${route.source} → HTTPRoute${documents.length > 1 ? " + WebSocketPolicy" : ""} ${namespace}/${name}`,
      ...notices.map((n) => `# dropped: ${n.replace(/\s*\n\s*/g, " ")}`),
    ];
    sections.push(`${header.join("\n")}\n${documents.map(yamlOf).join("---\n")}`);
  }

  if (routes.length === 0) return { output: "", dropped };
  const infrastructure: Doc[] = [
    {
      apiVersion: GATEWAY_API_VERSION,
      kind: "GatewayClass",
      metadata: { name: CONVERTED_CLASS },
      spec: { controllerName: CONTROLLER },
    },
    ...[...gateways].map(([namespace, listeners]) => ({
      apiVersion: GATEWAY_API_VERSION,
      kind: "Gateway",
      metadata: { name: CONVERTED_GATEWAY, namespace },
      spec: { gatewayClassName: CONVERTED_CLASS, listeners },
    })),
  ];
  const head = `# Served by wsgate's own listeners (port 80 → http, 443 → https)\n${infrastructure.map(yamlOf).join("---\n")}`;
  return { output: [head, ...sections].join("---\n"), dropped };
}
