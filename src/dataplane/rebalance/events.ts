/**
 * What the rebalancer tells the rest of the process, on diagnostics_channel: metrics
 * count the closes, the log (standalone) and Kubernetes Events (cluster mode) tell when
 * a route's rebalancing started and ended. The data plane only publishes.
 */
import diagnostics_channel from "node:diagnostics_channel";

/** Connections of a route closed by one rebalancing step. */
export interface RebalanceClosed {
  readonly namespace: string;
  readonly route: string;
  /** Closes sent in this step. */
  readonly closes: number;
  /** The Close code they carried. */
  readonly code: number;
}

/**
 * A route's rebalancing started (its first close after being balanced) or ended (no
 * endpoint over its bound any more). Decided by each gateway replica (and, with
 * `--workers`, each worker) for the connections it holds.
 */
export interface RebalanceStateChanged {
  readonly namespace: string;
  readonly route: string;
  readonly state: "started" | "ended";
  /** The route's `maxSkewPercent`. */
  readonly boundPercent: number;
  /**
   * The highest endpoint load when the change was seen, in percent of its weighted share
   * of the mean (100 = even): what set it off when it starts, what is left when it ends.
   */
  readonly skewPercent: number;
  /** Closes this process sent for the route since rebalancing started (0 when it starts). */
  readonly closes: number;
  /** How long it took, from the first close (ended only). */
  readonly durationMs?: number;
  /**
   * Set on the main thread for an event a `--workers` thread forwarded: that worker logged
   * it already; the main thread records the Kubernetes Event.
   */
  readonly worker?: number;
}

export const rebalanceChannels = {
  closed: diagnostics_channel.channel("wsgate:rebalance:closed"),
  state: diagnostics_channel.channel("wsgate:rebalance:state"),
} as const;
