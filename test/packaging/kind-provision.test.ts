/**
 * The offline kind provisioning (scripts/e2e-provision.sh) in the parts that run
 * without Docker: the runc wrapper built with the real Go toolchain and run as the
 * runtime dockerd would run it (in front of a stand-in runc that records what it is
 * given), the CNI daemon's manifest, and the script's do-nothing path where the
 * official images are reachable.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync, existsSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { PROVISION_TIMEOUT_MS, REPO, tool } from "./tools.js";

const dirs: string[] = [];
function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), "wsgate-kind-"));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Capability names in this process's bounding set (as the wrapper reads it). */
function boundingSet(): Set<number> {
  const hex = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? "0";
  const mask = BigInt(`0x${hex}`);
  const bits = new Set<number>();
  for (let bit = 0; bit < 64; bit++) if ((mask >> BigInt(bit)) & 1n) bits.add(bit);
  return bits;
}

describe("scripts/kind/runc-wrapper", () => {
  let wrapper: string;
  let fakeRunc: string;
  let record: string;
  beforeAll(() => {
    const dir = scratch();
    wrapper = join(dir, "runc-wrapper");
    // As scripts/lint-tools.sh finds Go: GO, else PATH, else the official install location.
    const go = process.env.GO ?? (existsSync("/usr/local/go/bin/go") ? "/usr/local/go/bin/go" : "go");
    execFileSync(go, ["build", "-trimpath", "-o", wrapper, "."], {
      cwd: join(REPO, "scripts/kind/runc-wrapper"),
      env: { ...process.env, GOTOOLCHAIN: "local", CGO_ENABLED: "0", GOFLAGS: "-buildvcs=false" },
      stdio: "inherit",
    });
    // Stands in for /usr/sbin/runc: records its arguments and the JSON it was pointed at.
    record = join(dir, "record");
    fakeRunc = join(dir, "runc");
    writeFileSync(
      fakeRunc,
      `#!/bin/sh
printf '%s\\n' "$@" > "${record}.args"
for a in "$@"; do
  case "$prev" in --bundle) cp "$a/config.json" "${record}.json" ;; --process) cp "$a" "${record}.json" ;; esac
  prev="$a"
done
`,
    );
    chmodSync(fakeRunc, 0o755);
  }, PROVISION_TIMEOUT_MS);

  // CAP_SYS_RESOURCE (24) is what this project's VMs lack; CAP_CHOWN (0) every host has.
  const privileged = ["CAP_CHOWN", "CAP_NET_ADMIN", "CAP_SYS_RESOURCE", "CAP_CHECKPOINT_RESTORE"];
  const names: Record<string, number> = {
    CAP_CHOWN: 0,
    CAP_NET_ADMIN: 12,
    CAP_SYS_RESOURCE: 24,
    CAP_CHECKPOINT_RESTORE: 40,
  };
  const allowed = (c: string): boolean => boundingSet().has(names[c] as number);
  const capabilities = { bounding: privileged, effective: privileged, permitted: privileged };

  it("removes from a --privileged container's config the capabilities the host cannot grant, then runs runc with the same arguments", () => {
    const bundle = scratch();
    const config = { ociVersion: "1.0.2", process: { args: ["sh"], capabilities }, hostname: "kept" };
    writeFileSync(join(bundle, "config.json"), JSON.stringify(config));
    const args = [
      "--root",
      "/run/x",
      "--log",
      "/tmp/log.json",
      "--systemd-cgroup",
      "create",
      "--bundle",
      bundle,
      "c1",
    ];
    execFileSync(wrapper, args, { env: { ...process.env, WSGATE_REAL_RUNC: fakeRunc } });
    expect(readFileSync(`${record}.args`, "utf8").trim().split("\n")).toEqual(args);
    const seen = JSON.parse(readFileSync(`${record}.json`, "utf8")) as typeof config;
    const expected = privileged.filter(allowed);
    expect(expected).toContain("CAP_CHOWN");
    for (const set of ["bounding", "effective", "permitted"] as const)
      expect(seen.process.capabilities[set]).toEqual(expected);
    expect(seen.hostname).toBe("kept");
  });

  it("does the same for docker exec's --process file, and leaves a container within the bounding set untouched", () => {
    const dir = scratch();
    const process = join(dir, "process.json");
    writeFileSync(process, JSON.stringify({ args: ["sh"], capabilities }));
    execFileSync(wrapper, ["exec", "--process", process, "--detach", "c1"], {
      env: { ...global.process.env, WSGATE_REAL_RUNC: fakeRunc },
    });
    const seen = JSON.parse(readFileSync(`${record}.json`, "utf8")) as { capabilities: typeof capabilities };
    expect(seen.capabilities.bounding).toEqual(privileged.filter(allowed));

    const bundle = scratch();
    const modest = JSON.stringify({ process: { capabilities: { bounding: ["CAP_CHOWN"] } } });
    writeFileSync(join(bundle, "config.json"), modest);
    execFileSync(wrapper, ["run", "-b", bundle, "c2"], {
      env: { ...global.process.env, WSGATE_REAL_RUNC: fakeRunc },
    });
    expect(readFileSync(join(bundle, "config.json"), "utf8")).toBe(modest);
  });
});

describe("scripts/kind/cni-daemon.yaml", () => {
  it("runs the CNI daemon on every node with host networking, NET_ADMIN only, and its node's name", () => {
    const docs = parseAllDocuments(readFileSync(join(REPO, "scripts/kind/cni-daemon.yaml"), "utf8")).map(
      (d) => d.toJS() as { kind: string; spec?: Record<string, unknown> },
    );
    expect(docs.map((d) => d.kind)).toEqual([
      "ClusterRole",
      "ClusterRoleBinding",
      "ServiceAccount",
      "DaemonSet",
    ]);
    const pod = (
      docs[3]?.spec as {
        template: {
          spec: {
            hostNetwork: boolean;
            tolerations: unknown[];
            containers: {
              image: string;
              env: { name: string; valueFrom: { fieldRef: { fieldPath: string } } }[];
              securityContext: { privileged: boolean; capabilities: { add: string[] } };
            }[];
          };
        };
      }
    ).template.spec;
    expect(pod.hostNetwork).toBe(true);
    expect(pod.tolerations).toEqual([{ operator: "Exists" }]);
    const [container] = pod.containers;
    expect(container?.image).toBe("__CNI_IMAGE__");
    expect(container?.securityContext).toEqual({ privileged: false, capabilities: { add: ["NET_ADMIN"] } });
    expect(container?.env).toEqual([
      { name: "NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
    ]);
    // Its only API access: listing nodes.
    expect(docs[0]).toMatchObject({ rules: [{ apiGroups: [""], resources: ["nodes"], verbs: ["list"] }] });
  });
});

describe("scripts/e2e-provision.sh", () => {
  it("builds nothing where the official images are reachable, and still hands e2e/run.sh an env file", async () => {
    const cache = scratch();
    const result = await tool("bash", ["scripts/e2e-provision.sh"], {
      env: { ...process.env, WSGATE_CACHE: cache, WSGATE_E2E_IMAGES: "official" },
    });
    expect(result.code).toBe(0);
    const envFile = result.stdout.trim().split("\n").at(-1) as string;
    expect(envFile).toBe(join(cache, "kind/v1.34.4/e2e.env"));
    expect(readFileSync(envFile, "utf8")).not.toMatch(/^export /m);
    expect(existsSync(join(cache, "kind/v1.34.4/bin"))).toBe(false);
  });

  it("refuses an unknown WSGATE_E2E_IMAGES with a clear message", async () => {
    const cache = scratch();
    mkdirSync(join(cache, "kind"));
    const result = await tool("bash", ["scripts/e2e-provision.sh"], {
      env: { ...process.env, WSGATE_CACHE: cache, WSGATE_E2E_IMAGES: "sometimes" },
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("WSGATE_E2E_IMAGES must be auto, official or offline (got 'sometimes')");
  });
});

describe("scripts/kind/host.sh start_docker", () => {
  it("starts the engine without the provisioning lock, so a later run is not blocked for as long as the engine runs", async () => {
    const dir = scratch();
    const bin = join(dir, "bin");
    mkdirSync(bin);
    mkdirSync(join(dir, "runtime"));
    // The wrapper is "built" already: start_docker only checks that it is executable.
    writeFileSync(join(dir, "runtime/runc-wrapper"), "#!/bin/sh\n");
    chmodSync(join(dir, "runtime/runc-wrapper"), 0o755);
    // Stand-ins: docker answers once the engine has started; the engine records its pid and stays.
    writeFileSync(join(bin, "docker"), `#!/bin/sh\n[ -e "${dir}/engine.pid" ]\n`);
    writeFileSync(join(bin, "dockerd"), `#!/bin/sh\necho $$ > "${dir}/engine.pid"\nexec sleep 60\n`);
    chmodSync(join(bin, "docker"), 0o755);
    chmodSync(join(bin, "dockerd"), 0o755);
    const lock = join(dir, "provision.lock");
    const script = `
      set -euo pipefail
      log() { :; }; die() { echo "$*" >&2; exit 1; }; as_root() { "$@"; }; gocmd() { exit 9; }
      CACHE="${dir}"; LOGS="${dir}"
      source scripts/kind/host.sh
      exec 9>"${lock}"
      flock 9
      start_docker`;
    try {
      const result = await tool("bash", ["-c", script], {
        env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
      });
      expect(result.stdout.trim()).toBe("ready");
      expect(existsSync(join(dir, "engine.pid"))).toBe(true);
      // The provisioning run has exited; its engine runs on. The lock is free.
      const probe = await tool("flock", ["-n", lock, "true"]);
      expect(probe.code).toBe(0);
    } finally {
      const pid = Number(readFileSync(join(dir, "engine.pid"), "utf8"));
      if (pid > 0) process.kill(pid);
    }
  });
});

describe("scripts/kind/images.sh ensure_image", () => {
  it("saves an image the engine has but the cache lacks, so a fresh engine only loads it", async () => {
    const dir = scratch();
    const bin = join(dir, "bin");
    mkdirSync(bin);
    // A stand-in engine that has every image and "saves" one as a line of text.
    writeFileSync(
      join(bin, "docker"),
      `#!/bin/sh\ncase "$1" in image) exit 0 ;; save) shift; [ "$1" = -o ] && echo "saved $3" > "$2" ;; esac\n`,
    );
    chmodSync(join(bin, "docker"), 0o755);
    const saved = join(dir, "images/apiserver.tar");
    const script = `
      set -euo pipefail
      log() { :; }; die() { echo "$*" >&2; exit 1; }; end() { echo "step: $1"; }
      source scripts/kind/images.sh
      ensure_image example/apiserver:v1 "${saved}" false
      ensure_image example/apiserver:v1 "${saved}" false`;
    const result = await tool("bash", ["-c", script], {
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    });
    expect(result.stderr).toBe("");
    // Saved once (the builder, `false`, never runs), then cached.
    expect(result.stdout.trim().split("\n")).toEqual(["step: saved", "step: cached"]);
    expect(readFileSync(saved, "utf8")).toBe("saved example/apiserver:v1\n");
  });
});
