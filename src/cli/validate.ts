/**
 * `wsgate validate FILE...`: offline schema and semantic checks of manifests.
 * The semantic half runs the real compiler over the files' objects, so what it
 * reports is exactly what serving them would report.
 */
import { readFileSync } from "node:fs";
import { compile } from "../routing/compile.js";
import { ObjectStore } from "../routing/store.js";
import { parseManifestText } from "../sources/manifests.js";

export interface ValidateReport {
  readonly ok: boolean;
  readonly lines: string[];
}

/** The serve flags that change what compiles. */
export interface ValidateOptions {
  /** `--ingress-class` (default `wsgate`). */
  readonly ingressClass?: string | undefined;
  /** `--allow-cross-namespace-hostnames`: routes of any namespace may share a hostname. */
  readonly allowCrossNamespaceHostnames?: boolean | undefined;
}

export function validateFiles(files: readonly string[], options: ValidateOptions = {}): ValidateReport {
  const lines: string[] = [];
  let ok = true;
  const store = new ObjectStore();
  const reportedInvalid = new Set<string>();
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      ok = false;
      lines.push(`${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      continue;
    }
    const parsed = parseManifestText(text);
    if (parsed.errors.length > 0) {
      ok = false;
      for (const e of parsed.errors) lines.push(`${file}: ${e}`);
    }
    for (const object of [...parsed.objects, ...parsed.invalidRoutes]) store.upsert(object);
    for (const r of parsed.invalidRoutes) reportedInvalid.add(`${r.metadata.namespace}/${r.metadata.name}`);
  }
  const { diagnostics, ingress = [] } = compile(store.snapshot(), {
    ingressClass: options.ingressClass ?? "wsgate",
    allowCrossNamespaceHostnames: options.allowCrossNamespaceHostnames ?? false,
    generation: 1,
  });
  for (const d of diagnostics) {
    const key = `${d.namespace}/${d.name}`;
    for (const c of d.conditions) {
      if (c.status === "True" || c.reason === "Pending") continue;
      if (c.reason === "Invalid" && reportedInvalid.has(key)) continue; // its schema errors are listed above
      // Missing Services and Secrets are normal offline (they may live elsewhere): warn, do not fail.
      const fatal = c.type === "Accepted" && c.reason !== "NotClaimed";
      if (fatal) ok = false;
      lines.push(
        `WebSocketRoute ${key}: ${fatal ? "error" : "warning"}: ${c.type}=${c.status} ${c.reason}: ${c.message}`,
      );
    }
  }
  // What an Ingress of our class would not get as written: the Events the controller would record.
  for (const i of ingress) {
    for (const n of i.notices)
      lines.push(`Ingress ${i.namespace}/${i.name}: warning: ${n.reason}: ${n.message}`);
  }
  lines.push(ok ? `${files.length} file(s) valid` : "validation failed");
  return { ok, lines };
}
