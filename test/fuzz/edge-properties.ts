/**
 * The edge fuzz properties (issue 10), for a fixture of real `wsgate serve` processes with
 * one or more data-plane threads: edge.fuzz.test.ts runs them with one, and
 * edge-workers.fuzz.test.ts with two, so that the invariants also hold when a case's
 * connections land on different threads (shared limits, counts summed across workers).
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, it } from "vitest";
import { FuzzTarget, type Leave } from "./cases.js";
import { startFixture, type Fixture } from "./fixture.js";
import { frameStream } from "./frames.js";
import { fuzz, fuzzSettings, Tally } from "./harness.js";
import { proxyHeader } from "./proxy-headers.js";
import { request, targetedRequest, wellFormed } from "./requests.js";

/** A generous bound for the test tier; none for a long run (FUZZ_RUNS), whose cases are bounded one by one. */
const TIMEOUT_MS = Number(process.env.FUZZ_TIMEOUT_MS ?? (process.env.FUZZ_RUNS ? 0 : 120_000));

const cuts = fc.array(fc.nat(), { maxLength: 5 });
const leave = fc.oneof(
  { weight: 4, arbitrary: fc.constant<Leave>("wait") },
  { weight: 1, arbitrary: fc.constantFrom<Leave>("abandon", "reset", "half-close") },
);

export interface EdgeFuzzOptions {
  /** `--workers` of every gateway process. */
  readonly workers: number;
  /** Cases per property in the test tier (FUZZ_RUNS overrides it). */
  readonly defaultRuns: number;
}

/** Declares the edge fuzz properties under `title`, against a fixture of its own. */
export function describeEdgeFuzz(title: string, options: EdgeFuzzOptions): void {
  describe(title, () => {
    const settings = fuzzSettings(options.defaultRuns);
    let fixture: Fixture;
    let target: FuzzTarget;

    beforeAll(async () => {
      fixture = await startFixture({ workers: options.workers });
      target = new FuzzTarget(fixture);
    }, 30_000);

    afterAll(async () => {
      await fixture?.close();
    });

    it(
      "request targets: refuses or serves any request target so that no backend gets a path its route did not authorise",
      async () => {
        const tally = new Tally();
        const targeted = fc.record({ request: targetedRequest(fixture.tokens), cuts, leave });
        await fuzz(
          "request targets",
          targeted,
          (c) => target.request(c.request, c.cuts, c.leave, tally),
          settings,
          tally,
        );
      },
      TIMEOUT_MS,
    );

    it(
      "requests: answers any request line and header set with a status or a close, so that the process, the counters and the backends stay sound",
      async () => {
        const tally = new Tally();
        const requests = fc.record({ request: request(fixture.tokens), cuts, leave });
        await fuzz(
          "requests",
          requests,
          (c) => target.request(c.request, c.cuts, c.leave, tally),
          settings,
          tally,
        );
      },
      TIMEOUT_MS,
    );

    it(
      "PROXY headers: drops invalid PROXY protocol headers and believes valid ones from trusted peers only, so that no connection is guessed at",
      async () => {
        const tally = new Tally();
        const requests = fc.oneof(
          { weight: 3, arbitrary: wellFormed(fixture.tokens) },
          { weight: 1, arbitrary: request(fixture.tokens) },
        );
        const cases = fc.record({
          header: proxyHeader,
          request: requests,
          cuts,
          peerTrusted: fc.oneof(
            { weight: 5, arbitrary: fc.constant(true) },
            { weight: 1, arbitrary: fc.constant(false) },
          ),
        });
        await fuzz(
          "PROXY headers",
          cases,
          (c) => target.proxied(c.header, c.request, c.cuts, c.peerTrusted, tally),
          settings,
          tally,
        );
      },
      TIMEOUT_MS,
    );

    it(
      "frame streams: relays any frame stream after an upgrade without leaking the connection, so that both legs end and counts return to zero",
      async () => {
        const tally = new Tally();
        await fuzz("frame streams", frameStream, (s) => target.frames(s, tally), settings, tally);
      },
      TIMEOUT_MS,
    );
  });
}
