/**
 * `spec.rebalance` compiled into the settings the data plane's rebalancer reads
 * (milliseconds, and decided whether it applies at all). Pure, part of compile().
 */
import { durationToMs } from "../api/duration.js";
import type { RouteRebalance } from "../api/rebalance.js";

/** Rebalancing of a route's established connections (src/dataplane/rebalance). */
export interface RebalanceSettings {
  /** An endpoint over this percentage of its weighted share of the mean sheds connections. */
  readonly maxSkewPercent: number;
  /** The Close code sent to the clients moved. */
  readonly closeCode: number;
  /** Closes per second across the route (per gateway replica). */
  readonly maxClosesPerSecond: number;
  /** Connections younger than this are never closed. */
  readonly minConnectionAgeMs: number;
}

/**
 * The route's rebalance settings, or undefined when it does not rebalance: the field is
 * absent, or the route pins sessions by cookie and `breakAffinity` is not set — closing
 * such a connection would send its client, cookie and all, to another endpoint, losing the
 * session state affinity exists to keep.
 */
export function rebalanceSettings(
  rebalance: RouteRebalance | undefined,
  affinityType: string | undefined,
): RebalanceSettings | undefined {
  if (!rebalance) return undefined;
  if (affinityType === "Cookie" && !rebalance.breakAffinity) return undefined;
  return Object.freeze({
    maxSkewPercent: rebalance.maxSkewPercent,
    closeCode: rebalance.closeCode,
    maxClosesPerSecond: rebalance.maxClosesPerSecond,
    minConnectionAgeMs: durationToMs(rebalance.minConnectionAge),
  });
}
