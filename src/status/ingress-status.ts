/**
 * What the leader writes back to the Ingresses wsgate serves. Ingress has no
 * conditions, so everything not served as written (an ignored snippet, an unknown or
 * unsupported annotation, a regex path, a missing Service or Secret, a lost conflict)
 * becomes a Kubernetes Event on the Ingress, once per Ingress generation and message.
 * `status.loadBalancer.ingress` carries the addresses of wsgate's own Service
 * (`--publish-service`): its load balancer's, else its cluster IP — written only when
 * it differs from what the Ingress shows (get → compare → update, retried on conflict).
 */
import { randomBytes } from "node:crypto";
import { isConflict, isNotFound, type KubeRest } from "../kube/rest.js";
import { WritePasses, type PassOutcome } from "./write-passes.js";
import type { IngressDiagnostics } from "../routing/ingress/routes.js";
import { microTime } from "./leader.js";

export interface IngressStatusOptions {
  isLeader(): boolean;
  /** `reportingController` of Events. */
  readonly controllerName: string;
  /** `reportingInstance` of Events: this replica's identity. */
  readonly instance: string;
  /** `namespace/name` of wsgate's Service (`--publish-service`); without it no status is written. */
  readonly publishService?: string;
  readonly log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  /** How often the published Service's addresses are read again (they change when a load balancer is provisioned). */
  readonly serviceIntervalMs?: number;
  /** Delay before retrying writes that failed (API server down); doubles up to 30 s. */
  readonly retryDelayMs?: number;
  readonly now?: () => Date;
}

/** One entry of `status.loadBalancer.ingress`. */
export interface LoadBalancerIngress {
  readonly ip?: string;
  readonly hostname?: string;
}

interface LiveIngress {
  metadata: { name: string; namespace: string; uid?: string; resourceVersion?: string };
  status?: { loadBalancer?: { ingress?: LoadBalancerIngress[] } };
  [field: string]: unknown;
}

interface LiveService {
  spec?: { clusterIP?: string; externalIPs?: string[] };
  status?: { loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] } };
}

export interface IngressStatusStats {
  events: number;
  statusWrites: number;
  failures: number;
}

/** The addresses an Ingress served through this Service is reachable at. */
export function serviceAddresses(service: LiveService): LoadBalancerIngress[] {
  const lb: LoadBalancerIngress[] = [];
  for (const e of service.status?.loadBalancer?.ingress ?? []) {
    if (e.ip) lb.push({ ip: e.ip });
    else if (e.hostname) lb.push({ hostname: e.hostname });
  }
  if (lb.length > 0) return lb;
  const external = (service.spec?.externalIPs ?? []).map((ip) => ({ ip }));
  if (external.length > 0) return external;
  const clusterIP = service.spec?.clusterIP;
  return clusterIP && clusterIP !== "None" ? [{ ip: clusterIP }] : [];
}

const sameAddresses = (a: readonly LoadBalancerIngress[], b: readonly LoadBalancerIngress[]): boolean =>
  JSON.stringify(a.map((e) => [e.ip ?? "", e.hostname ?? ""])) ===
  JSON.stringify(b.map((e) => [e.ip ?? "", e.hostname ?? ""]));

export class IngressStatusWriter {
  readonly #rest: KubeRest;
  readonly #options: IngressStatusOptions;
  readonly #now: () => Date;
  #desired: readonly IngressDiagnostics[] = [];
  /** Events already recorded: `ns/name generation reason message`. */
  readonly #recorded = new Set<string>();
  /** `ns/name` → addresses the API server is known to show. */
  readonly #confirmed = new Map<string, string>();
  #addresses: LoadBalancerIngress[] | undefined;
  readonly #passes: WritePasses;
  readonly stats: IngressStatusStats = { events: 0, statusWrites: 0, failures: 0 };

  constructor(rest: KubeRest, options: IngressStatusOptions) {
    this.#rest = rest;
    this.#options = options;
    this.#now = options.now ?? (() => new Date());
    this.#passes = new WritePasses(
      () => this.#pass(),
      options.retryDelayMs === undefined ? {} : { retryDelayMs: options.retryDelayMs },
    );
  }

  /** Takes the Ingress diagnostics of a newly published table. */
  update(ingresses: readonly IngressDiagnostics[] | undefined): void {
    this.#desired = ingresses ?? [];
    this.#passes.kick();
  }

  /** A new leader checks every Ingress once more and starts watching the Service's addresses. */
  leadershipChanged(leading: boolean): void {
    this.#confirmed.clear();
    const readService = leading && this.#options.publishService !== undefined;
    this.#passes.repeatEvery(readService ? (this.#options.serviceIntervalMs ?? 15_000) : undefined);
    if (leading) this.#passes.kick();
  }

  stop(): void {
    this.#passes.stop();
  }

  /** Resolves when no write is pending or in flight. */
  idle(): Promise<void> {
    return this.#passes.idle();
  }

  /** One pass over the Ingresses of the latest publication; a failed write is retried with back-off. */
  async #pass(): Promise<PassOutcome> {
    let failed = false;
    if (!this.#options.isLeader()) return { failed };
    const desired = this.#desired;
    const addresses = await this.#readAddresses();
    for (const ingress of desired) {
      if (this.#passes.stopped || !this.#options.isLeader() || this.#desired !== desired) break;
      const key = `${ingress.namespace}/${ingress.name}`;
      try {
        await this.#recordNotices(ingress);
        if (addresses !== undefined && ingress.served) await this.#syncStatus(ingress, key, addresses);
      } catch (err) {
        failed = true;
        this.stats.failures++;
        this.#options.log.warn(
          { ingress: key, err: (err as Error).message },
          "Ingress status write failed; will retry",
        );
      }
    }
    return { failed };
  }

  /** The published Service's addresses; undefined (no status written) without one or when it cannot be read. */
  async #readAddresses(): Promise<LoadBalancerIngress[] | undefined> {
    const ref = this.#options.publishService;
    if (!ref) return undefined;
    const [namespace, name] = ref.split("/") as [string, string];
    try {
      const service = await this.#rest.get<LiveService>(`/api/v1/namespaces/${namespace}/services/${name}`);
      const addresses = serviceAddresses(service);
      if (!this.#addresses || !sameAddresses(this.#addresses, addresses)) {
        this.#addresses = addresses;
        this.#confirmed.clear();
      }
      return addresses;
    } catch (err) {
      this.#options.log.warn({ service: ref, err: (err as Error).message }, "publish Service not readable");
      return undefined;
    }
  }

  async #syncStatus(
    ingress: IngressDiagnostics,
    key: string,
    addresses: LoadBalancerIngress[],
  ): Promise<void> {
    const fp = JSON.stringify(addresses);
    if (this.#confirmed.get(key) === fp) return;
    const path = `/apis/networking.k8s.io/v1/namespaces/${ingress.namespace}/ingresses/${ingress.name}`;
    for (let attempt = 0; attempt < 5; attempt++) {
      let live: LiveIngress;
      try {
        live = await this.#rest.get<LiveIngress>(path);
      } catch (err) {
        if (isNotFound(err)) return;
        throw err;
      }
      if (sameAddresses(live.status?.loadBalancer?.ingress ?? [], addresses)) {
        this.#confirmed.set(key, fp);
        return;
      }
      if (!this.#options.isLeader()) return;
      try {
        await this.#rest.put(`${path}/status`, {
          ...live,
          status: { ...live.status, loadBalancer: { ingress: addresses } },
        });
        this.stats.statusWrites++;
        this.#confirmed.set(key, fp);
        return;
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
    }
  }

  async #recordNotices(ingress: IngressDiagnostics): Promise<void> {
    for (const notice of ingress.notices) {
      const id = `${ingress.namespace}/${ingress.name} ${ingress.generation ?? ""} ${notice.reason} ${notice.message}`;
      if (this.#recorded.has(id)) continue;
      if (!this.#options.isLeader()) return;
      const now = this.#now();
      const event = {
        apiVersion: "events.k8s.io/v1",
        kind: "Event",
        metadata: {
          namespace: ingress.namespace,
          name: `${ingress.name}.${now.getTime().toString(16)}${randomBytes(3).toString("hex")}`,
        },
        eventTime: microTime(now),
        reportingController: this.#options.controllerName,
        reportingInstance: this.#options.instance.slice(0, 128),
        action: "Translate",
        reason: notice.reason,
        type: "Warning",
        note: notice.message.slice(0, 1024),
        regarding: {
          apiVersion: "networking.k8s.io/v1",
          kind: "Ingress",
          namespace: ingress.namespace,
          name: ingress.name,
        },
      };
      await this.#rest.post(`/apis/events.k8s.io/v1/namespaces/${ingress.namespace}/events`, event);
      this.#recorded.add(id);
      this.stats.events++;
    }
  }
}
