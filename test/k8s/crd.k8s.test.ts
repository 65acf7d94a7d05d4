/**
 * The WebSocketRoute CRD on a real kube-apiserver: installed and Established,
 * and the agreement corpus (test/fixtures/route-corpus) judged by the API server
 * itself with strict server-side field validation — the loop that
 * src/api/route-schema-agreement.test.ts closes with an emulation. Every
 * `valid-*` is accepted and defaulted exactly as zod defaults it; every
 * `invalid-*` is rejected at the field its `# rejected at:` comment names
 * (status cases through the status subresource, since a create drops status).
 */
import { readdirSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { webSocketRouteSchema } from "../../src/api/route.js";
import { KubeApiError } from "../../src/kube/rest.js";
import { apply, create, get, namespace, remove, type Obj } from "./harness/cluster.js";
import { startControlPlane, type ControlPlane } from "./harness/control-plane.js";

const CORPUS_DIR = new URL("../fixtures/route-corpus/", import.meta.url);
const NS = "corpus";

interface Entry {
  readonly file: string;
  readonly valid: boolean;
  readonly rejectedAt: readonly string[];
  readonly doc: Obj;
}

const corpus: Entry[] = readdirSync(CORPUS_DIR)
  .filter((f) => f.endsWith(".yaml"))
  .sort()
  .map((file) => {
    const text = readFileSync(new URL(file, CORPUS_DIR), "utf8");
    const doc = parse(text) as Obj;
    // One object per file, each under its own name, in one namespace.
    doc.metadata = { ...doc.metadata, name: file.replace(/\.yaml$/, ""), namespace: NS };
    return {
      file,
      valid: file.startsWith("valid-"),
      rejectedAt: [...text.matchAll(/^# rejected at: (\S+)$/gm)].map((m) => m[1] as string),
      doc,
    };
  });

let cp: ControlPlane;

beforeAll(async () => {
  cp = await startControlPlane();
  await apply(cp.admin, namespace(NS));
});

afterAll(async () => {
  await cp?.stop();
});

async function rejection(attempt: Promise<unknown>): Promise<KubeApiError> {
  try {
    await attempt;
  } catch (err) {
    if (err instanceof KubeApiError && (err.status === 422 || err.status === 400)) return err;
    throw err;
  }
  throw new Error("the API server accepted it");
}

describe("WebSocketRoute CRD on kube-apiserver", () => {
  it("is Established with the status subresource and the printer columns", async () => {
    const crd = await cp.admin.get<{
      spec: { versions: { subresources?: unknown; additionalPrinterColumns?: { name: string }[] }[] };
      status: { conditions: { type: string; status: string }[]; acceptedNames: { shortNames: string[] } };
    }>("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/websocketroutes.wsgate.io");
    expect(crd.status.conditions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: "Established", status: "True" }),
        expect.objectContaining({ type: "NamesAccepted", status: "True" }),
      ]),
    );
    expect(crd.status.acceptedNames.shortNames).toEqual(["wsr"]);
    expect(crd.spec.versions[0]?.subresources).toEqual({ status: {} });
    expect(crd.spec.versions[0]?.additionalPrinterColumns?.map((c) => c.name)).toEqual([
      "Hosts",
      "Accepted",
      "Programmed",
      "Ready",
      "Age",
    ]);
  });

  it("has a corpus to judge", () => {
    expect(corpus.filter((e) => e.valid).length).toBeGreaterThanOrEqual(10);
    expect(corpus.filter((e) => !e.valid).length).toBeGreaterThanOrEqual(20);
  });

  it.each(corpus.filter((e) => e.valid).map((e) => [e.file, e] as const))(
    "%s is accepted and defaulted as zod defaults it",
    async (_file, entry) => {
      const { status, ...doc } = entry.doc;
      const created = await create(cp.admin, doc as Obj);
      const expected = webSocketRouteSchema.parse(entry.doc);
      expect(created.spec).toEqual(expected.spec);
      if (status !== undefined) {
        // Status is written through its subresource; it must pass there too.
        await cp.admin.put(
          `/apis/wsgate.io/v1alpha1/namespaces/${NS}/websocketroutes/${doc.metadata.name}/status`,
          {
            ...created,
            status,
          },
        );
      }
      await remove(cp.admin, doc as Obj);
    },
  );

  it.each(corpus.filter((e) => !e.valid).map((e) => [e.file, e] as const))(
    "%s is rejected where its comment says",
    async (_file, entry) => {
      const statusCase = entry.rejectedAt.length > 0 && entry.rejectedAt.every((p) => p.startsWith("status"));
      let err: KubeApiError;
      if (statusCase) {
        const { status, ...doc } = entry.doc;
        const created = await create(cp.admin, doc as Obj);
        err = await rejection(
          cp.admin.put(
            `/apis/wsgate.io/v1alpha1/namespaces/${NS}/websocketroutes/${doc.metadata.name}/status`,
            { ...created, status },
            { fieldValidation: "Strict" },
          ),
        );
        await remove(cp.admin, doc as Obj);
      } else {
        err = await rejection(create(cp.admin, entry.doc));
        await expect(get(cp.admin, entry.doc)).rejects.toMatchObject({ status: 404 });
      }
      for (const path of entry.rejectedAt) expect(err.message).toContain(path);
    },
  );
});
