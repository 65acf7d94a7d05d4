/**
 * The registry of established (upgraded) connections: what metrics read live
 * counts from, and what the sweeper, draining and shutdown walk.
 */
import type { RouteSettings } from "../routing/table.js";
import type { ConnectionLabels } from "./events.js";
import type { RelayedConnection } from "./relay.js";

export interface LiveConnection {
  readonly labels: ConnectionLabels;
  readonly relay: RelayedConnection;
  readonly openedAt: number;
  /** The route's settings when the connection opened; refreshed while the route exists. */
  settings: RouteSettings;
  /** When maxLifetime closes it (jittered ±10%); Infinity for none. */
  readonly lifetimeEndsAt: number;
  /** When its token expires (`exp` plus the clock skew), on routes with `auth.jwt.closeOnExpiry`. */
  readonly authExpiresAt?: number;
  /** When draining closes it; undefined while it is not draining. */
  drainAt: number | undefined;
  /** The close code a drain uses. */
  drainCode: number;
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
