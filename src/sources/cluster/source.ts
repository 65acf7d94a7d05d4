/**
 * The cluster source: supervised informers for WebSocketRoutes, Services,
 * EndpointSlices and kubernetes.io/tls Secrets fill the same ObjectStore as the
 * manifest source. Only changes that matter reach the store (and so trigger a
 * recompile):
 * - a route update that leaves `metadata.generation` alone (a status write, a
 *   label) is ignored;
 * - a route of another ingress class is not stored at all: not served, no status;
 * - a Secret is stored only while a route names it (see `secret-gate.ts`): it waits
 *   outside until one does, and leaves the store when the last one stops naming it;
 * - re-listed objects identical to what is stored are not written again.
 *
 * The store is this source's output port (DESIGN §2: sources fill the ObjectStore); it
 * imports nothing else of routing. The parts: the collections watched from the start
 * (`collections.ts`) and once discovery shows them (`optional-collections.ts`), one
 * supervised informer each (`informer.ts`), a route event's intake (`route-intake.ts`),
 * and the gates of named Secrets and ConfigMaps (`named-objects.ts`).
 */
import { performance } from "node:perf_hooks";
import type { KubeConfig, KubernetesObject } from "@kubernetes/client-node";
import { objectKey } from "../../api/meta.js";
import type { ConfigMap, Secret } from "../../api/objects.js";
import { parseObject, type Kind } from "../../api/parse.js";
import type { WebSocketRoute } from "../../api/route.js";
import type { KubeRest } from "../../kube/rest.js";
import type { InvalidRoute, ObjectStore } from "../../routing/store.js";
import { scopedResources, watchedResources } from "./collections.js";
import { sourceChannels } from "./events.js";
import {
  SupervisedInformer,
  type InformerHandlers,
  type InformerHealth,
  type InformerLog,
  type InformerTuning,
  type WatchedResource,
} from "./informer.js";
import { isGated, NamedObjects, namesGatedObjects, type GatedWritten } from "./named-objects.js";
import {
  GATEWAY_API_COLLECTIONS,
  OptionalCollections,
  type OptionalCollection,
} from "./optional-collections.js";
import { metaOf } from "./raw-meta.js";
import { ofAnotherClass, routeToStore, sameSpec } from "./route-intake.js";

export interface ClusterSourceTuning extends InformerTuning {
  /** How often informers are checked for stalls. */
  readonly watchdogIntervalMs: number;
  /** `healthy()` turns false once a watch has been down this long. */
  readonly unhealthyAfterMs: number;
  /** How often API discovery is asked whether optional kinds (Gateway API) are served yet. */
  readonly discoveryIntervalMs: number;
}

export const DEFAULT_CLUSTER_SOURCE_TUNING: Omit<ClusterSourceTuning, keyof InformerTuning> = {
  watchdogIntervalMs: 10_000,
  // Long: /healthz drives the liveness probe, and restarting gateways because the API
  // server is away (a control-plane upgrade) would cut every connection and leave the
  // new processes unable to sync. Informers restart themselves; this is the last resort.
  unhealthyAfterMs: 300_000,
  discoveryIntervalMs: 30_000,
};

export interface ClusterSourceOptions {
  /** Namespaces to watch; empty means all. */
  readonly namespaces: readonly string[];
  /** Routes whose `ingressClassName` is set to something else are ignored. */
  readonly ingressClass: string;
  /** `namespace/name` of Secrets kept in the store even when no route names them (e.g. a default certificate). */
  readonly pinnedSecrets?: readonly string[];
  readonly log: InformerLog;
  readonly tuning?: Partial<ClusterSourceTuning>;
  /** Watch Gateway API kinds once their CRDs are served (default true; --disable-gateway-api). */
  readonly gatewayApi?: boolean;
  /** Watch Ingress and IngressClass (default true; --disable-ingress). */
  readonly ingress?: boolean;
  /**
   * Any event of one of our routes — a status write, a label, a new spec, a new object
   * under an old name. The status writer checks the live status again unless the event
   * is its own write (someone may have overwritten it; a recreated route has none).
   */
  readonly onRouteEvent?: (namespace: string, name: string, resourceVersion: string | undefined) => void;
}

export class ClusterSource {
  readonly #store: ObjectStore;
  readonly #options: ClusterSourceOptions;
  readonly #tuning: ClusterSourceTuning;
  readonly #informers: SupervisedInformer[];
  /** What each stored Service or EndpointSlice looked like, to drop no-op updates (relists, resourceVersion bumps). */
  readonly #fingerprints = new Map<string, string>();
  /** Secrets and backend CA ConfigMaps: stored only while something names them. */
  readonly #named: NamedObjects;
  /** Keys each informer has stored, for the replace semantics of a fresh list. */
  readonly #owned = new Map<SupervisedInformer, Set<string>>();
  /** Kinds watched once discovery shows their CRDs (Gateway API). */
  readonly #optional: OptionalCollections;
  readonly #addInformer: (resource: WatchedResource) => SupervisedInformer;
  #started = false;
  #watchdog: NodeJS.Timeout | undefined;

  constructor(kubeConfig: KubeConfig, rest: KubeRest, store: ObjectStore, options: ClusterSourceOptions) {
    this.#store = store;
    this.#options = options;
    const { watchdogIntervalMs, unhealthyAfterMs, ...informerTuning } = {
      ...DEFAULT_CLUSTER_SOURCE_TUNING,
      ...options.tuning,
    };
    this.#tuning = {
      ...informerTuning,
      watchdogIntervalMs,
      unhealthyAfterMs,
    } as ClusterSourceTuning;
    this.#named = new NamedObjects(store, options.pinnedSecrets ?? []);
    this.#addInformer = (resource) => {
      const owned = new Set<string>();
      const informer: SupervisedInformer = new SupervisedInformer(resource, {
        kubeConfig,
        rest,
        log: options.log,
        handlers: this.#handlersFor(resource.kind, owned),
        tuning: informerTuning,
      });
      this.#owned.set(informer, owned);
      return informer;
    };
    this.#informers = watchedResources(options.namespaces, { ingress: options.ingress !== false }).map(
      this.#addInformer,
    );
    this.#optional = new OptionalCollections(
      rest,
      options.gatewayApi === false ? [] : GATEWAY_API_COLLECTIONS,
      {
        found: (collection) => this.#watchOptional(collection),
        log: options.log,
        intervalMs: this.#tuning.discoveryIntervalMs,
      },
    );
  }

  /** Starts informers for a kind whose CRD discovery just found (now or after start). */
  #watchOptional(c: OptionalCollection): void {
    for (const resource of scopedResources(c, this.#options.namespaces)) {
      const informer = this.#addInformer(resource);
      this.#informers.push(informer);
      if (this.#started) informer.start();
    }
  }

  /** Starts every informer and the stall watchdog. */
  start(): void {
    this.#started = true;
    for (const informer of this.#informers) informer.start();
    void this.#optional.start();
    this.#watchdog = setInterval(() => {
      const now = performance.now();
      for (const informer of this.#informers) informer.checkStall(now);
    }, this.#tuning.watchdogIntervalMs);
    this.#watchdog.unref();
  }

  async stop(): Promise<void> {
    this.#optional.stop();
    clearInterval(this.#watchdog);
    await Promise.all(this.#informers.map((i) => i.stop()));
  }

  /** True once every informer applied its first complete list. */
  get synced(): boolean {
    return this.#informers.every((i) => i.synced);
  }

  /** Resolves after the initial sync of every kind: only then is a table worth compiling. */
  async whenSynced(): Promise<void> {
    // Kinds whose CRDs are installed at start belong to the initial sync; later ones do not wait.
    await this.#optional.whenFirstRound();
    await Promise.all(this.#informers.map((i) => i.whenSynced()));
  }

  /** False once any watch has been failing for longer than `unhealthyAfterMs`. */
  healthy(now = performance.now()): boolean {
    return this.#informers.every((i) => (i.health(now).downForMs ?? 0) <= this.#tuning.unhealthyAfterMs);
  }

  health(now = performance.now()): InformerHealth[] {
    return this.#informers.map((i) => i.health(now));
  }

  /** `namespace/name` of the Secrets in the store: the referenced and pinned ones that exist. */
  storedSecrets(): string[] {
    return this.#named.storedSecrets();
  }

  #handlersFor(kind: Kind, owned: Set<string>): InformerHandlers {
    return {
      replace: (objects, receivedAt) => {
        const present = new Set(objects.map((o) => objectKey(metaOf(o))));
        for (const key of [...owned]) {
          if (present.has(key)) continue;
          const [namespace, name] = key.split("/") as [string, string];
          this.#remove(kind, namespace, name, owned, receivedAt);
        }
        // The items themselves arrive as upserts right after.
      },
      upsert: (object, receivedAt) => this.#upsert(kind, object, owned, receivedAt),
      remove: (object, receivedAt) => {
        const { namespace, name } = metaOf(object);
        this.#remove(kind, namespace, name, owned, receivedAt);
      },
    };
  }

  #upsert(kind: Kind, object: KubernetesObject, owned: Set<string>, receivedAt: number): void {
    const { namespace, name, raw } = metaOf(object);
    const key = `${namespace}/${name}`;
    if (kind === "WebSocketRoute") {
      if (ofAnotherClass(object, this.#options.ingressClass)) {
        // Another controller's route (or one that just moved to another class): not ours at all.
        this.#remove(kind, namespace, name, owned, receivedAt);
        return;
      }
      const stored = this.#store.get(kind, namespace, name) as WebSocketRoute | InvalidRoute | undefined;
      this.#options.onRouteEvent?.(namespace, name, raw.resourceVersion);
      if (sameSpec(stored, raw)) return; // status or metadata only: the table's spec is unchanged
      owned.add(key);
      const route = routeToStore(object, raw, namespace, name, this.#options.log);
      this.#named.namerChanged(kind, key, stored, route, this.#gatedWritten(receivedAt));
      this.#apply(kind, namespace, name, "upsert", receivedAt, () => this.#store.upsert(route));
      return;
    }

    const result = parseObject(object);
    if (result.outcome !== "ok") {
      // Not something we can use (should not happen with objects from the API server); forget any old copy.
      this.#options.log.warn(
        { kind, object: key, errors: result.outcome === "invalid" ? result.errors : [result.reason] },
        "object from the API server does not parse; ignoring it",
      );
      this.#remove(kind, namespace, name, owned, receivedAt);
      return;
    }
    owned.add(key);
    const parsed = result.object;
    if (isGated(kind)) {
      this.#named.upsert(kind, parsed as Secret | ConfigMap, this.#gatedWritten(receivedAt));
      return;
    }
    if (namesGatedObjects(kind)) {
      // A Gateway's listener certificates, an Ingress's TLS Secrets, a BackendTLSPolicy's CA
      // bundles are kept in the store like a route's.
      const before = this.#store.get(kind, namespace, name);
      this.#named.namerChanged(kind, key, before, parsed, this.#gatedWritten(receivedAt));
    }
    const fingerprint = JSON.stringify({
      ...parsed,
      metadata: { ...parsed.metadata, resourceVersion: undefined },
    });
    const id = `${kind} ${key}`;
    if (this.#fingerprints.get(id) === fingerprint && this.#store.get(kind, namespace, name) !== undefined)
      return;
    this.#fingerprints.set(id, fingerprint);
    this.#apply(kind, namespace, name, "upsert", receivedAt, () => this.#store.upsert(parsed));
  }

  #remove(kind: Kind, namespace: string, name: string, owned: Set<string>, receivedAt: number): void {
    const key = `${namespace}/${name}`;
    owned.delete(key);
    if (isGated(kind)) {
      this.#named.remove(kind, key, this.#gatedWritten(receivedAt));
      return;
    }
    this.#fingerprints.delete(`${kind} ${key}`);
    const stored = this.#store.get(kind, namespace, name);
    if (namesGatedObjects(kind)) {
      this.#named.namerChanged(kind, key, stored, undefined, this.#gatedWritten(receivedAt));
    }
    if (stored === undefined) return;
    this.#apply(kind, namespace, name, "delete", receivedAt, () => this.#store.remove(kind, namespace, name));
  }

  /** Publishes the gates' Secret and ConfigMap writes like every other store write of this event. */
  #gatedWritten(receivedAt: number): GatedWritten {
    return (kind) => (namespace, name, change) => this.#published(kind, namespace, name, change, receivedAt);
  }

  #apply(
    kind: Kind,
    namespace: string,
    name: string,
    change: "upsert" | "delete",
    receivedAt: number,
    write: () => void,
  ): void {
    write();
    this.#published(kind, namespace, name, change, receivedAt);
  }

  #published(
    kind: Kind,
    namespace: string,
    name: string,
    change: "upsert" | "delete",
    receivedAt: number,
  ): void {
    if (sourceChannels.objectApplied.hasSubscribers) {
      sourceChannels.objectApplied.publish({ kind, namespace, name, change, receivedAt });
    }
  }
}
