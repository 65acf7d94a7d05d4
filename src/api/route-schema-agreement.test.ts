/**
 * Proves that the WebSocketRoute CRD (what the API server enforces) and `webSocketRouteSchema` (what
 * standalone mode and `wsgate validate` enforce) agree: on every object of the corpus in
 * `test/fixtures/route-corpus/` both give the verdict its file name states (`valid-*` / `invalid-*`),
 * invalid ones are rejected at the field their `# rejected at:` comment names, and valid ones get the
 * same defaults.
 *
 * The API server is emulated: its defaulting algorithm, then ajv over the openAPIV3Schema with unknown
 * fields closed (kubectl's strict server-side field validation), `x-kubernetes-list-type: map` keys, and
 * the CEL `x-kubernetes-validations` evaluated with @marcbachmann/cel-js. The real-apiserver test tier
 * runs the same corpus against kube-apiserver.
 */
import { readdirSync, readFileSync } from "node:fs";
import { Environment } from "@marcbachmann/cel-js";
import { Ajv, type ErrorObject } from "ajv";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { isCidr } from "./cidr.js";
import { DURATION_PATTERN } from "./duration.js";
import {
  COOKIE_PATH_PATTERN,
  DNS_SUBDOMAIN_PATTERN,
  HEADER_NAME_PATTERN,
  HOSTNAME_PATTERN,
  HTTP_URL_PATTERN,
  ORIGIN_PATTERN,
  QUERY_NAME_PATTERN,
  ROUTE_GROUP,
  ROUTE_KIND,
  ROUTE_VERSION,
  URI_PATTERN,
  webSocketRouteSchema,
} from "./route.js";

/** The parts of a structural schema this test reads. */
interface Schema {
  type?: string;
  description?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema | boolean;
  default?: unknown;
  nullable?: boolean;
  pattern?: string;
  maxItems?: number;
  maxProperties?: number;
  "x-kubernetes-validations"?: { rule: string; message: string }[];
  "x-kubernetes-list-type"?: string;
  "x-kubernetes-list-map-keys"?: string[];
  "x-kubernetes-preserve-unknown-fields"?: boolean;
  [keyword: string]: unknown;
}

interface Crd {
  metadata: { name: string };
  spec: {
    group: string;
    scope: string;
    names: Record<string, unknown>;
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      subresources?: Record<string, unknown>;
      additionalPrinterColumns?: { name: string; type: string; jsonPath: string }[];
      schema: { openAPIV3Schema: Schema };
    }[];
  };
}

const CRD_FILE = new URL("../../crds/wsgate.io_websocketroutes.yaml", import.meta.url);
const CORPUS_DIR = new URL("../../test/fixtures/route-corpus/", import.meta.url);

const crd = parse(readFileSync(CRD_FILE, "utf8")) as Crd;
const version = crd.spec.versions[0]!;
const rootSchema = version.schema.openAPIV3Schema;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Every sub-schema with a readable path: `spec.rules[*].backendRefs[*].port`, `…claimsToHeaders{*}`. */
function* schemaNodes(schema: Schema, path = ""): Generator<[string, Schema]> {
  yield [path, schema];
  for (const [key, child] of Object.entries(schema.properties ?? {})) {
    yield* schemaNodes(child, path ? `${path}.${key}` : key);
  }
  if (schema.items) yield* schemaNodes(schema.items, `${path}[*]`);
  if (typeof schema.additionalProperties === "object")
    yield* schemaNodes(schema.additionalProperties, `${path}{*}`);
}

function schemaAt(path: string): Schema {
  const found = [...schemaNodes(rootSchema)].find(([p]) => p === path);
  if (!found) throw new Error(`no schema at ${path}`);
  return found[1];
}

function childPath(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  return path ? `${path}.${key}` : key;
}

// ---------------------------------------------------------------------------------------------------
// The API server, emulated.

/** The apiserver's structural defaulting: fill absent (or non-nullable null) properties, then recurse. */
function applyDefaults(value: Json, schema: Schema | undefined): void {
  if (!schema) return;
  if (Array.isArray(value)) {
    for (const item of value) applyDefaults(item, schema.items);
    return;
  }
  if (!isObject(value)) return;
  for (const [key, property] of Object.entries(schema.properties ?? {})) {
    if (property.default === undefined) continue;
    if (!(key in value) || (value[key] === null && !property.nullable)) {
      value[key] = structuredClone(property.default) as Json;
    }
  }
  for (const [key, child] of Object.entries(value)) {
    const additional =
      typeof schema.additionalProperties === "object" ? schema.additionalProperties : undefined;
    applyDefaults(child, schema.properties?.[key] ?? additional);
  }
}

/**
 * The schema as ajv sees it: `x-kubernetes-*` keys dropped, and every object that does not preserve unknown
 * fields closed with `additionalProperties: false` — strict field validation reports pruned fields as
 * errors. `metadata` stays open: the API server validates it as ObjectMeta, not with this schema.
 */
function toAjvSchema(schema: Schema, path = ""): Schema {
  const out: Schema = {};
  for (const [keyword, value] of Object.entries(schema)) {
    if (keyword.startsWith("x-kubernetes-") || keyword === "default") continue;
    out[keyword] = value;
  }
  if (schema.properties) {
    out.properties = Object.fromEntries(
      Object.entries(schema.properties).map(([key, child]) => [
        key,
        toAjvSchema(child, childPath(path, key)),
      ]),
    );
  }
  if (schema.items) out.items = toAjvSchema(schema.items, `${path}[*]`);
  if (typeof schema.additionalProperties === "object") {
    out.additionalProperties = toAjvSchema(schema.additionalProperties, `${path}{*}`);
  }
  const open = schema["x-kubernetes-preserve-unknown-fields"] === true || path === "metadata";
  if (schema.type === "object" && schema.additionalProperties === undefined && !open) {
    out.additionalProperties = false;
  }
  return out;
}

const ajv = new Ajv({ strict: false, allErrors: true });
ajv.addFormat("int32", {
  type: "number",
  validate: (n: number) => Number.isInteger(n) && Math.abs(n + 0.5) <= 2 ** 31,
});
ajv.addFormat("int64", {
  type: "number",
  validate: (n: number) => Number.isInteger(n) && Math.abs(n + 0.5) <= 2 ** 63,
});
ajv.addFormat("date-time", /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/);
// The API server checks `format: cidr` with Go's net.ParseCIDR; cidr.ts is written to its rules
// (and the real-apiserver tier judges the same corpus with the real one).
ajv.addFormat("cidr", { type: "string", validate: isCidr });
const validateStructure = ajv.compile(toAjvSchema(rootSchema));

function ajvErrorPath(error: ErrorObject): string {
  let path = error.instancePath
    .split("/")
    .slice(1)
    .map((part) => part.replace(/~1/g, "/").replace(/~0/g, "~"))
    .reduce<string>((acc, part) => childPath(acc, /^\d+$/.test(part) ? Number(part) : part), "");
  if (error.keyword === "required")
    path = childPath(path, (error.params as { missingProperty: string }).missingProperty);
  return path;
}

/** Integers as CEL ints (BigInt); everything else as the evaluator takes it. */
function toCel(value: Json): unknown {
  if (typeof value === "number" && Number.isInteger(value)) return BigInt(value);
  if (Array.isArray(value)) return value.map(toCel);
  if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toCel(v)]));
  return value;
}

const celEnv = new Environment({ unlistedVariablesAreDyn: true });
const celPrograms = new Map<string, ReturnType<Environment["parse"]>>();

/** How one CEL rule (schema path + rule) came out on one value. */
interface RuleOutcome {
  rule: string;
  passed: boolean;
}

interface Failure {
  path: string;
  message: string;
}

/** CEL rules and list-map keys, evaluated where the value has a node for them (as the apiserver does). */
function checkExtensions(
  value: Json,
  schema: Schema,
  path: string,
  schemaPath: string,
  failures: Failure[],
  outcomes: RuleOutcome[],
): void {
  for (const { rule, message } of schema["x-kubernetes-validations"] ?? []) {
    let program = celPrograms.get(rule);
    if (!program) {
      program = celEnv.parse(rule);
      celPrograms.set(rule, program);
    }
    let passed: boolean;
    try {
      passed = program({ self: toCel(value) }) === true;
    } catch (error) {
      passed = false;
      failures.push({ path, message: `CEL evaluation error: ${String(error)}` });
    }
    outcomes.push({ rule: `${schemaPath}: ${rule}`, passed });
    if (!passed) failures.push({ path, message });
  }
  if (Array.isArray(value)) {
    if (schema["x-kubernetes-list-type"] === "map") {
      const keys = schema["x-kubernetes-list-map-keys"] ?? [];
      const seen = new Set<string>();
      value.forEach((item, i) => {
        const key = JSON.stringify(keys.map((k) => (isObject(item) ? item[k] : undefined)));
        if (seen.has(key))
          failures.push({ path: childPath(path, i), message: `duplicate entry for key ${key}` });
        seen.add(key);
      });
    }
    if (schema.items) {
      value.forEach((item, i) =>
        checkExtensions(item, schema.items!, childPath(path, i), `${schemaPath}[*]`, failures, outcomes),
      );
    }
    return;
  }
  if (!isObject(value)) return;
  for (const [key, child] of Object.entries(value)) {
    const property = schema.properties?.[key];
    if (property)
      checkExtensions(child, property, childPath(path, key), childPath(schemaPath, key), failures, outcomes);
    else if (typeof schema.additionalProperties === "object") {
      checkExtensions(
        child,
        schema.additionalProperties,
        childPath(path, key),
        `${schemaPath}{*}`,
        failures,
        outcomes,
      );
    }
  }
}

interface Verdict {
  accepted: boolean;
  /** Where the object was rejected. */
  paths: string[];
  messages: string[];
}

interface CrdVerdict extends Verdict {
  /** The object as the API server would store it: defaults applied. */
  stored: JsonObject;
  outcomes: RuleOutcome[];
}

/**
 * What kube-apiserver would say to a create with strict field validation: default, then schema and CEL.
 * (On a real create the status stanza is dropped first, as the status subresource is enabled; validating
 * it here is what a status update does.)
 */
function crdVerdict(doc: JsonObject): CrdVerdict {
  const stored = structuredClone(doc);
  applyDefaults(stored, rootSchema);
  const failures: Failure[] = [];
  if (!validateStructure(stored)) {
    for (const error of validateStructure.errors ?? [])
      failures.push({ path: ajvErrorPath(error), message: error.message ?? error.keyword });
  }
  const outcomes: RuleOutcome[] = [];
  checkExtensions(stored, rootSchema, "", "", failures, outcomes);
  return {
    accepted: failures.length === 0,
    paths: failures.map((f) => f.path),
    messages: failures.map((f) => `${f.path}: ${f.message}`),
    stored,
    outcomes,
  };
}

interface ZodVerdict extends Verdict {
  parsed?: JsonObject;
}

function zodVerdict(doc: JsonObject): ZodVerdict {
  const result = webSocketRouteSchema.safeParse(doc);
  if (result.success)
    return { accepted: true, paths: [], messages: [], parsed: result.data as unknown as JsonObject };
  const issues = result.error.issues.map((issue) => ({
    path: issue.path.reduce<string>(
      (acc, part) => childPath(acc, typeof part === "number" ? part : String(part)),
      "",
    ),
    message: issue.message,
  }));
  return {
    accepted: false,
    paths: issues.map((i) => i.path),
    messages: issues.map((i) => `${i.path}: ${i.message}`),
  };
}

/** True when one of `paths` is `expected` or lies inside it. */
function rejectedAt(paths: string[], expected: string): boolean {
  return paths.some((p) => p === expected || p.startsWith(`${expected}.`) || p.startsWith(`${expected}[`));
}

// ---------------------------------------------------------------------------------------------------
// The corpus.

interface CorpusEntry {
  file: string;
  valid: boolean;
  /** From `# rejected at: <path>` comments: fields both sides must report. */
  rejectedAt: string[];
  doc: JsonObject;
}

const corpus: CorpusEntry[] = readdirSync(CORPUS_DIR)
  .filter((file) => file.endsWith(".yaml"))
  .sort()
  .map((file) => {
    const text = readFileSync(new URL(file, CORPUS_DIR), "utf8");
    const doc = parse(text) as unknown;
    if (!isObject(doc)) throw new Error(`${file}: not a YAML mapping`);
    if (!/^(valid|invalid)-/.test(file)) throw new Error(`${file}: name it valid-*.yaml or invalid-*.yaml`);
    return {
      file,
      valid: file.startsWith("valid-"),
      rejectedAt: [...text.matchAll(/^# rejected at: (\S+)$/gm)].map((m) => m[1]!),
      doc,
    };
  });

describe("WebSocketRoute CRD", () => {
  it("declares the resource of DESIGN.md §3", () => {
    expect(crd.metadata.name).toBe(`websocketroutes.${ROUTE_GROUP}`);
    expect(crd.spec.group).toBe(ROUTE_GROUP);
    expect(crd.spec.scope).toBe("Namespaced");
    expect(crd.spec.names).toEqual({
      kind: ROUTE_KIND,
      listKind: `${ROUTE_KIND}List`,
      plural: "websocketroutes",
      singular: "websocketroute",
      shortNames: ["wsr"],
      categories: ["wsgate"],
    });
    expect(crd.spec.versions).toHaveLength(1);
    expect(version).toMatchObject({
      name: ROUTE_VERSION,
      served: true,
      storage: true,
      subresources: { status: {} },
    });
    expect(version.additionalPrinterColumns?.map((c) => [c.name, c.type, c.jsonPath])).toEqual([
      ["Hosts", "string", ".spec.hostnames"],
      ["Accepted", "string", '.status.conditions[?(@.type=="Accepted")].status'],
      ["Programmed", "string", '.status.conditions[?(@.type=="Programmed")].status'],
      ["Ready", "integer", ".status.endpoints.ready"],
      ["Age", "date", ".metadata.creationTimestamp"],
    ]);
  });

  it("is structural and describes every field for kubectl explain", () => {
    for (const [path, node] of schemaNodes(rootSchema)) {
      expect(node.type, `${path || "(root)"} has a type`).toMatch(/^(object|array|string|integer|boolean)$/);
      // The API server rejects a CRD whose `metadata` schema carries anything but `type: object`.
      if (path !== "metadata") {
        expect(node.description?.trim(), `${path || "(root)"} has a description`).toBeTruthy();
      }
      if (node.properties && node.additionalProperties !== undefined)
        throw new Error(`${path}: properties and additionalProperties`);
    }
  });

  it("uses the patterns of route.ts", () => {
    const expected: Record<string, string> = {
      "spec.hostnames[*]": HOSTNAME_PATTERN,
      "spec.tls.secretName": DNS_SUBDOMAIN_PATTERN,
      "spec.rules[*].backendRefs[*].name": DNS_SUBDOMAIN_PATTERN,
      "spec.rules[*].backendRefs[*].backendTLS.caCertificateRefs[*].name": DNS_SUBDOMAIN_PATTERN,
      "spec.rules[*].backendRefs[*].backendTLS.hostname": DNS_SUBDOMAIN_PATTERN,
      "spec.rules[*].backendRefs[*].backendTLS.subjectAltNames[*].hostname": HOSTNAME_PATTERN,
      "spec.rules[*].backendRefs[*].backendTLS.subjectAltNames[*].uri": URI_PATTERN,
      "spec.rules[*].matches[*].path.value": "^/",
      "spec.healthCheck.path": "^/",
      "spec.origins.allow[*]": ORIGIN_PATTERN,
      "spec.auth.jwt.keys.secretRef.name": DNS_SUBDOMAIN_PATTERN,
      "spec.auth.jwt.keys.jwksUri": HTTP_URL_PATTERN,
      "spec.auth.jwt.tokenFrom[*].header": HEADER_NAME_PATTERN,
      "spec.auth.jwt.claimsToHeaders{*}": HEADER_NAME_PATTERN,
      "spec.auth.forwardAuth.url": HTTP_URL_PATTERN,
      "spec.auth.forwardAuth.requestHeaders[*]": HEADER_NAME_PATTERN,
      "spec.auth.forwardAuth.responseHeaders[*]": HEADER_NAME_PATTERN,
      "spec.sessionAffinity.cookie.name": HEADER_NAME_PATTERN,
      "spec.sessionAffinity.cookie.path": COOKIE_PATH_PATTERN,
      "spec.sessionAffinity.header.name": HEADER_NAME_PATTERN,
      "spec.sessionAffinity.queryParameter.name": QUERY_NAME_PATTERN,
    };
    const durations = [
      "healthCheck.interval",
      "healthCheck.timeout",
      "auth.forwardAuth.timeout",
      "timeouts.connect",
      "timeouts.handshake",
      "timeouts.idle",
      "timeouts.maxLifetime",
      "keepalive.interval",
      "keepalive.timeout",
      "drain.window",
      "sessionAffinity.cookie.maxAge",
      "rebalance.minConnectionAge",
    ];
    for (const d of durations) expected[`spec.${d}`] = DURATION_PATTERN;
    const actual = Object.fromEntries(
      [...schemaNodes(schemaAt("spec"), "spec")]
        .filter(([, node]) => node.pattern !== undefined)
        .map(([path, node]) => [path, node.pattern]),
    );
    expect(actual).toEqual(expected);
  });

  it("has a CEL rule for every .refine of route.ts, each with a message", () => {
    // The checks of route.ts that JSON Schema keywords cannot express (its .refine calls and the non-empty
    // record key), by the location zod reports them at. The corpus proves each pair rejects the same objects.
    const refines: [string, string][] = [
      [
        "spec.rules[*].backendRefs[*].backendTLS",
        "exactly one of caCertificateRefs or wellKnownCACertificates must be set",
      ],
      [
        "spec.rules[*].backendRefs[*].backendTLS.subjectAltNames[*]",
        "type Hostname takes hostname only, type URI takes uri only",
      ],
      ["spec.auth", "at most one of jwt or forwardAuth may be set"],
      ["spec.auth.jwt.keys", "exactly one of secretRef or jwksUri must be set"],
      ["spec.auth.jwt.tokenFrom[*]", "exactly one of header, cookie, query or subprotocol must be set"],
      ["spec.auth.jwt.tokenFrom[*]", "prefix is only valid with header"],
      ["spec.auth.jwt.claimsToHeaders", "claim names must not be empty"],
      ["spec.drain.closeCode", "must be 1000, 1001, 1011, 1012, 1013 or 3000-4999"],
      ["spec.sessionAffinity", "cookie is only valid with type Cookie"],
      ["spec.sessionAffinity", "header is set exactly when type is Header"],
      ["spec.sessionAffinity", "queryParameter is set exactly when type is QueryParameter"],
      [
        "spec.sessionAffinity.cookie",
        "sameSite None requires secure: true (browsers drop such a cookie otherwise)",
      ],
      ["spec.rebalance.closeCode", "must be 1001, 1012 or 4000-4999"],
    ];
    const rules = [...schemaNodes(rootSchema)].flatMap(([path, node]) =>
      (node["x-kubernetes-validations"] ?? []).map((v) => [path, v.message] as [string, string]),
    );
    expect(rules).toEqual(refines);
  });

  it("keeps every CEL rule cheap enough for the apiserver's cost estimator", () => {
    const visit = (node: Schema, path: string, unboundedAncestor: string | undefined): void => {
      if (node["x-kubernetes-validations"]) {
        expect(unboundedAncestor, `${path}: rule under an unbounded list`).toBeUndefined();
        if (node.type === "array") expect(node.maxItems, `${path}: maxItems`).toBeDefined();
        if (node.additionalProperties) expect(node.maxProperties, `${path}: maxProperties`).toBeDefined();
      }
      const unbounded = node.type === "array" && node.maxItems === undefined ? path : unboundedAncestor;
      for (const [key, child] of Object.entries(node.properties ?? {}))
        visit(child, childPath(path, key), unbounded);
      if (node.items) visit(node.items, `${path}[*]`, unbounded);
      if (typeof node.additionalProperties === "object")
        visit(node.additionalProperties, `${path}{*}`, unbounded);
    };
    visit(rootSchema, "", undefined);
  });

  it("type-checks every CEL rule against the schema it sits on", () => {
    const scalar: Record<string, string> = { string: "string", integer: "int", boolean: "bool" };
    const celType = (node: Schema): string | Record<string, unknown> => {
      if (node.type === "array") {
        const item = node.items ? celType(node.items) : "dyn";
        return `list<${typeof item === "string" ? item : "dyn"}>`;
      }
      if (node.type === "object" && typeof node.additionalProperties === "object") {
        const value = celType(node.additionalProperties);
        return `map<string, ${typeof value === "string" ? value : "dyn"}>`;
      }
      if (node.type === "object" && node.properties) {
        return Object.fromEntries(
          Object.entries(node.properties).map(([key, child]) => [key, celType(child)]),
        );
      }
      if (node.type === "object") return "map<string, dyn>";
      return scalar[node.type ?? ""] ?? "dyn";
    };
    for (const [path, node] of schemaNodes(rootSchema)) {
      for (const { rule } of node["x-kubernetes-validations"] ?? []) {
        const type = celType(node);
        const env =
          typeof type === "string"
            ? new Environment().registerVariable("self", type)
            : new Environment().registerVariable({ name: "self", schema: type as never });
        expect(env.check(rule), `${path}: ${rule}`).toMatchObject({ valid: true, type: "bool" });
      }
    }
  });
});

describe("route corpus", () => {
  it("has at least 30 objects, both valid and invalid", () => {
    expect(corpus.length).toBeGreaterThanOrEqual(30);
    expect(corpus.filter((e) => e.valid).length).toBeGreaterThanOrEqual(10);
    expect(corpus.filter((e) => !e.valid).length).toBeGreaterThanOrEqual(20);
  });

  it.each(corpus.map((entry) => [entry.file, entry] as const))(
    "%s: zod and the CRD give the expected verdict",
    (_file, entry) => {
      const zod = zodVerdict(entry.doc);
      const api = crdVerdict(entry.doc);
      expect(zod.accepted, `zod: ${zod.messages.join("; ")}`).toBe(entry.valid);
      expect(api.accepted, `CRD: ${api.messages.join("; ")}`).toBe(entry.valid);
      if (entry.valid) {
        expect(entry.rejectedAt).toEqual([]);
        // The same defaults: what the apiserver stores is what zod hands the controller.
        expect(api.stored.spec).toEqual(zod.parsed?.spec);
      } else {
        expect(entry.rejectedAt, "an invalid object says where it is rejected").not.toEqual([]);
        for (const path of entry.rejectedAt) {
          expect(rejectedAt(zod.paths, path), `zod rejects at ${path}: ${zod.messages.join("; ")}`).toBe(
            true,
          );
          expect(rejectedAt(api.paths, path), `CRD rejects at ${path}: ${api.messages.join("; ")}`).toBe(
            true,
          );
        }
      }
    },
  );

  it("defaults the minimal route identically", () => {
    const minimal = corpus.find((e) => e.file === "valid-minimal.yaml");
    if (!minimal) throw new Error("valid-minimal.yaml is missing");
    const expected = {
      hostnames: [],
      rules: [
        {
          matches: [{ path: { type: "PathPrefix", value: "/" } }],
          backendRefs: [{ name: "chat", port: 8080, weight: 1 }],
        },
      ],
      loadBalancing: { policy: "LeastConnections" },
      timeouts: { connect: "5s", handshake: "10s", idle: "1h", maxLifetime: "0s" },
      limits: {},
      drain: { window: "30s", closeCode: 1012 },
    };
    expect(crdVerdict(minimal.doc).stored.spec).toEqual(expected);
    expect(zodVerdict(minimal.doc).parsed?.spec).toEqual(expected);
  });

  it("exercises every CEL rule both ways", () => {
    const passedOnValid = new Set<string>();
    const failedOnInvalid = new Set<string>();
    for (const entry of corpus) {
      for (const { rule, passed } of crdVerdict(entry.doc).outcomes) {
        if (entry.valid && passed) passedOnValid.add(rule);
        if (!entry.valid && !passed) failedOnInvalid.add(rule);
      }
    }
    const all = [...schemaNodes(rootSchema)].flatMap(([path, node]) =>
      (node["x-kubernetes-validations"] ?? []).map((v) => `${path}: ${v.rule}`),
    );
    expect(all.filter((r) => !passedOnValid.has(r))).toEqual([]);
    expect(all.filter((r) => !failedOnInvalid.has(r))).toEqual([]);
  });
});

describe("known divergences", () => {
  // Status is written by wsgate itself, and the apiserver drops it on create (status subresource), so the
  // zod reader is deliberately lenient where the CRD holds the status writer to metav1.Condition. These
  // cases pin that down: if one side changes, move the case into the corpus.
  const route = (status: Json): JsonObject => ({
    apiVersion: "wsgate.io/v1alpha1",
    kind: "WebSocketRoute",
    metadata: { name: "chat" },
    spec: { rules: [{ backendRefs: [{ name: "chat", port: 8080 }] }] },
    status,
  });

  it.each([
    [
      "a condition without message",
      {
        conditions: [
          {
            type: "Accepted",
            status: "True",
            reason: "Accepted",
            lastTransitionTime: "2025-01-02T03:04:05Z",
          },
        ],
      },
    ],
    [
      "a condition with an empty reason",
      {
        conditions: [
          {
            type: "Accepted",
            status: "True",
            reason: "",
            message: "",
            lastTransitionTime: "2025-01-02T03:04:05Z",
          },
        ],
      },
    ],
    [
      "a lastTransitionTime that is not a time",
      {
        conditions: [
          {
            type: "Accepted",
            status: "True",
            reason: "Accepted",
            message: "",
            lastTransitionTime: "yesterday",
          },
        ],
      },
    ],
    [
      "two conditions of one type",
      {
        conditions: [
          {
            type: "Accepted",
            status: "True",
            reason: "Accepted",
            message: "",
            lastTransitionTime: "2025-01-02T03:04:05Z",
          },
          {
            type: "Accepted",
            status: "False",
            reason: "Invalid",
            message: "",
            lastTransitionTime: "2025-01-02T03:04:05Z",
          },
        ],
      },
    ],
    ["an unknown status field", { endpoints: { ready: 1, total: 1, draining: 0 } }],
  ])("status: zod reads %s, the CRD rejects it", (_name, status) => {
    expect(zodVerdict(route(status as Json)).accepted).toBe(true);
    expect(crdVerdict(route(status as Json)).accepted).toBe(false);
  });

  it.each([
    "http://auth.example.com:99999/verify",
    "http://256.0.0.1/verify",
    "http://auth.example.com:http/verify",
  ])("URL %s: the CRD's pattern accepts what the WHATWG URL parser behind zod rejects", (url) => {
    const doc = route(null);
    delete doc.status;
    (doc.spec as JsonObject).auth = { forwardAuth: { url } };
    expect(zodVerdict(doc).accepted).toBe(false);
    expect(crdVerdict(doc).accepted).toBe(true);
  });
});
