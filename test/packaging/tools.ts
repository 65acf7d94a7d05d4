/**
 * Real tools for the packaging tests: helm and kubectl from `npm run k8s:bins`,
 * actionlint and promtool from `scripts/lint-tools.sh`, shellcheck from the system.
 * Provisioning runs asynchronously (a cold build takes minutes) and once per process.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { parseAllDocuments, stringify } from "yaml";

const run = promisify(execFile);

export const REPO = new URL("../../", import.meta.url).pathname;
export const CHART = join(REPO, "helm/wsgate");

/** Generous: a cold machine builds kube-apiserver, etcd, kubectl and helm from source. */
export const PROVISION_TIMEOUT_MS = 45 * 60_000;

async function lastLineOf(script: string): Promise<string> {
  const { stdout } = await run("bash", [join(REPO, script)], {
    cwd: REPO,
    maxBuffer: 64 * 1024 * 1024,
    timeout: PROVISION_TIMEOUT_MS,
  });
  const lines = stdout.trim().split("\n");
  return lines[lines.length - 1] as string;
}

let k8sBins: Promise<string> | undefined;
/** Directory of kube-apiserver, etcd, kubectl and helm (WSGATE_K8S_BIN_DIR, else provisioned). */
export function k8sBinDir(): Promise<string> {
  const fromEnv = process.env.WSGATE_K8S_BIN_DIR;
  if (fromEnv) return Promise.resolve(fromEnv);
  k8sBins ??= lastLineOf("scripts/k8s-bins.sh");
  return k8sBins;
}

let lintTools: Promise<string> | undefined;
/** Directory of actionlint and promtool (WSGATE_LINT_TOOLS_DIR, else provisioned). */
export function lintToolsDir(): Promise<string> {
  const fromEnv = process.env.WSGATE_LINT_TOOLS_DIR;
  if (fromEnv) return Promise.resolve(fromEnv);
  lintTools ??= lastLineOf("scripts/lint-tools.sh");
  return lintTools;
}

export interface ToolResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a tool; never throws on a non-zero exit (the result carries it). */
export async function tool(
  binary: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<ToolResult> {
  try {
    const { stdout, stderr } = await run(binary, [...args], {
      cwd: options.cwd ?? REPO,
      env: options.env ?? process.env,
      maxBuffer: 64 * 1024 * 1024,
      timeout: 5 * 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string; message: string };
    if (typeof e.code !== "number") throw new Error(`cannot run ${binary}: ${e.message}`, { cause: err });
    return { code: e.code, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

/** Helm with a throw-away configuration (never the user's repositories or plugins). */
export async function helm(args: readonly string[]): Promise<ToolResult> {
  const home = mkdtempSync(join(tmpdir(), "wsgate-helm-"));
  try {
    return await tool(join(await k8sBinDir(), "helm"), args, {
      env: {
        ...process.env,
        HELM_CONFIG_HOME: join(home, "config"),
        HELM_CACHE_HOME: join(home, "cache"),
        HELM_DATA_HOME: join(home, "data"),
      },
    });
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

/** A Kubernetes object as rendered. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

export interface Rendered {
  /** The objects, in helm's install order. */
  readonly objects: K8sObject[];
  /** The raw manifest text. */
  readonly text: string;
  /** The one object of this kind (and name, if given); throws if there is not exactly one. */
  one<T = K8sObject>(kind: string, name?: string): T & K8sObject;
  all(kind: string): K8sObject[];
}

export const RELEASE = "wsgate";
export const RELEASE_NAMESPACE = "wsgate";

/** Parses a multi-document manifest, failing on any YAML error. */
export function parseManifests(text: string): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0)
      throw new Error(`invalid YAML: ${doc.errors.map((e) => e.message).join("; ")}`);
    if (doc.warnings.length > 0)
      throw new Error(`YAML warnings: ${doc.warnings.map((e) => e.message).join("; ")}`);
    const value = doc.toJS({ maxAliasCount: 0 }) as K8sObject | null;
    if (value !== null) objects.push(value);
  }
  return objects;
}

export function rendered(text: string): Rendered {
  const objects = parseManifests(text);
  const all = (kind: string): K8sObject[] => objects.filter((o) => o.kind === kind);
  return {
    objects,
    text,
    all,
    one<T>(kind: string, name?: string) {
      const found = all(kind).filter((o) => name === undefined || o.metadata.name === name);
      if (found.length !== 1) {
        throw new Error(`expected one ${kind}${name ? ` ${name}` : ""}, found ${found.length}`);
      }
      return found[0] as T & K8sObject;
    },
  };
}

/**
 * `helm template` of the chart with these values (as a values file, the way users
 * pass them). Rejects with helm's message when the render fails.
 */
export async function renderChart(
  values: Record<string, unknown> = {},
  options: { release?: string; namespace?: string; extra?: readonly string[] } = {},
): Promise<Rendered> {
  const dir = mkdtempSync(join(tmpdir(), "wsgate-values-"));
  try {
    const file = join(dir, "values.yaml");
    writeFileSync(file, stringify(values));
    const result = await helm([
      "template",
      options.release ?? RELEASE,
      CHART,
      "--namespace",
      options.namespace ?? RELEASE_NAMESPACE,
      "--values",
      file,
      ...(options.extra ?? []),
    ]);
    if (result.code !== 0) throw new Error(`helm template failed: ${result.stderr.trim()}`);
    return rendered(result.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
