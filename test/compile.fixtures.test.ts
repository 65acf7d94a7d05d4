/**
 * Fixture tests for the pure compiler: `test/fixtures/compile/<case>/input.yaml` (manifests)
 * compiled with ingress class "wsgate", generation 1, must give `expected.yaml` — every
 * route's diagnostics, the served table in a readable summary, and `probes` that call
 * `table.match(host, path)`.
 *
 * expected.yaml is written by hand from DESIGN.md §3 and reviewed. Conditions carry a
 * `message` only where the message matters; the comparison ignores it elsewhere.
 * A case may hold an `options.yaml` with compile options beyond those (e.g.
 * `allowCrossNamespaceHostnames: true`). Ingresses of our classes add an `ingress` list: served or not,
 * and the Events (`reason: message`) they get.
 * `UPDATE_FIXTURES=1` rewrites the expected files from the current output (keeping the
 * probes' hosts and paths and which messages are checked) — review the diff before committing.
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { Document, isMap, parse, visit } from "yaml";
import { compile, type CompileOptions, type CompileResult } from "../src/routing/compile.js";
import { ObjectStore, type Snapshot, type StoredObject } from "../src/routing/store.js";
import { parseManifestText } from "../src/sources/manifests.js";

const FIXTURES = fileURLToPath(new URL("./fixtures/compile/", import.meta.url));
const OPTIONS = { ingressClass: "wsgate", generation: 1 } as const;
const UPDATE = process.env.UPDATE_FIXTURES === "1";

interface SerializedCondition {
  type: string;
  status: string;
  reason: string;
  message?: string;
}

interface Probe {
  host: string;
  path: string;
  /** `namespace/route#ruleIndex`, or null for no route (404). */
  expect: string | null;
}

interface Serialized {
  parseErrors?: string[];
  diagnostics: {
    route: string;
    generation?: number;
    claimed: boolean;
    conditions: SerializedCondition[];
    endpoints: { ready: number; total: number };
  }[];
  routes: {
    route: string;
    hostnames: string[];
    /** `spec.auth` as compiled: jwt, forwardAuth, or unresolved (every request refused). */
    auth?: string;
    rules: {
      key: string;
      matches: string[];
      backends: {
        key: string;
        weight: number;
        endpoints: { id: string; ready: boolean; terminating: boolean; weight: number }[];
      }[];
    }[];
  }[];
  /** SNI name → `namespace/secret`. */
  tls: Record<string, string>;
  probes: Probe[];
  /** Ingresses of our classes: whether served, and the Events they get. */
  ingress?: { ingress: string; served: boolean; events: string[] }[];
}

/** Turns a CompileResult into the plain shape of expected.yaml; probes are evaluated against the table. */
function serialize(
  result: CompileResult,
  probes: readonly Probe[],
  parseErrors: readonly string[] = [],
): Serialized {
  return {
    ...(parseErrors.length > 0 ? { parseErrors: [...parseErrors] } : {}),
    diagnostics: result.diagnostics.map((d) => ({
      route: `${d.namespace}/${d.name}`,
      ...(d.generation === undefined ? {} : { generation: d.generation }),
      claimed: d.claimed,
      conditions: d.conditions.map((c) => ({
        type: c.type,
        status: c.status,
        reason: c.reason,
        message: c.message,
      })),
      endpoints: { ready: d.endpoints.ready, total: d.endpoints.total },
    })),
    routes: result.table.routes.map((r) => ({
      route: r.key,
      hostnames: [...r.hostnames],
      ...(r.settings.auth ? { auth: r.settings.auth.kind } : {}),
      rules: r.rules.map((rule) => ({
        key: rule.key,
        matches: rule.matches.map((m) => `${m.type} ${m.value}`),
        backends: rule.backends.map((b) => ({
          key: b.key,
          weight: b.weight,
          endpoints: b.endpoints.map((e) => ({
            id: e.id,
            ready: e.ready,
            terminating: e.terminating,
            weight: e.weight,
          })),
        })),
      })),
    })),
    tls: Object.fromEntries(
      [...result.table.certificates.entries()].map(([host, cert]) => [host, cert.secret]),
    ),
    probes: probes.map(({ host, path }) => {
      const match = result.table.match(host, path);
      return { host, path, expect: match ? match.rule.key : null };
    }),
    ...(result.ingress && result.ingress.length > 0
      ? {
          ingress: result.ingress.map((i) => ({
            ingress: `${i.namespace}/${i.name}`,
            served: i.served,
            events: i.notices.map((n) => `${n.reason}: ${n.message}`),
          })),
        }
      : {}),
  };
}

/** Drops condition messages that the expectation does not check. */
function project(actual: Serialized, expected: Serialized): Serialized {
  return {
    ...actual,
    diagnostics: actual.diagnostics.map((d, i) => ({
      ...d,
      conditions: d.conditions.map((c, j) => {
        const wanted = expected.diagnostics[i]?.conditions[j];
        if (wanted && "message" in wanted) return c;
        const { message: _message, ...rest } = c;
        return rest;
      }),
    })),
  };
}

interface Case {
  name: string;
  objects: StoredObject[];
  parseErrors: string[];
  expectedPath: string;
  options: CompileOptions;
}

function loadCases(): Case[] {
  return readdirSync(FIXTURES)
    .filter((name) => statSync(join(FIXTURES, name)).isDirectory())
    .sort()
    .map((name) => {
      const parsed = parseManifestText(readFileSync(join(FIXTURES, name, "input.yaml"), "utf8"));
      const optionsPath = join(FIXTURES, name, "options.yaml");
      const extra = existsSync(optionsPath) ? (parse(readFileSync(optionsPath, "utf8")) as object) : {};
      return {
        options: { ...OPTIONS, ...extra },
        name,
        objects: [...parsed.objects, ...parsed.invalidRoutes],
        parseErrors: parsed.errors,
        expectedPath: join(FIXTURES, name, "expected.yaml"),
      };
    });
}

function storeOf(objects: readonly StoredObject[]): ObjectStore {
  const store = new ObjectStore();
  for (const object of objects) store.upsert(object);
  return store;
}

function readExpected(path: string): Serialized {
  const expected = parse(readFileSync(path, "utf8")) as Partial<Serialized>;
  return {
    ...(expected.parseErrors ? { parseErrors: expected.parseErrors } : {}),
    diagnostics: expected.diagnostics ?? [],
    routes: expected.routes ?? [],
    tls: expected.tls ?? {},
    probes: expected.probes ?? [],
    ...(expected.ingress ? { ingress: expected.ingress } : {}),
  };
}

/** Small maps (conditions, endpoints, probes) in flow style, the way the hand-written files look. */
function toYaml(value: Serialized): string {
  const doc = new Document(value);
  visit(doc, {
    Map(_key, node) {
      const first = String((node.items[0]?.key as { value?: unknown } | undefined)?.value);
      // One line per condition/endpoint/probe when it fits the 110-column print width.
      if (["type", "id", "host", "ready"].includes(first) && JSON.stringify(node.toJSON()).length <= 108) {
        node.flow = true;
      }
    },
    Seq(_key, node) {
      node.flow = node.items.length === 0 || node.items.every((item) => !isMap(item));
    },
  });
  return doc.toString({ lineWidth: 0 });
}

/** Formats as `npm run lint` expects, so an updated file is ready to review and commit. */
async function prettierYaml(text: string, path: string): Promise<string> {
  const prettier = await import("prettier");
  const config = (await prettier.resolveConfig(path)) ?? {};
  return prettier.format(text, { ...config, filepath: path });
}

/** A deterministic shuffle (mulberry32), so a failure can be reproduced from its seed. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  let state = seed >>> 0;
  const random = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

const cases = loadCases();

describe("compile fixtures", () => {
  it("has the cases", () => {
    expect(cases.length).toBeGreaterThanOrEqual(25);
  });

  it.each(cases.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    const result = compile(storeOf(c.objects).snapshot(), c.options);
    if (UPDATE) {
      let previous: Serialized | undefined;
      try {
        previous = readExpected(c.expectedPath);
      } catch {
        previous = undefined;
      }
      const fresh = serialize(result, previous?.probes ?? [], c.parseErrors);
      // Keep the messages the previous expectation checked; check those of failed conditions by default.
      const kept: Serialized = {
        ...fresh,
        diagnostics: fresh.diagnostics.map((d, i) => ({
          ...d,
          conditions: d.conditions.map((cond, j) => {
            const before = previous?.diagnostics[i]?.conditions[j];
            const keep = before ? "message" in before : cond.status !== "True";
            if (keep) return cond;
            const { message: _message, ...rest } = cond;
            return rest;
          }),
        })),
      };
      writeFileSync(c.expectedPath, await prettierYaml(toYaml(kept), c.expectedPath));
      return;
    }
    const expected = readExpected(c.expectedPath);
    expect(project(serialize(result, expected.probes, c.parseErrors), expected)).toEqual(expected);
  });
});

describe("compile is deterministic", () => {
  it.each(cases.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const probes = readExpected(c.expectedPath).probes;
    const snapshot = storeOf(c.objects).snapshot();
    const first = compile(snapshot, c.options);
    const second = compile(snapshot, c.options);
    const reference = serialize(first, probes, c.parseErrors);
    expect(serialize(second, probes, c.parseErrors)).toEqual(reference);
    expect(second.diagnostics).toEqual(first.diagnostics);
    expect(second.table.routes).toEqual(first.table.routes);
    expect(second.table.certificates).toEqual(first.table.certificates);

    for (const seed of [1, 2, 3, 4, 5]) {
      // Documents applied in another order: the store sorts, the result must not change.
      const reordered = compile(storeOf(shuffled(c.objects, seed)).snapshot(), c.options);
      expect(serialize(reordered, probes, c.parseErrors)).toEqual(reference);
      expect(reordered.diagnostics).toEqual(first.diagnostics);
      // And compile() itself does not lean on the snapshot's sort order.
      const unsorted: Snapshot = {
        routes: shuffled(snapshot.routes, seed),
        services: shuffled(snapshot.services, seed + 100),
        endpointSlices: shuffled(snapshot.endpointSlices, seed + 200),
        secrets: shuffled(snapshot.secrets, seed + 300),
        ingresses: shuffled(snapshot.ingresses ?? [], seed + 400),
        ingressClasses: shuffled(snapshot.ingressClasses ?? [], seed + 500),
      };
      expect(serialize(compile(unsorted, c.options), probes, c.parseErrors)).toEqual(reference);
    }
  });
});
