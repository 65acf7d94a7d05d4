/**
 * Turns store changes into published tables. Events are triggers, compile is
 * level-based: any change schedules one compile of the whole store, coalesced —
 * it waits for a quiet `holdOffMs`, but never longer than `maxDelayMs` after the
 * first change, so a steady trickle of events cannot starve publishing. When only
 * EndpointSlices changed, the endpoint path (endpoint-path.ts) gives compile()'s result
 * without recompiling routes.
 */
import { performance } from "node:perf_hooks";
import type { EndpointSlice } from "../api/objects.js";
import { compile } from "./compile.js";
import { EndpointIndex, type SliceChanges } from "./endpoint-path.js";
import type { GatewayApiOptions } from "./gateway-api/listeners.js";
import type { TableHolder } from "./holder.js";
import type { ObjectStore } from "./store.js";

export interface RecompilerOptions {
  readonly ingressClass: string;
  /** `namespace/name` of the Secret served for no or unknown SNI (`--default-tls-secret`). */
  readonly defaultTlsSecret?: string;
  /** `--allow-cross-namespace-hostnames`: routes of any namespace may share a hostname. */
  readonly allowCrossNamespaceHostnames?: boolean;
  /** Gateway API: our GatewayClasses' controllerName and the listener ports served. */
  readonly gatewayApi?: GatewayApiOptions;
  /** `--watch-ingress-without-class`. */
  readonly watchIngressWithoutClass?: boolean;
  readonly holdOffMs?: number;
  readonly maxDelayMs?: number;
}

export class Recompiler {
  readonly #store: ObjectStore;
  readonly #holder: TableHolder;
  readonly #ingressClass: string;
  readonly #defaultTlsSecret: string | undefined;
  readonly #allowCrossNamespaceHostnames: boolean;
  readonly #gatewayApi: GatewayApiOptions | undefined;
  readonly #watchIngressWithoutClass: boolean;
  readonly #holdOffMs: number;
  readonly #maxDelayMs: number;
  #timer: NodeJS.Timeout | undefined;
  #firstChangeAt = 0;
  #unsubscribe: (() => void) | undefined;
  /** What the endpoint path starts from: the last full compile, advanced by every endpoint change since. */
  #index: EndpointIndex | undefined;
  /** EndpointSlices (`namespace/name`) changed since the last publish. */
  readonly #changedSlices = new Set<string>();
  /** Something other than a known EndpointSlice changed since the last publish: compile. */
  #otherChanged = false;

  constructor(store: ObjectStore, holder: TableHolder, options: RecompilerOptions) {
    this.#store = store;
    this.#holder = holder;
    this.#ingressClass = options.ingressClass;
    this.#defaultTlsSecret = options.defaultTlsSecret;
    this.#allowCrossNamespaceHostnames = options.allowCrossNamespaceHostnames ?? false;
    this.#gatewayApi = options.gatewayApi;
    this.#watchIngressWithoutClass = options.watchIngressWithoutClass ?? false;
    this.#holdOffMs = options.holdOffMs ?? 100;
    this.#maxDelayMs = options.maxDelayMs ?? 500;
  }

  /** Compiles and publishes now, then recompiles on every store change. Call after the initial sync. */
  start(): void {
    this.compileNow();
    this.#unsubscribe = this.#store.onChange((kind, key) => {
      if (kind === "EndpointSlice" && key !== undefined) this.#changedSlices.add(key);
      else this.#otherChanged = true;
      this.#schedule();
    });
  }

  stop(): void {
    this.#unsubscribe?.();
    // Unsubscribed, changes go unseen: the next publish compiles.
    this.#unsubscribe = undefined;
    this.#index = undefined;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Publishes the store's table: by the endpoint path when only EndpointSlices changed
   * since the last publish (DESIGN §2.6; changes are known only while subscribed to the
   * store), else by compiling the whole store.
   */
  compileNow(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const started = performance.now();
    const generation = this.#holder.nextGeneration;
    const endpointsOnly =
      this.#index !== undefined && this.#unsubscribe !== undefined && !this.#otherChanged
        ? this.#index.apply(this.#sliceChanges(), generation)
        : undefined;
    this.#changedSlices.clear();
    this.#otherChanged = false;
    if (endpointsOnly) {
      this.#holder.publish({ ...endpointsOnly, compileMs: performance.now() - started });
      return;
    }
    const snapshot = this.#store.snapshot();
    const result = compile(snapshot, {
      generation,
      ingressClass: this.#ingressClass,
      ...(this.#defaultTlsSecret === undefined ? {} : { defaultTlsSecret: this.#defaultTlsSecret }),
      allowCrossNamespaceHostnames: this.#allowCrossNamespaceHostnames,
      ...(this.#gatewayApi === undefined ? {} : { gatewayApi: this.#gatewayApi }),
      watchIngressWithoutClass: this.#watchIngressWithoutClass,
    });
    this.#index = EndpointIndex.of(snapshot, result);
    this.#holder.publish({ ...result, compileMs: performance.now() - started });
  }

  /** The changed slices as they are now in the store (undefined: removed). */
  #sliceChanges(): SliceChanges {
    const changes = new Map<string, EndpointSlice | undefined>();
    for (const key of this.#changedSlices) {
      const slash = key.indexOf("/");
      const slice = this.#store.get("EndpointSlice", key.slice(0, slash), key.slice(slash + 1));
      changes.set(key, slice as EndpointSlice | undefined);
    }
    return changes;
  }

  #schedule(): void {
    const now = performance.now();
    if (this.#timer === undefined) this.#firstChangeAt = now;
    clearTimeout(this.#timer);
    const deadline = this.#firstChangeAt + this.#maxDelayMs;
    const delay = Math.max(0, Math.min(this.#holdOffMs, deadline - now));
    this.#timer = setTimeout(() => this.compileNow(), delay);
  }
}
