/**
 * Fuzzing the edge (issue 10): hostile bytes on real sockets against real `wsgate
 * serve` processes, each case held to the invariants of invariants.ts — the process
 * stays up; every answer is a valid status line or a clean close, never a hang;
 * counters return to zero; no backend receives a path its route did not authorise,
 * a forged identity or a hop-by-hop header.
 *
 * The test tier runs a bounded count per property; `npm run fuzz` runs thousands
 * (FUZZ_RUNS), and FUZZ_SEED/FUZZ_PATH replay a reported failure. Needs the built
 * CLI (`npm run build`); WSGATE_FUZZ_CLI points at another build.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, it } from "vitest";
import { FuzzTarget, type Leave } from "./cases.js";
import { startFixture, type Fixture } from "./fixture.js";
import { frameStream } from "./frames.js";
import { fuzz, fuzzSettings, Tally } from "./harness.js";
import { proxyHeader } from "./proxy-headers.js";
import { request, targetedRequest, wellFormed } from "./requests.js";

const settings = fuzzSettings(150);
/** A generous bound for the test tier; none for a long run (FUZZ_RUNS), whose cases are bounded one by one. */
const TIMEOUT_MS = Number(process.env.FUZZ_TIMEOUT_MS ?? (process.env.FUZZ_RUNS ? 0 : 120_000));

let fixture: Fixture;
let target: FuzzTarget;

beforeAll(async () => {
  fixture = await startFixture();
  target = new FuzzTarget(fixture);
}, 30_000);

afterAll(async () => {
  await fixture?.close();
});

const cuts = fc.array(fc.nat(), { maxLength: 5 });
const leave = fc.oneof(
  { weight: 4, arbitrary: fc.constant<Leave>("wait") },
  { weight: 1, arbitrary: fc.constantFrom<Leave>("abandon", "reset", "half-close") },
);

describe("fuzzing the edge with hostile bytes on real sockets", () => {
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
