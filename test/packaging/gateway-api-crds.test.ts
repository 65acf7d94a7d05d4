/**
 * The vendored Gateway API CRDs: exactly the standard channel of the pinned release of
 * the Go module sigs.k8s.io/gateway-api (re-fetched through the Go module proxy by the
 * vendoring script into a scratch directory), the chart's copy byte for byte the same,
 * and installed by the chart only when asked.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { CHART, PROVISION_TIMEOUT_MS, REPO, renderChart, tool, type K8sObject } from "./tools.js";

const VENDORED = join(REPO, "crds/gateway-api");
const VERSION = readFileSync(join(VENDORED, "VERSION"), "utf8").trim();
const yamlFiles = (dir: string): string[] =>
  readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .sort();

/** The kinds wsgate reads; each must be among the vendored CRDs. */
const READ_KINDS = ["GatewayClass", "Gateway", "HTTPRoute", "ReferenceGrant", "BackendTLSPolicy"];

describe("vendored Gateway API CRDs", () => {
  const scratch = mkdtempSync(join(tmpdir(), "wsgate-gwapi-"));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it("pins one v1.6.x release, and every CRD says so (standard channel)", () => {
    expect(VERSION).toMatch(/^v1\.6\.\d+$/);
    const kinds: string[] = [];
    for (const file of yamlFiles(VENDORED)) {
      const crd = parse(readFileSync(join(VENDORED, file), "utf8")) as K8sObject & {
        spec: { names: { kind: string } };
      };
      expect(crd.kind, file).toBe("CustomResourceDefinition");
      expect(crd.metadata.annotations?.["gateway.networking.k8s.io/bundle-version"], file).toBe(VERSION);
      expect(crd.metadata.annotations?.["gateway.networking.k8s.io/channel"], file).toBe("standard");
      kinds.push(crd.spec.names.kind);
    }
    expect(kinds).toEqual(expect.arrayContaining(READ_KINDS));
  });

  it(
    "refuses drift: the script re-fetches the pinned module and writes the same bytes",
    async () => {
      const result = await tool("bash", [join(REPO, "scripts/vendor-gateway-api.sh")], {
        env: { ...process.env, DEST: scratch },
      });
      expect(result.code, result.stderr).toBe(0);
      expect(yamlFiles(scratch)).toEqual(yamlFiles(VENDORED));
      for (const file of yamlFiles(VENDORED)) {
        const fresh = readFileSync(join(scratch, file));
        expect(
          fresh.equals(readFileSync(join(VENDORED, file))),
          `crds/gateway-api/${file} differs from ${VERSION}: run bash scripts/vendor-gateway-api.sh`,
        ).toBe(true);
      }
      expect(readFileSync(join(scratch, "VERSION"), "utf8").trim()).toBe(VERSION);
    },
    PROVISION_TIMEOUT_MS,
  );

  it("refuses a chart copy that differs from crds/gateway-api (the script writes both)", () => {
    const copies = join(CHART, "files/gateway-api");
    expect(yamlFiles(copies)).toEqual(yamlFiles(VENDORED));
    for (const file of yamlFiles(VENDORED)) {
      expect(
        readFileSync(join(copies, file)).equals(readFileSync(join(VENDORED, file))),
        `helm/wsgate/files/gateway-api/${file}: run bash scripts/vendor-gateway-api.sh`,
      ).toBe(true);
    }
  });

  it(
    "installs them only with gatewayAPI.installCRDs, kept on uninstall so no Gateway is deleted with the release",
    async () => {
      const without = await renderChart();
      expect(without.all("CustomResourceDefinition")).toEqual([]);
      const withCrds = await renderChart({ gatewayAPI: { installCRDs: true } });
      const crds = withCrds.all("CustomResourceDefinition");
      expect(crds.map((c) => c.metadata.name).sort()).toEqual(
        yamlFiles(VENDORED).map((f) =>
          f.replace(/^gateway\.networking\.k8s\.io_(.*)\.yaml$/, "$1.gateway.networking.k8s.io"),
        ),
      );
      for (const crd of crds) {
        expect(crd.metadata.annotations?.["helm.sh/resource-policy"]).toBe("keep");
        expect(crd.metadata.annotations?.["gateway.networking.k8s.io/bundle-version"]).toBe(VERSION);
      }
      const disabled = await renderChart({ gatewayAPI: { enabled: false, installCRDs: true } });
      expect(disabled.all("CustomResourceDefinition")).toEqual([]);
    },
    PROVISION_TIMEOUT_MS,
  );

  it(
    "grants Gateway API reads only while enabled, and GatewayClasses cluster-wide when namespaces are watched",
    async () => {
      type Role = K8sObject & { rules: { apiGroups: string[]; resources: string[] }[] };
      const groupsOf = (role: Role): string[] => role.rules.flatMap((r) => r.apiGroups);
      const enabled = await renderChart();
      expect(groupsOf(enabled.one<Role>("ClusterRole"))).toContain("gateway.networking.k8s.io");
      const off = await renderChart({ gatewayAPI: { enabled: false } });
      expect(groupsOf(off.one<Role>("ClusterRole"))).not.toContain("gateway.networking.k8s.io");
      expect(off.one<Role>("ClusterRole").rules.flatMap((r) => r.resources)).not.toContain("namespaces");
      const namespaced = await renderChart({ watchNamespaces: ["apps"] });
      const classes = namespaced.one<Role>("ClusterRole", "wsgate-gatewayclasses");
      expect(classes.rules.flatMap((r) => r.resources).sort()).toEqual([
        "gatewayclasses",
        "gatewayclasses/status",
        "namespaces",
      ]);
    },
    PROVISION_TIMEOUT_MS,
  );
});
