// What observing a connection costs: the CPU per connection of everything subscribed to
// the data plane's `connection:opened` and `connection:closed` events as `wsgate serve`
// wires it (Metrics, the status model, log lines at --log-level warn as in `npm run bench`),
// for this build and another one (e.g. the one before a change), in alternating child
// processes. 20 routes × 5 endpoints; CPU time from process.cpuUsage(), the best of 3 runs
// after a warm-up, per process. The sockets are not involved: this is the part W5's
// profile attributes to metrics, status and logs.
// Usage: npm run build && node bench/event-cost.mjs [--compare DIR] [--processes 3] [--connections 400000]
import { execFileSync } from "node:child_process";
import dc from "node:diagnostics_channel";
import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  options: {
    compare: { type: "string" },
    processes: { type: "string", default: "3" },
    connections: { type: "string", default: "400000" },
    child: { type: "string" },
  },
});

if (args.child) {
  const dist = (path) => import(pathToFileURL(resolve(args.child, "dist", path)).href);
  const { Metrics } = await dist("observability/metrics.js");
  const { StatusModel } = await dist("observability/status.js");
  const { logDataplaneEvents } = await dist("observability/log-events.js");
  const { createLogger } = await dist("observability/logger.js");
  new Metrics({ connections: [], onPublish: () => () => {}, defaultMetrics: false });
  new StatusModel({
    tables: { current: undefined },
    onPublish: () => () => {},
    routeStatus: () => [],
    connections: [],
    endpoints: { isEjected: () => false },
    showClients: false,
    source: () => ({ mode: "standalone", dir: "", problems: [] }),
  });
  logDataplaneEvents(createLogger("warn", { write() {} }));
  const opened = dc.channel("wsgate:connection:opened");
  const closed = dc.channel("wsgate:connection:closed");
  const routes = Array.from({ length: 20 }, (_, i) => ({
    namespace: `ns${i % 4}`,
    route: `route-${i}`,
    backend: `ns${i % 4}/svc-${i}:80`,
    endpoints: Array.from({ length: 5 }, (_, j) => `ns${i % 4}/svc-${i}:80@10.1.${i}.${j}:8080`),
  }));
  const n = Number(args.connections);
  const run = () => {
    const start = process.cpuUsage();
    for (let i = 0; i < n; i++) {
      const r = routes[i % routes.length];
      // Shaped as upgrade.ts publishes them: the opened event is the connection's labels.
      const o = {
        namespace: r.namespace,
        route: r.route,
        backend: r.backend,
        endpoint: r.endpoints[i % 5],
        client: "192.0.2.1",
        httpVersion: "1.1",
        handshakeMs: (i % 50) / 7,
      };
      opened.publish(o);
      closed.publish({
        namespace: o.namespace,
        route: o.route,
        backend: o.backend,
        endpoint: o.endpoint,
        client: o.client,
        httpVersion: o.httpVersion,
        durationMs: i % 5000,
        bytesFromClient: 100,
        bytesToClient: 200,
        messagesFromClient: 1,
        messagesToClient: 2,
        code: 1000,
        initiator: "client",
      });
    }
    const used = process.cpuUsage(start);
    return ((used.user + used.system) * 1000) / n;
  };
  run();
  process.stdout.write(`${Math.min(run(), run(), run())}\n`);
  process.exit(0);
}

const here = fileURLToPath(new URL(".", import.meta.url));
const builds = [resolve(here, "..")];
if (args.compare) builds.push(resolve(args.compare));
const results = new Map(builds.map((b) => [b, []]));
for (let p = 0; p < Number(args.processes); p++) {
  for (const build of p % 2 === 0 ? builds : [...builds].reverse()) {
    const out = execFileSync(
      process.execPath,
      [fileURLToPath(import.meta.url), "--child", build, "--connections", args.connections],
      { encoding: "utf8" },
    );
    results.get(build).push(Number(out.trim()));
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const [build, ns] of results) {
  console.log(
    `${build}: ${Math.round(median(ns))} ns CPU per connection (opened + closed), runs ${ns.map(Math.round).join(", ")}`,
  );
}
if (args.compare) {
  const [a, b] = builds.map((x) => median(results.get(x)));
  console.log(`this build / ${builds[1]}: ${(a / b).toFixed(2)}×`);
}
