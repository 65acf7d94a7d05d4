#!/usr/bin/env bash
# The long fuzz run: builds the CLI, then runs test/fuzz/ with FUZZ_RUNS cases per
# property (default 5000) against real `wsgate serve` child processes, with one
# data-plane thread (edge.fuzz.test.ts) and with two (edge-workers.fuzz.test.ts). Prints the
# seed and, per property, what the cases provoked; on a failure, the shrunk
# counterexample and the command that replays it (FUZZ_SEED, FUZZ_PATH).
# Extra arguments go to vitest, e.g. `npm run fuzz -- -t "frame streams:"`.
set -euo pipefail
cd "$(dirname "$0")/.."
export FUZZ_RUNS="${FUZZ_RUNS:-5000}"
npm run build >&2
echo "fuzz: ${FUZZ_RUNS} runs per property, seed ${FUZZ_SEED:-random (printed per property)}" >&2
exec npx vitest run -c vitest.fuzz.config.ts "$@"
