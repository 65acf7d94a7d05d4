// C1: compile() time for 10,000 routes and 50,000 endpoints; C2: table.match ns/op.
// Calls the built compiler directly on a generated ObjectStore snapshot.
// Usage: node bench/routing.mjs [--dist DIR] [--routes N] [--endpoints-per-route K]
// Prints one JSON line.
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  options: {
    dist: { type: "string", default: new URL("../dist", import.meta.url).pathname },
    routes: { type: "string", default: "10000" },
    "endpoints-per-route": { type: "string", default: "5" },
  },
});
const load = (path) => import(pathToFileURL(`${args.dist}/${path}`).href);
const { parseObject } = await load("api/parse.js");
const { ObjectStore } = await load("routing/store.js");
const { compile } = await load("routing/compile.js");

const ROUTES = Number(args.routes);
const PER_ROUTE = Number(args["endpoints-per-route"]);
const NAMESPACES = 100;
/** One route in ten has a wildcard hostname, the rest an exact one; all have two rules. */
const hostOf = (i) => (i % 10 === 9 ? `*.w${i}.bench.local` : `r${i}.bench.local`);

function objects() {
  const docs = [];
  for (let i = 0; i < ROUTES; i++) {
    const namespace = `ns${i % NAMESPACES}`;
    const name = `app${i}`;
    docs.push({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name, namespace },
      spec: { ports: [{ name: "ws", port: 80, targetPort: 8080, protocol: "TCP" }] },
    });
    docs.push({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: `${name}-abcde`, namespace, labels: { "kubernetes.io/service-name": name } },
      addressType: "IPv4",
      ports: [{ name: "ws", port: 8080, protocol: "TCP" }],
      endpoints: Array.from({ length: PER_ROUTE }, (_, k) => ({
        addresses: [`10.${(i >> 8) & 255}.${i & 255}.${k + 1}`],
        conditions: { ready: k !== PER_ROUTE - 1 || i % 7 !== 0 },
      })),
    });
    docs.push({
      apiVersion: "wsgate.io/v1alpha1",
      kind: "WebSocketRoute",
      metadata: {
        name,
        namespace,
        generation: 1,
        creationTimestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, i % 86400)).toISOString(),
      },
      spec: {
        hostnames: [hostOf(i)],
        rules: [
          { matches: [{ path: { type: "Exact", value: "/ws" } }], backendRefs: [{ name, port: 80 }] },
          {
            matches: [{ path: { type: "PathPrefix", value: "/socket.io" } }],
            backendRefs: [{ name, port: 80, weight: 2 }],
          },
        ],
      },
    });
  }
  return docs;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const t0 = performance.now();
const store = new ObjectStore();
for (const doc of objects()) {
  const parsed = parseObject(doc);
  if (parsed.outcome !== "ok") throw new Error(`generated object rejected: ${JSON.stringify(parsed)}`);
  store.upsert(parsed.object);
}
const prepareMs = performance.now() - t0;

const snapshotTimes = [];
const compileTimes = [];
let result;
for (let run = 0; run < 6; run++) {
  const s0 = performance.now();
  const snapshot = store.snapshot();
  const s1 = performance.now();
  result = compile(snapshot, { ingressClass: "wsgate", generation: run + 1 });
  const s2 = performance.now();
  // The first run warms up the JIT and is not counted.
  if (run > 0) {
    snapshotTimes.push(s1 - s0);
    compileTimes.push(s2 - s1);
  }
}
const table = result.table;
const accepted = result.diagnostics.filter((d) => d.conditions[0]?.status === "True").length;

// C2: lookups by kind (exact-host hit, wildcard-host hit, miss → 404) and a mix of
// 80% exact, 10% wildcard and 10% misses, over hosts spread across all routes.
const LOOKUPS = 4096;
function lookups(kind) {
  const hosts = [];
  const paths = [];
  for (let k = 0; k < LOOKUPS; k++) {
    const i = (k * 7919) % ROUTES;
    const pick = kind === "mixed" ? (k % 10 === 9 ? "miss" : k % 10 === 8 ? "wildcard" : "exact") : kind;
    const wildcardRoute = i - (i % 10) + 9 < ROUTES ? i - (i % 10) + 9 : 9;
    const exactRoute = i % 10 === 9 ? i - 1 : i;
    if (pick === "miss") hosts.push(`nobody${k}.example.com`);
    else if (pick === "wildcard") hosts.push(`a.w${wildcardRoute}.bench.local`);
    else hosts.push(`r${exactRoute}.bench.local:443`);
    // The gateway matches on the path without its query string.
    paths.push(k % 2 ? "/ws" : "/socket.io/");
  }
  return { hosts, paths };
}
function timeLookups(kind) {
  const { hosts, paths } = lookups(kind);
  let hits = 0;
  const c0 = performance.now();
  for (let k = 0; k < LOOKUPS; k++) if (table.match(hosts[k], paths[k])) hits++;
  // Each timed run lasts about 100 ms whatever the cost of one lookup.
  const perLookupMs = (performance.now() - c0) / LOOKUPS;
  const iterations = Math.max(LOOKUPS, Math.min(2_000_000, Math.round(100 / perLookupMs)));
  const runs = [];
  let found = 0;
  for (let run = 0; run < 6; run++) {
    const m0 = performance.now();
    for (let n = 0; n < iterations; n++) {
      const k = n & (LOOKUPS - 1);
      if (table.match(hosts[k], paths[k])) found++;
    }
    const m1 = performance.now();
    if (run > 0) runs.push(((m1 - m0) * 1e6) / iterations);
  }
  return {
    ns: Math.round(median(runs) * 10) / 10,
    hitRate: Math.round((hits / LOOKUPS) * 1000) / 1000,
    found,
  };
}
const match = {};
for (const kind of ["exact", "wildcard", "miss", "mixed"]) match[kind] = timeLookups(kind);

process.stdout.write(
  `${JSON.stringify({
    routes: ROUTES,
    endpoints: ROUTES * PER_ROUTE,
    accepted,
    prepareMs: Math.round(prepareMs),
    snapshotMs: Math.round(median(snapshotTimes) * 10) / 10,
    compileMs: Math.round(median(compileTimes) * 10) / 10,
    compileMsRuns: compileTimes.map((t) => Math.round(t)),
    matchNs: match.mixed.ns,
    match,
  })}\n`,
);
