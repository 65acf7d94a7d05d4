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
import { compile, type CompileResult } from "./compile.js";
import { EndpointIndex } from "./endpoint-path.js";
import { TableHolder } from "./holder.js";
import { Recompiler } from "./recompiler.js";
import {
  parsedObject,
  routeDoc,
  serviceDoc,
  sliceDoc,
  storeArbitraries,
  storeOf,
  type RouteExtras,
  type RouteSpec,
  type ServiceSpec,
  type SliceSpec,
} from "../../test/helpers/store-arbitraries.js";
import { comparable as comparableBy, served as servedBy } from "../../test/helpers/compile-view.js";
import { ObjectStore, type StoredObject } from "./store.js";
import type { RoutingTable } from "./table.js";

const OPTIONS = { ingressClass: "wsgate" } as const;
const NAMESPACES = ["a", "b"] as const;
const SERVICES = ["s0", "s1", "s2", "s3"] as const;
const HOSTS = ["x.test", "y.test", "*.w.test"] as const;
const PATHS = ["/", "/ws", "/ws/deep", "/other"] as const;

const { slice, service, route } = storeArbitraries({
  namespaces: NAMESPACES,
  services: SERVICES,
  sliceNames: ["e0", "e1", "e2", "e3", "e4", "e5"],
  routeNames: ["r0", "r1", "r2", "r3", "r4"],
  hosts: HOSTS,
  maxAge: 5,
  servicePorts: ["named", "unnamed"],
});

const sliceObject = (s: SliceSpec): StoredObject => parsedObject(sliceDoc(s));
const serviceObject = (s: ServiceSpec): StoredObject => parsedObject(serviceDoc(s));
const routeObject = (r: RouteSpec & RouteExtras): StoredObject => parsedObject(routeDoc(r));

/** One change to the EndpointSlices: upsert a (new or edited) slice, or remove one. */
const change = fc.oneof(
  slice.map((s) => ({ upsert: s })),
  fc
    .record({ namespace: fc.constantFrom(...NAMESPACES), name: fc.constantFrom("e0", "e1", "e2", "e3") })
    .map((remove) => ({ remove })),
);

const PROBES = { hosts: HOSTS, paths: PATHS };
const served = (table: RoutingTable): unknown => servedBy(table, PROBES);
const comparable = (result: CompileResult): unknown => comparableBy(result, PROBES);

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
          const store = storeOf(
            services,
            slices,
            routes.map((r, i) => ({ ...r, otherClass: i === 3 })),
          );
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
    store.upsert(serviceObject({ namespace: "a", name: "s0", ports: "named" }));
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
      store.upsert(serviceObject({ namespace: "a", name: "s0", ports: "unnamed" }));
      recompiler.compileNow();
      expectCompiled();
      expect(holder.current.match("x.test", "/")?.rule.backends[0]?.endpoints).toEqual([]);
    } finally {
      recompiler.stop();
    }
  });
});
