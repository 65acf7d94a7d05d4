/**
 * The edge fuzz properties of edge.fuzz.test.ts against gateways with two data-plane
 * threads (`--workers 2`): a case's connections land on either thread (the kernel spreads
 * them, `reusePort`), and every invariant must still hold — the route's one-connection
 * limit is shared by both threads, the admin API's counts are summed over them, and no
 * thread may leak what a hostile case took. Few cases in the test tier (the one-thread
 * file carries the breadth); `npm run fuzz` runs FUZZ_RUNS here too.
 */
import { describeEdgeFuzz } from "./edge-properties.js";

describeEdgeFuzz("fuzzing the edge across two data-plane threads (--workers 2)", {
  workers: 2,
  defaultRuns: 25,
});
