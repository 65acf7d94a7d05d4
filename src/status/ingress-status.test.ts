import { describe, expect, it } from "vitest";
import { serviceAddresses } from "./ingress-status.js";

describe("serviceAddresses", () => {
  it("publishes the load balancer's addresses first, so that clients get the external entry point", () => {
    expect(
      serviceAddresses({
        spec: { clusterIP: "10.96.0.10", externalIPs: ["192.0.2.9"] },
        status: { loadBalancer: { ingress: [{ ip: "203.0.113.1" }, { hostname: "lb.example.com" }, {}] } },
      }),
    ).toEqual([{ ip: "203.0.113.1" }, { hostname: "lb.example.com" }]);
  });

  it("falls back to external IPs, then the cluster IP, as ingress-nginx's publish-service does", () => {
    expect(serviceAddresses({ spec: { clusterIP: "10.96.0.10", externalIPs: ["192.0.2.9"] } })).toEqual([
      { ip: "192.0.2.9" },
    ]);
    expect(serviceAddresses({ spec: { clusterIP: "10.96.0.10" }, status: { loadBalancer: {} } })).toEqual([
      { ip: "10.96.0.10" },
    ]);
  });

  it("publishes nothing for a headless Service, so that no Ingress shows the address None", () => {
    expect(serviceAddresses({ spec: { clusterIP: "None" } })).toEqual([]);
  });
});
