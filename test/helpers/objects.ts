/**
 * Builders for the Kubernetes objects tests feed to the store, as YAML-free
 * plain objects validated by the same parser the sources use.
 */
import { parseObject } from "../../src/api/parse.js";
import type { StoredObject } from "../../src/routing/store.js";

export interface EndpointSpec {
  readonly port: number;
  readonly address?: string;
  readonly ready?: boolean;
  readonly terminating?: boolean;
}

function parsed(doc: unknown): StoredObject {
  const result = parseObject(doc);
  if (result.outcome !== "ok") throw new Error(`test object invalid: ${JSON.stringify(result)}`);
  return result.object;
}

/**
 * A Service with one named port and one EndpointSlice per endpoint (each slice
 * has its own port number, so several local backends can stand for several pods).
 */
export function serviceWithEndpoints(
  namespace: string,
  name: string,
  endpoints: readonly EndpointSpec[],
  servicePort = 80,
): StoredObject[] {
  const objects: StoredObject[] = [
    parsed({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name, namespace },
      spec: { ports: [{ name: "ws", port: servicePort }] },
    }),
  ];
  endpoints.forEach((e, i) => {
    objects.push(
      parsed({
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: { name: `${name}-${i}`, namespace, labels: { "kubernetes.io/service-name": name } },
        addressType: "IPv4",
        ports: [{ name: "ws", port: e.port, protocol: "TCP" }],
        endpoints: [
          {
            addresses: [e.address ?? "127.0.0.1"],
            conditions: {
              ready: e.ready ?? true,
              ...(e.terminating === undefined ? {} : { terminating: e.terminating }),
            },
          },
        ],
      }),
    );
  });
  return objects;
}

export function route(namespace: string, name: string, spec: Record<string, unknown>): StoredObject {
  return parsed({
    apiVersion: "wsgate.io/v1alpha1",
    kind: "WebSocketRoute",
    metadata: { name, namespace },
    spec,
  });
}

/** A route sending every path (or `path`) of any host to one Service. */
export function simpleRoute(
  namespace: string,
  name: string,
  service: string,
  extra: Record<string, unknown> = {},
  path = "/",
): StoredObject {
  return route(namespace, name, {
    rules: [
      {
        matches: [{ path: { type: "PathPrefix", value: path } }],
        backendRefs: [{ name: service, port: 80 }],
      },
    ],
    ...extra,
  });
}
