/**
 * Cluster mode: a Kubernetes Event on the route when its rebalancing starts and when it
 * ends, from the data plane's rebalance events (the data plane never calls the API).
 *
 * Every replica records its own, not only the leader: each replica rebalances the
 * connections it holds, so "started"/"ended" is a per-replica story, and
 * `reportingInstance` says whose. `kubectl describe` shows them on the WebSocketRoute, or
 * on the HTTPRoute or Ingress a route was translated from.
 */
import { randomBytes } from "node:crypto";
import { rebalanceChannels, type RebalanceStateChanged } from "../dataplane/rebalance/events.js";
import type { KubeRest } from "../kube/rest.js";
import { microTime } from "./leader.js";

export interface RebalanceEventOptions {
  /** `reportingController`, e.g. `wsgate.io/gateway`. */
  readonly controllerName: string;
  /** `reportingInstance`: this replica's identity. */
  readonly instance: string;
  readonly log: { warn(obj: object, msg: string): void };
  readonly now?: () => Date;
}

/** The object an event is about: translated routes are named `httproute/<name>` or `ingress/<name>`. */
export function regardingOf(
  namespace: string,
  route: string,
): { apiVersion: string; kind: string; namespace: string; name: string } {
  const slash = route.indexOf("/");
  if (slash !== -1) {
    const prefix = route.slice(0, slash);
    const name = route.slice(slash + 1);
    if (prefix === "httproute")
      return { apiVersion: "gateway.networking.k8s.io/v1", kind: "HTTPRoute", namespace, name };
    if (prefix === "ingress") return { apiVersion: "networking.k8s.io/v1", kind: "Ingress", namespace, name };
  }
  return { apiVersion: "wsgate.io/v1alpha1", kind: "WebSocketRoute", namespace, name: route };
}

/** The Event for one rebalance state change (events.k8s.io/v1). */
export function rebalanceEvent(e: RebalanceStateChanged, options: RebalanceEventOptions, now: Date): object {
  const regarding = regardingOf(e.namespace, e.route);
  const note =
    e.state === "started"
      ? `An endpoint carries ${e.skewPercent}% of its share of the mean (bound ${e.boundPercent}%): closing its oldest connections so that they reconnect to less loaded endpoints.`
      : `Every endpoint is within ${e.boundPercent}% of its share (highest ${e.skewPercent}%) after ${e.closes} closes in ${Math.round((e.durationMs ?? 0) / 1000)} s.`;
  return {
    apiVersion: "events.k8s.io/v1",
    kind: "Event",
    metadata: {
      namespace: e.namespace,
      // client-go's naming: object name, then a unique hex suffix.
      name: `${regarding.name}.${now.getTime().toString(16)}${randomBytes(3).toString("hex")}`,
    },
    eventTime: microTime(now),
    reportingController: options.controllerName,
    reportingInstance: options.instance.slice(0, 128),
    action: "Rebalance",
    reason: e.state === "started" ? "RebalanceStarted" : "RebalanceEnded",
    type: "Normal",
    note: note.slice(0, 1024),
    regarding,
  };
}

/** Records an Event for every rebalance start and end; returns the unsubscribe function. */
export function recordRebalanceEvents(rest: KubeRest, options: RebalanceEventOptions): () => void {
  const now = options.now ?? (() => new Date());
  const onState = (m: unknown): void => {
    const e = m as RebalanceStateChanged;
    rest
      .post(`/apis/events.k8s.io/v1/namespaces/${e.namespace}/events`, rebalanceEvent(e, options, now()))
      .catch((err: unknown) => {
        options.log.warn(
          { route: `${e.namespace}/${e.route}`, err: (err as Error).message },
          "rebalance event not recorded",
        );
      });
  };
  rebalanceChannels.state.subscribe(onState);
  return () => rebalanceChannels.state.unsubscribe(onState);
}
