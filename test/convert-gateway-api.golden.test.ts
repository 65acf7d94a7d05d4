/**
 * `wsgate convert --to gateway-api` on the Ingress corpus (test/fixtures/ingress/) and on
 * WebSocketRoutes (test/fixtures/convert-gateway-api/): each output must equal its golden
 * file, every document must be a valid object of its kind, and — the point of converting —
 * compiled by wsgate, the output must serve every route the WebSocketRoute conversion serves
 * with the same hostnames, paths and WebSocket settings.
 * `UPDATE_GOLDEN=1` rewrites the golden files — review the diff before committing.
 */
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { parseObject } from "../src/api/parse.js";
import { convertManifests } from "../src/cli/convert.js";
import { compile } from "../src/routing/compile.js";
import { ObjectStore } from "../src/routing/store.js";
import type { Route } from "../src/routing/table.js";

const UPDATE = process.env.UPDATE_GOLDEN === "1";

const corpora = [
  { dir: new URL("./fixtures/ingress/", import.meta.url), golden: "golden-gateway-api/" },
  { dir: new URL("./fixtures/convert-gateway-api/", import.meta.url), golden: "golden/" },
].flatMap(({ dir, golden }) =>
  readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((file) => {
      const text = readFileSync(new URL(file, dir), "utf8");
      const expected = /^# expect: (converted|dropped)$/m.exec(text)?.[1];
      return { file, text, expected, golden: new URL(`${golden}${file}`, dir) };
    }),
);

/**
 * What a served route is, without its name: the conversion must keep all of it — but
 * `allowEncodedSlashes`, which Gateway API cannot say (the output reports it as dropped).
 */
function served(route: Route): unknown {
  const { allowEncodedSlashes: _, ...settings } = route.settings;
  return {
    hostnames: [...route.hostnames].sort(),
    rules: route.rules.map((r) => r.matches),
    settings,
  };
}

function compiled(yaml: string): Map<string, unknown> {
  const store = new ObjectStore();
  for (const doc of parseAllDocuments(yaml)) {
    const value = doc.toJS() as { kind?: string; items?: unknown[] } | null;
    if (value === null) continue;
    for (const item of value.kind === "List" ? (value.items ?? []) : [value]) {
      const parsed = parseObject(item);
      expect(parsed.outcome, JSON.stringify(parsed)).toBe("ok");
      if (parsed.outcome === "ok") store.upsert(parsed.object);
    }
  }
  const { table } = compile(store.snapshot(), { ingressClass: "wsgate", generation: 1 });
  return new Map(
    table.routes.map((r) => [`${r.namespace}/${r.name.replace(/^httproute\//, "")}`, served(r)]),
  );
}

describe("wsgate convert --to gateway-api", () => {
  it.each(corpora.map((c) => [c.file, c] as const))("%s converts to its golden output", (file, c) => {
    const result = convertManifests([{ name: file, text: c.text }], "gateway-api");
    expect(result.errors).toEqual([]);
    expect(c.expected, `${file} needs an "# expect:" line`).toBeDefined();
    expect(result.dropped ? "dropped" : "converted").toBe(c.expected);
    if (UPDATE) writeFileSync(c.golden, result.output);
    expect(result.output).toBe(readFileSync(c.golden, "utf8"));
  });

  it.each(corpora.map((c) => [c.file, c] as const))(
    "%s: the Gateway API output serves every route the WebSocketRoute conversion serves, unchanged",
    (file, c) => {
      // Ingresses become WebSocketRoutes first; WebSocketRoute inputs are that already.
      const routes = /\bkind: Ingress$/m.test(c.text)
        ? convertManifests([{ name: file, text: c.text }]).output
        : c.text;
      const before = compiled(routes);
      const after = compiled(convertManifests([{ name: file, text: c.text }], "gateway-api").output);
      for (const [key, route] of before) expect(after.get(key), key).toEqual(route);
      // Nothing the WebSocketRoutes did not serve either (an Ingress with nothing to convert).
      if (before.size === 0) expect(after.size).toBe(0);
    },
  );
});
