/**
 * Established (upgraded) connections and the one owner of their state.
 *
 * A {@link LiveConnection} is the only thing that changes a connection's data-plane
 * state: its route settings, its drain schedule (with the reason it was scheduled for)
 * and the moment it is closed. The sweeper, draining and shutdown ask it; none of them
 * writes its fields. The registry is what metrics read live counts from, and what the
 * sweeper, draining and shutdown walk.
 */
import type { RouteSettings } from "../routing/table.js";
import type { ConnectionLabels } from "./events.js";
import type { RelayedConnection } from "./relay.js";

/**
 * Why a connection is scheduled to close.
 * - `endpoint`: its endpoint left its backend or is terminating; the route's drain code
 *   is sent, and the drain is cancelled if the endpoint comes back.
 * - `shutdown`: the process is stopping; 1001 (going away) is sent, and nothing cancels it.
 * - `rebalance`: its endpoint carries more than its share (src/dataplane/rebalance); the
 *   route's rebalance code is sent, and the close is due at once.
 */
export type DrainReason = "endpoint" | "shutdown" | "rebalance";

/** A scheduled close. */
export interface Drain {
  readonly at: number;
  readonly reason: DrainReason;
  /** The Close code sent to the client when the drain is due. */
  readonly code: number;
}

/** What a connection is opened with; the rest of its state starts empty. */
export interface LiveConnectionInit {
  readonly labels: ConnectionLabels;
  readonly relay: RelayedConnection;
  readonly openedAt: number;
  /** The route's settings when the connection opened. */
  readonly settings: RouteSettings;
  /** The key of the rule it matched (`namespace/route#index`): a rule may have settings of its own. */
  readonly ruleKey?: string;
  /** When maxLifetime closes it (jittered ±10%); Infinity for none. */
  readonly lifetimeEndsAt: number;
  /** When its token expires (`exp` plus the clock skew), on routes with `auth.jwt.closeOnExpiry`. */
  readonly authExpiresAt?: number | undefined;
}

/** One established connection: its identity, its relay, and the state only it changes. */
export class LiveConnection {
  readonly labels: ConnectionLabels;
  readonly relay: RelayedConnection;
  readonly openedAt: number;
  readonly lifetimeEndsAt: number;
  readonly authExpiresAt: number | undefined;
  /** See {@link LiveConnectionInit.ruleKey}. */
  readonly ruleKey: string | undefined;
  #settings: RouteSettings;
  #drain: Drain | undefined;

  constructor(init: LiveConnectionInit) {
    this.labels = init.labels;
    this.relay = init.relay;
    this.openedAt = init.openedAt;
    this.lifetimeEndsAt = init.lifetimeEndsAt;
    this.authExpiresAt = init.authExpiresAt;
    this.ruleKey = init.ruleKey;
    this.#settings = init.settings;
  }

  /** The route's settings: those it opened with, refreshed while the route exists. */
  get settings(): RouteSettings {
    return this.#settings;
  }

  /** The drain scheduled for it, if any. */
  get drain(): Drain | undefined {
    return this.#drain;
  }

  /** When draining closes it; undefined while it is not draining. */
  get drainAt(): number | undefined {
    return this.#drain?.at;
  }

  /** A newer table's settings for its route (timeouts, keepalive, drain) apply from now on. */
  refreshSettings(settings: RouteSettings): void {
    this.#settings = settings;
  }

  /**
   * Schedules its close at `at`. An endpoint drain sends the route's drain code as it
   * stands now, a rebalance its rebalance code; a shutdown drain sends 1001 and replaces
   * any later drain, never an earlier one (the connection closes at whichever comes
   * first). Returns true when the schedule changed.
   */
  scheduleDrain(at: number, reason: DrainReason): boolean {
    const current = this.#drain;
    if (current !== undefined) {
      // A scheduled drain stands, unless a shutdown brings the close forward.
      if (current.reason === "shutdown" || reason !== "shutdown" || current.at <= at) return false;
    }
    const code =
      reason === "shutdown"
        ? 1001
        : reason === "rebalance"
          ? (this.#settings.rebalance?.closeCode ?? 1012)
          : this.#settings.drain.closeCode;
    this.#drain = { at, reason, code };
    return true;
  }

  /** Cancels an endpoint drain (its endpoint came back). A shutdown is never cancelled. Returns true when cancelled. */
  cancelDrain(): boolean {
    if (this.#drain?.reason !== "endpoint") return false;
    this.#drain = undefined;
    return true;
  }

  /** Closes it from the proxy: a Close frame to each side, `code` to both. */
  close(code: number, reason: string): void {
    this.relay.close(code, reason);
  }

  /** Closes it with a different code for each side (e.g. 1008 to the client, 1000 to the backend). */
  closeSides(clientCode: number, backendCode: number, reason: string): void {
    this.relay.closeSides(clientCode, backendCode, reason);
  }

  /** Ends both legs now, without a close handshake. */
  destroy(): void {
    this.relay.destroy();
  }
}

export class ConnectionRegistry {
  readonly #live = new Set<LiveConnection>();
  readonly #emptyWaiters: (() => void)[] = [];

  add(connection: LiveConnection): void {
    this.#live.add(connection);
  }

  delete(connection: LiveConnection): void {
    this.#live.delete(connection);
    if (this.#live.size === 0) for (const resolve of this.#emptyWaiters.splice(0)) resolve();
  }

  get size(): number {
    return this.#live.size;
  }

  [Symbol.iterator](): IterableIterator<LiveConnection> {
    return this.#live.values();
  }

  /** Resolves when no connection is left. */
  whenEmpty(): Promise<void> {
    if (this.#live.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#emptyWaiters.push(resolve));
  }
}
