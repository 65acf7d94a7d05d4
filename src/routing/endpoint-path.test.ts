/**
 * The endpoint path gives the table and status compile() gives. fast-check builds a store
 * of Services, EndpointSlices and WebSocketRoutes (conflicting hostnames, other classes,
 * missing Services, weight 0, named and unnamed ports, addresses shared by slices), then
 * changes EndpointSlices one at a time (edit, add, remove, relabel to another Service);
 * after each change, whenever the endpoint path answers, its result must equal a full
 * compile of the same snapshot.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { EndpointSlice } from "../api/objects.js";
import { parseObject } from "../api/parse.js";
import { compile, type CompileResult } from "./compile.js";
import { EndpointIndex } from "./endpoint-path.js";
import { TableHolder } from "./holder.js";
import { Recompiler } from "./recompiler.js";
import { ObjectStore, type StoredObject } from "./store.js";
import type { RoutingTable } from "./table.js";

const OPTIONS = { ingressClass: "wsgate" } as const;
const NAMESPACES = ["a", "b"] as const;
const SERVICES = ["s0", "s1", "s2", "s3"] as const;
const HOSTS = ["x.test", "y.test", "*.w.test"] as const;
const PATHS = ["/", "/ws", "/ws/deep", "/other"] as const;

function parsed(doc: unknown): StoredObject {
  const result = parseObject(doc);
  if (result.outcome !== "ok") throw new Error(`generated object invalid: ${JSON.stringify(result)}`);
  return result.object;
}

const endpoint = fc.record({
  address: fc.constantFrom("10.0.0.1", "10.0.0.2", "10.0.0.3", "fd00::1"),
  ready: fc.option(fc.boolean(), { nil: undefined }),
  terminating: fc.option(fc.boolean(), { nil: undefined }),
});

const slice = fc.record({
  namespace: fc.constantFrom(...NAMESPACES),
  name: fc.constantFrom("e0", "e1", "e2", "e3", "e4", "e5"),
  service: fc.option(fc.constantFrom(...SERVICES), { nil: undefined }),
  portName: fc.constantFrom("ws", "alt", ""),
  port: fc.constantFrom(8080, 9090),
  endpoints: fc.array(endpoint, { maxLength: 3 }),
});
type SliceSpec = typeof slice extends fc.Arbitrary<infer T> ? T : never;

function sliceObject(s: SliceSpec): StoredObject {
  return parsed({
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
  });
}

const service = fc.record({
  namespace: fc.constantFrom(...NAMESPACES),
  name: fc.constantFrom(...SERVICES),
  named: fc.boolean(),
});

function serviceObject(s: { namespace: string; name: string; named: boolean }): StoredObject {
  return parsed({
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: s.name, namespace: s.namespace },
    spec: {
      ports: s.named
        ? [
            { name: "ws", port: 80 },
            { name: "alt", port: 81 },
          ]
        : [{ port: 80 }],
    },
  });
}

const backendRef = fc.record({
  name: fc.constantFrom(...SERVICES, "missing"),
  port: fc.constantFrom(80, 81),
  weight: fc.constantFrom(0, 1, 3),
});

const route = fc.record({
  namespace: fc.constantFrom(...NAMESPACES),
  name: fc.constantFrom("r0", "r1", "r2", "r3", "r4"),
  hostname: fc.constantFrom(...HOSTS),
  path: fc.constantFrom("/", "/ws"),
  rules: fc.array(fc.array(backendRef, { minLength: 1, maxLength: 2 }), { minLength: 1, maxLength: 2 }),
  age: fc.integer({ min: 0, max: 5 }),
});

function routeObject(r: {
  namespace: string;
  name: string;
  hostname: string;
  otherClass: boolean;
  path: string;
  rules: { name: string; port: number; weight: number }[][];
  age: number;
}): StoredObject {
  return parsed({
    apiVersion: "wsgate.io/v1alpha1",
    kind: "WebSocketRoute",
    metadata: {
      name: r.name,
      namespace: r.namespace,
      creationTimestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, r.age)).toISOString(),
    },
    spec: {
      ...(r.otherClass ? { ingressClassName: "other" } : {}),
      hostnames: [r.hostname],
      rules: r.rules.map((refs, i) => ({
        matches: [{ path: { type: i === 0 ? "PathPrefix" : "Exact", value: i === 0 ? r.path : `/ws/${i}` } }],
        backendRefs: refs,
      })),
    },
  });
}

/** One change to the EndpointSlices: upsert a (new or edited) slice, or remove one. */
const change = fc.oneof(
  slice.map((s) => ({ upsert: s })),
  fc
    .record({ namespace: fc.constantFrom(...NAMESPACES), name: fc.constantFrom("e0", "e1", "e2", "e3") })
    .map((remove) => ({ remove })),
);

/** What a table serves: its routes (deep), certificates, identity headers, and where each probe leads. */
function served(table: RoutingTable): unknown {
  const probes: unknown[] = [];
  for (const host of [...HOSTS, "a.w.test", "nowhere.test"]) {
    for (const path of PATHS) {
      const m = table.match(host, path);
      probes.push(m ? { route: m.route, rule: m.rule } : null);
    }
  }
  return {
    generation: table.generation,
    routes: table.routes,
    certificates: [...table.certificates],
    defaultCertificate: table.defaultCertificate,
    identityHeaders: [...table.identityHeaders],
    probes,
  };
}

function comparable(result: CompileResult): unknown {
  return { ...result, table: served(result.table) };
}

describe("the endpoint path", () => {
  it("gives compile()'s table and status for any EndpointSlice change, so that skipping the route compile is never visible", () => {
    let taken = 0;
    let changes = 0;
    fc.assert(
      fc.property(
        fc.array(service, { maxLength: 5 }),
        fc.array(slice, { maxLength: 6 }),
        fc.array(route, { minLength: 1, maxLength: 5 }),
        fc.array(change, { minLength: 1, maxLength: 6 }),
        (services, slices, routes, changesList) => {
          const store = new ObjectStore();
          for (const s of services) store.upsert(serviceObject(s));
          for (const s of slices) store.upsert(sliceObject(s));
          routes.forEach((r, i) => store.upsert(routeObject({ ...r, otherClass: i === 3 })));
          let snapshot = store.snapshot();
          let index = EndpointIndex.of(snapshot, compile(snapshot, { ...OPTIONS, generation: 1 }));
          let generation = 1;
          for (const c of changesList) {
            const key =
              "upsert" in c
                ? `${c.upsert.namespace}/${c.upsert.name}`
                : `${c.remove.namespace}/${c.remove.name}`;
            if ("upsert" in c) store.upsert(sliceObject(c.upsert));
            else store.remove("EndpointSlice", c.remove.namespace, c.remove.name);
            const [namespace, name] = key.split("/") as [string, string];
            const now = store.get("EndpointSlice", namespace, name) as EndpointSlice | undefined;
            snapshot = store.snapshot();
            generation++;
            changes++;
            const full = compile(snapshot, { ...OPTIONS, generation });
            const fast = index.apply(new Map([[key, now]]), generation);
            if (fast !== undefined) {
              taken++;
              expect(comparable(fast)).toEqual(comparable(full));
            } else {
              index = EndpointIndex.of(snapshot, full);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
    // The path is not vacuous: most changes take it.
    expect(taken).toBeGreaterThan(changes / 2);
  });

  it("is what the Recompiler publishes for an EndpointSlice change, and a Service change is compiled, so that the table always follows the store", () => {
    const store = new ObjectStore();
    store.upsert(serviceObject({ namespace: "a", name: "s0", named: true }));
    const base = { namespace: "a", name: "e0", service: "s0", portName: "ws", port: 8080 } as const;
    store.upsert(
      sliceObject({ ...base, endpoints: [{ address: "10.0.0.1", ready: true, terminating: undefined }] }),
    );
    const rules = [[{ name: "s0", port: 80, weight: 1 }]];
    const r = { namespace: "a", hostname: "x.test", otherClass: false, path: "/", rules, age: 0 };
    store.upsert(routeObject({ ...r, name: "r0" }));
    store.upsert(routeObject({ ...r, name: "r1", hostname: "y.test" }));
    const holder = new TableHolder();
    const recompiler = new Recompiler(store, holder, { ...OPTIONS, holdOffMs: 60_000, maxDelayMs: 60_000 });
    recompiler.start();
    try {
      const expectCompiled = (): void => {
        const full = compile(store.snapshot(), { ...OPTIONS, generation: holder.current.generation });
        expect(served(holder.current)).toEqual(served(full.table));
        expect(holder.diagnostics).toEqual(full.diagnostics);
      };
      const before = holder.current;
      store.upsert(
        sliceObject({ ...base, endpoints: [{ address: "10.0.0.2", ready: true, terminating: undefined }] }),
      );
      recompiler.compileNow();
      expectCompiled();
      // Taken: both routes use the changed Service, and the matcher's routes are the new ones.
      expect(holder.current.match("x.test", "/")?.rule.backends[0]?.endpoints[0]?.address).toBe("10.0.0.2");
      expect(holder.current.routes[0]).not.toBe(before.routes[0]);

      // A Service change is compiled: its port's name changes which slice port is used.
      store.upsert(serviceObject({ namespace: "a", name: "s0", named: false }));
      recompiler.compileNow();
      expectCompiled();
      expect(holder.current.match("x.test", "/")?.rule.backends[0]?.endpoints).toEqual([]);
    } finally {
      recompiler.stop();
    }
  });
});
