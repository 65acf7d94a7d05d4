/**
 * The release (.github/workflows/release.yml): what it publishes is checked here with
 * the real helm through scripts/release-assets.sh, the script the workflow runs before
 * anything is pushed, so a release cannot ship a chart or manifests naming an image
 * or a version it did not publish.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { PROVISION_TIMEOUT_MS, REPO, k8sBinDir, parseManifests, tool } from "./tools.js";

const VERSION = (JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { version: string }).version;
const values = parse(readFileSync(join(REPO, "helm/wsgate/values.yaml"), "utf8")) as {
  image: { repository: string };
};
let helm: string;
const dirs: string[] = [];

function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), "wsgate-release-"));
  dirs.push(dir);
  return dir;
}

function assets(version: string, out: string, repository: string): ReturnType<typeof tool> {
  return tool("bash", ["scripts/release-assets.sh", version, out, repository], {
    env: { ...process.env, HELM: helm },
  });
}

beforeAll(async () => {
  helm = join(await k8sBinDir(), "helm");
}, PROVISION_TIMEOUT_MS);

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe("scripts/release-assets.sh", () => {
  it("packages the chart, deploy/ in one file and the CRDs in one file, all of this version", async () => {
    const out = join(scratch(), "release");
    const result = await assets(VERSION, out, values.image.repository);
    expect(result.stderr).not.toMatch(/ERROR/);
    expect(result.code).toBe(0);
    expect(readdirSync(out).sort()).toEqual([`wsgate-${VERSION}.tgz`, "wsgate-crds.yaml", "wsgate.yaml"]);

    const chartYaml = execFileSync(
      "tar",
      ["-xzOf", join(out, `wsgate-${VERSION}.tgz`), "wsgate/Chart.yaml"],
      {
        encoding: "utf8",
      },
    );
    const chart = parse(chartYaml) as { version: string; appVersion: string };
    expect(chart).toMatchObject({ version: VERSION, appVersion: VERSION });

    expect(readFileSync(join(out, "wsgate.yaml"), "utf8")).toBe(
      readFileSync(join(REPO, "deploy/wsgate.yaml"), "utf8"),
    );
    const crds = parseManifests(readFileSync(join(out, "wsgate-crds.yaml"), "utf8"));
    const sources = readdirSync(join(REPO, "crds")).filter((f) => f.endsWith(".yaml"));
    expect(crds.map((c) => c.kind)).toEqual(sources.map(() => "CustomResourceDefinition"));
  });

  it("refuses a release pushing another image than the chart's default, so users never pull a missing image", async () => {
    const out = join(scratch(), "release");
    const result = await assets(VERSION, out, "ghcr.io/someone-else/wsgate");
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`the chart's default image is ${values.image.repository}`);
    expect(existsSync(out)).toBe(false);
  });

  it("refuses a tag that is not the version in package.json and the chart", async () => {
    const out = join(scratch(), "release");
    const result = await assets("99.0.0", out, values.image.repository);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/package\.json says .* the release is 99\.0\.0/);
    expect(existsSync(out)).toBe(false);
  });
});

describe(".github/workflows/release.yml", () => {
  const text = readFileSync(join(REPO, ".github/workflows/release.yml"), "utf8");
  const workflow = parse(text) as {
    on: { push: { tags: string[] } };
    jobs: Record<string, { steps: { uses?: string; run?: string; with?: Record<string, unknown> }[] }>;
  };
  const steps = Object.values(workflow.jobs).flatMap((j) => j.steps);
  const using = (action: string): { with?: Record<string, unknown> } | undefined =>
    steps.find((s) => s.uses?.startsWith(`${action}@`));

  it("runs on v* tags and pushes the image the chart names by default (owner wsgate)", () => {
    expect(workflow.on.push.tags).toEqual(["v*"]);
    expect(text).toContain('echo "image=ghcr.io/$owner/wsgate"');
    expect(values.image.repository).toBe("ghcr.io/wsgate/wsgate");
    expect(steps.some((s) => s.run?.includes("bash scripts/release-assets.sh"))).toBe(true);
  });

  it("builds both architectures with SBOM and provenance, signs keyless, and pushes the chart as OCI", () => {
    expect(using("docker/build-push-action")?.with).toMatchObject({
      platforms: "linux/amd64,linux/arm64",
      push: true,
      sbom: true,
      provenance: "mode=max",
    });
    expect(using("sigstore/cosign-installer")).toBeDefined();
    expect(steps.some((s) => s.run?.includes('cosign sign --yes "$IMAGE@$DIGEST"'))).toBe(true);
    expect(using("actions/attest-build-provenance")).toBeDefined();
    expect(steps.some((s) => s.run?.includes('helm push "release/wsgate-$VERSION.tgz" "$CHARTS"'))).toBe(
      true,
    );
    expect(steps.some((s) => s.run?.includes("release/wsgate.yaml release/wsgate-crds.yaml"))).toBe(true);
  });
});
