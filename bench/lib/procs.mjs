// Child processes of the benchmark: spawned with a CPU placement, tracked so that
// every one of them is stopped when the run ends (normally, on error or on a
// signal), and stopped by their own pid only.
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";

const children = new Set();

function killAll() {
  for (const child of children) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
}
process.on("exit", killAll);
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => {
    killAll();
    process.exit(130);
  });
}

/** Command prefix that pins to `cpus` (e.g. "0") and applies `nice`, when asked. */
export function placement({ cpus, nice = 0 }) {
  const prefix = [];
  if (nice !== 0) prefix.push("nice", "-n", String(nice));
  if (cpus !== undefined) prefix.push("taskset", "-c", cpus);
  return prefix;
}

/**
 * Starts `command` (argv array) with a placement prefix. The prefix programs exec
 * the command, so the child's pid is the command's pid.
 */
export function start(command, { cpus, nice, env, stdout = "ignore", stderrFile } = {}) {
  const argv = [...placement({ cpus, nice }), ...command];
  const child = spawn(argv[0], argv.slice(1), {
    stdio: ["ignore", stdout, stderrFile ?? "ignore"],
    env: { ...process.env, ...env },
  });
  children.add(child);
  child.once("exit", () => children.delete(child));
  child.exited = once(child, "exit").catch(() => undefined);
  return child;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stop(child, graceMs = 3000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await child.exited;
  clearTimeout(timer);
}

/** Resolves when the child prints `marker` on stdout (stdout must be "pipe"). */
export function waitForLine(child, marker, timeoutMs = 10_000) {
  return new Promise((resolve, reject) => {
    let text = "";
    const timer = setTimeout(() => reject(new Error(`no "${marker}" within ${timeoutMs} ms`)), timeoutMs);
    const onData = (chunk) => {
      text += chunk;
      if (text.includes(marker)) {
        clearTimeout(timer);
        child.stdout.off("data", onData);
        child.stdout.resume();
        resolve();
      }
    };
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before printing "${marker}"`));
    });
  });
}

/** Runs a command to completion and returns its stdout (or throws with its stderr). */
export function run(command, { timeoutMs = 60_000, cpus, nice, input } = {}) {
  const argv = [...placement({ cpus, nice }), ...command];
  const result = spawnSync(argv[0], argv.slice(1), {
    encoding: "utf8",
    timeout: timeoutMs,
    maxBuffer: 64 << 20,
    ...(input === undefined ? {} : { input }),
  });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    throw new Error(
      `${command.join(" ")} exited with ${result.status}: ${(result.stderr || result.stdout).trim()}`,
    );
  }
  return result.stdout;
}

/** Like run(), but returns undefined instead of throwing. */
export function tryRun(command, options) {
  try {
    return run(command, options);
  } catch {
    return undefined;
  }
}
