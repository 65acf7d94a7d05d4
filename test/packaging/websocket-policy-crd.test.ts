/**
 * The WebSocketPolicy CRD is generated from the WebSocketRoute CRD (its behaviour fields'
 * schemas taken by name, defaults dropped), so the two can never describe one field two
 * ways. `UPDATE_CRDS=1` rewrites crds/wsgate.io_websocketpolicies.yaml; then run
 * scripts/sync-chart-crds.sh.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { ROUTE_BEHAVIOUR_FIELDS } from "../../src/api/route.js";
import { policyCrd, policySpecSchema } from "../../src/api/websocket-policy.js";
import { REPO } from "./tools.js";

const ROUTE_CRD = join(REPO, "crds/wsgate.io_websocketroutes.yaml");
const POLICY_CRD = join(REPO, "crds/wsgate.io_websocketpolicies.yaml");
const HEADER =
  "# Generated from crds/wsgate.io_websocketroutes.yaml by test/packaging/websocket-policy-crd.test.ts\n" +
  "# (UPDATE_CRDS=1); do not edit. The behaviour fields are WebSocketRoute's, without defaults.\n";

type Crd = Parameters<typeof policyCrd>[0];
const specProps = (crd: Crd): Record<string, unknown> =>
  crd.spec.versions[0]!.schema.openAPIV3Schema.properties.spec.properties;

describe("WebSocketPolicy CRD", () => {
  it("refuses drift from the WebSocketRoute CRD: regenerating gives the committed file", () => {
    const generated = policyCrd(parse(readFileSync(ROUTE_CRD, "utf8")) as Crd);
    if (process.env.UPDATE_CRDS === "1")
      writeFileSync(POLICY_CRD, HEADER + stringify(generated, { lineWidth: 0 }));
    expect(parse(readFileSync(POLICY_CRD, "utf8"))).toEqual(generated);
  });

  it("describes every behaviour field of the shared zod schema, and nothing a route-only field", () => {
    const policy = parse(readFileSync(POLICY_CRD, "utf8")) as Crd;
    expect(Object.keys(specProps(policy)).sort()).toEqual(["targetRefs", ...ROUTE_BEHAVIOUR_FIELDS].sort());
    expect(JSON.stringify(specProps(policy))).not.toContain('"default"');
  });

  it("validates a policy's fields with WebSocketRoute's schema (an idle timeout that is no duration is refused)", () => {
    const target = { group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: "chat" };
    expect(policySpecSchema.safeParse({ targetRefs: [target], timeouts: { idle: "2s" } }).success).toBe(true);
    expect(policySpecSchema.safeParse({ targetRefs: [target], timeouts: { idle: "soon" } }).success).toBe(
      false,
    );
    expect(policySpecSchema.safeParse({ targetRefs: [target], hostnames: ["a.example.com"] }).success).toBe(
      false,
    );
    expect(policySpecSchema.safeParse({ targetRefs: [{ ...target, group: "" }] }).success).toBe(false);
  });
});
