/**
 * `spec.rebalance` of WebSocketRoute (and WebSocketPolicy): moving established
 * connections off endpoints that carry more than their share, e.g. after a scale-out,
 * by closing the oldest with a Close frame clients reconnect on, at a bounded rate.
 * Off unless the field is set; `rebalance: {}` turns it on with the defaults below.
 */
import { z } from "zod";
import { DURATION_PATTERN } from "./duration.js";

/** Close codes a rebalancing close may carry: going away, service restart, or an application code. */
export function isRebalanceCloseCode(code: number): boolean {
  return code === 1001 || code === 1012 || (code >= 4000 && code <= 4999);
}

/** The defaults, documented in the CRD and README. */
export const REBALANCE_DEFAULTS = {
  maxSkewPercent: 150,
  closeCode: 1012,
  maxClosesPerSecond: 10,
  minConnectionAge: "60s",
  breakAffinity: false,
} as const;

export const rebalanceSchema = z.strictObject({
  /**
   * An endpoint may carry up to this percentage of its weighted share of the mean over the
   * rule's ready endpoints. Above 100 so that a balanced rule never churns; 150 by default.
   */
  maxSkewPercent: z.number().int().min(110).max(1000).default(REBALANCE_DEFAULTS.maxSkewPercent),
  closeCode: z
    .number()
    .int()
    .refine(isRebalanceCloseCode, "must be 1001, 1012 or 4000-4999")
    .default(REBALANCE_DEFAULTS.closeCode),
  /** Closes per second across the route, per gateway replica. */
  maxClosesPerSecond: z.number().int().min(1).max(1000).default(REBALANCE_DEFAULTS.maxClosesPerSecond),
  /** Younger connections are never closed, so a client just moved is not moved again at once. */
  minConnectionAge: z
    .string()
    .regex(new RegExp(DURATION_PATTERN), "must be a duration such as 30s, 1m30s or 500ms")
    .default(REBALANCE_DEFAULTS.minConnectionAge),
  /** Rebalance a route with Cookie session affinity too (its sessions lose their endpoint). */
  breakAffinity: z.boolean().default(REBALANCE_DEFAULTS.breakAffinity),
});

export type RouteRebalance = z.output<typeof rebalanceSchema>;
