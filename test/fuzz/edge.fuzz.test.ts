/**
 * Fuzzing the edge (issue 10): hostile bytes on real sockets against real `wsgate
 * serve` processes, each case held to the invariants of invariants.ts — the process
 * stays up; every answer is a valid status line or a clean close, never a hang;
 * counters return to zero; no backend receives a path its route did not authorise,
 * a forged identity or a hop-by-hop header.
 *
 * The test tier runs a bounded count per property; `npm run fuzz` runs thousands
 * (FUZZ_RUNS), and FUZZ_SEED/FUZZ_PATH replay a reported failure. Needs the built
 * CLI (`npm run build`); WSGATE_FUZZ_CLI points at another build. The properties are in
 * edge-properties.ts; edge-workers.fuzz.test.ts runs them across two data-plane threads.
 */
import { describeEdgeFuzz } from "./edge-properties.js";

describeEdgeFuzz("fuzzing the edge with hostile bytes on real sockets", { workers: 1, defaultRuns: 150 });
