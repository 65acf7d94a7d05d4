/**
 * What a backend's EndpointSlices make of it: its endpoints, and what they make of its
 * route (the endpoint counts and the Programmed condition of its status). Shared by
 * compile() and the endpoint path (endpoint-path.ts), so both give the same table.
 */
import { ConditionType, Reason, type ConditionVerdict } from "../api/conditions.js";
import type { EndpointSlice } from "../api/objects.js";
import type { Endpoint, Rule } from "./table.js";

interface Found {
  address: string;
  port: number;
  ready: boolean;
  terminating: boolean;
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
      // The same address may sit in two slices while they hand over; readiness wins, and
      // between two not-ready copies terminating sticks — whatever order the slices come in.
      if (!seen || (ready && !seen.ready) || (ready === seen.ready && terminating && !seen.terminating)) {
        byAddress.set(id, { address, port: slicePort.port as number, ready, terminating });
      }
    }
  }
  const ids = [...byAddress.keys()].sort();
  const readyCount = ids.filter((id) => byAddress.get(id)?.ready).length;
  return Object.freeze(
    ids.map((id) => {
      const e = byAddress.get(id) as Found;
      return Object.freeze({
        id,
        backend,
        ...e,
        weight: e.ready && readyCount > 0 ? weight / readyCount : 0,
      });
    }),
  );
}

/** A route's endpoints, counted once each however many rules and backends list them. */
export interface EndpointCounts {
  readonly ready: number;
  readonly total: number;
  /** Ready endpoints that can take a connection: their backendRef's weight is above 0. */
  readonly routable: number;
}

/** Counts the endpoints of a route's resolved rules. */
export function countEndpoints(rules: readonly Rule[]): EndpointCounts {
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

/** The Programmed condition of an accepted route, from its endpoints. */
export function programmedByEndpoints(counts: EndpointCounts): ConditionVerdict {
  if (counts.routable > 0) {
    return {
      type: ConditionType.Programmed,
      status: "True",
      reason: Reason.Programmed,
      message: `Serving with ${counts.ready} ready endpoint(s)`,
    };
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
