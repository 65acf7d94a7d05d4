/**
 * What a compile result serves, as a value two compiles can be compared by: the property
 * tests of compile() (compile-memo, endpoint-path) compare a fast path with a full compile.
 */
import type { CompileResult } from "../../src/routing/compile.js";
import { buildTable, type Route, type RoutingTable } from "../../src/routing/table.js";

/** The hosts and paths a table is asked to match; "a.w.test" and "nowhere.test" are added. */
export interface Probes {
  readonly hosts: readonly string[];
  readonly paths: readonly string[];
}

/** What a table serves: its routes (deep), certificates, identity headers, and where each probe leads. */
export function served(table: RoutingTable, probes: Probes): unknown {
  const led: unknown[] = [];
  for (const host of [...probes.hosts, "a.w.test", "nowhere.test"]) {
    for (const path of probes.paths) {
      const m = table.match(host, path);
      led.push(m ? { route: m.route, rule: m.rule } : null);
    }
  }
  return {
    generation: table.generation,
    routes: table.routes,
    certificates: [...table.certificates],
    defaultCertificate: table.defaultCertificate,
    identityHeaders: [...table.identityHeaders],
    probes: led,
  };
}

/** A compile result with its table as {@link served}: diagnostics and status deep, the table by behaviour. */
export function comparable(result: CompileResult, probes: Probes): unknown {
  return { ...result, table: served(result.table, probes) };
}

const FORGET_ROUTE: Route = {
  namespace: "forget-matcher",
  name: "r",
  key: "forget-matcher/r",
  hostnames: ["forget.test"],
  rules: [],
  settings: {
    policy: "LeastConnections",
    timeouts: { connectMs: 1, handshakeMs: 1, idleMs: 1, maxLifetimeMs: 1 },
    limits: {} as Route["settings"]["limits"],
    drain: { windowMs: 1, closeCode: 1001 },
  },
};

/**
 * Makes the next table build its matcher anew: buildTable() reuses the last one for routes
 * of the same shape, and a reference compile must not share what is under test.
 */
export function forgetMatcher(): void {
  buildTable(0, [FORGET_ROUTE], new Map());
}
