/**
 * The messages between the main thread and a data-plane worker. Everything here is
 * structured-cloned; the `SharedArrayBuffer`s inside the memories are shared, not copied.
 */
import type { ServeConfig } from "../config/config.js";
import type { KeySetAnswer, KeySetRequest } from "../dataplane/auth/shared-key-sets.js";
import type { EndpointMemory } from "./shared-endpoints.js";
import type { LimitsMemory } from "./shared-limits.js";
import type { TableMessage } from "./table-transfer.js";

/** What a worker is started with (`workerData`). */
export interface WorkerStart {
  /** 0-based; also the worker's column in the shared counts and its `worker` log field. */
  readonly index: number;
  readonly config: ServeConfig;
  /** The main logger's level (tests run silent whatever `--log-level` says). */
  readonly logLevel: string;
  /** Where to listen: the configured addresses for the first worker, then the ports it got. */
  readonly http: { readonly host: string; readonly port: number };
  readonly https: { readonly host: string; readonly port: number };
  readonly endpoints: EndpointMemory;
  readonly limits: LimitsMemory;
  /** The session affinity key's shared memory (dataplane/affinity/token.ts). */
  readonly affinityKey?: SharedArrayBuffer;
  /** The table in force when the worker starts (a restarted worker gets it at once). */
  readonly table?: WorkerTable;
  /** Session-ticket keys, the same for every worker: a client resumes on any of them. */
  readonly ticketKeys?: Uint8Array;
}

/** A table with the endpoint slots of its endpoints (and of those still holding connections). */
export interface WorkerTable {
  readonly table: TableMessage;
  readonly slots: readonly (readonly [string, number])[];
}

export type ToWorker =
  | ({ readonly type: "table" } & WorkerTable)
  | { readonly type: "stats"; readonly id: number }
  | { readonly type: "drain"; readonly windowMs: number }
  /** The main thread's answer to a worker's `jwks` request. */
  | { readonly type: "jwks"; readonly id: number; readonly answer: KeySetAnswer };

/** A worker's answer to `stats`: its metrics (prom-client JSON) and live connections. */
export interface WorkerStats {
  readonly metrics: unknown[];
  readonly connections: number;
  readonly generation: number;
  /** Its part of `/status` (a StatusView): connections, opens, closes, drains, rejections. */
  readonly status?: unknown;
}

export type FromWorker =
  | { readonly type: "listening"; readonly http: number; readonly https: number }
  | { readonly type: "served"; readonly generation: number }
  | { readonly type: "logs"; readonly lines: string }
  | ({ readonly type: "stats"; readonly id: number } & WorkerStats)
  /** The drain ended; its final metrics, so /metrics keeps its counts once the thread is gone. */
  | { readonly type: "drained"; readonly metrics: unknown[] }
  /** A route's rebalancing started or ended in the worker (a RebalanceStateChanged): the main thread records the Event. */
  | { readonly type: "rebalance"; readonly event: unknown }
  /** A `jwksUri` key set the worker needs: the main thread fetches it once for the process. */
  | ({ readonly type: "jwks"; readonly id: number } & KeySetRequest)
  | { readonly type: "failed"; readonly error: string };
