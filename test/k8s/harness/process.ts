/**
 * `wsgate serve` as a real child process (the built CLI, dist/cli/main.js), for
 * tests that kill a replica the way a node failure or a rollout does.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { controllerArgs } from "./cluster.js";

const REPO = new URL("../../../", import.meta.url).pathname;
const MAIN = join(REPO, "dist/cli/main.js");

export interface LogLine {
  readonly event?: string;
  readonly msg?: string;
  readonly http?: string;
  readonly admin?: string;
  readonly identity?: string;
  readonly leading?: boolean;
  readonly [field: string]: unknown;
}

export interface ControllerProcess {
  readonly child: ChildProcess;
  /** `127.0.0.1:PORT` of the traffic and admin listeners. */
  readonly http: string;
  readonly admin: string;
  /** The Lease holder identity this replica campaigns with. */
  readonly identity: string;
  readonly logs: LogLine[];
  readonly exited: Promise<number | null>;
  /** Resolves with the first log line (already seen or future) that matches. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  kill(signal: NodeJS.Signals): Promise<number | null>;
}

const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

export async function spawnController(
  kubeconfig: string,
  podName: string,
  flags: string[] = [],
): Promise<ControllerProcess> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first (npm test does)`);
  const child = spawn(
    process.execPath,
    [MAIN, "serve", ...controllerArgs(kubeconfig, ["--log-level", "debug", ...flags])],
    { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, POD_NAME: podName } },
  );
  running.add(child);
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  const logs: LogLine[] = [];
  const listeners = new Set<(line: LogLine) => void>();
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (text) => {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      return;
    }
    logs.push(line);
    for (const listener of listeners) listener(line);
  });
  const waitForLog = (match: (line: LogLine) => boolean, timeoutMs = 30_000): Promise<LogLine> => {
    const seen = logs.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        listeners.delete(listener);
        reject(new Error(`${podName}: no matching log line within ${timeoutMs} ms`));
      }, timeoutMs);
      const listener = (line: LogLine): void => {
        if (!match(line)) return;
        clearTimeout(timer);
        listeners.delete(listener);
        resolve(line);
      };
      listeners.add(listener);
      void exited.then(() => {
        if (!listeners.has(listener)) return;
        clearTimeout(timer);
        listeners.delete(listener);
        reject(new Error(`${podName} exited before the expected log line`));
      });
    });
  };
  const listening = await waitForLog((l) => l.event === "listening");
  const cluster = await waitForLog((l) => l.event === "cluster_mode");
  return {
    child,
    http: listening.http as string,
    admin: listening.admin as string,
    identity: cluster.identity as string,
    logs,
    exited,
    waitForLog,
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
