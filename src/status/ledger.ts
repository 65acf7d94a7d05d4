/**
 * Route status as wsgate would write it: compile() verdicts stamped with
 * `lastTransitionTime` that changes only when a condition's status flips. In
 * standalone mode this is where status lives (served at /debug/config).
 */
import { stampConditions } from "../api/conditions.js";
import type { RouteStatus } from "../api/route.js";
import type { RouteDiagnostics } from "../routing/table.js";

export interface RouteStatusView {
  readonly namespace: string;
  readonly name: string;
  readonly claimed: boolean;
  readonly status: RouteStatus;
}

export class StatusLedger {
  #routes = new Map<string, RouteStatusView>();

  /** Folds a new set of diagnostics in; routes no longer present are forgotten. */
  update(diagnostics: readonly RouteDiagnostics[], now: Date): void {
    const next = new Map<string, RouteStatusView>();
    for (const d of diagnostics) {
      const key = `${d.namespace}/${d.name}`;
      const previous = this.#routes.get(key)?.status.conditions ?? [];
      next.set(key, {
        namespace: d.namespace,
        name: d.name,
        claimed: d.claimed,
        status: {
          ...(d.generation === undefined ? {} : { observedGeneration: d.generation }),
          conditions: stampConditions(previous, d.conditions, now, d.generation),
          endpoints: { ...d.endpoints },
        },
      });
    }
    this.#routes = next;
  }

  routes(): RouteStatusView[] {
    return [...this.#routes.values()];
  }
}
