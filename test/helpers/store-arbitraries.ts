/**
 * fast-check generators of a routing store: Services, EndpointSlices and WebSocketRoutes
 * drawn from small name pools, so that generated objects collide (shared addresses,
 * conflicting hostnames, slices relabelled to another Service, refs to missing Services).
 * The compile property tests (compile-memo, endpoint-path) draw their stores from here;
 * each picks its pools and builds its own changes on top.
 */
import fc from "fast-check";
import { parseObject } from "../../src/api/parse.js";
import { ObjectStore, type StoredObject } from "../../src/routing/store.js";

/** The store object of a generated document; throws if the generator made an invalid one. */
export function parsedObject(doc: unknown): StoredObject {
  const result = parseObject(doc);
  if (result.outcome !== "ok") throw new Error(`generated object invalid: ${JSON.stringify(result)}`);
  return result.object;
}

/** The name pools a store is drawn from: smaller pools, more collisions. */
export interface StorePools {
  readonly namespaces: readonly string[];
  readonly services: readonly string[];
  readonly sliceNames: readonly string[];
  readonly routeNames: readonly string[];
  readonly hosts: readonly string[];
  /** Route creation times are 0..maxAge seconds into 2026: equal ages happen. */
  readonly maxAge: number;
  /** The Service port layouts to draw (see {@link serviceDoc}). */
  readonly servicePorts: readonly ServicePorts[];
}

/** `named`: ports ws 80 and alt 81; `unnamed`: one unnamed 80; `tls`: ws 80 as `kubernetes.io/wss`. */
export type ServicePorts = "named" | "unnamed" | "tls";

export interface EndpointSpec {
  readonly address: string;
  readonly ready: boolean | undefined;
  readonly terminating: boolean | undefined;
}

export interface SliceSpec {
  readonly namespace: string;
  readonly name: string;
  /** The Service it is labelled with; none: a slice no Service owns. */
  readonly service: string | undefined;
  /** "" for an unnamed port. */
  readonly portName: string;
  readonly port: number;
  readonly endpoints: readonly EndpointSpec[];
}

export interface ServiceSpec {
  readonly namespace: string;
  readonly name: string;
  readonly ports: ServicePorts;
}

export interface BackendRefSpec {
  readonly name: string;
  readonly port: number;
  readonly weight: number;
}

export interface RouteSpec {
  readonly namespace: string;
  readonly name: string;
  readonly hostname: string;
  /** The first rule's PathPrefix; rule i > 0 matches Exact `/ws/i`. */
  readonly path: string;
  /** Each rule's backendRefs. */
  readonly rules: readonly (readonly BackendRefSpec[])[];
  readonly age: number;
}

/** The generators of one set of pools. */
export interface StoreArbitraries {
  readonly slice: fc.Arbitrary<SliceSpec>;
  readonly service: fc.Arbitrary<ServiceSpec>;
  readonly route: fc.Arbitrary<RouteSpec>;
}

/** Generators drawing from `pools`. */
export function storeArbitraries(pools: StorePools): StoreArbitraries {
  const endpoint = fc.record({
    address: fc.constantFrom("10.0.0.1", "10.0.0.2", "10.0.0.3", "fd00::1"),
    ready: fc.option(fc.boolean(), { nil: undefined }),
    terminating: fc.option(fc.boolean(), { nil: undefined }),
  });
  const slice = fc.record({
    namespace: fc.constantFrom(...pools.namespaces),
    name: fc.constantFrom(...pools.sliceNames),
    service: fc.option(fc.constantFrom(...pools.services), { nil: undefined }),
    portName: fc.constantFrom("ws", "alt", ""),
    port: fc.constantFrom(8080, 9090),
    endpoints: fc.array(endpoint, { maxLength: 3 }),
  });
  const service = fc.record({
    namespace: fc.constantFrom(...pools.namespaces),
    name: fc.constantFrom(...pools.services),
    ports: fc.constantFrom(...pools.servicePorts),
  });
  const backendRef = fc.record({
    name: fc.constantFrom(...pools.services, "missing"),
    port: fc.constantFrom(80, 81),
    weight: fc.constantFrom(0, 1, 3),
  });
  const route = fc.record({
    namespace: fc.constantFrom(...pools.namespaces),
    name: fc.constantFrom(...pools.routeNames),
    hostname: fc.constantFrom(...pools.hosts),
    path: fc.constantFrom("/", "/ws"),
    rules: fc.array(fc.array(backendRef, { minLength: 1, maxLength: 2 }), { minLength: 1, maxLength: 2 }),
    age: fc.integer({ min: 0, max: pools.maxAge }),
  });
  return { slice, service, route };
}

/** The EndpointSlice document of `s`. */
export function sliceDoc(s: SliceSpec): unknown {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: s.name,
      namespace: s.namespace,
      labels: s.service ? { "kubernetes.io/service-name": s.service } : {},
    },
    addressType: s.endpoints.some((e) => e.address.includes(":")) ? "IPv6" : "IPv4",
    ports: [{ ...(s.portName ? { name: s.portName } : {}), port: s.port, protocol: "TCP" }],
    endpoints: s.endpoints.map((e) => ({
      addresses: [e.address],
      conditions: {
        ...(e.ready === undefined ? {} : { ready: e.ready }),
        ...(e.terminating === undefined ? {} : { terminating: e.terminating }),
      },
    })),
  };
}

/** The Service document of `s`. */
export function serviceDoc(s: ServiceSpec): unknown {
  const ports =
    s.ports === "named"
      ? [
          { name: "ws", port: 80 },
          { name: "alt", port: 81 },
        ]
      : s.ports === "tls"
        ? [{ name: "ws", port: 80, appProtocol: "kubernetes.io/wss" }]
        : [{ port: 80 }];
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: s.name, namespace: s.namespace },
    spec: { ports },
  };
}

/** What a route document may add to its {@link RouteSpec}. */
export interface RouteExtras {
  /** In another ingress class: not ours. */
  readonly otherClass?: boolean;
  /** `timeouts.idle`. */
  readonly idle?: string;
  /** `metadata.generation`. */
  readonly generation?: number;
}

/** The WebSocketRoute document of `r`. */
export function routeDoc(r: RouteSpec & RouteExtras): unknown {
  return {
    apiVersion: "wsgate.io/v1alpha1",
    kind: "WebSocketRoute",
    metadata: {
      name: r.name,
      namespace: r.namespace,
      ...(r.generation === undefined ? {} : { generation: r.generation }),
      creationTimestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, r.age)).toISOString(),
    },
    spec: {
      ...(r.otherClass ? { ingressClassName: "other" } : {}),
      hostnames: [r.hostname],
      ...(r.idle === undefined ? {} : { timeouts: { idle: r.idle } }),
      rules: r.rules.map((refs, i) => ({
        matches: [{ path: { type: i === 0 ? "PathPrefix" : "Exact", value: i === 0 ? r.path : `/ws/${i}` } }],
        backendRefs: refs,
      })),
    },
  };
}

/** A store holding the generated Services, EndpointSlices and routes (later ones replace earlier ones of one name). */
export function storeOf(
  services: readonly ServiceSpec[],
  slices: readonly SliceSpec[],
  routes: readonly (RouteSpec & RouteExtras)[],
): ObjectStore {
  const store = new ObjectStore();
  for (const s of services) store.upsert(parsedObject(serviceDoc(s)));
  for (const s of slices) store.upsert(parsedObject(sliceDoc(s)));
  for (const r of routes) store.upsert(parsedObject(routeDoc(r)));
  return store;
}
