/**
 * The standalone source: every `*.yaml` / `*.yml` file in a directory (multi-document,
 * `kind: List` too) is read into the object store, and the directory is watched.
 * A file that fails to parse or validate is reported and its last good objects are
 * kept; other files are unaffected.
 */
import { readFileSync, readdirSync, statSync, watch, type FSWatcher } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { objectKey } from "../api/meta.js";
import { parseObject } from "../api/parse.js";
import type { ObjectStore, StoredObject } from "../routing/store.js";

export interface FileProblem {
  readonly file: string;
  readonly errors: readonly string[];
}

/** The logging calls this source makes; a pino logger fits. */
export interface SourceLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface ManifestDirectoryOptions {
  readonly log?: SourceLog;
  /** Safety-net rescan period, for changes a file watcher can miss (e.g. network filesystems). */
  readonly pollMs?: number;
  /** Quiet period after a watch event before rescanning (editors write in bursts). */
  readonly debounceMs?: number;
}

interface FileState {
  content: string;
  /** Objects of the last version of the file that was wholly valid. */
  objects: StoredObject[];
  errors: string[];
}

const NOOP_LOG: SourceLog = { info() {}, warn() {} };

function isManifest(name: string): boolean {
  return !name.startsWith(".") && (name.endsWith(".yaml") || name.endsWith(".yml"));
}

function describe(doc: unknown): string {
  const o = doc as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } } | null;
  const kind = typeof o?.kind === "string" ? o.kind : "object";
  const name = typeof o?.metadata?.name === "string" ? o.metadata.name : "(unnamed)";
  const ns = typeof o?.metadata?.namespace === "string" ? o.metadata.namespace : "default";
  return `${kind} ${ns}/${name}`;
}

/** Parses one file's text into objects, or the reasons it cannot be used. */
export function parseManifestText(text: string): {
  objects: StoredObject[];
  errors: string[];
  invalidRoutes: StoredObject[];
} {
  const objects: StoredObject[] = [];
  const invalidRoutes: StoredObject[] = [];
  const errors: string[] = [];
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [docs];
  list.forEach((doc, index) => {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) errors.push(`document ${index + 1}: YAML: ${e.message.split("\n")[0]}`);
      return;
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) return;
    const items =
      typeof value === "object" && (value as { kind?: unknown }).kind === "List"
        ? (((value as { items?: unknown }).items as unknown[] | undefined) ?? [])
        : [value];
    for (const item of items) {
      const result = parseObject(item);
      if (result.outcome === "ok") objects.push(result.object);
      else if (result.outcome === "invalid") {
        for (const e of result.errors) errors.push(`document ${index + 1} (${describe(item)}): ${e}`);
        const meta = (item as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } })
          .metadata;
        if ((item as { kind?: unknown }).kind === "WebSocketRoute" && typeof meta?.name === "string") {
          invalidRoutes.push({
            kind: "WebSocketRoute",
            invalid: true,
            metadata: {
              name: meta.name,
              namespace: typeof meta.namespace === "string" ? meta.namespace : "default",
            },
            errors: result.errors,
          });
        }
      }
    }
  });
  return { objects, errors, invalidRoutes };
}

export class ManifestDirectory {
  readonly #dir: string;
  readonly #store: ObjectStore;
  readonly #log: SourceLog;
  readonly #pollMs: number;
  readonly #debounceMs: number;
  readonly #files = new Map<string, FileState>();
  #problems: FileProblem[] = [];
  #watcher: FSWatcher | undefined;
  #poll: NodeJS.Timeout | undefined;
  #debounce: NodeJS.Timeout | undefined;

  constructor(dir: string, store: ObjectStore, options: ManifestDirectoryOptions = {}) {
    this.#dir = dir;
    this.#store = store;
    this.#log = options.log ?? NOOP_LOG;
    this.#pollMs = options.pollMs ?? 2_000;
    this.#debounceMs = options.debounceMs ?? 30;
  }

  /** Problems of the current scan, for logs and /debug/config. */
  get problems(): readonly FileProblem[] {
    return this.#problems;
  }

  /**
   * Reads the directory now and fills the store. Throws only if the directory
   * itself cannot be read on this first load — a bad file never throws.
   */
  load(): void {
    const names = readdirSync(this.#dir);
    this.#scan(names);
  }

  /** Watches the directory for changes (and polls as a safety net). */
  start(): void {
    this.#watcher = watch(this.#dir, () => this.#scheduleScan());
    this.#watcher.on("error", (err) =>
      this.#log.warn({ err, dir: this.#dir }, "manifest directory watch failed; polling only"),
    );
    this.#poll = setInterval(() => this.rescan(), this.#pollMs);
    this.#poll.unref();
  }

  stop(): void {
    this.#watcher?.close();
    clearInterval(this.#poll);
    clearTimeout(this.#debounce);
  }

  /** Rescans the directory; a directory that vanished keeps the last good objects. */
  rescan(): void {
    let names: string[];
    try {
      names = readdirSync(this.#dir);
    } catch (err) {
      this.#log.warn(
        { err, dir: this.#dir },
        "manifest directory unreadable; keeping the last good configuration",
      );
      return;
    }
    this.#scan(names);
  }

  #scheduleScan(): void {
    clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => this.rescan(), this.#debounceMs);
  }

  #scan(names: string[]): void {
    let changed = false;
    const present = new Set<string>();
    for (const name of names.filter(isManifest).sort()) {
      const path = join(this.#dir, name);
      let content: string;
      try {
        if (!statSync(path).isFile()) continue;
        content = readFileSync(path, "utf8");
      } catch {
        continue; // removed between readdir and read: the next event catches up
      }
      present.add(name);
      const before = this.#files.get(name);
      if (before && before.content === content) continue;
      changed = true;
      const parsed = parseManifestText(content);
      if (parsed.errors.length === 0) {
        this.#files.set(name, { content, objects: parsed.objects, errors: [] });
        this.#log.info({ file: name, objects: parsed.objects.length }, "manifest file loaded");
      } else {
        // Keep what worked last time; a file seen for the first time contributes
        // its invalid routes so that they are reported rather than missing.
        const objects = before ? before.objects : parsed.invalidRoutes;
        this.#files.set(name, { content, objects, errors: parsed.errors });
        this.#log.warn(
          { file: name, errors: parsed.errors },
          before ? "manifest file rejected; keeping its last good objects" : "manifest file rejected",
        );
      }
    }
    for (const name of [...this.#files.keys()]) {
      if (!present.has(name)) {
        this.#files.delete(name);
        changed = true;
        this.#log.info({ file: name }, "manifest file removed");
      }
    }
    if (changed) this.#publish();
  }

  #publish(): void {
    const owner = new Map<string, string>();
    const objects: StoredObject[] = [];
    const problems: FileProblem[] = [];
    for (const [file, state] of [...this.#files.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const errors = [...state.errors];
      for (const object of state.objects) {
        const id = `${object.kind} ${objectKey(object.metadata as { namespace: string; name: string })}`;
        const first = owner.get(id);
        if (first !== undefined) {
          errors.push(`${id} is also defined in ${first}; this copy is ignored`);
          continue;
        }
        owner.set(id, file);
        objects.push(object);
      }
      if (errors.length > 0) problems.push({ file, errors });
    }
    this.#problems = problems;
    this.#store.replaceAll(objects);
  }
}
