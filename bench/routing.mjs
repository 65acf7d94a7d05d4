// C1: compile() time for 10,000 routes and 50,000 endpoints — a recompile after one
// WebSocketRoute changed (compileMs: what compile() does on every route edit; it reuses what
// it compiled for the objects that did not change, routing/compile-memo.ts) and a compile
// from scratch (coldCompileMs: every object new, as on start-up) — and one EndpointSlice
// change on that snapshot published (the endpoint path) against a full recompile published,
// in the same run; C2: table.match ns/op. coldCompileSettledMs: from scratch, the parsed
// snapshot first through a full GC (the compile's own cost, without promoting the parse).
// Calls the built compiler directly on a generated ObjectStore snapshot.
// Usage: node bench/routing.mjs [--dist DIR] [--routes N] [--endpoints-per-route K]
// Prints one JSON line.
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import v8 from "node:v8";
import vm from "node:vm";

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
const { Recompiler } = await load("routing/recompiler.js");
const { TableHolder } = await load("routing/holder.js");

const ROUTES = Number(args.routes);
const PER_ROUTE = Number(args["endpoints-per-route"]);
const NAMESPACES = 100;
/** One route in ten has a wildcard hostname, the rest an exact one; all have two rules. */
const hostOf = (i) => (i % 10 === 9 ? `*.w${i}.bench.local` : `r${i}.bench.local`);

/** Route i's EndpointSlice; `version` > 0 turns its first endpoint's readiness over (churn). */
function sliceDoc(i, version) {
  const name = `app${i}`;
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: `${name}-abcde`,
      namespace: `ns${i % NAMESPACES}`,
      labels: { "kubernetes.io/service-name": name },
    },
    addressType: "IPv4",
    ports: [{ name: "ws", port: 8080, protocol: "TCP" }],
    endpoints: Array.from({ length: PER_ROUTE }, (_, k) => ({
      addresses: [`10.${(i >> 8) & 255}.${i & 255}.${k + 1}`],
      conditions: { ready: k === 0 ? version % 2 === 0 : k !== PER_ROUTE - 1 || i % 7 !== 0 },
    })),
  };
}

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
    docs.push(sliceDoc(i, 0));
    docs.push(routeDoc(i));
  }
  return docs;
}

/** Route i; `idle` set: an edit of it (a new generation). */
function routeDoc(i, idle) {
  const name = `app${i}`;
  return {
    apiVersion: "wsgate.io/v1alpha1",
    kind: "WebSocketRoute",
    metadata: {
      name,
      namespace: `ns${i % NAMESPACES}`,
      generation: idle === undefined ? 1 : 2,
      creationTimestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, i % 86400)).toISOString(),
    },
    spec: {
      hostnames: [hostOf(i)],
      ...(idle === undefined ? {} : { timeouts: { idle } }),
      rules: [
        { matches: [{ path: { type: "Exact", value: "/ws" } }], backendRefs: [{ name, port: 80 }] },
        {
          matches: [{ path: { type: "PathPrefix", value: "/socket.io" } }],
          backendRefs: [{ name, port: 80, weight: 2 }],
        },
      ],
    },
  };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const t0 = performance.now();
const store = new ObjectStore();
const upsert = (doc) => {
  const parsed = parseObject(doc);
  if (parsed.outcome !== "ok") throw new Error(`generated object rejected: ${JSON.stringify(parsed)}`);
  store.upsert(parsed.object);
};
for (const doc of objects()) {
  const parsed = parseObject(doc);
  if (parsed.outcome !== "ok") throw new Error(`generated object rejected: ${JSON.stringify(parsed)}`);
  store.upsert(parsed.object);
}
const prepareMs = performance.now() - t0;

const snapshotTimes = [];
const compileTimes = [];
// CPU time (user + system, all threads) next to wall time: on a shared machine the wall
// clock also counts the time other processes held the CPU.
const compileCpuTimes = [];
const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};
/** The snapshot of a store parsed anew: every object new, nothing compiled before is known. */
function parsedAnew() {
  const fresh = new ObjectStore();
  for (const doc of objects()) fresh.upsert(parseObject(doc).object);
  return fresh.snapshot();
}
/**
 * Compiles from scratch 4 times (the first warms up the JIT and is not counted), each on a
 * store parsed anew; `beforeEach` runs between parsing and compiling. Wall and CPU times.
 */
function coldCompiles(beforeEach = () => {}) {
  const wall = [];
  const cpu = [];
  for (let run = 0; run < 4; run++) {
    const snapshot = parsedAnew();
    beforeEach();
    const c0 = performance.now();
    const u0 = cpuMs();
    compile(snapshot, { ingressClass: "wsgate", generation: run + 1 });
    const c1 = performance.now();
    const u1 = cpuMs();
    if (run > 0) {
      wall.push(c1 - c0);
      cpu.push(u1 - u0);
    }
  }
  return { wall, cpu };
}
const { wall: coldTimes, cpu: coldCpuTimes } = coldCompiles();
// From scratch again, the parsed snapshot first through a full GC (coldCompileSettledMs): the
// compile's own cost. Above, the first young-generation GC inside compile() also copies the
// 30,000 objects parsed just before (and their garbage), a cost of parsing that whatever
// allocates next pays; a start-up whose objects arrived over seconds pays less of it.
v8.setFlagsFromString("--expose-gc");
const fullGc = vm.runInNewContext("gc");
const { wall: settledTimes, cpu: settledCpuTimes } = coldCompiles(fullGc);
let result = compile(store.snapshot(), { ingressClass: "wsgate", generation: 7 });
// One route edited (its idle timeout; another route each run), then the whole store compiled.
for (let run = 0; run < 6; run++) {
  upsert(routeDoc((run * 1777 + 3) % ROUTES, `${run + 2}h`));
  const s0 = performance.now();
  const snapshot = store.snapshot();
  const s1 = performance.now();
  const u1 = cpuMs();
  result = compile(snapshot, { ingressClass: "wsgate", generation: run + 8 });
  const s2 = performance.now();
  const u2 = cpuMs();
  if (run > 0) {
    snapshotTimes.push(s1 - s0);
    compileTimes.push(s2 - s1);
    compileCpuTimes.push(u2 - u1);
  }
}
const table = result.table;
const accepted = result.diagnostics.filter((d) => d.conditions[0]?.status === "True").length;

// C1, churn: one EndpointSlice change published through the Recompiler (store change →
// snapshot → endpoint path → table holder), against a full recompile published the same
// way (a Service replaced by an equal copy: not an endpoint change, so compile() runs).
function publishTimes(change, runs) {
  const holder = new TableHolder();
  // Started (it learns of changes from the store); the hold-off never fires, compileNow() publishes.
  const recompiler = new Recompiler(store, holder, {
    ingressClass: "wsgate",
    holdOffMs: 1e9,
    maxDelayMs: 1e9,
  });
  recompiler.start();
  // The endpoint path carries the previous result's Gateway API status over; compile() makes a new one.
  let endpointPath = 0;
  let lastGatewayApi;
  holder.onPublish((p) => {
    if (p.gatewayApi === lastGatewayApi) endpointPath++;
    lastGatewayApi = p.gatewayApi;
  });
  const times = [];
  const cpuTimes = [];
  for (let run = 0; run < runs; run++) {
    const before = holder.current;
    const c0 = performance.now();
    const u0 = cpuMs();
    change(run);
    recompiler.compileNow();
    const c1 = performance.now();
    const u1 = cpuMs();
    if (run > 0) cpuTimes.push(u1 - u0);
    if (holder.current.generation !== before.generation + 1) throw new Error("no table published");
    if (run > 0) times.push(c1 - c0);
  }
  recompiler.stop();
  return {
    ms: Math.round(median(times) * 10) / 10,
    cpuMs: Math.round(median(cpuTimes) * 10) / 10,
    runs: times.map((t) => Math.round(t * 10) / 10),
    endpointPath,
  };
}
const sliceChange = publishTimes((run) => upsert(sliceDoc((run * 997 + 1) % ROUTES, run + 1)), 11);
if (sliceChange.endpointPath < 10) throw new Error("an EndpointSlice change did not take the endpoint path");
const fullPublish = publishTimes(
  () =>
    upsert({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "app1", namespace: "ns1" },
      spec: { ports: [{ name: "ws", port: 80, targetPort: 8080, protocol: "TCP" }] },
    }),
  6,
);

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
    compileCpuMs: Math.round(median(compileCpuTimes) * 10) / 10,
    coldCompileMs: Math.round(median(coldTimes) * 10) / 10,
    coldCompileMsRuns: coldTimes.map((t) => Math.round(t)),
    coldCompileCpuMs: Math.round(median(coldCpuTimes) * 10) / 10,
    coldCompileSettledMs: Math.round(median(settledTimes) * 10) / 10,
    coldCompileSettledMsRuns: settledTimes.map((t) => Math.round(t)),
    coldCompileSettledCpuMs: Math.round(median(settledCpuTimes) * 10) / 10,
    endpointChangePublishMs: sliceChange.ms,
    endpointChangePublishMsRuns: sliceChange.runs,
    endpointChangePublishCpuMs: sliceChange.cpuMs,
    fullPublishMs: fullPublish.ms,
    fullPublishCpuMs: fullPublish.cpuMs,
    endpointChangeVsFullPublish: Number((sliceChange.ms / fullPublish.ms).toPrecision(3)),
    endpointChangeVsFullPublishCpu: Number((sliceChange.cpuMs / fullPublish.cpuMs).toPrecision(3)),
    matchNs: match.mixed.ns,
    match,
  })}\n`,
);
