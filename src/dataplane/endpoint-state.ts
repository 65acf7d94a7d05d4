/**
 * Live per-endpoint state: active connections and passive ejection. Keyed by
 * endpoint identity, not by table entry, so it survives every table swap.
 */
import { channels, type EndpointEjected } from "./events.js";

export interface EjectionPolicy {
  /** First ejection period; doubles with each consecutive failure. */
  readonly baseMs: number;
  readonly maxMs: number;
}

export const DEFAULT_EJECTION: EjectionPolicy = { baseMs: 5_000, maxMs: 60_000 };

interface State {
  active: number;
  failures: number;
  ejectedUntil: number;
}

export interface EndpointView {
  readonly id: string;
  readonly active: number;
  readonly failures: number;
  readonly ejectedUntil: number;
}

export class EndpointStates {
  readonly #states = new Map<string, State>();
  readonly #policy: EjectionPolicy;
  readonly #now: () => number;

  constructor(policy: EjectionPolicy = DEFAULT_EJECTION, now: () => number = Date.now) {
    this.#policy = policy;
    this.#now = now;
  }

  active(id: string): number {
    return this.#states.get(id)?.active ?? 0;
  }

  /** Counts a connection (or an in-flight handshake) against the endpoint. */
  acquire(id: string): void {
    this.#state(id).active++;
  }

  release(id: string): void {
    const state = this.#states.get(id);
    if (!state) return;
    state.active--;
    this.#forgetIfIdle(id, state);
  }

  isEjected(id: string): boolean {
    const state = this.#states.get(id);
    return state !== undefined && state.ejectedUntil > this.#now();
  }

  /** A connect to the endpoint failed: eject it for an exponentially growing period. */
  recordFailure(id: string, error: string): void {
    const state = this.#state(id);
    state.failures++;
    const ejectedForMs = Math.min(this.#policy.maxMs, this.#policy.baseMs * 2 ** (state.failures - 1));
    state.ejectedUntil = this.#now() + ejectedForMs;
    const event: EndpointEjected = { endpoint: id, failures: state.failures, ejectedForMs, error };
    if (channels.endpointEjected.hasSubscribers) channels.endpointEjected.publish(event);
  }

  /** A connect succeeded: the endpoint is healthy again. */
  recordSuccess(id: string): void {
    const state = this.#states.get(id);
    if (!state) return;
    state.failures = 0;
    state.ejectedUntil = 0;
  }

  /** For /debug/config: every endpoint with live state. */
  view(): EndpointView[] {
    return [...this.#states.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([id, s]) => ({ id, active: s.active, failures: s.failures, ejectedUntil: s.ejectedUntil }));
  }

  #state(id: string): State {
    let state = this.#states.get(id);
    if (!state) this.#states.set(id, (state = { active: 0, failures: 0, ejectedUntil: 0 }));
    return state;
  }

  #forgetIfIdle(id: string, state: State): void {
    if (state.active <= 0 && state.failures === 0) this.#states.delete(id);
  }
}
