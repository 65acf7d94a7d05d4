import { describe, expect, it } from "vitest";
import { parseServeConfig } from "../config/config.js";
import { cgroupCpuQuota, defaultWorkerCount, reusePortAvailable } from "./cpus.js";

const files =
  (contents: Record<string, string>) =>
  (path: string): string | undefined =>
    contents[path];

describe("default worker count", () => {
  it("reads a cgroup v2 quota so that a Pod limited to 1.5 CPUs is not given a thread per node core", () => {
    expect(cgroupCpuQuota(files({ "/sys/fs/cgroup/cpu.max": "150000 100000\n" }))).toBe(1.5);
    expect(defaultWorkerCount(64, 1.5)).toBe(2);
  });

  it("treats cgroup v2 'max' and v1 '-1' as no quota, so every available CPU gets a worker", () => {
    expect(cgroupCpuQuota(files({ "/sys/fs/cgroup/cpu.max": "max 100000\n" }))).toBeUndefined();
    expect(
      cgroupCpuQuota(
        files({
          "/sys/fs/cgroup/cpu/cpu.cfs_quota_us": "-1\n",
          "/sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n",
        }),
      ),
    ).toBeUndefined();
    expect(defaultWorkerCount(4, undefined)).toBe(4);
  });

  it("reads a cgroup v1 quota (cfs_quota_us over cfs_period_us), also under the cpu,cpuacct mount", () => {
    expect(
      cgroupCpuQuota(
        files({
          "/sys/fs/cgroup/cpu/cpu.cfs_quota_us": "200000",
          "/sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000",
        }),
      ),
    ).toBe(2);
    expect(
      cgroupCpuQuota(
        files({
          "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "50000",
          "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000",
        }),
      ),
    ).toBe(0.5);
  });

  it("never goes below one worker nor above the CPUs available, so a tiny quota still serves", () => {
    expect(defaultWorkerCount(8, 0.1)).toBe(1);
    expect(defaultWorkerCount(2, 16)).toBe(2);
    expect(defaultWorkerCount(1, undefined)).toBe(1);
  });

  it("ignores an unreadable quota rather than refusing to start", () => {
    expect(cgroupCpuQuota(files({ "/sys/fs/cgroup/cpu.max": "garbage" }))).toBeUndefined();
    expect(cgroupCpuQuota(files({}))).toBeUndefined();
  });
});

describe("--workers", () => {
  const base = ["--manifests", "/tmp/x"];

  it("defaults to auto, so that a Pod uses the CPUs its limit gives it", () => {
    expect(parseServeConfig(base, {}).workers).toBe("auto");
    expect(parseServeConfig([...base, "--workers", "1"], {}).workers).toBe(1);
  });

  it("takes the last --workers given, so that a caller's own value overrides a preset one", () => {
    expect(parseServeConfig([...base, "--workers", "1", "--workers", "2"], {}).workers).toBe(2);
  });

  it("takes a count or auto from the flag or WSGATE_WORKERS, the flag winning", () => {
    expect(parseServeConfig([...base, "--workers", "4"], {}).workers).toBe(4);
    expect(parseServeConfig(base, { WSGATE_WORKERS: "auto" }).workers).toBe("auto");
    expect(parseServeConfig([...base, "--workers", "2"], { WSGATE_WORKERS: "auto" }).workers).toBe(2);
    expect(parseServeConfig(base, { WSGATE_WORKERS: "1" }).workers).toBe(1);
  });

  it("refuses a count that is not 1 to 64 with the flag's name", () => {
    for (const bad of ["0", "65", "1.5", "-1", "two"]) {
      expect(() => parseServeConfig([...base, `--workers=${bad}`], {})).toThrow(
        /--workers: must be auto or a number/,
      );
    }
  });

  it("knows where SO_REUSEPORT spreads connections, and falls back elsewhere", () => {
    expect(reusePortAvailable("linux")).toBe(true);
    expect(reusePortAvailable("darwin")).toBe(false);
    expect(reusePortAvailable("win32")).toBe(false);
  });
});
