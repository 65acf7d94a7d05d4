/**
 * Turns store changes into published tables. Events are triggers, compile is
 * level-based: any change schedules one compile of the whole store, coalesced —
 * it waits for a quiet `holdOffMs`, but never longer than `maxDelayMs` after the
 * first change, so a steady trickle of events cannot starve publishing.
 */
import { performance } from "node:perf_hooks";
import { compile } from "./compile.js";
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
    this.#unsubscribe = this.#store.onChange(() => this.#schedule());
  }

  stop(): void {
    this.#unsubscribe?.();
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Compiles the whole store and publishes the result. */
  compileNow(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const started = performance.now();
    const result = compile(this.#store.snapshot(), {
      ingressClass: this.#ingressClass,
      generation: this.#holder.nextGeneration,
      ...(this.#defaultTlsSecret === undefined ? {} : { defaultTlsSecret: this.#defaultTlsSecret }),
      allowCrossNamespaceHostnames: this.#allowCrossNamespaceHostnames,
      ...(this.#gatewayApi === undefined ? {} : { gatewayApi: this.#gatewayApi }),
      watchIngressWithoutClass: this.#watchIngressWithoutClass,
    });
    this.#holder.publish({ ...result, compileMs: performance.now() - started });
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
