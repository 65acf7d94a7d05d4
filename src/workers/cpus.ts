/**
 * How many data-plane workers `--workers auto` starts: the CPUs the process may use.
 * `os.availableParallelism()` counts the CPUs of the machine (or of the cpuset), but a
 * Pod with `resources.limits.cpu: 2` on a 64-core node is throttled to two cores' worth of
 * time by its cgroup CPU quota — 64 threads would only contend. So the quota caps it.
 */
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";

/** Reads a file, or undefined when it does not exist (no cgroup of that version). */
export type FileReader = (path: string) => string | undefined;

const readIfPresent: FileReader = (path) => {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
};

/**
 * The CPU quota in CPUs (e.g. 1.5), or undefined when there is none. cgroup v2:
 * `/sys/fs/cgroup/cpu.max` holds `QUOTA PERIOD` (`max` = none); v1:
 * `cpu.cfs_quota_us` (-1 = none) over `cpu.cfs_period_us`.
 */
export function cgroupCpuQuota(read: FileReader = readIfPresent): number | undefined {
  const v2 = read("/sys/fs/cgroup/cpu.max");
  if (v2 !== undefined) {
    const [quota, period] = v2.trim().split(/\s+/);
    if (quota === undefined || quota === "max") return undefined;
    return ratio(Number(quota), Number(period ?? 100_000));
  }
  for (const dir of ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"]) {
    const quota = read(`${dir}/cpu.cfs_quota_us`);
    if (quota === undefined) continue;
    const period = read(`${dir}/cpu.cfs_period_us`);
    return ratio(Number(quota.trim()), Number(period?.trim() ?? 100_000));
  }
  return undefined;
}

function ratio(quota: number, period: number): number | undefined {
  if (!Number.isFinite(quota) || !Number.isFinite(period) || quota <= 0 || period <= 0) return undefined;
  return quota / period;
}

/**
 * The default worker count: available parallelism, capped by the cgroup quota rounded up
 * (a 1.5-CPU limit gets 2 workers: the half core is still worth a thread), at least 1.
 */
export function defaultWorkerCount(
  parallelism: number = availableParallelism(),
  quota: number | undefined = cgroupCpuQuota(),
): number {
  const cap = quota === undefined ? Infinity : Math.ceil(quota);
  return Math.max(1, Math.min(parallelism, cap));
}

/**
 * Whether listening sockets can share a port (`reusePort`, SO_REUSEPORT with kernel load
 * balancing): Linux ≥ 3.9, FreeBSD ≥ 12, DragonFly BSD, Solaris 11.4, AIX 7.2.5 per Node's
 * documentation. Elsewhere `--workers` falls back to one thread.
 */
export function reusePortAvailable(platform: NodeJS.Platform = process.platform): boolean {
  return platform === "linux" || platform === "freebsd" || platform === "sunos" || platform === "aix";
}
