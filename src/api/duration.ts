/**
 * Gateway API Duration strings (GEP-2257): one to four `<number><unit>` groups,
 * units h, m, s, ms, e.g. `1h`, `30s`, `1m30s`, `500ms`, `0s`.
 */
export const DURATION_PATTERN = "^([0-9]{1,5}(h|m|s|ms)){1,4}$";

const DURATION_RE = new RegExp(DURATION_PATTERN);
const PART_RE = /([0-9]{1,5})(h|ms|m|s)/g;
const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1 };

/** True when `text` is a valid Gateway API Duration. */
export function isDuration(text: string): boolean {
  return DURATION_RE.test(text);
}

/**
 * Converts a Gateway API Duration to milliseconds.
 * @throws Error when `text` is not a Duration; validate first with {@link isDuration}.
 */
export function durationToMs(text: string): number {
  const known = PARSED.get(text);
  if (known !== undefined) return known;
  if (!isDuration(text)) {
    throw new Error(`"${text}" is not a duration; use forms like 30s, 1m30s, 500ms or 1h`);
  }
  let total = 0;
  for (const match of text.matchAll(PART_RE)) {
    total += Number(match[1]) * (UNIT_MS[match[2] as string] as number);
  }
  if (PARSED.size < MAX_PARSED) PARSED.set(text, total);
  return total;
}

/**
 * Durations already converted: compile() converts about eight per route (a regular
 * expression each), and routes repeat a few values. Bounded, as the texts come from users.
 */
const PARSED = new Map<string, number>();
const MAX_PARSED = 1024;
