/**
 * The session affinity key of a cluster (`--affinity-key-secret NS/NAME`): an Opaque
 * Secret whose `data.key` every replica reads, so a cookie issued by one replica is
 * honoured by all. The replica holding the leader Lease creates the Secret with a random
 * 32-byte key when it is missing; the others wait for it. Read again periodically, so a
 * key rotated by editing the Secret reaches every replica (cookies under the old key then
 * get a fresh pick, never an error).
 */
import { randomBytes } from "node:crypto";
import type { Logger } from "../observability/logger.js";
import { isConflict, isNotFound, type KubeRest } from "../kube/rest.js";

/** The Secret's data key holding the key material. */
export const AFFINITY_KEY_DATA_KEY = "key";
const MIN_KEY_BYTES = 16;

export interface AffinityKeySecretOptions {
  readonly namespace: string;
  readonly name: string;
  /** True while this replica holds the leader Lease: only then is a missing Secret created. */
  isLeader(): boolean;
  /** Told the key material each time it is read and differs from the last. */
  onKey(material: Uint8Array): void;
  readonly log: Logger;
  /** How often the Secret is read again once a key was read (default 60 s). */
  readonly refreshMs?: number;
  /** How soon a missing, unreadable or invalid Secret is tried again (default 1 s). */
  readonly retryMs?: number;
}

interface SecretObject {
  readonly data?: Record<string, string>;
}

export class AffinityKeySecret {
  readonly #rest: KubeRest;
  readonly #o: AffinityKeySecretOptions;
  readonly #path: string;
  #last: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #stopped = false;
  readonly #keyed: Promise<void>;
  #resolveKeyed!: () => void;

  constructor(rest: KubeRest, options: AffinityKeySecretOptions) {
    this.#rest = rest;
    this.#o = options;
    this.#path = `/api/v1/namespaces/${options.namespace}/secrets/${options.name}`;
    this.#keyed = new Promise((resolve) => (this.#resolveKeyed = resolve));
  }

  /** Resolves once a key was read from (or written to) the Secret. */
  whenKeyed(): Promise<void> {
    return this.#keyed;
  }

  start(): void {
    this.#schedule(0);
  }

  /** Tries again at once (e.g. this replica just became leader and the Secret may be missing). */
  nudge(): void {
    if (this.#last === undefined) this.#schedule(0);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#pass(), ms);
    this.#timer.unref();
  }

  async #pass(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    let keyed = false;
    try {
      keyed = await this.#readOrCreate();
    } catch (err) {
      this.#o.log.warn(
        { event: "affinity_key_unavailable", secret: this.#name(), error: (err as Error).message },
        "cannot read the session affinity key Secret; cookies use this replica's own key meanwhile",
      );
    } finally {
      this.#running = false;
    }
    this.#schedule(keyed ? (this.#o.refreshMs ?? 60_000) : (this.#o.retryMs ?? 1_000));
  }

  /** One read, and the creation when missing and leading. True once a key is in force. */
  async #readOrCreate(): Promise<boolean> {
    let secret: SecretObject;
    try {
      secret = await this.#rest.get<SecretObject>(this.#path);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      if (!this.#o.isLeader()) return false; // the leader creates it; wait
      return this.#create();
    }
    return this.#use(secret.data?.[AFFINITY_KEY_DATA_KEY], "read");
  }

  async #create(): Promise<boolean> {
    const encoded = randomBytes(32).toString("base64");
    try {
      await this.#rest.post(`/api/v1/namespaces/${this.#o.namespace}/secrets`, {
        apiVersion: "v1",
        kind: "Secret",
        metadata: {
          name: this.#o.name,
          namespace: this.#o.namespace,
          labels: { "app.kubernetes.io/managed-by": "wsgate" },
        },
        type: "Opaque",
        data: { [AFFINITY_KEY_DATA_KEY]: encoded },
      });
    } catch (err) {
      // Another replica (a previous leader) created it first: read that one next time.
      if (isConflict(err)) return false;
      throw err;
    }
    return this.#use(encoded, "created");
  }

  #use(encoded: string | undefined, how: "read" | "created"): boolean {
    const material = Buffer.from(encoded ?? "", "base64");
    if (material.length < MIN_KEY_BYTES) {
      this.#o.log.warn(
        { event: "affinity_key_invalid", secret: this.#name(), bytes: material.length },
        `the session affinity key Secret needs data.${AFFINITY_KEY_DATA_KEY} of at least ${MIN_KEY_BYTES} bytes`,
      );
      return false;
    }
    if (encoded !== this.#last) {
      this.#last = encoded;
      this.#o.onKey(material);
      this.#o.log.info(
        { event: "affinity_key", secret: this.#name(), how },
        "session affinity cookies use the cluster's key",
      );
      this.#resolveKeyed();
    }
    return true;
  }

  #name(): string {
    return `${this.#o.namespace}/${this.#o.name}`;
  }
}
