/**
 * The shapes of the operator's status view (`/status` JSON, the status page) and of the
 * live sources it is built from. The view is a public contract of the admin listener:
 * the status page and the worker merge (`status-merge.ts`) read these fields.
 */
import type { Condition } from "../api/route.js";
import type { EndpointHealthView } from "../dataplane/health.js";
import type { ConnectionLabels } from "../dataplane/events.js";
import type { Publication } from "../routing/holder.js";
import type { RoutingTable } from "../routing/table.js";
import type { RouteStatusView } from "../status/ledger.js";

/** What the status view needs of a live connection (a subset of the data plane's). */
export interface StatusConnection {
  readonly labels: ConnectionLabels;
  readonly openedAt: number;
  /** When a drain closes it; undefined while it is not draining. */
  readonly drainAt: number | undefined;
}

/** One watch of cluster mode, as the informers report it. */
export interface WatchView {
  readonly kind: string;
  readonly namespace: string;
  readonly synced: boolean;
  readonly downForMs: number | undefined;
  readonly restarts: number;
  readonly lastError: string | undefined;
}

/** Where the routes come from and who writes status. */
export type SourceView =
  | {
      readonly mode: "standalone";
      readonly dir: string;
      /** Manifest files that could not be used, with their error counts (not the errors: they may quote a Secret). */
      readonly problems: readonly { readonly file: string; readonly errors: number }[];
    }
  | {
      readonly mode: "cluster";
      readonly synced: boolean;
      readonly leader: boolean;
      readonly watches: readonly WatchView[];
    };

/** One data-plane worker thread (`--workers`); absent while the data plane runs on the main thread. */
export interface WorkerView {
  readonly worker: string;
  readonly connections: number;
}

/** The live state the view is read from at request time. */
export interface StatusSources {
  readonly tables: { readonly current: RoutingTable };
  readonly onPublish: (listener: (p: Publication) => void) => () => void;
  /** Every claimed route's stamped conditions (the status ledger). */
  readonly routeStatus: () => readonly RouteStatusView[];
  readonly connections: Iterable<StatusConnection>;
  /** Passive ejection (failed connects). */
  readonly endpoints: { isEjected(id: string): boolean };
  /** Active health checks. */
  readonly health?: { view(): readonly EndpointHealthView[] };
  readonly source: () => SourceView;
  /** Per-worker connection counts, when the data plane runs in worker threads. */
  readonly workers?: () => readonly WorkerView[];
  /** `--status-show-clients`: list client addresses per route. */
  readonly showClients: boolean;
  readonly now?: () => number;
}

/**
 * `ready` takes new connections; `not_ready` (EndpointSlice), `probe_failed` (active
 * health check) and `ejected` (failed connects) do not; `draining` endpoints are
 * terminating or gone and their connections are being closed.
 */
export type EndpointState = "ready" | "not_ready" | "probe_failed" | "ejected" | "draining";

/** One endpoint of a route's backend. */
export interface EndpointStatus {
  readonly id: string;
  readonly address: string;
  readonly state: EndpointState;
  /** Established connections of this route on the endpoint (`wsgate_connections_active`). */
  readonly connections: number;
  readonly openedLastMinute: number;
  readonly closedLastMinute: number;
  /** Connections scheduled to be closed by a drain, and when the last of them is due. */
  readonly drain?: { readonly connections: number; readonly doneInMs: number };
  /** The last active health check result, when it failed. */
  readonly lastProbe?: string;
}

/** One backend (Service port) of a route, with its endpoints. */
export interface BackendStatus {
  readonly backend: string;
  readonly connections: number;
  /** Endpoints that take new connections (`wsgate_backend_healthy`). */
  readonly healthy: number;
  readonly endpoints: readonly EndpointStatus[];
}

/** One route of the view. */
export interface RouteStatusEntry {
  readonly namespace: string;
  readonly name: string;
  /** Empty: any host. */
  readonly hosts: readonly string[];
  readonly paths: readonly { readonly type: string; readonly value: string }[];
  readonly conditions: readonly Condition[];
  /** Whether the route is in the serving table. */
  readonly served: boolean;
  readonly connections: number;
  /** Mean connections per ready endpoint: the reference of each endpoint's bar. */
  readonly meanPerEndpoint: number;
  readonly draining: number;
  readonly backends: readonly BackendStatus[];
  /** Handshake rejections of this route in the last 5 minutes, by reason. */
  readonly rejections: Readonly<Record<string, number>>;
  /** Only with `--status-show-clients`: client addresses by connection count. */
  readonly clients?: readonly { readonly address: string; readonly connections: number }[];
}

/** The whole view: `/status` JSON, and what the status page renders. */
export interface StatusView {
  readonly time: string;
  readonly table: {
    readonly generation: number;
    readonly lastCompileAt: string | null;
    readonly lastCompileMs: number | null;
  };
  readonly source: SourceView;
  readonly connections: number;
  readonly routes: readonly RouteStatusEntry[];
  /** Handshake rejections of the last 5 minutes by reason and route ("" for none matched). */
  readonly rejections: readonly { readonly reason: string; readonly route: string; readonly count: number }[];
  readonly workers?: readonly WorkerView[];
}
