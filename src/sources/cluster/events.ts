/**
 * What the cluster source tells the rest of the process, on diagnostics_channel:
 * observability turns it into metrics and log lines; tests use it as a signal.
 */
import diagnostics_channel from "node:diagnostics_channel";
import type { Kind } from "../../api/parse.js";

/** An informer was restarted: after a failure (`error`) or because it went silent (`stalled`). */
export interface WatchRestarted {
  readonly kind: Kind;
  /** The namespace the informer watches; `""` for all namespaces. */
  readonly namespace: string;
  readonly reason: "error" | "stalled";
  readonly error: string;
  /** Delay before the new list+watch, in milliseconds. */
  readonly backoffMs: number;
}

/** A watched object changed in a way that matters and was written to the object store. */
export interface ObjectApplied {
  readonly kind: Kind;
  readonly namespace: string;
  readonly name: string;
  readonly change: "upsert" | "delete";
  /** `performance.now()` when the informer delivered the event. */
  readonly receivedAt: number;
}

export const sourceChannels = {
  watchRestarted: diagnostics_channel.channel("wsgate:source:watch-restarted"),
  objectApplied: diagnostics_channel.channel("wsgate:source:object-applied"),
} as const;
