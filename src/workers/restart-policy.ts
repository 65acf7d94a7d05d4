/**
 * When a dead data-plane worker is started again. A worker that dies young is in a crash
 * loop (a bad table, a port it cannot bind): restarting it at once would spin a core, so
 * the delay doubles with each young death; one that lived long enough starts over at once.
 */

/** A worker that dies sooner than this after its start counts as a crash loop: back off. */
export const CRASH_LOOP_MS = 10_000;

/** The longest wait between restarts in a crash loop. */
const MAX_DELAY_MS = 30_000;

/** Delay before the nth restart in a crash loop (n ≥ 1): 250 ms doubling, at most 30 s; none for n = 0. */
export function restartDelay(attempt: number): number {
  return attempt === 0 ? 0 : Math.min(MAX_DELAY_MS, 250 * 2 ** (attempt - 1));
}

/**
 * The attempt number of the restart after a worker that started at `startedAt` (with
 * `attempt`) died at `now`: one more if it died young, else 0.
 */
export function nextRestartAttempt(
  died: { readonly startedAt: number; readonly attempt: number },
  now: number,
): number {
  return now - died.startedAt < CRASH_LOOP_MS ? died.attempt + 1 : 0;
}
