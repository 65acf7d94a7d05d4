/**
 * What a backend's EndpointSlices make of it: its endpoints, and what they make of its
 * route (the endpoint counts and the Programmed condition of its status). Shared by
 * compile() and the endpoint path (endpoint-path.ts), so both give the same table.
 */
import { ConditionType, Reason, type ConditionVerdict } from "../api/conditions.js";
import type { EndpointSlice } from "../api/objects.js";
import type { Endpoint, Rule } from "./table.js";

/** One endpoint of a backend before its weight is shared out. */
interface Found {
  readonly id: string;
  readonly address: string;
  readonly port: number;
  readonly ready: boolean;
  readonly terminating: boolean;
}

/**
 * A backend's endpoints whatever the backendRef's weight: what every backendRef of the
 * same backend has in common (two rules often name one Service port with other weights).
 */
export interface BackendEndpoints {
  /** Sorted by id, one per address. */
  readonly found: readonly Found[];
  /** How many of them are ready. */
  readonly ready: number;
}

/**
 * kube-proxy's resolution, from the ServicePort on: the endpoints of `slices` on the port
 * named `portName`, one per address, sorted by id. `backend` is `namespace/service:servicePort`.
 */
export function backendEndpoints(
  backend: string,
  portName: string,
  slices: readonly EndpointSlice[],
): BackendEndpoints {
  // Start-up resolves 10,000 backends of a few endpoints each: plain loops, a Map only for
  // long lists and no sort buffer for short ones, as every object made here is garbage
  // the young-generation collector must sweep during compile() (bench C1, from scratch).
  // At most every endpoint of the slices: made at that length (a list grown from empty keeps
  // room for 17, and the memo keeps this one), cut to what was found.
  let most = 0;
  for (const slice of slices) most += slice.endpoints.length;
  const found = new Array<Found>(most);
  let count = 0;
  let byId: Map<string, number> | undefined;
  for (const slice of slices) {
    if (slice.addressType === "FQDN") continue;
    const port = slicePortOf(slice, portName);
    if (port === undefined) continue;
    for (const ep of slice.endpoints) {
      const address = ep.addresses[0] as string;
      const terminating = ep.conditions.terminating === true;
      const ready = ep.conditions.ready !== false && !terminating;
      const id = `${backend}@${address.includes(":") ? `[${address}]` : address}:${port}`;
      const at = byId !== undefined ? (byId.get(id) ?? -1) : indexOfId(found, count, id);
      const seen = at === -1 ? undefined : found[at];
      // The same address may sit in two slices while they hand over; readiness wins, and
      // between two not-ready copies terminating sticks — whatever order the slices come in.
      if (!seen) {
        if (byId === undefined && count === LINEAR_SEARCH_MAX) byId = indexById(found, count);
        byId?.set(id, count);
        found[count++] = { id, address, port, ready, terminating };
      } else if ((ready && !seen.ready) || (ready === seen.ready && terminating && !seen.terminating)) {
        found[at] = { id, address, port, ready, terminating };
      }
    }
  }
  if (count < most) found.length = count;
  sortById(found);
  let ready = 0;
  for (const e of found) if (e.ready) ready++;
  return { found, ready };
}

/** Up to this many endpoints a backend's ids are searched in order rather than in a Map. */
const LINEAR_SEARCH_MAX = 16;

function indexOfId(found: readonly Found[], count: number, id: string): number {
  for (let i = 0; i < count; i++) if ((found[i] as Found).id === id) return i;
  return -1;
}

function indexById(found: readonly Found[], count: number): Map<string, number> {
  const byId = new Map<string, number>();
  for (let i = 0; i < count; i++) byId.set((found[i] as Found).id, i);
  return byId;
}

/** The TCP port of the slice's port named `portName`, if it has one with a number. */
function slicePortOf(slice: EndpointSlice, portName: string): number | undefined {
  for (const p of slice.ports) {
    if ((p.name ?? "") === portName && p.protocol === "TCP" && p.port !== undefined) return p.port;
  }
  return undefined;
}

/**
 * Sorts by id (unique; `<` compares UTF-16 code units, as the default sort does). Short
 * lists by insertion, which allocates nothing; Array.prototype.sort makes a work buffer.
 */
function sortById(found: Found[]): void {
  if (found.length > LINEAR_SEARCH_MAX) {
    found.sort((a, b) => (a.id < b.id ? -1 : 1));
    return;
  }
  for (let i = 1; i < found.length; i++) {
    const e = found[i] as Found;
    let j = i - 1;
    while (j >= 0 && (found[j] as Found).id > e.id) {
      found[j + 1] = found[j] as Found;
      j--;
    }
    found[j + 1] = e;
  }
}

/** The endpoints of `resolved` (see {@link backendEndpoints}), each with its share of `weight` among the ready ones. */
export function weighEndpoints(
  backend: string,
  resolved: BackendEndpoints,
  weight: number,
): readonly Endpoint[] {
  const share = resolved.ready > 0 ? weight / resolved.ready : 0;
  const endpoints = new Array<Endpoint>(resolved.found.length);
  for (let i = 0; i < endpoints.length; i++) {
    const e = resolved.found[i] as Found;
    endpoints[i] = Object.freeze({
      id: e.id,
      backend,
      address: e.address,
      port: e.port,
      ready: e.ready,
      terminating: e.terminating,
      weight: e.ready ? share : 0,
    });
  }
  return Object.freeze(endpoints);
}

/**
 * kube-proxy's resolution, from the ServicePort on: the endpoints of `slices` on the
 * port named `portName`, one per address (sorted by id), each with its share of
 * `weight` among the ready ones. `backend` is `namespace/service:servicePort`.
 */
export function resolveEndpoints(
  backend: string,
  portName: string,
  weight: number,
  slices: readonly EndpointSlice[],
): readonly Endpoint[] {
  return weighEndpoints(backend, backendEndpoints(backend, portName, slices), weight);
}

/** A route's endpoints, counted once each however many rules and backends list them. */
export interface EndpointCounts {
  readonly ready: number;
  readonly total: number;
  /** Ready endpoints that can take a connection: their backendRef's weight is above 0. */
  readonly routable: number;
}

/**
 * Counts the endpoints of a route's resolved rules. An endpoint's id starts with its
 * backend's key, and backends of one key have the same endpoints (only their weights
 * differ): so each backend key is counted once, its ready endpoints routable when any
 * backendRef of that key has a weight above 0.
 */
export function countEndpoints(rules: readonly Rule[]): EndpointCounts {
  let ready = 0;
  let total = 0;
  let routable = 0;
  // Backend keys seen, and at the same position whether their ready endpoints were already
  // counted as routable: a route has a backend or two, so lists, not a Map per route.
  const seenKeys: string[] = [];
  const seenRoutes: boolean[] = [];
  for (const rule of rules) {
    for (const backend of rule.backends) {
      const at = seenKeys.indexOf(backend.key);
      const counted = at === -1 ? undefined : seenRoutes[at];
      const routes = backend.weight > 0;
      if (counted === true || (counted === false && !routes)) continue;
      let readyHere = 0;
      for (const e of backend.endpoints) if (e.ready) readyHere++;
      if (counted === undefined) {
        total += backend.endpoints.length;
        ready += readyHere;
        seenKeys.push(backend.key);
        seenRoutes.push(routes);
      } else seenRoutes[at] = routes;
      if (routes) routable += readyHere;
    }
  }
  return { ready, total, routable };
}

/** The Programmed condition of an accepted route, from its endpoints. */
export function programmedByEndpoints(counts: EndpointCounts): ConditionVerdict {
  if (counts.routable > 0) {
    let serving = SERVING.get(counts.ready);
    if (serving === undefined) {
      serving = Object.freeze({
        type: ConditionType.Programmed,
        status: "True",
        reason: Reason.Programmed,
        message: `Serving with ${counts.ready} ready endpoint(s)`,
      });
      if (SERVING.size < MAX_SERVING) SERVING.set(counts.ready, serving);
    }
    return serving;
  }
  return {
    type: ConditionType.Programmed,
    status: "False",
    reason: Reason.NoReadyEndpoints,
    message:
      counts.ready > 0
        ? "Every ready endpoint belongs to a backendRef of weight 0; handshakes are answered 503"
        : "No ready endpoint; handshakes are answered 503 until one is ready",
  };
}

/** "Serving" verdicts by ready count, one object each: 10,000 routes mostly share a few counts. */
const SERVING = new Map<number, ConditionVerdict>();
const MAX_SERVING = 256;
