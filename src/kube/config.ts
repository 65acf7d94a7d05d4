/**
 * Where the Kubernetes API is and who we are to it: `--kubeconfig FILE`
 * (or `KUBECONFIG`), else the Pod's service account (in-cluster config).
 */
import { existsSync, readFileSync } from "node:fs";
import { delimiter } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";

const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

export interface KubeConnection {
  readonly kubeConfig: KubeConfig;
  /** The namespace of the current context, or the Pod's own namespace in a cluster. */
  readonly namespace: string | undefined;
  /** Where the configuration came from, for the startup log. */
  readonly origin: string;
}

/**
 * Loads the client configuration.
 * @param kubeconfig a path, or a `KUBECONFIG`-style list of paths (merged, first wins)
 * @param env the environment that holds `KUBERNETES_SERVICE_HOST` in a Pod
 * @throws Error saying how to point wsgate at a cluster when nothing is configured.
 */
export function loadKubeConnection(
  kubeconfig: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): KubeConnection {
  const kubeConfig = new KubeConfig();
  if (kubeconfig !== undefined) {
    const files = kubeconfig.split(delimiter).filter((f) => f !== "");
    const missing = files.filter((f) => !existsSync(f));
    if (missing.length === files.length) {
      throw new Error(
        `kubeconfig ${kubeconfig} does not exist; pass --kubeconfig FILE pointing at a readable file`,
      );
    }
    for (const file of files.filter((f) => existsSync(f))) {
      if (kubeConfig.clusters.length === 0) {
        kubeConfig.loadFromFile(file);
      } else {
        const more = new KubeConfig();
        more.loadFromFile(file);
        kubeConfig.mergeConfig(more, true);
      }
    }
    if (!kubeConfig.getCurrentCluster()) {
      throw new Error(`kubeconfig ${kubeconfig} has no current context with a cluster; set current-context`);
    }
    const context = kubeConfig.getContextObject(kubeConfig.getCurrentContext());
    return { kubeConfig, namespace: context?.namespace, origin: `kubeconfig ${kubeconfig}` };
  }
  if (env.KUBERNETES_SERVICE_HOST && existsSync(`${SERVICE_ACCOUNT_DIR}/token`)) {
    kubeConfig.loadFromCluster();
    const nsFile = `${SERVICE_ACCOUNT_DIR}/namespace`;
    const namespace = existsSync(nsFile) ? readFileSync(nsFile, "utf8").trim() : undefined;
    return { kubeConfig, namespace, origin: "in-cluster service account" };
  }
  throw new Error(
    "no Kubernetes API configured: pass --kubeconfig FILE (or set KUBECONFIG), run wsgate in a Pod, " +
      "or use --manifests DIR for standalone mode",
  );
}
