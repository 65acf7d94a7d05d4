/**
 * Waiting on signals with a bounded deadline. `waitFor` polls (for state only the
 * API server has, such as a route's status); `waitForTable` listens to table
 * publications.
 */
import type { TableHolder } from "../../../src/routing/holder.js";
import type { RoutingTable } from "../../../src/routing/table.js";

export interface WaitOptions {
  readonly timeoutMs?: number;
  readonly intervalMs?: number;
  /** Named in the timeout error. */
  readonly what?: string;
}

/** Resolves with the first truthy result of `check`; rejects after the deadline with the last error or value. */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  options: WaitOptions = {},
): Promise<NonNullable<T>> {
  const { timeoutMs = 30_000, intervalMs = 100, what = "condition" } = options;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
      last = value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${detail})`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Resolves with the first table in force (now or later) that satisfies `predicate`. */
export function waitForTable(
  holder: TableHolder,
  predicate: (table: RoutingTable) => boolean,
  options: { timeoutMs?: number; what?: string } = {},
): Promise<RoutingTable> {
  const { timeoutMs = 30_000, what = "a table" } = options;
  if (predicate(holder.current)) return Promise.resolve(holder.current);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe();
      reject(
        new Error(
          `timed out after ${timeoutMs} ms waiting for ${what} (generation ${holder.current.generation})`,
        ),
      );
    }, timeoutMs);
    const unsubscribe = holder.onPublish((p) => {
      if (!predicate(p.table)) return;
      clearTimeout(timer);
      unsubscribe();
      resolve(p.table);
    });
  });
}
