// Preloaded into wsgate by bench/profile.mjs (node --import): on SIGUSR2, collects
// garbage (when --expose-gc) and writes process.memoryUsage() and V8 heap space
// statistics to $WSGATE_PROBE_DIR/memory-<n>.json, plus a heap snapshot when
// $WSGATE_PROBE_SNAPSHOT is set. Touches nothing else in the process.
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import v8 from "node:v8";

const dir = process.env.WSGATE_PROBE_DIR ?? tmpdir();
let n = 0;
process.on("SIGUSR2", () => {
  const index = n++;
  const beforeGc = process.memoryUsage();
  globalThis.gc?.();
  const report = {
    beforeGc,
    afterGc: process.memoryUsage(),
    spaces: v8.getHeapSpaceStatistics().map((s) => ({ name: s.space_name, used: s.space_used_size })),
  };
  if (process.env.WSGATE_PROBE_SNAPSHOT)
    report.snapshot = v8.writeHeapSnapshot(join(dir, `heap-${index}.heapsnapshot`));
  writeFileSync(join(dir, `memory-${index}.json`), JSON.stringify(report));
});
