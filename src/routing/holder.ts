/**
 * The table holder: the one place where the control plane and the data plane
 * meet. Publishing swaps the reference atomically; readers take `current` once per
 * request and keep using that table for the whole handshake.
 */
import type { GatewayApiDiagnostics } from "./gateway-api/conditions.js";
import type { IngressDiagnostics } from "./ingress/routes.js";
import type { RouteDiagnostics, RoutingTable } from "./table.js";
import { EMPTY_TABLE } from "./table.js";

export interface Publication {
  readonly table: RoutingTable;
  readonly diagnostics: readonly RouteDiagnostics[];
  readonly compileMs: number;
  /** Why the default TLS Secret is not served, when it is configured and unusable. */
  readonly defaultTlsProblem?: string;
  /** Status of the Gateway API objects of our GatewayClasses (absent: none compiled). */
  readonly gatewayApi?: GatewayApiDiagnostics;
  /** The Ingresses of our classes and what their Events must say (absent: none compiled). */
  readonly ingress?: readonly IngressDiagnostics[];
}

interface Waiter {
  readonly generation: number;
  readonly resolve: (table: RoutingTable) => void;
}

export class TableHolder {
  #table: RoutingTable = EMPTY_TABLE;
  #diagnostics: readonly RouteDiagnostics[] = [];
  readonly #listeners = new Set<(p: Publication) => void>();
  readonly #waiters: Waiter[] = [];

  /** The table in force. Generation 0 until the first publish. */
  get current(): RoutingTable {
    return this.#table;
  }

  get diagnostics(): readonly RouteDiagnostics[] {
    return this.#diagnostics;
  }

  /** The generation the next published table must carry. */
  get nextGeneration(): number {
    return this.#table.generation + 1;
  }

  publish(publication: Publication): void {
    if (publication.table.generation !== this.nextGeneration) {
      throw new Error(
        `table generation ${publication.table.generation} published over ${this.#table.generation}; compile with holder.nextGeneration`,
      );
    }
    this.#table = publication.table;
    this.#diagnostics = publication.diagnostics;
    for (const listener of this.#listeners) listener(publication);
    for (let i = this.#waiters.length - 1; i >= 0; i--) {
      const waiter = this.#waiters[i] as Waiter;
      if (publication.table.generation >= waiter.generation) {
        this.#waiters.splice(i, 1);
        waiter.resolve(publication.table);
      }
    }
  }

  onPublish(listener: (p: Publication) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Resolves once a table of at least `generation` is in force — a signal for tests and readiness. */
  waitForGeneration(generation: number): Promise<RoutingTable> {
    if (this.#table.generation >= generation) return Promise.resolve(this.#table);
    return new Promise((resolve) => this.#waiters.push({ generation, resolve }));
  }
}
