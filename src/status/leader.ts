/**
 * Leader election on a `coordination.k8s.io/v1` Lease, with client-go's
 * semantics (client-node has no helper for it):
 * - every `retryPeriodMs` a candidate reads the Lease; it may take it when it is
 *   free (no holder) or when its record has not changed for `leaseDurationMs` as
 *   measured on the candidate's own clock — never by comparing timestamps
 *   written by another machine;
 * - takeovers and renewals are updates guarded by `resourceVersion`, so two
 *   candidates cannot both win;
 * - the leader stops being leader the moment it sees another holder, or when no
 *   renewal succeeded for `renewDeadlineMs` (< lease duration, so it stops
 *   before anyone may take over); {@link LeaderElector.isLeader} checks that
 *   deadline on every call rather than waiting for a timer;
 * - a graceful stop releases the Lease so that a standby takes over at its next try.
 */
import { performance } from "node:perf_hooks";
import { isConflict, isNotFound, type KubeRest } from "../kube/rest.js";

export interface LeaderElectionOptions {
  readonly namespace: string;
  readonly name: string;
  /** Unique per replica: the Pod name plus a random suffix. */
  readonly identity: string;
  readonly leaseDurationMs: number;
  /** Defaults to two thirds of the lease duration. */
  readonly renewDeadlineMs?: number;
  /** Defaults to the lease duration / 7.5 (2 s for 15 s, as client-go). */
  readonly retryPeriodMs?: number;
  readonly log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

interface Lease {
  apiVersion: "coordination.k8s.io/v1";
  kind: "Lease";
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

/** `metav1.MicroTime`: RFC 3339 with exactly six fractional digits. */
export function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

export class LeaderElector {
  readonly #rest: KubeRest;
  readonly #options: LeaderElectionOptions;
  readonly #renewDeadlineMs: number;
  readonly #retryPeriodMs: number;
  readonly #listeners = new Set<(leading: boolean) => void>();
  #leading = false;
  #lastRenew = 0;
  /** The Lease spec last seen and when (our clock) it was first seen that way. */
  #observed: { record: string; at: number } | undefined;
  #timer: NodeJS.Timeout | undefined;
  #deadline: NodeJS.Timeout | undefined;
  #stopped = true;
  #tick: Promise<void> = Promise.resolve();

  constructor(rest: KubeRest, options: LeaderElectionOptions) {
    this.#rest = rest;
    this.#options = options;
    this.#renewDeadlineMs = options.renewDeadlineMs ?? Math.round((options.leaseDurationMs * 2) / 3);
    this.#retryPeriodMs = options.retryPeriodMs ?? Math.max(100, Math.round(options.leaseDurationMs / 7.5));
    if (this.#renewDeadlineMs >= options.leaseDurationMs) {
      throw new Error("the renew deadline must be shorter than the lease duration");
    }
  }

  get identity(): string {
    return this.#options.identity;
  }

  /** True only while this replica holds a Lease renewed within the renew deadline. */
  get isLeader(): boolean {
    return this.#leading && performance.now() - this.#lastRenew < this.#renewDeadlineMs;
  }

  /** Subscribes to leadership changes; returns the unsubscribe function. */
  onChange(listener: (leading: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#schedule(0);
  }

  /** Stops campaigning; a leader releases the Lease so that a standby takes over at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#tick;
    if (this.#leading) {
      const wasLeader = this.isLeader;
      this.#setLeading(false);
      if (wasLeader) await this.#release();
    }
    clearTimeout(this.#deadline);
  }

  #schedule(delayMs: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#tick = this.#attempt().finally(() => {
        if (this.#stopped) return;
        // Candidates spread their tries (client-go's jitter factor 1.2); a leader renews on the period.
        const jitter = this.#leading ? 0 : Math.random() * 0.2 * this.#retryPeriodMs;
        this.#schedule(this.#retryPeriodMs + jitter);
      });
    }, delayMs);
  }

  async #attempt(): Promise<void> {
    try {
      const won = await this.#tryAcquireOrRenew();
      if (this.#stopped) return;
      if (won) {
        this.#lastRenew = performance.now();
        this.#armDeadline();
        this.#setLeading(true);
      } else if (this.#leading) {
        this.#setLeading(false);
      }
    } catch (err) {
      this.#options.log.warn(
        { err: (err as Error).message, lease: `${this.#options.namespace}/${this.#options.name}` },
        this.#leading ? "lease renewal failed" : "lease read failed",
      );
      if (this.#leading && !this.isLeader) this.#setLeading(false);
    }
  }

  /** Drops leadership when the renew deadline passes without a renewal, even if a request hangs. */
  #armDeadline(): void {
    clearTimeout(this.#deadline);
    this.#deadline = setTimeout(() => {
      if (this.#leading && !this.isLeader) this.#setLeading(false);
    }, this.#renewDeadlineMs + 1);
    this.#deadline.unref();
  }

  #setLeading(leading: boolean): void {
    if (this.#leading === leading) return;
    this.#leading = leading;
    const { namespace, name, identity } = this.#options;
    this.#options.log.info(
      { lease: `${namespace}/${name}`, identity, leading },
      leading ? "became leader: writing status" : "lost leadership: status writes stopped",
    );
    for (const listener of this.#listeners) listener(leading);
  }

  get #path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.#options.namespace}/leases`;
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity, leaseDurationMs } = this.#options;
    const now = new Date();
    const leaseDurationSeconds = Math.max(1, Math.round(leaseDurationMs / 1000));
    let lease: Lease;
    try {
      lease = await this.#rest.get<Lease>(`${this.#path}/${name}`);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      const created: Lease = {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name, namespace },
        spec: {
          holderIdentity: identity,
          leaseDurationSeconds,
          acquireTime: microTime(now),
          renewTime: microTime(now),
          leaseTransitions: 0,
        },
      };
      try {
        const result = await this.#rest.post<Lease>(this.#path, created);
        this.#observe(result.spec);
        return true;
      } catch (createErr) {
        if (isConflict(createErr) || (createErr as { status?: number }).status === 409) return false;
        throw createErr;
      }
    }
    const spec = lease.spec ?? {};
    this.#observe(spec);
    const holder = spec.holderIdentity ?? "";
    const observed = this.#observed as { at: number };
    const heldMs = (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
    if (holder !== "" && holder !== identity && performance.now() - observed.at < heldMs) {
      return false; // another replica holds a lease that has not expired by our clock
    }
    const renewing = holder === identity;
    const next: Lease = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds,
        renewTime: microTime(now),
        acquireTime: renewing && spec.acquireTime ? spec.acquireTime : microTime(now),
        leaseTransitions: renewing ? (spec.leaseTransitions ?? 0) : (spec.leaseTransitions ?? 0) + 1,
      },
    };
    try {
      const result = await this.#rest.put<Lease>(`${this.#path}/${name}`, next);
      this.#observe(result.spec);
      if (!renewing) {
        this.#options.log.info(
          { lease: `${namespace}/${name}`, previous: holder || "(none)" },
          "lease acquired",
        );
      }
      return true;
    } catch (err) {
      if (isConflict(err)) return false; // someone else wrote the Lease first
      throw err;
    }
  }

  #observe(spec: LeaseSpec | undefined): void {
    const record = JSON.stringify(spec ?? {});
    if (this.#observed?.record !== record) this.#observed = { record, at: performance.now() };
  }

  async #release(): Promise<void> {
    const { name, identity } = this.#options;
    try {
      const lease = await this.#rest.get<Lease>(`${this.#path}/${name}`);
      if (lease.spec?.holderIdentity !== identity) return;
      const now = microTime(new Date());
      await this.#rest.put<Lease>(`${this.#path}/${name}`, {
        ...lease,
        spec: {
          ...lease.spec,
          holderIdentity: "",
          leaseDurationSeconds: 1,
          acquireTime: now,
          renewTime: now,
        },
      });
      this.#options.log.info({ lease: `${this.#options.namespace}/${name}` }, "lease released");
    } catch (err) {
      this.#options.log.warn(
        { err: (err as Error).message },
        "lease release failed; a standby takes over when it expires",
      );
    }
  }
}
