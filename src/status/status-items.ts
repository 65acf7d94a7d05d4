/**
 * The pieces every Gateway API status item shares: the object as the API server returns
 * it, the wanted status as a function of it, the stamping of conditions, and the merge
 * of our controller's entries into a list other controllers write to as well
 * (HTTPRoute `status.parents`, BackendTLSPolicy `status.ancestors`).
 */
import type { GatewayCondition } from "../routing/gateway-api/conditions.js";

/** A condition as written: with its transition time and the generation it speaks of. */
export interface StampedCondition extends GatewayCondition {
  lastTransitionTime: string;
  observedGeneration?: number;
}

/** An object as read from the API server: only what the writer looks at is typed. */
export interface LiveObject {
  metadata: { name: string; namespace?: string; generation?: number; resourceVersion?: string };
  status?: Record<string, unknown>;
  [field: string]: unknown;
}

/** Conditions to write for `verdicts`, keeping each `lastTransitionTime` while its status holds. */
export type StampFn = (
  previous: unknown,
  verdicts: readonly GatewayCondition[],
  generation?: number,
) => StampedCondition[];

/** One object's wanted status: how to compute it from the live one. */
export interface StatusItem {
  /** `Kind namespace/name` (cluster-scoped: `Kind name`). */
  readonly key: string;
  readonly path: string;
  readonly generation?: number;
  /** What compile() wants shown, without times: equal prints need no request. */
  readonly print: string;
  status(live: LiveObject, stamp: StampFn): Record<string, unknown>;
}

/** JSON with object keys sorted: the API server returns custom resources' fields in its own order. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}

/** What compile() wants our controller to show for one parent (or ancestor) reference. */
export interface ControllerEntry {
  readonly ref: object;
  readonly conditions: readonly GatewayCondition[];
}

/**
 * A status list shared between controllers (`refField` names each entry's reference:
 * `parentRef`, `ancestorRef`): other controllers' entries as they are, then ours — one
 * per wanted entry, its conditions stamped against our live entry for the same reference.
 */
export function mergeControllerEntries(
  live: unknown,
  refField: "parentRef" | "ancestorRef",
  wanted: readonly ControllerEntry[],
  controllerName: string,
  stamp: StampFn,
  generation: number | undefined,
): Record<string, unknown>[] {
  const entries = (Array.isArray(live) ? live : []) as Record<string, unknown>[];
  const others = entries.filter((e) => e.controllerName !== controllerName);
  const ours = wanted.map((w) => ({
    [refField]: { ...w.ref },
    controllerName,
    conditions: stamp(
      entries.find((e) => e.controllerName === controllerName && canonical(e[refField]) === canonical(w.ref))
        ?.conditions,
      w.conditions,
      generation,
    ),
  }));
  return [...others, ...ours];
}
