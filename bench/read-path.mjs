// The backend read path's cost: loopback sockets read Node's default way ('data' through
// Readable, a fresh 64 KiB allocation per read) against sockets read through
// dist/dataplane/backend-read.js (one shared buffer, a copy per chunk), in one process,
// phases alternating so both see the same machine. The far ends write a 1120 B block
// (16 × 64 B client frames) whenever the previous one was read; CPU per block includes
// the writer's side, the same in both modes.
// Usage: npm run build && node bench/read-path.mjs [phases]
import { once } from "node:events";
import net from "node:net";
import { BACKEND_READ } from "../dist/dataplane/backend-read.js";

const phases = Number(process.argv[2] ?? 30);
const PAIRS = 50;
const BLOCK = Buffer.alloc(1120, 1);
const server = net.createServer({ noDelay: true });
const accepted = [];
server.on("connection", (s) => accepted.push(s));
server.listen(0, "127.0.0.1");
await once(server, "listening");
const { port } = server.address();

const farEnds = { default: [], shared: [] };
const reads = { default: 0, shared: 0 };
let active;
for (const mode of ["default", "shared"]) {
  for (let i = 0; i < PAIRS; i++) {
    const socket = net.connect({
      port,
      host: "127.0.0.1",
      noDelay: true,
      ...(mode === "shared" ? { onread: BACKEND_READ } : {}),
    });
    await once(socket, "connect");
    while (accepted.length < farEnds.default.length + farEnds.shared.length + 1)
      await new Promise(setImmediate);
    const far = accepted[accepted.length - 1];
    let rx = 0;
    socket.on("data", (chunk) => {
      rx += chunk.length;
      while (rx >= BLOCK.length) {
        rx -= BLOCK.length;
        reads[mode]++;
        if (active === mode) far.write(BLOCK);
      }
    });
    farEnds[mode].push(far);
  }
}
const cpu = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
const total = { default: { us: 0, blocks: 0 }, shared: { us: 0, blocks: 0 } };
for (let phase = 0; phase < phases + 2; phase++) {
  const mode = phase % 2 ? "shared" : "default";
  await new Promise((resolve) => setTimeout(resolve, 30)); // the other mode's blocks land
  active = mode;
  const c0 = cpu();
  const n0 = reads[mode];
  for (const far of farEnds[mode]) far.write(BLOCK);
  await new Promise((resolve) => setTimeout(resolve, 300));
  active = undefined;
  if (phase >= 2) {
    total[mode].us += cpu() - c0;
    total[mode].blocks += reads[mode] - n0;
  }
}
const per = (mode) => (total[mode].us * 1000) / total[mode].blocks;
console.log(
  JSON.stringify({
    nsPerBlockDefault: Math.round(per("default")),
    nsPerBlockShared: Math.round(per("shared")),
    sharedOverDefault: Math.round((per("shared") / per("default")) * 1000) / 1000,
    blocks: [total.default.blocks, total.shared.blocks],
  }),
);
process.exit(0);
