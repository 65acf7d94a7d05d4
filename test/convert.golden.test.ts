/**
 * `wsgate convert` on a corpus of real-world-shaped Ingresses (test/fixtures/ingress/):
 * each input's output must equal its golden file in `golden/`, and the converted state
 * the file's `# expect:` line names (converted → exit 0, dropped → exit 3) must hold,
 * so that nothing an Ingress said is dropped without a comment saying so.
 * `UPDATE_GOLDEN=1` rewrites the golden files — review the diff before committing.
 */
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { webSocketRouteSchema } from "../src/api/route.js";
import { convertManifests } from "../src/cli/convert.js";
import { ANNOTATIONS } from "../src/routing/ingress/annotations.js";

const DIR = new URL("./fixtures/ingress/", import.meta.url);
const GOLDEN = new URL("./fixtures/ingress/golden/", import.meta.url);
const UPDATE = process.env.UPDATE_GOLDEN === "1";

const corpus = readdirSync(DIR)
  .filter((f) => f.endsWith(".yaml"))
  .sort()
  .map((file) => {
    const text = readFileSync(new URL(file, DIR), "utf8");
    const expectLine = /^# expect: (converted|dropped)$/m.exec(text);
    return { file, text, expected: expectLine?.[1] };
  });

describe("wsgate convert corpus", () => {
  it("holds 20+ Ingresses, converting and dropping, covering every annotation of the table", () => {
    expect(corpus.length).toBeGreaterThanOrEqual(20);
    expect(corpus.filter((c) => c.expected === "converted").length).toBeGreaterThanOrEqual(8);
    expect(corpus.filter((c) => c.expected === "dropped").length).toBeGreaterThanOrEqual(8);
    const all = corpus.map((c) => c.text).join("\n");
    const snippets = ANNOTATIONS.filter(
      (row) =>
        row.support === "ignored" && row.name !== "configuration-snippet" && row.name !== "server-snippet",
    );
    for (const row of ANNOTATIONS) {
      if (snippets.includes(row)) continue; // one snippet shows them all; the unit test covers each
      if (row.name === "auth-snippet") continue;
      expect(all, `no corpus Ingress uses ${row.name}`).toContain(`/${row.name}:`);
    }
  });

  it.each(corpus.map((c) => [c.file, c] as const))("%s converts to its golden output", (file, c) => {
    const result = convertManifests([{ name: file, text: c.text }]);
    expect(result.errors).toEqual([]);
    expect(c.expected, `${file} needs an "# expect:" line`).toBeDefined();
    expect(result.dropped ? "dropped" : "converted").toBe(c.expected);
    // Every document printed is a valid WebSocketRoute as it stands.
    for (const doc of parseAllDocuments(result.output)) {
      const value = doc.toJS() as unknown;
      if (value === null) continue;
      const parsed = webSocketRouteSchema.safeParse(value);
      expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
    }
    const golden = new URL(file, GOLDEN);
    if (UPDATE) writeFileSync(golden, result.output);
    expect(result.output).toBe(readFileSync(golden, "utf8"));
  });
});
