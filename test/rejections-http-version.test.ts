/**
 * Refusals carry the client's HTTP version in metrics, as connections do: an operator
 * who sees 426s or 421s can tell whether browsers on HTTP/2 (RFC 8441) or on HTTP/1.1
 * got them. Real HTTPS listener (HTTP/2 and HTTP/1.1 by ALPN), real clients.
 */
import type http2 from "node:http2";
import https from "node:https";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Metrics } from "../src/observability/metrics.js";
import { startEchoBackend, type EchoBackend } from "./helpers/backends.js";
import { selfSigned, tlsSecret, type TestCertificate } from "./helpers/certs.js";
import { extendedConnect, h2Request, h2Session, startH2Gateway, type H2Gateway } from "./helpers/h2.js";
import { route, serviceWithEndpoints } from "./helpers/objects.js";
import { MetricSamples } from "./helpers/operator-scene.js";

let cert: TestCertificate;
let backend: EchoBackend;
let gw: H2Gateway;
let session: http2.ClientHttp2Session | undefined;
let metrics: Metrics;

beforeAll(() => {
  cert = selfSigned("chat.example.com");
});

beforeEach(async () => {
  backend = await startEchoBackend();
  gw = await startH2Gateway();
  metrics = new Metrics({ connections: [], onPublish: () => () => {}, defaultMetrics: false });
  gw.apply([
    ...serviceWithEndpoints("apps", "echo", [{ port: backend.port }]),
    route("apps", "chat", {
      hostnames: ["chat.example.com"],
      tls: { secretName: "chat-tls" },
      rules: [{ backendRefs: [{ name: "echo", port: 80 }] }],
    }),
    tlsSecret("apps", "chat-tls", cert),
  ]);
});

afterEach(async () => {
  metrics.close();
  session?.destroy();
  session = undefined;
  await gw.close();
  await backend.close();
});

/** An HTTP/1.1 request over TLS (SNI chat.example.com, no ALPN offered: HTTP/1.1); resolves with the status. */
function http11(headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: "127.0.0.1",
        port: gw.port,
        servername: "chat.example.com",
        rejectUnauthorized: false,
        agent: false,
        headers,
      },
      (res) => {
        res.resume();
        res.once("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.once("error", reject);
    req.end();
  });
}

describe("rejections by HTTP version", () => {
  it("counts refused upgrades and plain requests by http_version, so that an operator sees which path the refused clients took", async () => {
    session = await h2Session(gw.port, "chat.example.com");
    for (let i = 0; i < 2; i++) {
      const refused = await extendedConnect(session, "chat.example.com", "/", {
        "sec-websocket-version": "8",
      });
      expect(refused.status).toBe(426);
      refused.stream.resume();
    }
    expect((await h2Request(session, { ":authority": "nowhere.example.com", ":path": "/" })).status).toBe(
      421,
    );
    const upgrade = {
      Host: "chat.example.com",
      Connection: "Upgrade",
      Upgrade: "websocket",
      "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
      "Sec-WebSocket-Version": "8",
    };
    expect(await http11(upgrade)).toBe(426);
    expect(await http11({ Host: "nowhere.example.com" })).toBe(421);

    const samples = new MetricSamples(await metrics.registry.metrics());
    // The version is checked before a route is matched: no route labels.
    const versionRefusal = { namespace: "", route: "", reason: "unsupported_version" };
    expect(
      samples.sum("wsgate_handshake_rejections_http_version_total", { ...versionRefusal, http_version: "2" }),
    ).toBe(2);
    expect(
      samples.sum("wsgate_handshake_rejections_http_version_total", {
        ...versionRefusal,
        http_version: "1.1",
      }),
    ).toBe(1);
    // The version-less counter keeps its labels and counts both.
    expect(samples.series("wsgate_handshake_rejections_total")).toEqual([versionRefusal]);
    expect(samples.sum("wsgate_handshake_rejections_total", versionRefusal)).toBe(3);
    const misdirected = { reason: "misdirected" };
    expect(
      samples.sum("wsgate_request_rejections_http_version_total", { ...misdirected, http_version: "2" }),
    ).toBe(1);
    expect(
      samples.sum("wsgate_request_rejections_http_version_total", { ...misdirected, http_version: "1.1" }),
    ).toBe(1);
    expect(samples.sum("wsgate_request_rejections_total", misdirected)).toBe(2);
  });
});
