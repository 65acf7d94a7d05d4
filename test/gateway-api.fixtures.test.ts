/**
 * Fixture tests for the Gateway API translation inside compile():
 * `test/fixtures/gateway-api/<case>/input.yaml` (GatewayClasses, Gateways, HTTPRoutes,
 * ReferenceGrants, Namespaces, Services, EndpointSlices, Secrets, WebSocketRoutes)
 * compiled with ingress class "wsgate", generation 1 and the default Gateway API options
 * (controller wsgate.io/gateway-controller, ports 80 and 443) must give `expected.yaml`:
 * the status of every GatewayClass, Gateway (with listeners) and HTTPRoute of our class,
 * the served table in a readable summary, and `probes` of `table.match(host, path)`.
 *
 * Condition messages are compared only where expected.yaml writes one.
 * `UPDATE_FIXTURES=1` rewrites the expected files from the current output (keeping the
 * probes and the checked messages) — review the diff before committing.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { Document, isMap, parse, visit } from "yaml";
import { compile, type CompileResult } from "../src/routing/compile.js";
import type { GatewayCondition } from "../src/routing/gateway-api/conditions.js";
import { conditionSignature } from "../src/routing/matcher.js";
import { ObjectStore } from "../src/routing/store.js";
import type { RouteSettings } from "../src/routing/table.js";
import { parseManifestText } from "../src/sources/manifests.js";

const FIXTURES = fileURLToPath(new URL("./fixtures/gateway-api/", import.meta.url));
const UPDATE = process.env.UPDATE_FIXTURES === "1";

interface Cond {
  type: string;
  status: string;
  reason: string;
  message?: string;
}
interface Probe {
  host: string;
  path: string;
  /** For HTTPRoute method, header and query conditions; absent: no method, no headers, no query. */
  method?: string;
  headers?: Record<string, string | string[]>;
  query?: string;
  expect: string | null;
}
interface Serialized {
  gatewayClasses: { name: string; conditions: Cond[] }[];
  gateways: {
    gateway: string;
    conditions: Cond[];
    listeners: { name: string; attachedRoutes: number; supportedKinds: string[]; conditions: Cond[] }[];
  }[];
  httpRoutes: { route: string; parents: { parent: string; conditions: Cond[] }[] }[];
  policies?: { policy: string; conditions: Cond[] }[];
  routes: {
    route: string;
    hostnames: string[];
    /** The WebSocket behaviour (from WebSocketPolicies, else WebSocketRoute defaults), in short. */
    settings: string;
    rules: {
      key: string;
      matches: string[];
      backends: string[];
      filters?: unknown;
      /** Weight of the rule's unresolved backendRefs: that share of requests gets 500. */
      unresolvedWeight?: number;
    }[];
  }[];
  tls: Record<string, string>;
  defaultCertificate?: string;
  probes: Probe[];
}

const conds = (list: readonly GatewayCondition[]): Cond[] =>
  list.map((c) => ({ type: c.type, status: c.status, reason: c.reason, message: c.message }));

const settingsOf = (s: RouteSettings): string =>
  [
    `connect ${s.timeouts.connectMs}ms`,
    `idle ${s.timeouts.idleMs}ms`,
    `maxMessageBytes ${s.limits.maxMessageBytes ?? "none"}`,
    `policy ${s.policy}`,
  ].join(", ");

function serialize(result: CompileResult, probes: readonly Probe[]): Serialized {
  const g = result.gatewayApi;
  return {
    gatewayClasses: g.gatewayClasses.map((c) => ({ name: c.name, conditions: conds(c.conditions) })),
    gateways: g.gateways.map((gw) => ({
      gateway: `${gw.namespace}/${gw.name}`,
      conditions: conds(gw.conditions),
      listeners: gw.listeners.map((l) => ({
        name: l.name,
        attachedRoutes: l.attachedRoutes,
        supportedKinds: l.supportedKinds.map((k) => k.kind),
        conditions: conds(l.conditions),
      })),
    })),
    httpRoutes: g.httpRoutes.map((r) => ({
      route: `${r.namespace}/${r.name}`,
      parents: r.parents.map((p) => ({
        parent: `${p.parentRef.namespace ?? r.namespace}/${p.parentRef.name}${p.parentRef.sectionName ? `#${p.parentRef.sectionName}` : ""}`,
        conditions: conds(p.conditions),
      })),
    })),
    ...(g.policies.length > 0
      ? {
          policies: g.policies.map((p) => ({
            policy: `${p.namespace}/${p.name}`,
            conditions: conds(p.conditions),
          })),
        }
      : {}),
    routes: result.table.routes.map((r) => ({
      route: r.key,
      hostnames: [...r.hostnames],
      settings: settingsOf(r.settings),
      rules: r.rules.map((rule) => ({
        key: rule.key,
        matches: rule.matches.map(
          (m) => `${m.type} ${m.value}${m.conditions ? ` when ${conditionSignature(m.conditions)}` : ""}`,
        ),
        backends: rule.backends.map(
          (b) => `${b.key} weight ${b.weight}: ${b.endpoints.map((e) => e.id.split("@")[1]).join(", ")}`,
        ),
        ...(rule.filters ? { filters: rule.filters } : {}),
        ...(rule.unresolvedWeight ? { unresolvedWeight: rule.unresolvedWeight } : {}),
        // A rule with a WebSocketPolicy of its own (sectionName): its settings, in short.
        ...(rule.settings ? { settings: settingsOf(rule.settings) } : {}),
      })),
    })),
    tls: Object.fromEntries([...result.table.certificates.entries()].map(([h, c]) => [h, c.secret])),
    ...(result.table.defaultCertificate
      ? { defaultCertificate: result.table.defaultCertificate.secret }
      : {}),
    probes: probes.map(({ expect: _, ...probe }) => {
      const { host, path, method, headers, query } = probe;
      // A header listed with several values is sent that many times.
      const rawHeaders = Object.entries(headers ?? {}).flatMap(([name, value]) =>
        (Array.isArray(value) ? value : [value]).flatMap((v) => [name, v]),
      );
      const m = result.table.match(host, path, {
        ...(method ? { method } : {}),
        rawHeaders,
        query: query ?? "",
      });
      return { ...probe, expect: m ? m.rule.key : null };
    }),
  };
}

/** Drops messages the expectation does not check (compared structurally, in order). */
function project(actual: unknown, expected: unknown): unknown {
  if (Array.isArray(actual))
    return actual.map((a, i) => project(a, (expected as unknown[] | undefined)?.[i]));
  if (actual && typeof actual === "object") {
    const out: Record<string, unknown> = {};
    const exp = (expected ?? {}) as Record<string, unknown>;
    const isCondition = "type" in actual && "reason" in actual;
    for (const [k, v] of Object.entries(actual)) {
      if (isCondition && k === "message" && !("message" in exp)) continue;
      out[k] = project(v, exp[k]);
    }
    return out;
  }
  return actual;
}

function toYaml(value: unknown): string {
  const doc = new Document(value);
  visit(doc, {
    Map(_key, node) {
      const first = String((node.items[0]?.key as { value?: unknown } | undefined)?.value);
      if (["type", "host"].includes(first) && JSON.stringify(node.toJSON()).length <= 108) node.flow = true;
    },
    Seq(_key, node) {
      node.flow = node.items.length === 0 || node.items.every((item) => !isMap(item));
    },
  });
  return doc.toString({ lineWidth: 0 });
}

const cases = readdirSync(FIXTURES)
  .filter((name) => statSync(join(FIXTURES, name)).isDirectory())
  .sort();

describe("compile() with Gateway API objects (fixtures)", () => {
  it("has cases", () => expect(cases.length).toBeGreaterThan(0));

  for (const name of cases) {
    it(name, async () => {
      const parsed = parseManifestText(readFileSync(join(FIXTURES, name, "input.yaml"), "utf8"));
      expect(parsed.errors).toEqual([]);
      const store = new ObjectStore();
      for (const o of [...parsed.objects, ...parsed.invalidRoutes]) store.upsert(o);
      const expectedPath = join(FIXTURES, name, "expected.yaml");
      const expected = parse(readFileSync(expectedPath, "utf8")) as Serialized;
      const result = compile(store.snapshot(), { ingressClass: "wsgate", generation: 1 });
      const actual = serialize(result, expected.probes ?? []);
      const projected = project(actual, expected);
      if (UPDATE) {
        const prettier = await import("prettier");
        const config = (await prettier.resolveConfig(expectedPath)) ?? {};
        const header = readFileSync(expectedPath, "utf8").match(/^(#.*\n)*/)?.[0] ?? "";
        writeFileSync(
          expectedPath,
          await prettier.format(header + toYaml(projected), { ...config, filepath: expectedPath }),
        );
        return;
      }
      expect(projected).toEqual({ ...expected, probes: expected.probes ?? [] });
    });
  }
});
