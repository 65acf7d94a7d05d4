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
  const byId = new Map<string, Found>();
  for (const slice of slices) {
    if (slice.addressType === "FQDN") continue;
    const slicePort = slice.ports.find(
      (p) => (p.name ?? "") === portName && p.protocol === "TCP" && p.port !== undefined,
    );
    if (!slicePort) continue;
    const port = slicePort.port as number;
    for (const ep of slice.endpoints) {
      const address = ep.addresses[0] as string;
      const terminating = ep.conditions.terminating === true;
      const ready = ep.conditions.ready !== false && !terminating;
      const id = `${backend}@${address.includes(":") ? `[${address}]` : address}:${port}`;
      const seen = byId.get(id);
      // The same address may sit in two slices while they hand over; readiness wins, and
      // between two not-ready copies terminating sticks — whatever order the slices come in.
      if (!seen || (ready && !seen.ready) || (ready === seen.ready && terminating && !seen.terminating)) {
        byId.set(id, { id, address, port, ready, terminating });
      }
    }
  }
  const found = [...byId.values()];
  // Ids are unique; `<` compares UTF-16 code units, as the default sort does.
  if (found.length > 1) found.sort((a, b) => (a.id < b.id ? -1 : 1));
  let ready = 0;
  for (const e of found) if (e.ready) ready++;
  return { found, ready };
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
  // Backend key → whether its ready endpoints were already counted as routable.
  const seen = new Map<string, boolean>();
  for (const rule of rules) {
    for (const backend of rule.backends) {
      const counted = seen.get(backend.key);
      const routes = backend.weight > 0;
      if (counted === true || (counted === false && !routes)) continue;
      let readyHere = 0;
      for (const e of backend.endpoints) if (e.ready) readyHere++;
      if (counted === undefined) {
        total += backend.endpoints.length;
        ready += readyHere;
      }
      if (routes) routable += readyHere;
      seen.set(backend.key, routes);
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
