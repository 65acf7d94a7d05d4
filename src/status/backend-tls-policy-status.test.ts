import { describe, expect, it } from "vitest";
import { backendTlsPolicyItems } from "./backend-tls-policy-status.js";
import type { StampFn } from "./status-items.js";

const OURS = "wsgate.io/gateway-controller";
const GATEWAY = { group: "gateway.networking.k8s.io", kind: "Gateway", namespace: "apps", name: "web" };
const ACCEPTED = [{ type: "Accepted", status: "True" as const, reason: "Accepted", message: "" }];

/** Stamps at a fixed instant, keeping a previous time while the status holds (as the writer does). */
const stamp: StampFn = (previous, verdicts, generation) =>
  verdicts.map((v) => {
    const old = (Array.isArray(previous) ? previous : []).find((c: { type: string }) => c.type === v.type) as
      { status: string; lastTransitionTime: string } | undefined;
    return {
      ...v,
      lastTransitionTime: old?.status === v.status ? old.lastTransitionTime : "2026-11-30T12:00:00Z",
      ...(generation === undefined ? {} : { observedGeneration: generation }),
    };
  });

describe("BackendTLSPolicy status items", () => {
  it("keeps other controllers' ancestors and our condition's transition time, so that wsgate never erases another gateway's verdict", () => {
    const [item] = backendTlsPolicyItems(
      [
        {
          namespace: "apps",
          name: "tls",
          generation: 2,
          ancestors: [{ ancestorRef: GATEWAY, conditions: ACCEPTED }],
        },
      ],
      new Set(),
      OURS,
    );
    const theirs = {
      ancestorRef: { ...GATEWAY, name: "other" },
      controllerName: "example.com/other",
      conditions: [],
    };
    const status = item!.status(
      {
        metadata: { name: "tls", namespace: "apps", generation: 2 },
        status: {
          ancestors: [
            theirs,
            {
              ancestorRef: GATEWAY,
              controllerName: OURS,
              conditions: [{ ...ACCEPTED[0], lastTransitionTime: "2026-01-01T00:00:00Z" }],
            },
          ],
        },
      },
      stamp,
    );
    expect(item!.key).toBe("BackendTLSPolicy apps/tls");
    expect(item!.path).toBe("/apis/gateway.networking.k8s.io/v1/namespaces/apps/backendtlspolicies/tls");
    expect(status.ancestors).toEqual([
      theirs,
      {
        ancestorRef: GATEWAY,
        controllerName: OURS,
        conditions: [{ ...ACCEPTED[0], lastTransitionTime: "2026-01-01T00:00:00Z", observedGeneration: 2 }],
      },
    ]);
  });

  it("reads no policy it has nothing to say about, but removes its entries from one it wrote to, so that a policy that stops applying does not keep a stale Accepted", () => {
    const policies = [
      { namespace: "apps", name: "unrelated", ancestors: [] },
      { namespace: "apps", name: "was-ours", ancestors: [] },
    ];
    const items = backendTlsPolicyItems(policies, new Set(["apps/was-ours", "apps/deleted"]), OURS);
    expect(items.map((i) => [i.key, i.print])).toEqual([
      ["BackendTLSPolicy apps/was-ours", "[null,[]]"],
      ["BackendTLSPolicy apps/deleted", "[null,[]]"],
    ]);
    const status = items[0]!.status(
      {
        metadata: { name: "was-ours", namespace: "apps" },
        status: { ancestors: [{ ancestorRef: GATEWAY, controllerName: OURS, conditions: [] }] },
      },
      stamp,
    );
    expect(status.ancestors).toEqual([]);
  });
});
