/**
 * The endpoint path (DESIGN §2.6, as Contour does): when nothing but EndpointSlices
 * changed since the last publish, routes are not recompiled. Only the backends of the
 * Services whose slices changed get their endpoints again ({@link resolveEndpoints}, the
 * code compile() uses), their routes are rebuilt around the new backends, their status
 * counts and Programmed condition are recomputed, and the table reuses the previous
 * matcher ({@link withEndpoints}). Everything else is the previous result.
 *
 * An {@link EndpointIndex} is built from a full compile (its snapshot and result) and
 * answers each batch of slice changes in time proportional to the change, not to the
 * store. The result is the one compile() gives for the same store (the property test in
 * endpoint-path.test.ts compares them); whenever that cannot be assured — a route that is
 * not served depends on a changed Service, two routes share a key — it answers undefined
 * and the caller compiles.
 */
import { ConditionType, Reason } from "../api/conditions.js";
import { SERVICE_NAME_LABEL, type EndpointSlice, type Service } from "../api/objects.js";
import type { CompileResult } from "./compile.js";
import { countEndpoints, programmedByEndpoints, resolveEndpoints } from "./endpoints.js";
import { isInvalidRoute, type Snapshot } from "./store.js";
import { withEndpoints, type Backend, type Route, type RouteDiagnostics, type Rule } from "./table.js";
import { backendNamespace } from "./translated.js";

/** Slice changes by `namespace/name`: the slice as it is now, or undefined when it was removed. */
export type SliceChanges = ReadonlyMap<string, EndpointSlice | undefined>;

/** `namespace/service` of the Service a slice belongs to; undefined when unlabelled. */
function serviceOf(slice: EndpointSlice): string | undefined {
  const service = slice.metadata.labels[SERVICE_NAME_LABEL];
  return service ? `${slice.metadata.namespace}/${service}` : undefined;
}

function pushTo<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** What the endpoint path keeps between publishes. */
export class EndpointIndex {
  #result: CompileResult;
  /** Every labelled slice, by its Service, then by `namespace/name`. */
  readonly #slices = new Map<string, Map<string, EndpointSlice>>();
  /** The Service each slice belongs to (only labelled slices). */
  readonly #serviceOfSlice = new Map<string, string>();
  readonly #services = new Map<string, Service>();
  /** Positions in the table's routes of the routes with a backend of each Service. */
  readonly #routesByService = new Map<string, number[]>();
  /** Positions in the diagnostics, by `namespace/name`. */
  readonly #diagnostics = new Map<string, number>();
  /** Services some route that is not served takes its status counts from; `all` when unknown. */
  readonly #unserved: Set<string> | "all";

  private constructor(snapshot: Snapshot, result: CompileResult) {
    this.#result = result;
    for (const slice of snapshot.endpointSlices) {
      const service = serviceOf(slice);
      if (service === undefined) continue;
      const key = `${slice.metadata.namespace}/${slice.metadata.name}`;
      this.#serviceOfSlice.set(key, service);
      let bucket = this.#slices.get(service);
      if (!bucket) this.#slices.set(service, (bucket = new Map()));
      bucket.set(key, slice);
    }
    for (const s of snapshot.services) this.#services.set(`${s.metadata.namespace}/${s.metadata.name}`, s);
    const keys = new Set<string>();
    result.table.routes.forEach((route, position) => {
      keys.add(route.key);
      const services = new Set<string>();
      for (const rule of route.rules) {
        for (const backend of rule.backends) services.add(backend.key.slice(0, backend.key.lastIndexOf(":")));
      }
      for (const service of services) pushTo(this.#routesByService, service, position);
    });
    result.diagnostics.forEach((d, position) => this.#diagnostics.set(`${d.namespace}/${d.name}`, position));
    const unique =
      keys.size === result.table.routes.length && this.#diagnostics.size === result.diagnostics.length;
    this.#unserved = unique ? unservedServices(snapshot, result, keys) : "all";
  }

  /** The index of a full compile: `result` is compile(`snapshot`). */
  static of(snapshot: Snapshot, result: CompileResult): EndpointIndex {
    return new EndpointIndex(snapshot, result);
  }

  /**
   * The result compile() would give, with `generation`, once `changes` are applied to the
   * store this index describes; undefined when this path cannot vouch for it (compile, and
   * build a new index from that). The index then describes the changed store.
   */
  apply(changes: SliceChanges, generation: number): CompileResult | undefined {
    const changed = this.#applySlices(changes);
    if (this.#unserved === "all" && changed.size > 0) return undefined;
    for (const service of changed) if ((this.#unserved as Set<string>).has(service)) return undefined;

    const old = this.#result;
    const routes = [...old.table.routes];
    const diagnostics = [...old.diagnostics];
    const rebuilt = new Set<number>();
    for (const service of changed) for (const p of this.#routesByService.get(service) ?? []) rebuilt.add(p);
    for (const position of rebuilt) {
      const route = this.#rebuild(routes[position] as Route, changed);
      if (route === undefined) return undefined;
      routes[position] = route;
      const at = this.#diagnostics.get(route.key);
      if (at === undefined) return undefined;
      diagnostics[at] = rediagnosed(diagnostics[at] as RouteDiagnostics, route);
    }
    const table = withEndpoints(old.table, generation, routes);
    if (!table) return undefined;
    this.#result = { ...old, table, diagnostics };
    return this.#result;
  }

  /** Records the slice changes; returns the Services whose slices changed. */
  #applySlices(changes: SliceChanges): Set<string> {
    const changed = new Set<string>();
    for (const [key, slice] of changes) {
      const was = this.#serviceOfSlice.get(key);
      if (was !== undefined) {
        changed.add(was);
        this.#slices.get(was)?.delete(key);
        this.#serviceOfSlice.delete(key);
      }
      const service = slice && serviceOf(slice);
      if (slice === undefined || service === undefined) continue;
      changed.add(service);
      this.#serviceOfSlice.set(key, service);
      let bucket = this.#slices.get(service);
      if (!bucket) this.#slices.set(service, (bucket = new Map()));
      bucket.set(key, slice);
    }
    return changed;
  }

  /** `route` with the backends of changed Services resolved again; undefined when one no longer resolves. */
  #rebuild(route: Route, changed: ReadonlySet<string>): Route | undefined {
    const rules: Rule[] = [];
    for (const rule of route.rules) {
      let backends: Backend[] | undefined;
      for (let i = 0; i < rule.backends.length; i++) {
        const backend = rule.backends[i] as Backend;
        const colon = backend.key.lastIndexOf(":");
        const service = backend.key.slice(0, colon);
        if (!changed.has(service)) continue;
        const port = Number(backend.key.slice(colon + 1));
        const servicePort = this.#services
          .get(service)
          ?.spec.ports.find((p) => p.port === port && p.protocol === "TCP");
        // compile() resolved it from this Service, which no slice change removes.
        if (!servicePort) return undefined;
        const slices = [...(this.#slices.get(service)?.values() ?? [])];
        backends ??= [...rule.backends];
        backends[i] = Object.freeze({
          ...backend,
          endpoints: resolveEndpoints(backend.key, servicePort.name ?? "", backend.weight, slices),
        });
      }
      rules.push(
        backends === undefined ? rule : Object.freeze({ ...rule, backends: Object.freeze(backends) }),
      );
    }
    return Object.freeze({ ...route, rules: Object.freeze(rules) });
  }
}

/**
 * The Services whose slices feed the status of a route that is claimed but not served
 * (its counts come from its spec, which the table does not hold); `all` when a route
 * translated from another kind is among them (its refs are not in the snapshot's routes).
 */
function unservedServices(
  snapshot: Snapshot,
  result: CompileResult,
  served: ReadonlySet<string>,
): Set<string> | "all" {
  const unserved = new Set<string>();
  for (const d of result.diagnostics) {
    const key = `${d.namespace}/${d.name}`;
    if (!d.claimed || served.has(key)) continue;
    if (d.origin !== undefined) return "all";
    unserved.add(key);
  }
  const services = new Set<string>();
  for (const route of snapshot.routes) {
    if (isInvalidRoute(route)) continue;
    const { namespace, name } = route.metadata;
    if (!unserved.has(`${namespace}/${name}`)) continue;
    for (const rule of route.spec.rules) {
      for (const ref of rule.backendRefs) services.add(`${backendNamespace(ref, namespace)}/${ref.name}`);
    }
  }
  return services;
}

/** A served route's status with its endpoint counts and Programmed condition from its new endpoints. */
function rediagnosed(d: RouteDiagnostics, route: Route): RouteDiagnostics {
  const counts = countEndpoints(route.rules);
  // Programmed comes from the endpoints unless it is held at Pending (auth keys
  // unresolved), which endpoints do not change.
  const conditions = d.conditions.map((c) =>
    c.type === ConditionType.Programmed && c.reason !== Reason.Pending ? programmedByEndpoints(counts) : c,
  );
  return { ...d, conditions, endpoints: { ready: counts.ready, total: counts.total } };
}
