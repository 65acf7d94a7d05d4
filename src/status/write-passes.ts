/**
 * How every status writer (routes, Gateway API objects, Ingresses) runs its passes
 * over the API server: one pass at a time; a change while a pass runs asks for one more
 * pass after it (changes coalesce, so a burst of publications costs one pass per
 * pass-duration, not one per publication); a pass that failed somewhere is retried with
 * back-off (1 s doubling to 30 s by default), so a write lost to an API server outage is
 * made once it is back, without waiting for the next publication.
 */

/** What a pass reports: whether some write in it failed and should be retried. */
export type PassOutcome = { readonly failed: boolean };

export interface WritePassOptions {
  /** First retry delay after a failed pass (default 1 s); doubles up to `maxRetryDelayMs`. */
  readonly retryDelayMs?: number;
  /** Longest retry delay (default 30 s). */
  readonly maxRetryDelayMs?: number;
}

export class WritePasses {
  readonly #pass: () => Promise<PassOutcome>;
  readonly #firstDelayMs: number;
  readonly #maxDelayMs: number;
  #delayMs: number;
  #running = false;
  #dirty = false;
  #stopped = false;
  #retry: NodeJS.Timeout | undefined;
  #repeat: NodeJS.Timeout | undefined;
  #idleWaiters: (() => void)[] = [];

  constructor(pass: () => Promise<PassOutcome>, options: WritePassOptions = {}) {
    this.#pass = pass;
    this.#firstDelayMs = options.retryDelayMs ?? 1_000;
    this.#maxDelayMs = options.maxRetryDelayMs ?? 30_000;
    this.#delayMs = this.#firstDelayMs;
  }

  /** True once {@link stop} was called: a pass checks it between writes. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** Something changed: run a pass now, or one more after the running one. */
  kick(): void {
    if (this.#stopped) return;
    this.#dirty = true;
    if (!this.#running) void this.#drain();
  }

  /**
   * Also runs a pass every `intervalMs` (what the API server shows may change without a
   * publication, e.g. a Service's load balancer address); `undefined` ends the repetition.
   */
  repeatEvery(intervalMs: number | undefined): void {
    clearInterval(this.#repeat);
    this.#repeat = undefined;
    if (intervalMs === undefined || this.#stopped) return;
    this.#repeat = setInterval(() => this.kick(), intervalMs);
    this.#repeat.unref();
  }

  /** No more passes; a pending retry and any repetition are cancelled. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#retry);
    clearInterval(this.#repeat);
  }

  /** Resolves when no pass is pending or running (a scheduled retry does not count). */
  idle(): Promise<void> {
    if (!this.#running && !this.#dirty) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  async #drain(): Promise<void> {
    this.#running = true;
    let failed = false;
    try {
      while (this.#dirty && !this.#stopped) {
        this.#dirty = false;
        ({ failed } = await this.#pass());
      }
    } finally {
      // A pass reports its own write failures; anything it throws is a bug, which ends
      // the process (an unhandled rejection), as any control-plane bug does.
      this.#running = false;
      if (failed && !this.#stopped) {
        clearTimeout(this.#retry);
        this.#retry = setTimeout(() => this.kick(), this.#delayMs);
        this.#retry.unref();
        this.#delayMs = Math.min(this.#maxDelayMs, this.#delayMs * 2);
      } else if (!failed) {
        this.#delayMs = this.#firstDelayMs;
      }
      if (!this.#dirty) for (const resolve of this.#idleWaiters.splice(0)) resolve();
    }
  }
}
