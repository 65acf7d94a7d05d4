import { describe, expect, it } from "vitest";
import { rebalanceEvent, regardingOf } from "./rebalance-events.js";

const options = { controllerName: "wsgate.io/gateway", instance: "wsgate-0_abcd", log: { warn() {} } };

describe("rebalance Events", () => {
  it("are recorded on the object the route came from, so kubectl describe shows them where users look", () => {
    expect(regardingOf("apps", "chat")).toMatchObject({ kind: "WebSocketRoute", name: "chat" });
    expect(regardingOf("apps", "httproute/chat")).toEqual({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      namespace: "apps",
      name: "chat",
    });
    expect(regardingOf("apps", "ingress/chat")).toMatchObject({ kind: "Ingress", name: "chat" });
  });

  it("tell the start with the skew that set it off and the end with the closes it took", () => {
    const at = new Date("2026-11-30T09:00:00.123Z");
    const started = rebalanceEvent(
      { namespace: "apps", route: "chat", state: "started", boundPercent: 150, skewPercent: 200, closes: 0 },
      options,
      at,
    );
    expect(started).toMatchObject({
      apiVersion: "events.k8s.io/v1",
      kind: "Event",
      metadata: { namespace: "apps" },
      eventTime: "2026-11-30T09:00:00.123000Z",
      reportingController: "wsgate.io/gateway",
      reportingInstance: "wsgate-0_abcd",
      action: "Rebalance",
      reason: "RebalanceStarted",
      type: "Normal",
      regarding: { kind: "WebSocketRoute", name: "chat", namespace: "apps" },
    });
    expect((started as { note: string }).note).toContain("200% of its share");
    const ended = rebalanceEvent(
      {
        namespace: "apps",
        route: "chat",
        state: "ended",
        boundPercent: 150,
        skewPercent: 148,
        closes: 75,
        durationMs: 7_600,
      },
      options,
      at,
    );
    expect(ended).toMatchObject({ reason: "RebalanceEnded" });
    expect((ended as { note: string }).note).toContain("after 75 closes in 8 s");
  });
});
