/**
 * `spec.sourceRanges` with real sockets: a client outside `allow` or inside `deny` gets
 * 403 before any backend hears of it, on upgrades and plain HTTP, counted under reason
 * `source_denied`. The client is the one the trusted-proxy model names, so a gateway
 * behind a proxy judges the address the proxy vouched for — not the proxy, and not an
 * address the client wrote itself.
 */
import { afterEach, describe, expect, it } from "vitest";
import type WebSocket from "ws";
import { TrustedProxies } from "../src/dataplane/client-identity.js";
import { Metrics } from "../src/observability/metrics.js";
import { connect, expectRefusal, roundTrip, startTestGateway, type TestGateway } from "./helpers/gateway.js";
import { serviceWithEndpoints, simpleRoute } from "./helpers/objects.js";
import { rawRequest, getRequest } from "./helpers/raw-http.js";
import { startRecordingBackend, type RecordingBackend } from "./helpers/recording-backend.js";

let gw: TestGateway | undefined;
let backend: RecordingBackend | undefined;
let metrics: Metrics | undefined;
const clients: WebSocket[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  metrics?.close();
  await gw?.close();
  await backend?.close();
  gw = backend = metrics = undefined;
});

async function setup(sourceRanges: Record<string, unknown>, trusted?: string[]): Promise<TestGateway> {
  gw = await startTestGateway(trusted ? { trustedProxies: new TrustedProxies(trusted) } : {});
  backend = await startRecordingBackend();
  metrics = new Metrics({ connections: [], onPublish: () => () => {} });
  gw.apply([
    ...serviceWithEndpoints("apps", "echo", [{ port: backend.port }]),
    simpleRoute("apps", "echo", "echo", { sourceRanges }),
  ]);
  return gw;
}

async function rejections(kind: "handshake" | "request"): Promise<number> {
  const text = await (metrics as Metrics).registry.metrics();
  const line = new RegExp(
    `^wsgate_${kind}_rejections_total\\{namespace="apps",route="echo",reason="source_denied"\\} (\\d+)$`,
    "m",
  ).exec(text);
  return Number(line?.[1] ?? 0);
}

async function open(url: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  const ws = await connect(url, undefined, { headers });
  clients.push(ws);
  return ws;
}

describe("source ranges on the socket peer", () => {
  it("refuses a client outside allow with 403 so that the backend never hears of it", async () => {
    const gateway = await setup({ allow: ["10.0.0.0/8"] });
    const refusal = await expectRefusal(gateway.url());
    expect(refusal.status).toBe(403);
    expect(refusal.body).toContain("127.0.0.1 is not in the route's allowed source ranges");
    const plain = await rawRequest(gateway.port, getRequest("/page", "chat.example.com"));
    expect(plain.status).toBe(403);
    expect(backend?.received).toEqual([]);
    expect(await rejections("handshake")).toBe(1);
    expect(await rejections("request")).toBe(1);
  });

  it("admits a client inside allow so that the ranges are not a blanket refusal", async () => {
    const gateway = await setup({ allow: ["10.0.0.0/8", "127.0.0.0/30"] });
    expect((await roundTrip(await open(gateway.url()), "hi")).data.toString()).toBe("hi");
    expect((await rawRequest(gateway.port, getRequest("/page", "chat.example.com"))).status).toBe(200);
  });

  it("refuses a client in deny even when allow lists it, so that deny can carve a hole out of allow", async () => {
    const gateway = await setup({ allow: ["127.0.0.0/8"], deny: ["127.0.0.1/32"] });
    expect((await expectRefusal(gateway.url())).status).toBe(403);
    expect(backend?.received).toEqual([]);
  });
});

describe("source ranges behind a trusted proxy (X-Forwarded-For)", () => {
  it("refuses a denied client the proxy vouched for, so that the proxy's own address does not open the route", async () => {
    const gateway = await setup({ deny: ["203.0.113.0/24"] }, ["127.0.0.1"]);
    const refusal = await expectRefusal(gateway.url(), { headers: { "X-Forwarded-For": "203.0.113.9" } });
    expect(refusal.status).toBe(403);
    expect(refusal.body).toContain("203.0.113.9");
    await open(gateway.url(), { "X-Forwarded-For": "198.51.100.7" });
    expect(await rejections("handshake")).toBe(1);
  });

  it("refuses a client that prepends an allowed address to X-Forwarded-For, so that it cannot name itself into the range", async () => {
    const gateway = await setup({ allow: ["10.0.0.0/8"] }, ["127.0.0.1"]);
    // The proxy appended the real client (203.0.113.9); the left-most hop is the client's own claim.
    const refusal = await expectRefusal(gateway.url(), {
      headers: { "X-Forwarded-For": "10.1.2.3, 203.0.113.9" },
    });
    expect(refusal.status).toBe(403);
    await open(gateway.url(), { "X-Forwarded-For": "10.1.2.3" });
    expect(backend?.received.filter((r) => r.kind === "upgrade")).toHaveLength(1);
  });

  it("refuses X-Forwarded-For from an untrusted peer, so that any client cannot claim an allowed address", async () => {
    const gateway = await setup({ allow: ["10.0.0.0/8"] });
    const refusal = await expectRefusal(gateway.url(), { headers: { "X-Forwarded-For": "10.1.2.3" } });
    expect(refusal.status).toBe(403);
  });

  it("judges IPv6 clients against IPv6 blocks, so that a v6 client is neither let through nor shut out by v4 blocks", async () => {
    const gateway = await setup({ allow: ["2001:db8:1::/48", "10.0.0.0/8"], deny: ["2001:db8:1:bad::/64"] }, [
      "127.0.0.1",
    ]);
    await open(gateway.url(), { "X-Forwarded-For": "2001:db8:1:2::7" });
    // Spelled differently (upper case, zeros written out): one address, one verdict.
    const denied = await expectRefusal(gateway.url(), {
      headers: { "X-Forwarded-For": "2001:DB8:1:BAD:0:0:0:1" },
    });
    expect(denied.status).toBe(403);
    expect(
      (await expectRefusal(gateway.url(), { headers: { "X-Forwarded-For": "2001:db8:2::1" } })).status,
    ).toBe(403);
    expect(await rejections("handshake")).toBe(2);
  });

  it("treats an IPv4-mapped IPv6 client as its IPv4 address, so that the mapped spelling escapes no deny", async () => {
    const gateway = await setup({ deny: ["10.9.0.0/16"] }, ["127.0.0.1"]);
    const refusal = await expectRefusal(gateway.url(), {
      headers: { "X-Forwarded-For": "[::ffff:10.9.8.7]:4711" },
    });
    expect(refusal.status).toBe(403);
    expect(refusal.body).toContain("client 10.9.8.7 ");
  });
});
