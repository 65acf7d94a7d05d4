/**
 * `wsgate serve` as a real child process (the built CLI: `npm run build` first), for what
 * only a process shows: signals, exit codes, its JSON log lines.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { serveArgs } from "./standalone.js";

/** A pino line of the child's log: the fields tests look at. */
export interface LogLine {
  readonly event?: string;
  readonly http?: string;
  readonly https?: string;
  readonly admin?: string;
  readonly reason?: string;
  readonly status?: number;
  readonly [field: string]: unknown;
}

export interface ServeProcess {
  readonly proc: ChildProcess;
  /** The exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** The first log line (already printed, or still to come) that `matches`. */
  logLine(matches: (line: LogLine) => boolean): Promise<LogLine>;
  /** The first log line of `event`. */
  event(event: string): Promise<LogLine>;
  /** Once it listens: the traffic ports and the admin listener's base URL. */
  listening(): Promise<{ readonly http: number; readonly https: number; readonly admin: string }>;
}

/** Spawns `wsgate serve` on manifest directory `dir` (listeners as {@link serveArgs} sets them). */
export function spawnServe(dir: string, extra: readonly string[] = []): ServeProcess {
  return spawnServeWith(serveArgs(dir, extra));
}

/**
 * Spawns `wsgate serve` in cluster mode with `kubeconfig`, every listener on an ephemeral
 * loopback port, and `extra` arguments.
 */
export function spawnClusterServe(kubeconfig: string, extra: readonly string[] = []): ServeProcess {
  const listeners = ["--http-listen", "--https-listen", "--admin-listen"].flatMap((f) => [f, "127.0.0.1:0"]);
  return spawnServeWith(["--kubeconfig", kubeconfig, "--workers", "1", ...listeners, ...extra]);
}

function spawnServeWith(args: readonly string[]): ServeProcess {
  const proc = spawn(process.execPath, ["dist/cli/main.js", "serve", ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const seen: LogLine[] = [];
  const waiting = new Set<{ matches: (line: LogLine) => boolean; resolve: (line: LogLine) => void }>();
  createInterface({ input: proc.stdout! }).on("line", (text: string) => {
    const line = JSON.parse(text) as LogLine;
    seen.push(line);
    for (const w of waiting) {
      if (!w.matches(line)) continue;
      waiting.delete(w);
      w.resolve(line);
    }
  });
  const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
  const logLine = (matches: (line: LogLine) => boolean): Promise<LogLine> => {
    const earlier = seen.find(matches);
    if (earlier) return Promise.resolve(earlier);
    return new Promise((resolve) => waiting.add({ matches, resolve }));
  };
  const event = (name: string): Promise<LogLine> => logLine((l) => l.event === name);
  const port = (address: unknown): number => Number(String(address).split(":").at(-1));
  return {
    proc,
    exited,
    logLine,
    event,
    listening: () =>
      event("listening").then((l) => ({
        http: port(l.http),
        https: port(l.https),
        admin: `http://${String(l.admin)}`,
      })),
  };
}
