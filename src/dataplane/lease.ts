/**
 * What one request holds while it is served — its route and client connection slots,
 * the endpoint it is counted against — and the one place that gives it all back.
 *
 * A request handler takes a lease, records every count it takes with {@link Lease.hold},
 * and ends the lease in a `finally` — unless the request was handed on (an established
 * relay, a proxied response), whose own end then ends it. Ending is idempotent, so a
 * refusal, a vanished client and an exception in the middle all give back exactly what
 * was taken, once.
 */
export class Lease {
  /** What is held, oldest first; a slot is emptied once given back. */
  #releases: ((() => void) | undefined)[] = [];

  /**
   * Records something taken. Returns a function that gives just that back early (a
   * failed endpoint before the next one is tried); it is then not given back again.
   * What an established connection holds is kept as the bare release functions — no
   * wrapper per hold (bench W4: heap per idle connection).
   */
  hold(release: () => void): () => void {
    const releases = this.#releases;
    const slot = releases.push(release) - 1;
    return () => {
      const held = releases[slot];
      if (held === undefined) return;
      releases[slot] = undefined;
      held();
    };
  }

  /**
   * Gives back everything still held, newest first. A release that throws does not stop
   * the others; the first such error is returned (not thrown: ending often runs in an event
   * handler, where a throw would end the process).
   */
  end(): Error | undefined {
    const releases = this.#releases;
    this.#releases = [];
    let failure: Error | undefined;
    for (let i = releases.length - 1; i >= 0; i--) {
      const release = releases[i];
      if (release === undefined) continue;
      releases[i] = undefined;
      try {
        release();
      } catch (err) {
        failure ??= new Error("releasing a request's counts failed", { cause: err });
      }
    }
    return failure;
  }
}
