/**
 * Collections that exist only once their CRDs are installed (Gateway API). Watching a
 * resource the API server does not serve fails forever, so these are watched only after
 * API discovery lists them — polled until every one is there, so CRDs installed after
 * wsgate started are picked up without a restart.
 *
 * A kind may be listed in several versions, most wanted first: the first one discovery
 * shows is watched and the others are dropped (see {@link GATEWAY_API_COLLECTIONS}).
 */
import { GATEWAY_API_VERSION, GATEWAY_GROUP, GATEWAY_VERSION } from "../../api/gateway-api.js";
import type { Kind } from "../../api/parse.js";
import { ROUTE_API_VERSION } from "../../api/route.js";
import { POLICY_KIND, POLICY_PLURAL } from "../../api/websocket-policy.js";
import { isNotFound, type KubeRest } from "../../kube/rest.js";

/** A collection of an optional API group. */
export interface OptionalCollection {
  readonly kind: Kind;
  readonly apiVersion: string;
  /** Path prefix before the optional `/namespaces/NS` part. */
  readonly prefix: string;
  readonly plural: string;
  /** Cluster-scoped kinds are watched once, whatever namespaces are watched. */
  readonly clusterScoped: boolean;
  /** The discovery document (`/apis/GROUP/VERSION`) and resource whose presence starts the watch. */
  readonly discovery: { readonly path: string; readonly resource: string };
}

const GATEWAY_PREFIX = `/apis/${GATEWAY_GROUP}/${GATEWAY_VERSION}`;
const GATEWAY_V1BETA1_PREFIX = `/apis/${GATEWAY_GROUP}/v1beta1`;

/**
 * The Gateway API kinds wsgate reads (standard channel, v1). ReferenceGrant was served as
 * v1beta1 only before its v1 (the vendored v1.6.3 serves both, v1beta1 still stored): on a
 * cluster with such older CRDs its v1beta1 (the same schema; `parseObject` reads it as v1)
 * is watched instead, so that grants are not lost.
 */
export const GATEWAY_API_COLLECTIONS: readonly OptionalCollection[] = [
  ...[
    { kind: "GatewayClass", plural: "gatewayclasses", clusterScoped: true },
    { kind: "Gateway", plural: "gateways", clusterScoped: false },
    { kind: "HTTPRoute", plural: "httproutes", clusterScoped: false },
    { kind: "ReferenceGrant", plural: "referencegrants", clusterScoped: false },
    { kind: "BackendTLSPolicy", plural: "backendtlspolicies", clusterScoped: false },
  ].map((c) => ({
    ...c,
    kind: c.kind as Kind,
    apiVersion: GATEWAY_API_VERSION,
    prefix: GATEWAY_PREFIX,
    discovery: { path: GATEWAY_PREFIX, resource: c.plural },
  })),
  {
    kind: "ReferenceGrant",
    apiVersion: `${GATEWAY_GROUP}/v1beta1`,
    prefix: GATEWAY_V1BETA1_PREFIX,
    plural: "referencegrants",
    clusterScoped: false,
    discovery: { path: GATEWAY_V1BETA1_PREFIX, resource: "referencegrants" },
  },
  // wsgate's own policy CRD: installed with the chart, but an older install may lack it.
  {
    kind: POLICY_KIND,
    apiVersion: ROUTE_API_VERSION,
    prefix: `/apis/${ROUTE_API_VERSION}`,
    plural: POLICY_PLURAL,
    clusterScoped: false,
    discovery: { path: `/apis/${ROUTE_API_VERSION}`, resource: POLICY_PLURAL },
  },
  // Namespace labels, for listeners' allowedRoutes selectors: needed once Gateways exist.
  {
    kind: "Namespace",
    apiVersion: "v1",
    prefix: "/api/v1",
    plural: "namespaces",
    clusterScoped: true,
    discovery: { path: GATEWAY_PREFIX, resource: "gateways" },
  },
];

interface ApiResourceList {
  resources?: { name: string }[];
}

export interface DiscoveryLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * Polls API discovery for the collections not yet found and hands each newly served one
 * to `found`, once. Stops polling when all were found.
 */
export class OptionalCollections {
  readonly #rest: KubeRest;
  readonly #pending: OptionalCollection[];
  readonly #found: (collection: OptionalCollection) => void;
  readonly #log: DiscoveryLog;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #stopped = true;
  #first: Promise<void> | undefined;

  constructor(
    rest: KubeRest,
    collections: readonly OptionalCollection[],
    deps: { found: (collection: OptionalCollection) => void; log: DiscoveryLog; intervalMs: number },
  ) {
    this.#rest = rest;
    this.#pending = [...collections];
    this.#found = deps.found;
    this.#log = deps.log;
    this.#intervalMs = deps.intervalMs;
  }

  /** Collections still waiting for their CRD. */
  get pending(): readonly OptionalCollection[] {
    return this.#pending;
  }

  /** Starts polling; the returned promise settles after the first round (found or not). */
  start(): Promise<void> {
    if (!this.#stopped) return this.#first ?? Promise.resolve();
    this.#stopped = false;
    this.#first = this.#poll();
    return this.#first;
  }

  /** Resolves after the first discovery round (so an initial sync includes what is installed). */
  whenFirstRound(): Promise<void> {
    return this.#first ?? Promise.resolve();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async #poll(): Promise<void> {
    const prefixes = [...new Set(this.#pending.map((c) => c.discovery.path))];
    for (const prefix of prefixes) {
      let served: Set<string>;
      try {
        const list = await this.#rest.get<ApiResourceList>(prefix);
        served = new Set((list.resources ?? []).map((r) => r.name));
      } catch (err) {
        // 404: the group/version is not served (CRDs not installed). Anything else: retry later.
        if (!isNotFound(err)) this.#log.warn({ prefix, err: (err as Error).message }, "API discovery failed");
        continue;
      }
      if (this.#stopped) return;
      for (const c of this.#pending.filter(
        (p) => p.discovery.path === prefix && served.has(p.discovery.resource),
      )) {
        // The kind's other versions (listed later, wanted less) are not watched as well.
        for (let i = this.#pending.length - 1; i >= 0; i--) {
          if (this.#pending[i]!.kind === c.kind) this.#pending.splice(i, 1);
        }
        this.#log.info(
          { event: "collection_found", kind: c.kind, path: `${c.prefix}/${c.plural}` },
          "watching a newly served kind",
        );
        this.#found(c);
      }
    }
    if (this.#stopped || this.#pending.length === 0) return;
    this.#timer = setTimeout(() => void this.#poll(), this.#intervalMs);
    this.#timer.unref();
  }
}
