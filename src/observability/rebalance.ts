/**
 * Rebalancing, observed: `wsgate_rebalance_closes_total{namespace,route}` and one log line
 * when a route's rebalancing starts and one when it ends (with the closes it took and how
 * long) — in standalone mode the story of a scale-out, in cluster mode next to the Events.
 */
import { Counter, type Registry } from "prom-client";
import {
  rebalanceChannels,
  type RebalanceClosed,
  type RebalanceStateChanged,
} from "../dataplane/rebalance/events.js";
import type { Logger } from "./logger.js";

/** Registers the rebalance counter on `registry`; returns the unsubscribe function. */
export function rebalanceMetrics(registry: Registry): () => void {
  const closes = new Counter({
    name: "wsgate_rebalance_closes_total",
    help: "Connections closed to move them off an endpoint over its route's rebalance skew bound",
    labelNames: ["namespace", "route"],
    registers: [registry],
  });
  const onClosed = (m: unknown): void => {
    const e = m as RebalanceClosed;
    closes.inc({ namespace: e.namespace, route: e.route }, e.closes);
  };
  rebalanceChannels.closed.subscribe(onClosed);
  return () => rebalanceChannels.closed.unsubscribe(onClosed);
}

/** Logs each route's rebalancing start and end (and, at debug level, each step's closes); returns the unsubscribe function. */
export function logRebalance(logger: Logger): () => void {
  const onState = (m: unknown): void => {
    const e = m as RebalanceStateChanged;
    if (e.worker !== undefined) return; // forwarded by a worker thread, which logged it
    const fields = {
      event: e.state === "started" ? "rebalance_started" : "rebalance_ended",
      route: `${e.namespace}/${e.route}`,
      boundPercent: e.boundPercent,
      skewPercent: e.skewPercent,
      closes: e.closes,
      ...(e.durationMs !== undefined ? { durationMs: e.durationMs } : {}),
    };
    logger.info(
      fields,
      e.state === "started"
        ? `rebalancing: an endpoint carries ${e.skewPercent}% of its share (bound ${e.boundPercent}%); moving its oldest connections`
        : `rebalancing ended after ${e.closes} closes: every endpoint within ${e.boundPercent}% of its share`,
    );
  };
  // At debug level, one line per step that closed connections: when, how many, which code
  // ("why did my client get 1012?"); with --workers, each worker logs its own.
  const onClosed = (m: unknown): void => {
    const e = m as RebalanceClosed;
    logger.debug(
      { event: "rebalance_closes", route: `${e.namespace}/${e.route}`, closes: e.closes, code: e.code },
      `rebalancing: closed ${e.closes} connection(s) with ${e.code}`,
    );
  };
  rebalanceChannels.state.subscribe(onState);
  rebalanceChannels.closed.subscribe(onClosed);
  return () => {
    rebalanceChannels.state.unsubscribe(onState);
    rebalanceChannels.closed.unsubscribe(onClosed);
  };
}
