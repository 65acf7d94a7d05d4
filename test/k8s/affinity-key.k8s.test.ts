/**
 * The cluster's session affinity key (`--affinity-key-secret`) on a real kube-apiserver:
 * two replicas, each with exactly the chart's rules plus get/create on Secrets in their own
 * namespace. The leader creates the Secret once, with a random key; both replicas sign
 * cookies with that key, so a cookie issued by one is honoured by the other.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningGateway } from "../../src/cli/serve.js";
import { AffinityKey } from "../../src/dataplane/affinity/token.js";
import { controllerKubeconfig, get, startController, type Obj } from "./harness/cluster.js";
import { startControlPlane, type ControlPlane } from "./harness/control-plane.js";
import { waitFor } from "./harness/wait.js";

const SECRET = "wsgate-affinity-key";
const FLAGS = ["--affinity-key-secret", `wsgate-system/${SECRET}`, "--leader-election-lease-duration", "4s"];

let cp: ControlPlane;
const replicas: RunningGateway[] = [];

interface SecretObj extends Obj {
  type?: string;
  data?: Record<string, string>;
}

beforeAll(async () => {
  cp = await startControlPlane();
  const kubeconfig = await controllerKubeconfig(cp);
  // What creating the Secret needs beyond the chart's rules: create, in its namespace only.
  const rbac = "/apis/rbac.authorization.k8s.io/v1/namespaces/wsgate-system";
  await cp.admin.post(`${rbac}/roles`, {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "Role",
    metadata: { name: "wsgate-affinity-key", namespace: "wsgate-system" },
    rules: [{ apiGroups: [""], resources: ["secrets"], verbs: ["get", "create"] }],
  });
  await cp.admin.post(`${rbac}/rolebindings`, {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: { name: "wsgate-affinity-key", namespace: "wsgate-system" },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "wsgate-affinity-key" },
    subjects: [{ kind: "ServiceAccount", name: "wsgate", namespace: "wsgate-system" }],
  });
  replicas.push(await startController(kubeconfig, FLAGS), await startController(kubeconfig, FLAGS));
}, 120_000);

afterAll(async () => {
  for (const r of replicas) await r.stop(0);
  await cp?.stop();
});

describe("session affinity key Secret", () => {
  it("is created once by the leader and shared by both replicas, so each honours the other's cookies", async () => {
    await Promise.all(
      replicas.map((r) =>
        waitFor(() => r.cluster?.affinityKeySecret?.whenKeyed().then(() => true), {
          what: "a replica keyed from the Secret",
          timeoutMs: 60_000,
        }),
      ),
    );
    const secret = await get<SecretObj>(cp.admin, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: SECRET, namespace: "wsgate-system" },
    });
    expect(secret?.type).toBe("Opaque");
    const labels = secret?.metadata.labels as Record<string, string> | undefined;
    expect(labels?.["app.kubernetes.io/managed-by"]).toBe("wsgate");
    const material = Buffer.from(secret!.data!.key!, "base64");
    expect(material.length).toBe(32);
    const expected = new AffinityKey(material);
    const endpoint = "apps/chat:80@10.244.0.7:8080";
    for (const r of replicas) expect(r.affinityKey.tokenFor(endpoint)).toBe(expected.tokenFor(endpoint));
    // Created once: a later read finds the same object, not a second creation.
    const again = await get<SecretObj>(cp.admin, secret!);
    expect(again?.metadata.uid).toBe(secret!.metadata.uid);
    expect(again?.metadata.resourceVersion).toBe(secret!.metadata.resourceVersion);
  });
});
