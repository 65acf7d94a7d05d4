/**
 * Cluster mode of `wsgate serve`: informers fill the store, the recompiler
 * starts after their initial sync, and the status writer follows the leader
 * elector. Every replica serves traffic; only the leader writes status and Events.
 */
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { ServeConfig } from "../config/config.js";
import type { AffinityKey } from "../dataplane/affinity/token.js";
import { loadKubeConnection } from "../kube/config.js";
import { KubeRest } from "../kube/rest.js";
import type { Logger } from "../observability/logger.js";
import type { TableHolder } from "../routing/holder.js";
import type { Recompiler } from "../routing/recompiler.js";
import type { ObjectStore } from "../routing/store.js";
import { ClusterSource, type ClusterSourceTuning } from "../sources/cluster/source.js";
import { AffinityKeySecret } from "../status/affinity-key-secret.js";
import { IngressStatusWriter } from "../status/ingress-status.js";
import { GatewayApiStatusWriter } from "../status/gateway-api-status.js";
import { LeaderElector } from "../status/leader.js";
import { recordRebalanceEvents } from "../status/rebalance-events.js";
import { StatusWriter } from "../status/writer.js";

/** Timings tests shorten; production uses the defaults. */
export interface ClusterTuning {
  readonly source?: Partial<ClusterSourceTuning>;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
  readonly statusRetryDelayMs?: number;
}

export interface ClusterMode {
  readonly source: ClusterSource;
  readonly elector: LeaderElector;
  readonly writer: StatusWriter;
  /** Status of GatewayClasses, Gateways and HTTPRoutes (leader only). */
  readonly gatewayApiWriter: GatewayApiStatusWriter;
  /** Events and status.loadBalancer of the Ingresses wsgate serves (leader only). */
  readonly ingressWriter: IngressStatusWriter;
  /** `--affinity-key-secret`: the cluster's session affinity key, read (and created by the leader). */
  readonly affinityKeySecret: AffinityKeySecret | undefined;
  /** False once a watch has been down past its limit (drives /healthz). */
  healthy(): boolean;
  /** The `sources.cluster` part of /debug/config. */
  debug(): unknown;
  /** Releases the lease (if held) and stops the informers. */
  stop(): Promise<void>;
}

export const CONTROLLER_NAME = "wsgate.io/gateway";

export function startClusterMode(
  config: ServeConfig,
  deps: {
    store: ObjectStore;
    holder: TableHolder;
    recompiler: Recompiler;
    logger: Logger;
    /** Replaced by the `--affinity-key-secret` Secret's key once read. */
    affinityKey?: AffinityKey;
  },
  tuning: ClusterTuning = {},
): ClusterMode {
  const { store, holder, recompiler, logger } = deps;
  const log = logger.child({ component: "cluster" });
  // The composition root is where the environment is read (KUBERNETES_SERVICE_HOST in a Pod).
  const connection = loadKubeConnection(config.kubeconfig, process.env);
  const rest = new KubeRest(connection.kubeConfig);
  const identity = `${process.env.POD_NAME || hostname()}_${randomUUID().slice(0, 8)}`;
  const leaseNamespace = config.leaderElectionNamespace ?? connection.namespace ?? "default";
  const leaseName = config.leaderElectionId ?? `wsgate-${config.ingressClass}`;

  // Writes nothing until a table is published and only while the elector holds the lease.
  const writer: StatusWriter = new StatusWriter(rest, {
    isLeader: () => elector.isLeader,
    controllerName: CONTROLLER_NAME,
    instance: identity,
    log,
    ...(tuning.statusRetryDelayMs === undefined ? {} : { retryDelayMs: tuning.statusRetryDelayMs }),
  });
  const ingressWriter = new IngressStatusWriter(rest, {
    isLeader: () => elector.isLeader,
    controllerName: CONTROLLER_NAME,
    instance: identity,
    ...(config.publishService ? { publishService: config.publishService } : {}),
    log,
    ...(tuning.statusRetryDelayMs === undefined ? {} : { retryDelayMs: tuning.statusRetryDelayMs }),
  });
  const gatewayApiWriter = new GatewayApiStatusWriter(rest, {
    isLeader: () => elector.isLeader,
    controllerName: config.gatewayClassController,
    // Gateways' status.addresses: wsgate's own Service, as for Ingresses.
    ...(config.publishService ? { publishService: config.publishService } : {}),
    log,
    ...(tuning.statusRetryDelayMs === undefined ? {} : { retryDelayMs: tuning.statusRetryDelayMs }),
  });
  const source = new ClusterSource(connection.kubeConfig, rest, store, {
    gatewayApi: !config.disableGatewayApi,
    ingress: !config.disableIngress,
    onRouteEvent: (namespace, name, resourceVersion) => writer.routeChanged(namespace, name, resourceVersion),
    namespaces: config.namespaces,
    ingressClass: config.ingressClass,
    ...(config.defaultTlsSecret ? { pinnedSecrets: [config.defaultTlsSecret] } : {}),
    log,
    ...(tuning.source ? { tuning: tuning.source } : {}),
  });
  const elector = new LeaderElector(rest, {
    namespace: leaseNamespace,
    name: leaseName,
    identity,
    leaseDurationMs: config.leaderElectionLeaseDuration,
    ...(tuning.renewDeadlineMs === undefined ? {} : { renewDeadlineMs: tuning.renewDeadlineMs }),
    ...(tuning.retryPeriodMs === undefined ? {} : { retryPeriodMs: tuning.retryPeriodMs }),
    log,
  });

  const affinityKeySecret =
    config.affinityKeySecret === undefined || deps.affinityKey === undefined
      ? undefined
      : affinityKeySecretOf(config.affinityKeySecret, rest, deps.affinityKey, () => elector.isLeader, log);

  let stopped = false;
  const unsubscribe = [
    elector.onChange((leading) => (leading ? affinityKeySecret?.nudge() : undefined)),
    holder.onPublish((p) => writer.update(p.diagnostics)),
    holder.onPublish((p) => ingressWriter.update(p.ingress)),
    holder.onPublish((p) => gatewayApiWriter.update(p.gatewayApi)),
    elector.onChange((leading) => writer.leadershipChanged(leading)),
    elector.onChange((leading) => gatewayApiWriter.leadershipChanged(leading)),
    elector.onChange((leading) => ingressWriter.leadershipChanged(leading)),
    // Every replica, leader or not: each rebalances the connections it holds.
    recordRebalanceEvents(rest, { controllerName: CONTROLLER_NAME, instance: identity, log }),
  ];
  log.info(
    {
      event: "cluster_mode",
      api: connection.kubeConfig.getCurrentCluster()?.server,
      origin: connection.origin,
      namespaces: config.namespaces.length > 0 ? config.namespaces : "(all)",
      lease: `${leaseNamespace}/${leaseName}`,
      identity,
    },
    "watching the Kubernetes API",
  );
  source.start();
  elector.start();
  affinityKeySecret?.start();
  const started = performance.now();
  // Nothing is published before every kind was listed once: a partial store would
  // publish a table with routes missing and write wrong status for them.
  source.whenSynced().then(
    () => {
      if (stopped) return;
      log.info({ event: "synced", ms: Math.round(performance.now() - started) }, "initial sync complete");
      recompiler.start();
    },
    () => {},
  );

  return {
    source,
    elector,
    writer,
    ingressWriter,
    gatewayApiWriter,
    affinityKeySecret,
    healthy: () => source.healthy(),
    debug: () => ({
      namespaces: config.namespaces,
      synced: source.synced,
      watches: source.health(),
      // Secrets live in the store only while a route names them (or they are pinned).
      storedSecrets: source.storedSecrets(),
      leaderElection: { lease: `${leaseNamespace}/${leaseName}`, identity, leading: elector.isLeader },
      status: writer.stats,
      gatewayApiStatus: gatewayApiWriter.stats,
      ingressStatus: ingressWriter.stats,
    }),
    async stop() {
      stopped = true;
      for (const u of unsubscribe) u();
      writer.stop();
      affinityKeySecret?.stop();
      ingressWriter.stop();
      gatewayApiWriter.stop();
      await elector.stop();
      await source.stop();
    },
  };
}

function affinityKeySecretOf(
  ref: string,
  rest: KubeRest,
  key: AffinityKey,
  isLeader: () => boolean,
  log: Logger,
): AffinityKeySecret {
  const [namespace = "", name = ""] = ref.split("/");
  return new AffinityKeySecret(rest, { namespace, name, isLeader, onKey: (m) => key.replace(m), log });
}
