// The load generator: runs one workload against one port and prints one JSON line.
// Raw sockets and pre-masked frames keep the client cheap; every workload is
// bounded in count and time, and the process exits by itself.
// Usage: node bench/client.mjs '<json options>' — see the workload functions below.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import {
  clientFrame,
  cpuBusyTicks,
  cpuTicks,
  openWebSocket,
  percentile,
  pool,
  repeat,
  rssKiB,
  serverFrame,
  sleep,
} from "./lib/ws.mjs";

const options = JSON.parse(process.argv[2] ?? "{}");
const HZ = options.clockTicks ?? 100;
const proxyPid = options.pid ?? 0;

const proxyCpu = () => (proxyPid ? cpuTicks(proxyPid) : NaN);
const proxyRss = () => (proxyPid ? rssKiB(proxyPid) : NaN);
/** CPU seconds of the load side (this client plus the backend), which share one core. */
const loadSideCpu = () =>
  process.cpuUsage().user / 1e6 +
  process.cpuUsage().system / 1e6 +
  (options.backendPid ? cpuTicks(options.backendPid) / HZ : 0);

const us = (ms) => Math.round(ms * 1000 * 10) / 10;
const round2 = (x) => Math.round(x * 100) / 100;

/**
 * A measurement window: wall time, the proxy's CPU, the load side's CPU, and each
 * CPU's busy time, so that `close()` can tell how much of the proxy's CPU (0) and
 * the load side's CPU (1) other processes of the machine took meanwhile.
 */
function measureWindow() {
  const start = {
    t: performance.now(),
    hr: process.hrtime.bigint(),
    proxy: proxyCpu(),
    load: loadSideCpu(),
    busy: cpuBusyTicks(),
  };
  return {
    close() {
      const end = {
        t: performance.now(),
        hr: process.hrtime.bigint(),
        proxy: proxyCpu(),
        load: loadSideCpu(),
        busy: cpuBusyTicks(),
      };
      const seconds = (end.t - start.t) / 1000;
      const proxySeconds = (end.proxy - start.proxy) / HZ;
      const loadSeconds = end.load - start.load;
      const busy = (cpu) => ((end.busy[cpu] ?? 0) - (start.busy[cpu] ?? 0)) / HZ;
      const placed = options.placed !== false;
      return {
        seconds,
        // CLOCK_MONOTONIC in µs, the clock of V8's CPU profiles: bench/profile.mjs keeps this window only.
        windowUs: [Number(start.hr / 1000n), Number(end.hr / 1000n)],
        proxySeconds,
        proxyCoreBusy: round2(proxySeconds / seconds),
        loadCoreBusy: round2(loadSeconds / seconds),
        // Only meaningful with the proxy pinned to CPU 0 and the load side to CPU 1.
        ...(placed
          ? {
              cpu0Others: round2(Math.max(0, busy(0) - (proxyPid ? proxySeconds : 0)) / seconds),
              cpu1Others: round2(Math.max(0, busy(1) - loadSeconds) / seconds),
            }
          : {}),
      };
    },
  };
}

/** The window's figures that say whether the proxy or the load side was the limit, and who else ran. */
function contention(m) {
  const { proxyCoreBusy, loadCoreBusy, cpu0Others, cpu1Others, windowUs } = m;
  return {
    windowUs,
    ...(proxyPid ? { proxyCoreBusy } : {}),
    loadCoreBusy,
    ...(cpu0Others === undefined ? {} : { cpu0Others, cpu1Others }),
  };
}

async function openMany(count, { path = "/echo", secure = false, concurrency = 64 } = {}) {
  const sockets = [];
  await pool(count, concurrency, async () => {
    sockets.push(await openWebSocket({ port: options.port, path, secure }));
  });
  return sockets;
}

/**
 * W1: open-loop echo. `rate` messages/s spread round-robin over `conns`
 * connections on a fixed schedule that never waits for replies; latency is
 * measured per message from its write to its echo. The schedule lag (write time
 * minus planned time) is reported to show the client kept its schedule, and the
 * latency from the planned time (coordinated-omission corrected) is kept too.
 */
async function latency({ conns = 100, rate = 1000, size = 64, warmupMs = 1000, durationMs = 3000 }) {
  const sockets = await openMany(conns);
  const request = clientFrame(size);
  const replyLength = serverFrame(size).length;
  const total = Math.round((rate * (warmupMs + durationMs)) / 1000);
  const RING = 8192;
  const MASK = RING - 1;
  const fromWrite = new Float64Array(total);
  const fromPlan = new Float64Array(total);
  const lag = new Float64Array(total);
  let samples = 0;
  let lagSamples = 0;
  let received = 0;
  let sent = 0;
  const interval = 1000 / rate;
  const t0 = performance.now() + 20;
  const measureFrom = t0 + warmupMs;
  const measureTo = measureFrom + durationMs;
  let overflow = false;
  let allReceived;
  const done = new Promise((resolve) => (allReceived = resolve));

  const states = sockets.map(({ socket, rest }) => {
    const c = { socket, rx: rest.length, done: 0, head: 0, tail: 0 };
    c.writtenAt = new Float64Array(RING);
    c.plannedAt = new Float64Array(RING);
    socket.on("data", (chunk) => {
      const now = performance.now();
      c.rx += chunk.length;
      const complete = Math.floor(c.rx / replyLength);
      while (c.done < complete && c.head < c.tail) {
        const i = c.head++ & MASK;
        const planned = c.plannedAt[i];
        if (planned >= measureFrom && planned < measureTo) {
          fromWrite[samples] = now - c.writtenAt[i];
          fromPlan[samples++] = now - planned;
        }
        c.done++;
        received++;
      }
      if (received === total) allReceived();
    });
    socket.resume();
    return c;
  });

  let measured;
  setTimeout(() => (measured = measureWindow()), Math.max(0, measureFrom - performance.now()));
  let measuredEnd;
  setTimeout(() => (measuredEnd = measured?.close()), Math.max(0, measureTo - performance.now()));
  await new Promise((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor((performance.now() - t0) / interval) + 1);
      while (sent < due) {
        const c = states[sent % states.length];
        if (c.tail - c.head >= RING) {
          overflow = true;
          break;
        }
        const planned = t0 + sent * interval;
        const now = performance.now();
        const i = c.tail++ & MASK;
        c.writtenAt[i] = now;
        c.plannedAt[i] = planned;
        if (planned >= measureFrom && planned < measureTo) lag[lagSamples++] = now - planned;
        c.socket.write(request);
        sent++;
      }
      if (sent < total && !overflow) setTimeout(tick, 1);
      else resolve();
    };
    setTimeout(tick, Math.max(0, t0 - performance.now()));
  });
  await Promise.race([done, sleep(3000)]);
  const write = fromWrite.subarray(0, samples).sort();
  const plan = fromPlan.subarray(0, samples).sort();
  const lags = lag.subarray(0, lagSamples).sort();
  return {
    messages: samples,
    lost: sent - received,
    overflow,
    p50Us: us(percentile(write, 50)),
    p99Us: us(percentile(write, 99)),
    p999Us: us(percentile(write, 99.9)),
    maxUs: us(write[write.length - 1] ?? NaN),
    fromPlan: {
      p50Us: us(percentile(plan, 50)),
      p99Us: us(percentile(plan, 99)),
      p999Us: us(percentile(plan, 99.9)),
    },
    scheduleLag: { p99Us: us(percentile(lags, 99)), maxUs: us(lags[lags.length - 1] ?? NaN) },
    ...(measuredEnd ? contention(measuredEnd) : {}),
  };
}

/**
 * W2/W3: closed-loop saturation. Each of `conns` connections keeps `window`
 * messages of `size` bytes in flight; every echo releases the next message.
 * Messages relayed counts both directions (request and echo).
 */
async function flood({ conns = 100, window = 16, size = 64, warmupMs = 500, durationMs = 2000 }) {
  const sockets = await openMany(conns);
  const one = clientFrame(size);
  const block = repeat(one, window);
  const replyLength = serverFrame(size).length;
  let echoes = 0;
  let running = true;
  for (const { socket, rest } of sockets) {
    let rx = rest.length;
    let seen = 0;
    socket.on("data", (chunk) => {
      rx += chunk.length;
      const complete = Math.floor(rx / replyLength);
      const fresh = complete - seen;
      if (fresh === 0) return;
      seen = complete;
      echoes += fresh;
      if (running) socket.write(fresh === window ? block : block.subarray(0, fresh * one.length));
    });
    socket.resume();
    socket.write(block);
  }
  await sleep(warmupMs);
  const from = echoes;
  const w = measureWindow();
  await sleep(durationMs);
  const m = w.close();
  const relayed = 2 * (echoes - from);
  running = false;
  const megabytes = (relayed * size) / 1e6;
  return {
    messages: relayed,
    msgPerSec: Math.round(relayed / m.seconds),
    MBps: Math.round((megabytes / m.seconds) * 10) / 10,
    proxyCpuUsPerMsg: Math.round(((m.proxySeconds * 1e6) / relayed) * 1000) / 1000,
    proxyCpuMsPerMB: Math.round(((m.proxySeconds * 1e3) / megabytes) * 1000) / 1000,
    ...contention(m),
  };
}

/**
 * W4/W7 idle: RSS of the proxy before and after `conns` upgraded connections that
 * then stay quiet; afterwards one echo per connection proves they are all alive.
 */
async function idle({ conns = 10000, secure = false, concurrency = 128, settleMs = 1000, probeDir }) {
  // Warm the proxy's code paths so that first-use costs are not charged per connection.
  for (const { socket } of await openMany(200, { secure, concurrency })) socket.destroy();
  await sleep(500);
  let probes = 0;
  // bench/profile.mjs: the proxy runs bench/lib/mem-probe.mjs, which reports on SIGUSR2.
  const probe = async () => {
    if (!probeDir) return;
    const file = join(probeDir, `memory-${probes++}.json`);
    process.kill(proxyPid, "SIGUSR2");
    for (let i = 0; i < 1200 && !existsSync(file); i++) await sleep(50);
  };
  await probe();
  const before = proxyRss();
  const t = performance.now();
  const sockets = await openMany(conns, { secure, concurrency });
  const openSeconds = (performance.now() - t) / 1000;
  await sleep(settleMs);
  const after = proxyRss();
  await probe();
  // Liveness: one message each way on every connection.
  const request = clientFrame(16);
  const replyLength = serverFrame(16).length;
  let alive = 0;
  let allAlive;
  const done = new Promise((resolve) => (allAlive = resolve));
  for (const { socket, rest } of sockets) {
    let rx = rest.length;
    socket.on("data", (chunk) => {
      rx += chunk.length;
      if (rx >= replyLength && rx - chunk.length < replyLength && ++alive === conns) allAlive();
    });
    socket.resume();
    socket.write(request);
  }
  await Promise.race([done, sleep(10_000)]);
  for (const { socket } of sockets) socket.destroy();
  return {
    conns,
    alive,
    openPerSec: Math.round(conns / openSeconds),
    rssBeforeKiB: before,
    rssAfterKiB: after,
    rssPerConnKiB: Math.round(((after - before) / conns) * 100) / 100,
    rssAfterMiB: Math.round((after / 1024) * 10) / 10,
  };
}

/** W5/W7 handshakes: `concurrency` loops of connect → upgrade → 101 → close. */
async function handshakes({ concurrency = 32, secure = false, warmupMs = 500, durationMs = 2000 }) {
  let measuring = false;
  let stop = false;
  let count = 0;
  let errors = 0;
  let lastError;
  const latencies = [];
  const loop = async () => {
    while (!stop) {
      const t = performance.now();
      try {
        const { socket } = await openWebSocket({ port: options.port, secure });
        if (measuring) {
          count++;
          latencies.push(performance.now() - t);
        }
        socket.destroy();
      } catch (err) {
        lastError = err.message;
        if (++errors > 1000) stop = true;
        await sleep(1);
      }
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  await sleep(warmupMs);
  measuring = true;
  const w = measureWindow();
  await sleep(durationMs);
  measuring = false;
  const m = w.close();
  stop = true;
  await Promise.all(loops);
  const sorted = Float64Array.from(latencies).sort();
  return {
    handshakes: count,
    errors,
    ...(lastError ? { lastError } : {}),
    perSec: Math.round(count / m.seconds),
    proxyCpuUsPerHandshake: Math.round((m.proxySeconds * 1e6) / count),
    p50Us: us(percentile(sorted, 50)),
    p99Us: us(percentile(sorted, 99)),
    ...contention(m),
  };
}

/**
 * W6: a slow consumer. The backend pushes `bytes` in `size`-byte messages while
 * the client reads nothing for `holdMs`; the proxy's RSS is sampled meanwhile.
 * Then the client reads everything, which shows nothing was dropped.
 */
async function slowConsumer({ bytes = 100e6, size = 65536, holdMs = 3000 }) {
  const before = proxyRss();
  const { socket, rest } = await openWebSocket({
    port: options.port,
    path: `/push?bytes=${bytes}&size=${size}`,
  });
  let peak = before;
  const deadline = performance.now() + holdMs;
  while (performance.now() < deadline) {
    await sleep(50);
    peak = Math.max(peak, proxyRss());
  }
  const expected = Math.ceil(bytes / size) * serverFrame(size).length;
  let rx = rest.length;
  const t = performance.now();
  const delivered = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), 20_000);
    socket.on("data", (chunk) => {
      rx += chunk.length;
      if (rx >= expected) {
        clearTimeout(timer);
        resolve(true);
      }
    });
    socket.resume();
  });
  socket.destroy();
  return {
    rssBeforeKiB: before,
    rssPeakKiB: peak,
    rssGrowthMiB: Math.round(((peak - before) / 1024) * 10) / 10,
    delivered,
    receivedBytes: rx,
    drainMs: Math.round(performance.now() - t),
  };
}

const workloads = { latency, flood, idle, handshakes, slowConsumer };
const run = workloads[options.workload];
if (!run) {
  process.stderr.write(`unknown workload ${options.workload}; one of ${Object.keys(workloads).join(", ")}\n`);
  process.exit(2);
}
const watchdog = setTimeout(() => {
  process.stdout.write(`${JSON.stringify({ error: "client timed out" })}\n`);
  process.exit(3);
}, options.timeoutMs ?? 60_000);
watchdog.unref();
try {
  const result = await run({ ...options, ...(options.params ?? {}) });
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
} catch (err) {
  process.stdout.write(`${JSON.stringify({ error: err.message })}\n`);
  process.exit(1);
}
