/**
 * compile() hands back what it compiled last time for objects that did not change
 * (compile-memo.ts). That must never be visible: fast-check builds a store (Services with
 * named, unnamed and TLS ports, EndpointSlices that share addresses, routes with
 * conflicting hostnames, other classes, missing Services, weights 0..3), then changes it
 * one object at a time — an edited or re-applied route, a Service, a slice, a removal —
 * and after each change compiles it twice: as stored (the memo warm from every compile
 * before) and as a deep copy (every object new: nothing memoized). Both must be equal.
 *
 * The endpoint resolution and counting were rewritten for speed; the versions they
 * replaced are kept here as the reference they must agree with.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { EndpointSlice } from "../api/objects.js";
import { forgetLastIndexes } from "./compile-memo.js";
import { compile, type CompileResult } from "./compile.js";
import { backendEndpoints, countEndpoints, resolveEndpoints, weighEndpoints } from "./endpoints.js";
import {
  parsedObject as parsed,
  routeDoc,
  serviceDoc,
  sliceDoc,
  storeArbitraries,
  storeOf,
  type RouteExtras,
  type RouteSpec,
} from "../../test/helpers/store-arbitraries.js";
import { comparable as comparableBy, forgetMatcher } from "../../test/helpers/compile-view.js";
import { ObjectStore, type Snapshot } from "./store.js";
import type { Backend, Endpoint, Rule } from "./table.js";

const OPTIONS = { ingressClass: "wsgate" } as const;
const NAMESPACES = ["a", "b"] as const;
const SERVICES = ["s0", "s1"] as const;
const HOSTS = ["x.test", "y.test", "*.w.test"] as const;
const PATHS = ["/", "/ws", "/ws/1", "/other"] as const;

const {
  slice,
  service,
  route: routeSpec,
} = storeArbitraries({
  namespaces: NAMESPACES,
  services: SERVICES,
  sliceNames: ["e0", "e1", "e2"],
  routeNames: ["r0", "r1", "r2", "r3"],
  hosts: HOSTS,
  maxAge: 3,
  servicePorts: ["named", "unnamed", "tls"],
});

/** A route that may be of another class, with either idle timeout: an edit that changes settings. */
const route = fc
  .record({ spec: routeSpec, otherClass: fc.boolean(), idle: fc.constantFrom("1h", "30s") })
  .map(({ spec, ...extras }): RouteSpec & RouteExtras => ({ ...spec, ...extras, generation: 1 }));

/** One change to the store: an object upserted (new, edited, or the same content again), or removed. */
const change = fc.oneof(
  route.map((r) => ({ doc: routeDoc(r) })),
  service.map((s) => ({ doc: serviceDoc(s) })),
  slice.map((s) => ({ doc: sliceDoc(s) })),
  fc
    .record({
      kind: fc.constantFrom("WebSocketRoute", "Service", "EndpointSlice"),
      namespace: fc.constantFrom(...NAMESPACES),
      name: fc.constantFrom("r0", "r1", "s0", "s1", "e0", "e1"),
    })
    .map((remove) => ({ remove })),
);

/** Every object of the snapshot a new copy: what nothing was memoized for. */
function copied(snapshot: Snapshot): Snapshot {
  return Object.fromEntries(
    Object.entries(snapshot).map(([kind, list]) => [
      kind,
      (list as unknown[]).map((o) => structuredClone(o)),
    ]),
  ) as unknown as Snapshot;
}

const PROBES = { hosts: HOSTS, paths: PATHS };
const comparable = (result: CompileResult): unknown => comparableBy(result, PROBES);

/** The endpoint resolution compile() had before it was split and memoized: the reference. */
function referenceResolveEndpoints(
  backend: string,
  portName: string,
  weight: number,
  slices: readonly EndpointSlice[],
): readonly Endpoint[] {
  type Found = { address: string; port: number; ready: boolean; terminating: boolean };
  const byAddress = new Map<string, Found>();
  for (const slice of slices) {
    if (slice.addressType === "FQDN") continue;
    const slicePort = slice.ports.find(
      (p) => (p.name ?? "") === portName && p.protocol === "TCP" && p.port !== undefined,
    );
    if (!slicePort) continue;
    for (const ep of slice.endpoints) {
      const address = ep.addresses[0] as string;
      const terminating = ep.conditions.terminating === true;
      const ready = ep.conditions.ready !== false && !terminating;
      const id = `${backend}@${address.includes(":") ? `[${address}]` : address}:${slicePort.port}`;
      const seen = byAddress.get(id);
      if (!seen || (ready && !seen.ready) || (ready === seen.ready && terminating && !seen.terminating)) {
        byAddress.set(id, { address, port: slicePort.port as number, ready, terminating });
      }
    }
  }
  const ids = [...byAddress.keys()].sort();
  const readyCount = ids.filter((id) => byAddress.get(id)?.ready).length;
  return ids.map((id) => {
    const e = byAddress.get(id) as Found;
    return { id, backend, ...e, weight: e.ready && readyCount > 0 ? weight / readyCount : 0 };
  });
}

/** The endpoint counting compile() had before: one Set per count. */
function referenceCountEndpoints(rules: readonly Rule[]): { ready: number; total: number; routable: number } {
  const ready = new Set<string>();
  const routable = new Set<string>();
  const all = new Set<string>();
  for (const rule of rules) {
    for (const backend of rule.backends) {
      for (const e of backend.endpoints) {
        all.add(e.id);
        if (e.ready) ready.add(e.id);
        if (e.ready && backend.weight > 0) routable.add(e.id);
      }
    }
  }
  return { ready: ready.size, total: all.size, routable: routable.size };
}

describe("compile()'s memo of unchanged objects", () => {
  it("gives the result a compile from scratch gives after any sequence of changes, so that reusing last time's pieces is never visible", () => {
    let compiles = 0;
    fc.assert(
      fc.property(
        fc.array(service, { maxLength: 4 }),
        fc.array(slice, { maxLength: 4 }),
        fc.array(route, { minLength: 1, maxLength: 4 }),
        fc.array(change, { minLength: 1, maxLength: 8 }),
        (services, slices, routes, changes) => {
          const store = storeOf(services, slices, routes);
          let generation = 1;
          compile(store.snapshot(), { ...OPTIONS, generation });
          for (const c of changes) {
            if ("doc" in c) store.upsert(parsed(c.doc));
            else store.remove(c.remove.kind, c.remove.namespace, c.remove.name);
            generation++;
            const snapshot = store.snapshot();
            const memoized = compile(snapshot, { ...OPTIONS, generation });
            forgetMatcher();
            forgetLastIndexes();
            const fresh = compile(copied(snapshot), { ...OPTIONS, generation });
            expect(comparable(memoized)).toEqual(comparable(fresh));
            compiles++;
          }
        },
      ),
      { numRuns: 400 },
    );
    expect(compiles).toBeGreaterThan(300);
  });

  it("hands back the same route objects for routes whose inputs did not change, and new ones for a changed route, so that workers receive only what changed", () => {
    const store = new ObjectStore();
    const fixedRoute = (name: string, idle: string): RouteSpec & RouteExtras => ({
      namespace: "a",
      name,
      hostname: name === "r0" ? "x.test" : "y.test",
      path: "/",
      otherClass: false,
      idle,
      rules: [[{ name: "s0", port: 80, weight: 1 }], [{ name: "s0", port: 80, weight: 3 }]],
      age: 0,
      generation: 1,
    });
    store.upsert(parsed(serviceDoc({ namespace: "a", name: "s0", ports: "named" })));
    store.upsert(
      parsed(
        sliceDoc({
          namespace: "a",
          name: "e0",
          service: "s0",
          portName: "ws",
          port: 8080,
          endpoints: [{ address: "10.0.0.1", ready: true, terminating: undefined }],
        }),
      ),
    );
    store.upsert(parsed(routeDoc(fixedRoute("r0", "1h"))));
    store.upsert(parsed(routeDoc(fixedRoute("r1", "1h"))));
    const first = compile(store.snapshot(), { ...OPTIONS, generation: 1 });
    // An unrelated Service re-applied: a full compile, every route the same object.
    store.upsert(parsed(serviceDoc({ namespace: "b", name: "s1", ports: "named" })));
    const second = compile(store.snapshot(), { ...OPTIONS, generation: 2 });
    expect(second.table.routes).toHaveLength(2);
    second.table.routes.forEach((r, i) => expect(r).toBe(first.table.routes[i]));
    second.diagnostics.forEach((d, i) => expect(d).toBe(first.diagnostics[i]));
    // r1 edited: r1 is new, r0 stays.
    store.upsert(parsed(routeDoc(fixedRoute("r1", "30s"))));
    const third = compile(store.snapshot(), { ...OPTIONS, generation: 3 });
    expect(third.table.routes[0]).toBe(first.table.routes[0]);
    expect(third.table.routes[1]).not.toBe(first.table.routes[1]);
    expect(third.table.routes[1]?.settings.timeouts.idleMs).toBe(30_000);
    // Its Service's slices did not change: the endpoints are still shared.
    expect(third.table.routes[1]?.rules[0]?.backends[0]?.endpoints).toBe(
      first.table.routes[1]?.rules[0]?.backends[0]?.endpoints,
    );
  });

  it("resolves and counts endpoints as the code it replaced did, so that the faster resolution changes no table", () => {
    fc.assert(
      fc.property(
        fc.array(slice, { maxLength: 4 }),
        fc.constantFrom("ws", "alt", ""),
        fc.array(fc.tuple(fc.constantFrom("a/s0:80", "a/s0:81", "b/s1:80"), fc.constantFrom(0, 1, 3)), {
          maxLength: 4,
        }),
        (slices, portName, refs) => {
          const objects = slices.map((s) => parsed(sliceDoc(s)) as EndpointSlice);
          const backends: Backend[] = refs.map(([key, weight]) => {
            const endpoints = resolveEndpoints(key, portName, weight, objects);
            expect(endpoints).toEqual(referenceResolveEndpoints(key, portName, weight, objects));
            expect(weighEndpoints(key, backendEndpoints(key, portName, objects), weight)).toEqual(endpoints);
            return { key, weight, endpoints };
          });
          const rules: Rule[] = [{ key: "a/r#0", matches: [], backends }];
          expect(countEndpoints(rules)).toEqual(referenceCountEndpoints(rules));
        },
      ),
      { numRuns: 500 },
    );
  });
});
