/**
 * Runs fuzz properties with fast-check: a bounded count in the test tier, a long run
 * behind `npm run fuzz` (FUZZ_RUNS, FUZZ_SEED, FUZZ_PATH to replay one failure),
 * counts of what the cases provoked, and a failure message that carries the shrunk
 * counterexample and the command to replay it.
 */
import fc from "fast-check";

export interface FuzzSettings {
  readonly runs: number;
  readonly seed: number;
  /** fast-check's replay path of a reported failure. */
  readonly path: string | undefined;
  /** Print counts for every property (always on in the long run). */
  readonly verbose: boolean;
  /**
   * FUZZ_SURVEY: do not stop at the first broken invariant; run every case and list each
   * kind of breakage once, with its first example and a count (to see all that is wrong).
   */
  readonly survey: boolean;
}

/** The seed of the bounded tier under CI=true. */
const CI_SEED = 20261130;

/** Settings from the environment: FUZZ_RUNS (else `defaultRuns`), FUZZ_SEED, FUZZ_PATH, FUZZ_VERBOSE. */
export function fuzzSettings(defaultRuns: number): FuzzSettings {
  const env = process.env;
  const runs = env.FUZZ_RUNS ? Number(env.FUZZ_RUNS) : defaultRuns;
  if (!Number.isInteger(runs) || runs < 1)
    throw new Error(`FUZZ_RUNS must be a positive integer, not ${env.FUZZ_RUNS}`);
  // CI replays one fixed seed, so that a landing is judged on the same cases each time;
  // developers' runs and `npm run fuzz` explore a new seed every run (printed on failure).
  const seed = env.FUZZ_SEED
    ? Number(env.FUZZ_SEED)
    : env.CI === "true" && !env.FUZZ_RUNS
      ? CI_SEED
      : (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;
  if (!Number.isInteger(seed)) throw new Error(`FUZZ_SEED must be an integer, not ${env.FUZZ_SEED}`);
  return {
    runs,
    seed,
    path: env.FUZZ_PATH || undefined,
    verbose: Boolean(env.FUZZ_RUNS || env.FUZZ_VERBOSE),
    survey: Boolean(env.FUZZ_SURVEY),
  };
}

/** Counts of outcomes ("status 400", "delivered public", …) across a property's cases. */
export class Tally {
  readonly #counts = new Map<string, number>();
  cases = 0;

  add(key: string, n = 1): void {
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + n);
  }

  toString(): string {
    return [...this.#counts.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => `${k}=${v}`)
      .join(" ");
  }
}

/** Bytes as a JavaScript string literal: printable ASCII kept, everything else escaped. */
export function printable(bytes: Buffer, max = 600): string {
  let out = "";
  for (const b of bytes.subarray(0, max)) {
    if (b === 0x0d) out += "\\r";
    else if (b === 0x0a) out += "\\n";
    else if (b === 0x5c) out += "\\\\";
    else if (b === 0x22) out += '\\"';
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else out += `\\x${b.toString(16).padStart(2, "0")}`;
  }
  return `"${out}"${bytes.length > max ? ` …(${bytes.length} bytes)` : ""}`;
}

/** A broken invariant, with what the case sent (so it reads without the generator). */
export class InvariantBroken extends Error {
  override readonly name = "InvariantBroken";
}

/**
 * Checks `predicate` on `settings.runs` values of `arbitrary`; on failure throws with the
 * shrunk counterexample, the seed and the replay command.
 */
/** A problem's kind: its text with quoted values and numbers blanked out. */
function kindOf(problem: string): string {
  return problem
    .replace(/"(?:[^"\\]|\\.)*"/g, '"…"')
    .replace(/\[[^\]]*\]/g, "[…]")
    .replace(/\d+/g, "N")
    .slice(0, 160);
}

/** Breakages seen in survey mode, by kind. */
class Survey {
  readonly #kinds = new Map<string, { count: number; example: string }>();

  record(err: InvariantBroken): void {
    const [sent, ...problems] = err.message.split("\n  - ");
    for (const problem of problems) {
      const kind = kindOf(problem);
      const seen = this.#kinds.get(kind);
      if (seen) seen.count++;
      else
        this.#kinds.set(kind, { count: 1, example: `${sent!.slice(0, 700)}\n    ${problem.slice(0, 400)}` });
    }
  }

  get size(): number {
    return this.#kinds.size;
  }

  toString(): string {
    return [...this.#kinds.entries()]
      .sort(([, a], [, b]) => b.count - a.count)
      .map(([kind, { count, example }]) => `  ${count}× ${kind}\n    e.g. ${example}`)
      .join("\n");
  }
}

export async function fuzz<T>(
  name: string,
  arbitrary: fc.Arbitrary<T>,
  predicate: (value: T) => Promise<void>,
  settings: FuzzSettings,
  tally: Tally,
): Promise<void> {
  const startedAt = Date.now();
  const survey = new Survey();
  const details = await fc.check(
    fc.asyncProperty(arbitrary, async (value) => {
      tally.cases++;
      if (!settings.survey) return predicate(value);
      try {
        await predicate(value);
      } catch (err) {
        if (!(err instanceof InvariantBroken)) throw err;
        survey.record(err);
      }
    }),
    {
      numRuns: settings.runs,
      seed: settings.seed,
      ...(settings.path ? { path: settings.path } : {}),
    },
  );
  const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
  if (settings.verbose || details.failed) {
    console.log(
      `fuzz "${name}": ${details.numRuns} runs, ${tally.cases} cases with shrinking, seed ${details.seed}, ${seconds} s\n  ${tally}`,
    );
  }
  if (survey.size > 0) {
    throw new InvariantBroken(
      `fuzz "${name}" survey, seed ${details.seed}: ${survey.size} kinds of breakage\n${survey}`,
    );
  }
  if (!details.failed) return;
  const error = details.errorInstance;
  throw new InvariantBroken(
    [
      `fuzz "${name}" broke an invariant after ${details.numRuns} runs (${details.numShrinks} shrinks), seed ${details.seed}`,
      `replay: FUZZ_SEED=${details.seed} FUZZ_PATH=${details.counterexamplePath} npm run fuzz -- -t "${name}:"`,
      error instanceof Error ? error.message : String(error),
    ].join("\n"),
  );
}
