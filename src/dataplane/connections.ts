/**
 * The registry of established (upgraded) connections: what metrics read live byte
 * counts from and what shutdown and draining walk.
 */
import type { Duplex } from "node:stream";
import type { ConnectionLabels } from "./events.js";
import type { RelayStats } from "./relay.js";

export interface LiveConnection {
  readonly labels: ConnectionLabels;
  readonly stats: RelayStats;
  readonly openedAt: number;
  readonly client: Duplex;
  readonly backend: Duplex;
}

export class ConnectionRegistry {
  readonly #live = new Set<LiveConnection>();
  #onEmpty: (() => void) | undefined;

  add(connection: LiveConnection): void {
    this.#live.add(connection);
  }

  delete(connection: LiveConnection): void {
    this.#live.delete(connection);
    if (this.#live.size === 0) this.#onEmpty?.();
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
    return new Promise((resolve) => {
      this.#onEmpty = resolve;
    });
  }
}
