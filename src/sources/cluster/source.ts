/**
 * The cluster source: supervised informers for WebSocketRoutes, Services,
 * EndpointSlices and kubernetes.io/tls Secrets fill the same ObjectStore as the
 * manifest source. Only changes that matter reach the store (and so trigger a
 * recompile):
 * - a route update that leaves `metadata.generation` alone (a status write, a
 *   label) is ignored;
 * - a route of another ingress class is not stored at all: not served, no status;
 * - a Secret is stored only while a route names it (see {@link SecretGate}): it waits
 *   outside until one does, and leaves the store when the last one stops naming it;
 * - re-listed objects identical to what is stored are not written again.
 *
 * The store is this source's output port (DESIGN §2: sources fill the ObjectStore); it
 * imports nothing else of routing. Which Secrets a route names is a fact about the API
 * object, asked of `api/secret-refs`.
 */
import { performance } from "node:perf_hooks";
import type { KubeConfig, KubernetesObject } from "@kubernetes/client-node";
import { objectKey } from "../../api/meta.js";
import type { Ingress } from "../../api/ingress.js";
import type { ConfigMap, Secret } from "../../api/objects.js";
import { parseObject, type Kind } from "../../api/parse.js";
import { ROUTE_API_VERSION, ROUTE_GROUP, ROUTE_VERSION, type WebSocketRoute } from "../../api/route.js";
import { backendCaConfigMaps, secretsNamedBy } from "../../api/secret-refs.js";
import type { KubeRest } from "../../kube/rest.js";
import {
  isInvalidRoute,
  type InvalidRoute,
  type ObjectStore,
  type StoredObject,
} from "../../routing/store.js";
import { sourceChannels } from "./events.js";
import {
  SupervisedInformer,
  type InformerHandlers,
  type InformerHealth,
  type InformerLog,
  type InformerTuning,
  type WatchedResource,
} from "./informer.js";
import {
  GATEWAY_API_COLLECTIONS,
  OptionalCollections,
  type OptionalCollection,
} from "./optional-collections.js";
import { SecretGate } from "./secret-gate.js";
import type { BackendTLSPolicy, Gateway } from "../../api/gateway-api.js";

export const TLS_SECRET_FIELD_SELECTOR = "type=kubernetes.io/tls";
export const OPAQUE_SECRET_FIELD_SELECTOR = "type=Opaque";

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

interface Collection {
  readonly kind: Kind;
  readonly apiVersion: string;
  /** Path prefix before the optional `/namespaces/NS` part. */
  readonly prefix: string;
  readonly plural: string;
  readonly fieldSelector?: string;
  /** Listed across the cluster whatever namespaces are watched (IngressClass). */
  readonly clusterScoped?: boolean;
}

/** networking.k8s.io/v1 is served by every supported cluster: no discovery needed. */
const INGRESS_COLLECTIONS: readonly Collection[] = [
  {
    kind: "Ingress",
    apiVersion: "networking.k8s.io/v1",
    prefix: "/apis/networking.k8s.io/v1",
    plural: "ingresses",
  },
  {
    kind: "IngressClass",
    apiVersion: "networking.k8s.io/v1",
    prefix: "/apis/networking.k8s.io/v1",
    plural: "ingressclasses",
    clusterScoped: true,
  },
];

const COLLECTIONS: readonly Collection[] = [
  {
    kind: "WebSocketRoute",
    apiVersion: ROUTE_API_VERSION,
    prefix: `/apis/${ROUTE_GROUP}/${ROUTE_VERSION}`,
    plural: "websocketroutes",
  },
  { kind: "Service", apiVersion: "v1", prefix: "/api/v1", plural: "services" },
  {
    kind: "EndpointSlice",
    apiVersion: "discovery.k8s.io/v1",
    prefix: "/apis/discovery.k8s.io/v1",
    plural: "endpointslices",
  },
  {
    kind: "Secret",
    apiVersion: "v1",
    prefix: "/api/v1",
    plural: "secrets",
    fieldSelector: TLS_SECRET_FIELD_SELECTOR,
  },
  {
    // JWT key Secrets (spec.auth.jwt.keys.secretRef) are plain Opaque Secrets. Both
    // informers keep only Secrets some route names; the others wait outside the store.
    kind: "Secret",
    apiVersion: "v1",
    prefix: "/api/v1",
    plural: "secrets",
    fieldSelector: OPAQUE_SECRET_FIELD_SELECTOR,
  },
  // Backend CA bundles (backendTLS, BackendTLSPolicy): only the ConfigMaps something names
  // are stored; the others wait outside the store, as unnamed Secrets do.
  { kind: "ConfigMap", apiVersion: "v1", prefix: "/api/v1", plural: "configmaps" },
];

/**
 * The collections a source with these namespaces watches, one informer each; Ingress and
 * IngressClass unless `ingress` is false (`--disable-ingress`).
 */
export function watchedResources(
  namespaces: readonly string[],
  { ingress = true }: { ingress?: boolean } = {},
): WatchedResource[] {
  const scopes = namespaces.length > 0 ? [...new Set(namespaces)].sort() : [""];
  return [...COLLECTIONS, ...(ingress ? INGRESS_COLLECTIONS : [])].flatMap((c) =>
    (c.clusterScoped ? [""] : scopes).map((namespace) => ({
      kind: c.kind,
      apiVersion: c.apiVersion,
      path: namespace ? `${c.prefix}/namespaces/${namespace}/${c.plural}` : `${c.prefix}/${c.plural}`,
      namespace,
      ...(c.fieldSelector ? { fieldSelector: c.fieldSelector } : {}),
    })),
  );
}

interface RawMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
}

function metaOf(object: KubernetesObject): { namespace: string; name: string; raw: RawMeta } {
  const raw = (object.metadata ?? {}) as RawMeta;
  return { namespace: raw.namespace ?? "default", name: raw.name ?? "", raw };
}

/** `namespace/name` of the TLS Secrets an Ingress names (kept in the store like a route's). */
function ingressSecrets(ingress: StoredObject | undefined): string[] {
  if (ingress?.kind !== "Ingress") return [];
  const { namespace } = ingress.metadata;
  const names = (ingress as Ingress).spec.tls.flatMap((t) =>
    t.secretName ? [`${namespace}/${t.secretName}`] : [],
  );
  return [...new Set(names)];
}

/** `namespace/name` of every Secret a stored route names; an invalid route names none. */
function secretsOfRoute(route: StoredObject | undefined): string[] {
  if (!route || route.kind !== "WebSocketRoute" || isInvalidRoute(route)) return [];
  return secretsNamedBy(route);
}

/** `namespace/name` of the CA Secrets a BackendTLSPolicy names (kept in the store like a route's). */
function policyCaSecrets(policy: StoredObject | undefined): string[] {
  if (policy?.kind !== "BackendTLSPolicy") return [];
  const { namespace } = policy.metadata;
  const names = (policy as BackendTLSPolicy).spec.validation.caCertificateRefs
    .filter((ref) => ref.group === "" && ref.kind === "Secret")
    .map((ref) => `${namespace}/${ref.name}`);
  return [...new Set(names)];
}

/** `namespace/name` of the CA ConfigMaps a BackendTLSPolicy names. */
function policyCaConfigMaps(policy: StoredObject | undefined): string[] {
  if (policy?.kind !== "BackendTLSPolicy") return [];
  const { namespace } = policy.metadata;
  const names = (policy as BackendTLSPolicy).spec.validation.caCertificateRefs
    .filter((ref) => ref.group === "" && ref.kind === "ConfigMap")
    .map((ref) => `${namespace}/${ref.name}`);
  return [...new Set(names)];
}

/** `namespace/name` of the CA ConfigMaps a stored route's backendRefs name; an invalid route names none. */
function configMapsOfRoute(route: StoredObject | undefined): string[] {
  if (!route || route.kind !== "WebSocketRoute" || isInvalidRoute(route)) return [];
  return backendCaConfigMaps(route);
}

/** `namespace/name` of the certificate Secrets a Gateway's listeners name. */
function gatewaySecrets(gateway: Gateway): string[] {
  const names = gateway.spec.listeners.flatMap((l) =>
    (l.tls?.certificateRefs ?? [])
      .filter((ref) => ref.group === "" && ref.kind === "Secret")
      .map((ref) => `${ref.namespace ?? gateway.metadata.namespace}/${ref.name}`),
  );
  return [...new Set(names)];
}

export class ClusterSource {
  readonly #store: ObjectStore;
  readonly #options: ClusterSourceOptions;
  readonly #tuning: ClusterSourceTuning;
  readonly #informers: SupervisedInformer[];
  /** What each stored Service or EndpointSlice looked like, to drop no-op updates (relists, resourceVersion bumps). */
  readonly #fingerprints = new Map<string, string>();
  /** Secrets: stored only while referenced. */
  readonly #secrets: SecretGate;
  /** Backend CA ConfigMaps: stored only while a route or BackendTLSPolicy names them. */
  readonly #configMaps: SecretGate;
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
    this.#secrets = new SecretGate(store, options.pinnedSecrets ?? []);
    this.#configMaps = new SecretGate(store, [], "ConfigMap");
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
    const scopes =
      c.clusterScoped || this.#options.namespaces.length === 0
        ? [""]
        : [...new Set(this.#options.namespaces)].sort();
    for (const namespace of scopes) {
      const informer = this.#addInformer({
        kind: c.kind,
        apiVersion: c.apiVersion,
        path: namespace ? `${c.prefix}/namespaces/${namespace}/${c.plural}` : `${c.prefix}/${c.plural}`,
        namespace,
      });
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
    return this.#secrets.stored();
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
      const ingressClass = (object as { spec?: { ingressClassName?: unknown } }).spec?.ingressClassName;
      if (typeof ingressClass === "string" && ingressClass !== this.#options.ingressClass) {
        // Another controller's route (or one that just moved to another class): not ours at all.
        this.#remove(kind, namespace, name, owned, receivedAt);
        return;
      }
      const stored = this.#store.get(kind, namespace, name) as WebSocketRoute | InvalidRoute | undefined;
      this.#options.onRouteEvent?.(namespace, name, raw.resourceVersion);
      if (
        stored &&
        raw.generation !== undefined &&
        stored.metadata.generation === raw.generation &&
        (stored as { metadata: { uid?: string } }).metadata.uid === raw.uid
      ) {
        return; // status or metadata only: the spec the table was compiled from is unchanged
      }
      owned.add(key);
      const route = this.#parseRoute(object, raw, namespace, name);
      this.#secrets.routeChanged(
        key,
        secretsOfRoute(stored),
        secretsOfRoute(route),
        this.#secretWritten(receivedAt),
      );
      this.#configMaps.routeChanged(
        key,
        configMapsOfRoute(stored),
        configMapsOfRoute(route),
        this.#configMapWritten(receivedAt),
      );
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
    if (kind === "Secret") {
      this.#secrets.upsert(parsed as Secret, this.#secretWritten(receivedAt));
      return;
    }
    if (kind === "ConfigMap") {
      this.#configMaps.upsert(parsed as ConfigMap, this.#configMapWritten(receivedAt));
      return;
    }
    if (kind === "Gateway") {
      // A listener's certificate Secret is kept in the store like a route's.
      const before = this.#store.get(kind, namespace, name) as Gateway | undefined;
      this.#secrets.routeChanged(
        `Gateway ${key}`,
        before ? gatewaySecrets(before) : [],
        gatewaySecrets(parsed as Gateway),
        this.#secretWritten(receivedAt),
      );
    }
    if (kind === "Ingress") {
      this.#secrets.routeChanged(
        `Ingress ${key}`,
        ingressSecrets(this.#store.get(kind, namespace, name)),
        ingressSecrets(parsed),
        this.#secretWritten(receivedAt),
      );
    }
    if (kind === "BackendTLSPolicy") {
      this.#secrets.routeChanged(
        `BackendTLSPolicy ${key}`,
        policyCaSecrets(this.#store.get(kind, namespace, name)),
        policyCaSecrets(parsed),
        this.#secretWritten(receivedAt),
      );
      this.#configMaps.routeChanged(
        `BackendTLSPolicy ${key}`,
        policyCaConfigMaps(this.#store.get(kind, namespace, name)),
        policyCaConfigMaps(parsed),
        this.#configMapWritten(receivedAt),
      );
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
    if (kind === "Secret") {
      this.#secrets.remove(key, this.#secretWritten(receivedAt));
      return;
    }
    if (kind === "ConfigMap") {
      this.#configMaps.remove(key, this.#configMapWritten(receivedAt));
      return;
    }
    this.#fingerprints.delete(`${kind} ${key}`);
    const stored = this.#store.get(kind, namespace, name);
    if (kind === "WebSocketRoute") {
      this.#secrets.routeChanged(key, secretsOfRoute(stored), [], this.#secretWritten(receivedAt));
      this.#configMaps.routeChanged(key, configMapsOfRoute(stored), [], this.#configMapWritten(receivedAt));
    }
    if (kind === "Gateway" && stored) {
      this.#secrets.routeChanged(
        `Gateway ${key}`,
        gatewaySecrets(stored as Gateway),
        [],
        this.#secretWritten(receivedAt),
      );
    }
    if (kind === "BackendTLSPolicy") {
      this.#secrets.routeChanged(
        `BackendTLSPolicy ${key}`,
        policyCaSecrets(stored),
        [],
        this.#secretWritten(receivedAt),
      );
      this.#configMaps.routeChanged(
        `BackendTLSPolicy ${key}`,
        policyCaConfigMaps(stored),
        [],
        this.#configMapWritten(receivedAt),
      );
    }
    if (kind === "Ingress") {
      this.#secrets.routeChanged(
        `Ingress ${key}`,
        ingressSecrets(stored),
        [],
        this.#secretWritten(receivedAt),
      );
    }
    if (stored === undefined) return;
    this.#apply(kind, namespace, name, "delete", receivedAt, () => this.#store.remove(kind, namespace, name));
  }

  /** Publishes the gate's Secret writes like every other store write of this event. */
  #secretWritten(receivedAt: number): (namespace: string, name: string, change: "upsert" | "delete") => void {
    return (namespace, name, change) => this.#published("Secret", namespace, name, change, receivedAt);
  }

  #configMapWritten(
    receivedAt: number,
  ): (namespace: string, name: string, change: "upsert" | "delete") => void {
    return (namespace, name, change) => this.#published("ConfigMap", namespace, name, change, receivedAt);
  }

  #parseRoute(
    object: KubernetesObject,
    raw: RawMeta,
    namespace: string,
    name: string,
  ): WebSocketRoute | InvalidRoute {
    const result = parseObject(object);
    if (result.outcome === "ok") {
      // Status is ours to write and not an input of compile(); keep the stored copy spec-only.
      const { status: _status, ...route } = result.object as WebSocketRoute;
      return route as WebSocketRoute;
    }
    const errors = result.outcome === "invalid" ? result.errors : [result.reason];
    this.#options.log.warn({ route: `${namespace}/${name}`, errors }, "route is invalid");
    return {
      kind: "WebSocketRoute",
      invalid: true,
      metadata: {
        namespace,
        name,
        ...(raw.generation === undefined ? {} : { generation: raw.generation }),
        ...(raw.creationTimestamp === undefined ? {} : { creationTimestamp: raw.creationTimestamp }),
        ...(raw.uid === undefined ? {} : { uid: raw.uid }),
      },
      errors,
    } as InvalidRoute;
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
