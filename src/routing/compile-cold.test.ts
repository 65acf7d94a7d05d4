/**
 * compile() from scratch (start-up, a leader change, a mass change: every object new,
 * nothing memoized) was rewritten for speed. Its output must not move: a generated store
 * of Services (named, unnamed and TLS ports), EndpointSlices (addresses shared between
 * slices, IPv6, FQDN, not ready, terminating, other port names) and WebSocketRoutes
 * (hostname and path conflicts, other namespaces and classes, missing Services, weights
 * 0..3, invalid specs, TLS without its Secret, equal creation times) is compiled from
 * scratch and must deep-equal `compile-cold.expected.json`, which the compiler before the
 * rewrite wrote (`UPDATE_COLD_EXPECTATION=1` writes it anew; prettier it and review the diff).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseObject } from "../api/parse.js";
import { forgetLastIndexes } from "./compile-memo.js";
import { compile, type CompileResult } from "./compile.js";
import { ObjectStore } from "./store.js";
import type { RoutingTable } from "./table.js";
import { forgetMatcher } from "../../test/helpers/compile-view.js";

const EXPECTED = fileURLToPath(new URL("./compile-cold.expected.json", import.meta.url));

/** A fixed pseudo-random sequence (LCG): the store is the same on every run and Node version. */
function randomFrom(seed: number): (n: number) => number {
  let state = seed >>> 0;
  return (n) => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state % n;
  };
}

const NAMESPACES = ["a", "b", "c"];
const SERVICES = ["s0", "s1", "s2", "s3"];
const HOSTS = ["x.test", "y.test", "*.w.test", "a.w.test"];
const PATHS = ["/", "/ws", "/ws/", "/ws/1", "/api", "/other"];

function documents(): unknown[] {
  const pick = randomFrom(11);
  const docs: unknown[] = [];
  for (const namespace of NAMESPACES) {
    for (const name of SERVICES) {
      const kind = pick(5);
      const ports =
        kind === 0
          ? [
              { name: "ws", port: 80, protocol: "TCP" },
              { name: "alt", port: 81, protocol: "TCP" },
            ]
          : kind === 1
            ? [{ port: 80, protocol: "TCP" }]
            : kind === 2
              ? [{ name: "ws", port: 80, appProtocol: "kubernetes.io/wss" }]
              : pick(2) === 0
                ? [{ name: "ws", port: 80, protocol: "UDP" }]
                : [{ name: "ws", port: 80 }];
      if (pick(6) > 0)
        docs.push({ apiVersion: "v1", kind: "Service", metadata: { name, namespace }, spec: { ports } });
      const slices = 1 + pick(3);
      for (let s = 0; s < slices; s++) {
        const fqdn = pick(12) === 0;
        const v6 = !fqdn && pick(5) === 0;
        const endpoints = Array.from({ length: pick(5) }, () => {
          const ready = pick(3);
          const terminating = pick(4);
          return {
            addresses: [
              fqdn ? `h${pick(3)}.example` : v6 ? `fd00::${pick(4) + 1}` : `10.0.${pick(2)}.${pick(4) + 1}`,
            ],
            conditions: {
              ...(ready === 2 ? {} : { ready: ready === 1 }),
              ...(terminating < 2 ? { terminating: terminating === 1 } : {}),
            },
          };
        });
        const portName = ["ws", "ws", "ws", "alt", ""][pick(5)] as string;
        docs.push({
          apiVersion: "discovery.k8s.io/v1",
          kind: "EndpointSlice",
          metadata: {
            name: `${name}-${s}`,
            namespace,
            labels: pick(8) === 0 ? {} : { "kubernetes.io/service-name": name },
          },
          addressType: fqdn ? "FQDN" : v6 ? "IPv6" : "IPv4",
          ports: [{ ...(portName ? { name: portName } : {}), port: [8080, 9090][pick(2)], protocol: "TCP" }],
          endpoints,
        });
      }
    }
  }
  for (let r = 0; r < 90; r++) {
    const namespace = NAMESPACES[pick(3)] as string;
    const hostCount = pick(3);
    // Mostly hostnames of the route's own namespace; some shared with other namespaces.
    const hostnames = Array.from({ length: hostCount }, () =>
      pick(5) === 0 ? (HOSTS[pick(4)] as string) : `${namespace}${pick(8)}.test`,
    );
    const rules = Array.from({ length: 1 + pick(3) }, () => ({
      matches: Array.from({ length: pick(3) }, () => ({
        path: { type: pick(2) === 0 ? "Exact" : "PathPrefix", value: PATHS[pick(PATHS.length - 1)] },
      })),
      backendRefs: Array.from({ length: 1 + pick(3) }, () => ({
        name: pick(10) === 0 ? "missing" : (SERVICES[pick(4)] as string),
        port: pick(8) === 0 ? 81 : 80,
        ...(pick(3) === 0 ? {} : { weight: pick(4) }),
      })),
    }));
    const invalid = pick(15) === 0;
    docs.push({
      apiVersion: "wsgate.io/v1alpha1",
      kind: "WebSocketRoute",
      metadata: {
        name: `r${r}`,
        namespace,
        generation: 1 + pick(3),
        creationTimestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, pick(40))).toISOString(),
      },
      spec: {
        ...(pick(12) === 0 ? { ingressClassName: "other" } : {}),
        hostnames: invalid && hostnames.length > 0 ? [...hostnames, hostnames[0]] : hostnames,
        ...(pick(4) === 0 ? { timeouts: { idle: ["30s", "1h"][pick(2)] } } : {}),
        ...(pick(8) === 0 ? { keepalive: { interval: "20s", timeout: "5s" } } : {}),
        ...(pick(10) === 0 ? { tls: { secretName: "absent" } } : {}),
        rules,
      },
    });
  }
  return docs;
}

/** What a table serves: its routes (deep), certificates, and where each probe leads. */
function served(table: RoutingTable): unknown {
  const probes: unknown[] = [];
  const hosts = ["x.test", "y.test", "a.w.test", "b.c.w.test", "nowhere.test", "X.TEST:443"];
  for (const namespace of NAMESPACES) for (let i = 0; i < 8; i++) hosts.push(`${namespace}${i}.test`);
  for (const host of hosts) {
    for (const path of [...PATHS, "/ws/1/2", "/wsx"]) {
      const m = table.match(host, path);
      probes.push(m ? `${host} ${path} -> ${m.rule.key}` : `${host} ${path} -> 404`);
    }
  }
  return {
    generation: table.generation,
    routes: table.routes,
    certificates: [...table.certificates],
    identityHeaders: [...table.identityHeaders],
    probes,
  };
}

/** The result as plain JSON (what the expectation file holds). */
function comparable(result: CompileResult): unknown {
  return JSON.parse(JSON.stringify({ ...result, table: served(result.table) }));
}

function compiledFromScratch(): CompileResult {
  const store = new ObjectStore();
  const errors: string[] = [];
  for (const doc of documents()) {
    const parsed = parseObject(doc);
    if (parsed.outcome === "ok") store.upsert(parsed.object);
    else errors.push(JSON.stringify(parsed));
  }
  // A few generated objects are refused by the schema; most must get through.
  if (errors.length >= 10) throw new Error(errors.slice(0, 5).join("\n"));
  forgetMatcher();
  forgetLastIndexes();
  return compile(store.snapshot(), { ingressClass: "wsgate", generation: 3 });
}

describe("compile() from scratch", () => {
  it("gives exactly the result the compiler before its cold-path rewrite gave, so that speeding up start-up changes no table and no status", () => {
    const result = comparable(compiledFromScratch());
    if (process.env.UPDATE_COLD_EXPECTATION === "1")
      writeFileSync(EXPECTED, `${JSON.stringify(result, null, 2)}\n`);
    const expected: unknown = JSON.parse(readFileSync(EXPECTED, "utf8"));
    expect(result).toEqual(expected);
    // The store exercises what it means to: served routes, refusals and endpoints of every kind.
    const { diagnostics } = result as { diagnostics: { conditions: { reason: string }[] }[] };
    const reasons = new Set(diagnostics.flatMap((d) => d.conditions.map((c) => c.reason)));
    for (const reason of [
      "Accepted",
      "Conflicted",
      "HostnameConflict",
      "Invalid",
      "NotClaimed",
      "BackendNotFound",
    ])
      expect(reasons).toContain(reason);
  });

  it("gives the same result twice in a row, so that what the first compile leaves behind changes nothing", () => {
    const first = comparable(compiledFromScratch());
    const second = comparable(compiledFromScratch());
    expect(second).toEqual(first);
  });
});
