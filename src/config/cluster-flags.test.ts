import { describe, expect, it } from "vitest";
import { ConfigError, parseServeConfig } from "./config.js";

describe("cluster-mode flags", () => {
  it("runs in cluster mode without --manifests, with client-go-like leader election defaults", () => {
    const config = parseServeConfig(["--kubeconfig", "/k"], {});
    expect(config).toMatchObject({
      kubeconfig: "/k",
      namespaces: [],
      leaderElectionLeaseDuration: 15_000,
    });
    expect(config.manifests).toBeUndefined();
    expect(config.leaderElectionNamespace).toBeUndefined();
    expect(config.leaderElectionId).toBeUndefined();
  });

  it("takes KUBECONFIG when neither --kubeconfig nor WSGATE_KUBECONFIG is set", () => {
    expect(parseServeConfig([], { KUBECONFIG: "/home/me/.kube/config" }).kubeconfig).toBe(
      "/home/me/.kube/config",
    );
    expect(parseServeConfig([], { KUBECONFIG: "/a", WSGATE_KUBECONFIG: "/b" }).kubeconfig).toBe("/b");
    expect(parseServeConfig(["--kubeconfig", "/c"], { KUBECONFIG: "/a" }).kubeconfig).toBe("/c");
    // In a Pod: nothing set, in-cluster config.
    expect(parseServeConfig([], {}).kubeconfig).toBeUndefined();
  });

  it("repeats --namespace, or takes a comma-separated WSGATE_NAMESPACE", () => {
    expect(
      parseServeConfig(["--namespace", "b", "--namespace", "a", "--namespace", "b"], {}).namespaces,
    ).toEqual(["a", "b"]);
    expect(parseServeConfig([], { WSGATE_NAMESPACE: "apps, chat" }).namespaces).toEqual(["apps", "chat"]);
    expect(() => parseServeConfig(["--namespace", "Not_A_Namespace"], {})).toThrow(
      /--namespace.*namespace name/,
    );
  });

  it("parses the leader election flags", () => {
    const config = parseServeConfig(
      [
        "--leader-election-namespace",
        "wsgate-system",
        "--leader-election-id",
        "wsgate-leader",
        "--leader-election-lease-duration",
        "30s",
      ],
      {},
    );
    expect(config).toMatchObject({
      leaderElectionNamespace: "wsgate-system",
      leaderElectionId: "wsgate-leader",
      leaderElectionLeaseDuration: 30_000,
    });
    expect(() => parseServeConfig(["--leader-election-lease-duration", "1s"], {})).toThrow(/at least 2s/);
  });

  it("refuses to mix standalone and cluster flags", () => {
    expect(() => parseServeConfig(["--manifests", "/m", "--kubeconfig", "/k"], {})).toThrow(ConfigError);
    expect(() => parseServeConfig(["--manifests", "/m", "--namespace", "apps"], {})).toThrow(
      /cannot be combined with --namespace/,
    );
    // KUBECONFIG in the environment does not turn standalone mode into a conflict.
    expect(parseServeConfig(["--manifests", "/m"], { KUBECONFIG: "/k" }).kubeconfig).toBeUndefined();
  });
});
