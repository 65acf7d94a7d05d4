/**
 * Packaging files that cannot run on this machine, checked with real tools:
 * shellcheck on every shell script, actionlint on the GitHub workflows, the e2e
 * suite through the TypeScript compiler, and the Dockerfile's runtime stage
 * reproduced outside Docker (production dependencies only, non-root where possible).
 */
import { spawn } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { parse, parseAllDocuments } from "yaml";
import { PROVISION_TIMEOUT_MS, REPO, lintToolsDir, tool } from "./tools.js";

/** Every shell script of the repository: *.sh, plus .ci/run. */
function shellScripts(): string[] {
  const found: string[] = [".ci/run"];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(REPO, dir), { withFileTypes: true })) {
      if (["node_modules", ".git", "dist", "dist-check"].includes(entry.name)) continue;
      const path = dir ? `${dir}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".sh")) found.push(path);
    }
  };
  walk("");
  return found.sort();
}

describe("shell scripts", () => {
  it("pass shellcheck (Debian: apt-get install shellcheck)", async () => {
    const scripts = shellScripts();
    expect(scripts).toEqual(
      expect.arrayContaining([".ci/run", "e2e/run.sh", "scripts/render-deploy.sh", "scripts/lint-tools.sh"]),
    );
    const result = await tool("shellcheck", ["--severity=style", "--external-sources", ...scripts]).catch(
      (err: Error) => {
        throw new Error(`${err.message}: install shellcheck (apt-get install shellcheck)`, { cause: err });
      },
    );
    expect(result.stdout + result.stderr).toBe("");
    expect(result.code).toBe(0);
  });
});

describe("GitHub workflows", () => {
  let actionlint: string;
  beforeAll(async () => {
    actionlint = join(await lintToolsDir(), "actionlint");
  }, PROVISION_TIMEOUT_MS);

  it("pass actionlint (with shellcheck on their run: steps)", async () => {
    const workflows = readdirSync(join(REPO, ".github/workflows"))
      .filter((f) => /\.ya?ml$/.test(f))
      .map((f) => `.github/workflows/${f}`);
    expect(workflows.sort()).toEqual([
      ".github/workflows/ci.yml",
      ".github/workflows/conformance.yml",
      ".github/workflows/e2e.yml",
      ".github/workflows/release.yml",
    ]);
    const result = await tool(actionlint, ["-no-color", ...workflows]);
    expect(result.stdout + result.stderr).toBe("");
    expect(result.code).toBe(0);
  });

  it("run CI through .ci/run and the e2e through e2e/run.sh", () => {
    expect(readFileSync(join(REPO, ".github/workflows/ci.yml"), "utf8")).toMatch(/run: bash \.ci\/run$/m);
    expect(readFileSync(join(REPO, ".github/workflows/e2e.yml"), "utf8")).toMatch(/run: bash e2e\/run\.sh$/m);
    expect(readFileSync(join(REPO, ".github/workflows/conformance.yml"), "utf8")).toMatch(
      /bash scripts\/conformance\.sh/m,
    );
  });
});

describe("kind e2e suite", () => {
  it("compiles with the TypeScript compiler (it runs only where kind does)", async () => {
    const result = await tool(join(REPO, "node_modules/.bin/tsc"), ["-p", "e2e/tsconfig.json"]);
    expect(result.stdout + result.stderr).toBe("");
    expect(result.code).toBe(0);
    // A whole-program type check: well past the default timeout on a loaded machine.
  }, 120_000);

  it("agrees with itself: ports, drain timings and names across kind.yaml, values.yaml, run.sh and the tests", () => {
    const read = (f: string): string => readFileSync(join(REPO, "e2e", f), "utf8");
    const kind = parse(read("kind.yaml")) as {
      nodes: {
        role: string;
        extraPortMappings?: { containerPort: number; hostPort: number; listenAddress: string }[];
      }[];
    };
    const values = parse(read("values.yaml")) as {
      image: { repository: string; tag: string; pullPolicy: string };
      service: { type: string; nodePorts: { http: number } };
      shutdown: { preStopSleepSeconds: number; drainSeconds: number };
    };
    const manifests = parseAllDocuments(read("manifests/echo.yaml")).map(
      (d) => d.toJS() as { kind: string; spec: Record<string, unknown> },
    );
    const cluster = read("cluster.ts");
    const runSh = read("run.sh");
    const constant = (name: string): number =>
      Number(new RegExp(`${name} = ([\\d_]+);`).exec(cluster)?.[1]?.replaceAll("_", ""));

    const mapping = kind.nodes.flatMap((n) => n.extraPortMappings ?? []);
    expect(mapping).toEqual([
      {
        containerPort: values.service.nodePorts.http,
        hostPort: 18080,
        listenAddress: "127.0.0.1",
        protocol: "TCP",
      },
    ]);
    expect(values.service.type).toBe("NodePort");
    expect(runSh).toContain(`host_port="\${E2E_HOST_PORT:-${mapping[0]?.hostPort}}"`);
    expect(runSh).toContain(`hostPort: ${mapping[0]?.hostPort}/hostPort: $host_port/`);
    expect(runSh).toContain('WSGATE_E2E_URL="ws://127.0.0.1:$host_port"');
    expect(runSh).toContain(`tag=${values.image.tag}\n`);
    expect(runSh).toContain(`image="${values.image.repository}:$tag"`);
    expect(runSh).toContain(`s|image: ${values.image.repository}:${values.image.tag}|image: $image|`);
    expect(values.image.pullPolicy).toBe("Never");
    expect(constant("GATEWAY_PRESTOP_MS")).toBe(values.shutdown.preStopSleepSeconds * 1000);
    expect(constant("GATEWAY_DRAIN_MS")).toBe(values.shutdown.drainSeconds * 1000);
    const route = manifests.find((m) => m.kind === "WebSocketRoute")?.spec as {
      drain: { window: string; closeCode: number };
    };
    expect(constant("ROUTE_DRAIN_MS")).toBe(Number(route.drain.window.replace(/s$/, "")) * 1000);
    expect(constant("ROUTE_DRAIN_CODE")).toBe(route.drain.closeCode);
    const echo = manifests.find((m) => m.kind === "Deployment")?.spec as {
      strategy: { rollingUpdate: { maxSurge: number; maxUnavailable: number } };
      template: { spec: { terminationGracePeriodSeconds: number; containers: { image: string }[] } };
    };
    // The backend rolling-update suite's premise: full capacity throughout.
    expect(echo.strategy.rollingUpdate).toEqual({ maxSurge: 1, maxUnavailable: 0 });
    // Backends outlive the route's drain window, so the gateway's closes come first.
    expect(echo.template.spec.terminationGracePeriodSeconds * 1000).toBeGreaterThan(
      constant("ROUTE_DRAIN_MS") + 10_000,
    );
    expect(echo.template.spec.containers[0]?.image).toBe(`${values.image.repository}:${values.image.tag}`);
  });

  it("has a demo backend that says who it is, and on SIGTERM keeps its open sockets until they close", async () => {
    const child = spawn(process.execPath, [join(REPO, "e2e/echo-server.mjs")], {
      cwd: REPO,
      env: { ...process.env, POD_NAME: "echo-test-0", NODE_NAME: "node-a", PORT: "0" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      // Its JSON log lines, read in order.
      const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
      const next = async (event: string): Promise<{ port?: number }> => {
        for (;;) {
          const { value, done } = await lines.next();
          if (done) throw new Error(`the echo server exited before logging ${event}`);
          const e = JSON.parse(value as string) as { event: string; port?: number };
          if (e.event === event) return e;
        }
      };
      const { port } = await next("listening");
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      const socket = new WebSocket(`ws://127.0.0.1:${port}/echo`);
      await new Promise((resolve, reject) => socket.once("open", resolve).once("error", reject));
      const ask = (data: string | Buffer): Promise<Buffer> =>
        new Promise((resolve) => {
          socket.once("message", (answer) => resolve(answer as Buffer));
          socket.send(data);
        });
      expect(String(await ask("whoami"))).toBe("echo-test-0");
      // Where it runs and where the connection came from, for the placement checks.
      expect(JSON.parse(String(await ask("whence")))).toEqual({
        pod: "echo-test-0",
        node: "node-a",
        peer: "127.0.0.1",
      });
      expect(String(await ask("hello"))).toBe("hello");
      const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await next("sigterm");
      // Terminating: the open socket is still served (the gateway drains it)...
      expect(String(await ask("still here"))).toBe("still here");
      // ...and the process exits once it is closed.
      socket.close(1000);
      expect(await exited).toBe(0);
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("is left out of npm test", async () => {
    const { default: config } = (await import("../../vitest.config.js")) as {
      default: { test: { include: string[] } };
    };
    expect(config.test.include.some((p) => p.startsWith("e2e"))).toBe(false);
  });
});

describe("Dockerfile", () => {
  const dockerfile = readFileSync(join(REPO, "Dockerfile"), "utf8");
  /** Instructions of the last stage, continuation lines joined. */
  const finalStage = dockerfile
    .replace(/\\\n/g, " ")
    .split("\n")
    .filter((l) => l.trim() !== "" && !l.trim().startsWith("#"))
    .reduce<string[][]>((stages, line) => {
      if (/^FROM\s/i.test(line)) stages.push([]);
      stages[stages.length - 1]?.push(line.trim());
      return stages;
    }, [])
    .at(-1) as string[];

  it("builds in one stage on Node 24 and runs production dependencies only, as a numeric non-root user", () => {
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:24-bookworm-slim$/m);
    expect(dockerfile.match(/^FROM \$\{NODE_IMAGE\} AS \w+$/gm)).toHaveLength(2);
    expect(dockerfile).toMatch(/^RUN npm ci --no-audit --no-fund$/m);
    expect(dockerfile).toMatch(/^RUN npm run build$/m);
    const install = finalStage.find((l) => l.startsWith("RUN npm ci"));
    expect(install).toMatch(
      /^RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force/,
    );
    // Pruned in the same RUN: a later layer's deletions would not shrink the image.
    expect(install).toMatch(/&& find node_modules -type f .*'\*\.ts'.*'\*\.map'.* -delete$/);
    expect(finalStage).toContain("USER 10001:10001");
    // Exec form: node is PID 1 and receives SIGTERM itself (no shell in between).
    expect(finalStage.join("\n")).toMatch(
      /^ENTRYPOINT \["node", (?:"--[^"]+", )*"\/app\/dist\/cli\/main\.js"\]$/m,
    );
  });

  it("runs node with the V8 flags of the wsgate command's own shebang, so the image and `npx wsgate` tune the heap alike", () => {
    const shebang = readFileSync(join(REPO, "src/cli/main.ts"), "utf8").split("\n")[0] as string;
    const flags = shebang
      .replace(/^#!\/usr\/bin\/env -S node ?/, "")
      .split(/\s+/)
      .filter(Boolean);
    // The young-generation cap that halves RSS per idle connection (docs/benchmarks.md, W4).
    expect(flags).toContain("--max-semi-space-size=8");
    const entrypoint = JSON.parse(
      (dockerfile.match(/^ENTRYPOINT (\[.*\])$/m) as RegExpMatchArray)[1] as string,
    ) as string[];
    expect(entrypoint).toEqual(["node", ...flags, "/app/dist/cli/main.js"]);
  });

  it("relies on the explicit SIGTERM and SIGINT handlers of the CLI (node as PID 1)", () => {
    const main = readFileSync(join(REPO, "src/cli/main.ts"), "utf8");
    expect(main).toContain('process.once("SIGTERM"');
    expect(main).toContain('process.once("SIGINT"');
  });

  it("sends only what the build needs (.dockerignore is an allow-list)", () => {
    const ignore = readFileSync(join(REPO, ".dockerignore"), "utf8")
      .split("\n")
      .filter((l) => l && !l.startsWith("#"));
    expect(ignore[0]).toBe("*");
    const copied = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) =>
      (m[1] as string).split(/\s+/),
    );
    expect(copied.length).toBeGreaterThan(0);
    for (const source of copied) {
      expect(
        ignore.includes(`!${source}`) || ignore.includes(`!${source}/`),
        `.dockerignore must let ${source} through`,
      ).toBe(true);
    }
  });

  describe("runtime stage, reproduced without Docker", () => {
    let app: string;
    beforeAll(async () => {
      // The final stage: package.json + lockfile, `npm ci --omit=dev`, then dist/ and crds/.
      app = mkdtempSync(join(tmpdir(), "wsgate-image-"));
      chmodSync(app, 0o755); // readable by the image's UID
      for (const f of ["package.json", "package-lock.json"]) cpSync(join(REPO, f), join(app, f));
      const install = await tool(
        "npm",
        ["ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline"],
        { cwd: app, env: { ...process.env, NODE_ENV: "production" } },
      );
      if (install.code !== 0) throw new Error(`npm ci --omit=dev failed: ${install.stderr}`);
      if (!existsSync(join(REPO, "dist/cli/main.js")))
        throw new Error("dist/ is missing: npm run build first");
      cpSync(join(REPO, "dist"), join(app, "dist"), { recursive: true });
      cpSync(join(REPO, "crds"), join(app, "crds"), { recursive: true });
    }, 300_000);
    afterAll(() => {
      if (app) rmSync(app, { recursive: true, force: true });
    });

    it("has no package the lockfile marks as development-only", () => {
      const lock = JSON.parse(readFileSync(join(REPO, "package-lock.json"), "utf8")) as {
        packages: Record<string, { dev?: boolean }>;
      };
      const devOnly = Object.entries(lock.packages).filter(([path, p]) => path !== "" && p.dev === true);
      expect(devOnly.length).toBeGreaterThan(0);
      for (const [path] of devOnly) expect(existsSync(join(app, path)), path).toBe(false);
      expect(existsSync(join(app, "node_modules/ws")), "a runtime dependency").toBe(true);
    });

    it("serves, is ready, and exits 0 on SIGTERM as UID 10001 with only production dependencies", async () => {
      const manifests = mkdtempSync(join(tmpdir(), "wsgate-image-manifests-"));
      cpSync(join(REPO, "examples/quickstart/manifests"), manifests, { recursive: true });
      chmodSync(manifests, 0o755);
      // As the image runs it: `node /app/dist/cli/main.js serve`, here in standalone mode.
      const serve = [
        join(app, "dist/cli/main.js"),
        "serve",
        "--manifests",
        manifests,
        "--http-listen",
        "127.0.0.1:0",
        "--https-listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
        "--shutdown-drain",
        "0s",
      ];
      // As root (CI containers, this machine), drop to the image's UID as the kubelet would.
      // Node itself is copied next to the app: the image's user cannot reach root's home.
      const asRoot = process.getuid?.() === 0;
      if (asRoot) cpSync(process.execPath, join(app, "node"));
      const command = asRoot ? "setpriv" : process.execPath;
      const args = asRoot
        ? ["--reuid=10001", "--regid=10001", "--clear-groups", join(app, "node"), ...serve]
        : serve;
      const child = spawn(command, args, {
        cwd: "/",
        env: { PATH: process.env.PATH ?? "", NODE_ENV: "production", HOME: "/nonexistent" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      try {
        let stderr = "";
        child.stderr.on("data", (d: Buffer) => (stderr += String(d)));
        const admin = await new Promise<string>((resolve, reject) => {
          let buffer = "";
          child.stdout.on("data", (d: Buffer) => {
            buffer += String(d);
            const m = /"admin":"([^"]+)"/.exec(buffer);
            if (m) resolve(m[1] as string);
          });
          child.once("exit", (code) => reject(new Error(`exited ${code}: ${stderr}`)));
        });
        const deadline = Date.now() + 10_000;
        let ready = 0;
        while (ready !== 200 && Date.now() < deadline) {
          ready = (await fetch(`http://${admin}/readyz`)).status;
          if (ready !== 200) await new Promise((r) => setTimeout(r, 50));
        }
        expect(ready).toBe(200);
        const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
        child.kill("SIGTERM");
        expect(await exited).toBe(0);
      } finally {
        child.kill("SIGKILL");
        rmSync(manifests, { recursive: true, force: true });
      }
    });
  });
});
