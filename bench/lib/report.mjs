// Turns per-round results into medians, ratios and target verdicts, and renders
// them as Markdown.

/**
 * The reported metrics: which workload result and field, its unit, which way is
 * better, and whether it is a property of the proxy process (no value for D).
 */
export const METRICS = [
  {
    key: "w1_1k_p50",
    w: "W1-1k",
    field: "p50Us",
    label: "W1 echo 1k msg/s: p50",
    unit: "µs",
    better: "lower",
  },
  {
    key: "w1_1k_p99",
    w: "W1-1k",
    field: "p99Us",
    label: "W1 echo 1k msg/s: p99",
    unit: "µs",
    better: "lower",
  },
  {
    key: "w1_1k_p999",
    w: "W1-1k",
    field: "p999Us",
    label: "W1 echo 1k msg/s: p99.9",
    unit: "µs",
    better: "lower",
  },
  {
    key: "w1_10k_p50",
    w: "W1-10k",
    field: "p50Us",
    label: "W1 echo 10k msg/s: p50",
    unit: "µs",
    better: "lower",
  },
  {
    key: "w1_10k_p99",
    w: "W1-10k",
    field: "p99Us",
    label: "W1 echo 10k msg/s: p99",
    unit: "µs",
    better: "lower",
  },
  {
    key: "w1_10k_p999",
    w: "W1-10k",
    field: "p999Us",
    label: "W1 echo 10k msg/s: p99.9",
    unit: "µs",
    better: "lower",
  },
  {
    key: "w2_rate",
    w: "W2",
    field: "msgPerSec",
    label: "W2 64 B saturation",
    unit: "msg/s",
    better: "higher",
  },
  {
    key: "w2_cpu",
    w: "W2",
    field: "proxyCpuUsPerMsg",
    label: "W2 proxy CPU per message",
    unit: "µs",
    better: "lower",
    proxy: true,
  },
  { key: "w3_rate", w: "W3", field: "MBps", label: "W3 16 KiB messages", unit: "MB/s", better: "higher" },
  {
    key: "w3_cpu",
    w: "W3",
    field: "proxyCpuMsPerMB",
    label: "W3 proxy CPU per MB",
    unit: "ms",
    better: "lower",
    proxy: true,
  },
  {
    key: "w4_mem",
    w: "W4",
    field: "rssPerConnKiB",
    label: "W4 proxy RSS per idle connection",
    unit: "KiB",
    better: "lower",
    proxy: true,
  },
  {
    key: "w4_total",
    w: "W4",
    field: "rssAfterMiB",
    label: "W4 proxy RSS with the idle connections open",
    unit: "MiB",
    better: "lower",
    proxy: true,
  },
  { key: "w5_rate", w: "W5", field: "perSec", label: "W5 handshakes", unit: "/s", better: "higher" },
  {
    key: "w5_cpu",
    w: "W5",
    field: "proxyCpuUsPerHandshake",
    label: "W5 proxy CPU per handshake",
    unit: "µs",
    better: "lower",
    proxy: true,
  },
  {
    key: "w6_growth",
    w: "W6",
    field: "rssGrowthMiB",
    label: "W6 slow consumer (100 MB): proxy RSS growth",
    unit: "MiB",
    better: "lower",
    proxy: true,
  },
  { key: "w7_rate", w: "W7-hs", field: "perSec", label: "W7 TLS handshakes", unit: "/s", better: "higher" },
  {
    key: "w7_cpu",
    w: "W7-hs",
    field: "proxyCpuUsPerHandshake",
    label: "W7 proxy CPU per TLS handshake",
    unit: "µs",
    better: "lower",
    proxy: true,
  },
  {
    key: "w7_mem",
    w: "W7-idle",
    field: "rssPerConnKiB",
    label: "W7 proxy RSS per idle TLS connection",
    unit: "KiB",
    better: "lower",
    proxy: true,
  },
];

/**
 * Context per workload: CPU seconds per second during the measurement of the proxy
 * (on CPU 0), of client + backend (on CPU 1), and of other processes of the
 * machine on CPU 0 and CPU 1 — which says whose limit a number is.
 */
export const CONTEXT_WORKLOADS = ["W1-10k", "W2", "W3", "W5", "W7-hs"];
export const CONTEXT_FIELDS = ["proxyCoreBusy", "loadCoreBusy", "cpu0Others", "cpu1Others"];
export const CONTEXT = CONTEXT_WORKLOADS.flatMap((w) => CONTEXT_FIELDS.map((field) => ({ w, field })));

export function median(values) {
  const xs = values.filter((v) => typeof v === "number" && Number.isFinite(v)).sort((a, b) => a - b);
  if (xs.length === 0) return undefined;
  const mid = Math.floor(xs.length / 2);
  return xs.length % 2 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
}

/** `results[system][workload]` is a list of per-round result objects. */
export function summarize(results, systems) {
  const table = {};
  for (const m of [...METRICS, ...CONTEXT]) {
    const key = m.key ?? `${m.w}.${m.field}`;
    table[key] = {};
    for (const s of systems) {
      const rounds = results[s]?.[m.w] ?? [];
      table[key][s] = m.proxy && s === "D" ? undefined : median(rounds.map((r) => r?.[m.field]));
    }
  }
  const ratios = {};
  for (const m of METRICS) {
    ratios[m.key] = {};
    const w = table[m.key].W;
    if (systems.includes("P")) {
      const p = table[m.key].P;
      ratios[m.key]["P/W"] = p !== undefined && w !== undefined && w !== 0 ? p / w : undefined;
    }
    for (const other of ["D", "N", "H"]) {
      const o = table[m.key][other];
      ratios[m.key][`W/${other}`] = w !== undefined && o !== undefined && o !== 0 ? w / o : undefined;
    }
  }
  return { table, ratios };
}

/** The targets of issues 7 and 11 (the stricter "moonshot" lines are marked), judged on the medians. */
export function targets(summary, routing) {
  const { table, ratios } = summary;
  const t = (name, ratio, limit, rule, detail) => ({
    name,
    value: ratio,
    limit,
    rule,
    pass: ratio === undefined ? undefined : rule === "≥" ? ratio >= limit : ratio <= limit,
    detail,
  });
  return [
    t("W2 throughput ≥ nginx", ratios.w2_rate["W/N"], 1, "≥", "W/N msg/s"),
    t("W2 proxy CPU per message ≤ 1.3 × nginx", ratios.w2_cpu["W/N"], 1.3, "≤", "W/N µs/msg"),
    t("W2 proxy CPU per message ≤ nginx (moonshot)", ratios.w2_cpu["W/N"], 1, "≤", "W/N µs/msg"),
    t("W4 memory per idle connection ≤ 2 × HAProxy", ratios.w4_mem["W/H"], 2, "≤", "W/H KiB/conn"),
    t("W4 memory per idle connection ≤ HAProxy (moonshot)", ratios.w4_mem["W/H"], 1, "≤", "W/H KiB/conn"),
    t("W5 CPU per handshake ≤ 2.5 × nginx", ratios.w5_cpu["W/N"], 2.5, "≤", "W/N µs/handshake"),
    t("W5 CPU per handshake ≤ 1.5 × nginx (moonshot)", ratios.w5_cpu["W/N"], 1.5, "≤", "W/N µs/handshake"),
    t("W7 CPU per TLS handshake ≤ 1.5 × nginx", ratios.w7_cpu["W/N"], 1.5, "≤", "W/N µs/handshake"),
    t("W6 bounded: RSS growth < 64 MiB", table.w6_growth.W, 64, "≤", "wsgate MiB"),
    t(
      "C1 compile 10k routes / 50k endpoints < 200 ms (recompile after a route edit)",
      routing?.compileMs,
      200,
      "≤",
      "ms",
    ),
    t(
      "C1 compile 10k routes / 50k endpoints < 200 ms (from scratch)",
      routing?.coldCompileMs,
      200,
      "≤",
      "ms",
    ),
  ];
}

const fmt = (v) => {
  if (v === undefined || v === null || Number.isNaN(v)) return "—";
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toFixed(2)} M`;
  if (a >= 1e4) return `${(v / 1e3).toFixed(1)} k`;
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toFixed(3);
};
const fmtRatio = (v) => (v === undefined ? "—" : `${v.toFixed(2)}×`);

export function markdown({ meta, summary, routing, routingCompared, systems, verdicts, skipped, notes }) {
  const { table, ratios } = summary;
  const lines = [];
  lines.push(`# wsgate benchmark — ${meta.date}`);
  lines.push("");
  lines.push(`Command: \`${meta.command}\` (${meta.rounds} rounds, median; ${meta.durationSeconds} s).`);
  lines.push("");
  lines.push(
    `Machine: ${meta.machine.nproc} × ${meta.machine.cpu}, ${meta.machine.memGiB} GiB, Linux ${meta.machine.kernel}; ` +
      `Node ${meta.versions.node}, ${meta.versions.nginx ?? "nginx: —"}, ${meta.versions.haproxy ?? "HAProxy: —"}; ` +
      `wsgate ${meta.versions.wsgate}. Load average at start ${meta.load.start}, at end ${meta.load.end} ` +
      "(the machine is shared: compare within this run).",
  );
  lines.push("");
  lines.push(
    "Placement: the proxy alone on CPU 0; client and backend on CPU 1 (`taskset`). D = client straight to the " +
      "backend, W = wsgate, N = nginx, H = HAProxy. Ratios are W divided by the other system: for the rows marked " +
      "↓ lower is better, for ↑ higher is better.",
  );
  lines.push("");
  const cols = systems;
  const ratioCols = ["W/D", "W/N", "W/H", ...(cols.includes("P") ? ["P/W"] : [])];
  lines.push(`| metric | unit | ${[...cols, ...ratioCols].join(" | ")} |`);
  lines.push(`| --- | --- | ${[...cols, ...ratioCols].map(() => "---:").join(" | ")} |`);
  for (const m of METRICS) {
    const arrow = m.better === "lower" ? "↓" : "↑";
    const cells = cols.map((s) => fmt(table[m.key][s]));
    const r = ratios[m.key];
    lines.push(
      `| ${m.label} ${arrow} | ${m.unit} | ${[...cells, ...ratioCols.map((c) => fmtRatio(r[c]))].join(" | ")} |`,
    );
  }
  lines.push("");
  lines.push(
    "Where each limit came from — CPU seconds per second during the measurement (1.00 = one core): " +
      "proxy (CPU 0) / client + backend (CPU 1) / other processes of the machine on CPU 0 / on CPU 1:",
  );
  lines.push("");
  lines.push(`| workload | ${cols.join(" | ")} |`);
  lines.push(`| --- | ${cols.map(() => "---:").join(" | ")} |`);
  for (const w of CONTEXT_WORKLOADS) {
    const cell = (s) => CONTEXT_FIELDS.map((f) => fmt(table[`${w}.${f}`][s])).join(" / ");
    lines.push(`| ${w} | ${cols.map(cell).join(" | ")} |`);
  }
  lines.push("");
  if (routing) {
    const both = Boolean(routingCompared);
    const cell = (f) => (both ? `${f(routing)} | ${f(routingCompared)}` : f(routing));
    lines.push("Control plane (wsgate only, CPU 0):");
    lines.push("");
    lines.push(both ? "| metric | W | P |" : "| metric | value |");
    lines.push(both ? "| --- | ---: | ---: |" : "| --- | ---: |");
    const rows = [
      [
        `C1 compile() after one route edit: ${routing.routes} routes, ${routing.endpoints} endpoints`,
        (r) => `${fmt(r.compileMs)} ms`,
      ],
      ["C1 compile() from scratch (every object new, as at start-up)", (r) => `${fmt(r.coldCompileMs)} ms`],
      ["C1 store.snapshot() of the same", (r) => `${fmt(r.snapshotMs)} ms`],
      [
        "C2 table.match, mixed (80% exact host, 10% wildcard, 10% miss)",
        (r) => `${fmt(r.match.mixed.ns)} ns/op`,
      ],
      ["C2 table.match, exact host", (r) => `${fmt(r.match.exact.ns)} ns/op`],
      ["C2 table.match, wildcard host", (r) => `${fmt(r.match.wildcard.ns)} ns/op`],
      ["C2 table.match, no route (404)", (r) => `${fmt(r.match.miss.ns)} ns/op`],
    ];
    for (const [label, f] of rows) lines.push(`| ${label} | ${cell(f)} |`);
    lines.push("");
  }
  lines.push("Targets:");
  lines.push("");
  lines.push("| target | measured | verdict |");
  lines.push("| --- | ---: | --- |");
  for (const v of verdicts) {
    const value = v.detail.includes("/") ? fmtRatio(v.value) : `${fmt(v.value)} ${v.detail}`;
    const verdict = v.pass === undefined ? "not measured" : v.pass ? "met" : "**missed**";
    lines.push(`| ${v.name} | ${value} (${v.detail}) | ${verdict} |`);
  }
  lines.push("");
  for (const [system, reason] of Object.entries(skipped)) lines.push(`- ${system} skipped: ${reason}`);
  for (const note of notes) lines.push(`- ${note}`);
  return `${lines.join("\n")}\n`;
}
