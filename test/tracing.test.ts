/**
 * OpenTelemetry traces (`--otlp-endpoint`) from a standalone gateway, received by a
 * real OTLP/HTTP receiver started here (it decodes the JSON payloads the exporter
 * sends): one span per handshake continuing the client's traceparent, child spans for
 * auth and the backend, the backend given wsgate's traceparent, a close event on the
 * connection span, and no token anywhere.
 */
import { rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { RunningGateway } from "../src/cli/serve.js";
import { tracesUrl } from "../src/observability/tracing.js";
import { AUDIENCE, ISSUER, jwksOf, mint, signingKey, type SigningKey } from "./helpers/auth.js";
import { startEchoBackend, type EchoBackend } from "./helpers/backends.js";
import { closeClient, connect, expectRefusal, gatewayClosed, roundTrip } from "./helpers/gateway.js";
import { manifestDir, serviceYaml, startStandalone } from "./helpers/standalone.js";

type AnyValue = {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  arrayValue?: unknown;
};
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: { key: string; value: AnyValue }[];
  events?: { name: string; attributes?: { key: string; value: AnyValue }[] }[];
  status?: { code?: number };
}

/** A minimal OTLP/HTTP traces receiver: JSON bodies (what the exporter sends by default). */
class Receiver {
  readonly spans: OtlpSpan[] = [];
  readonly bodies: string[] = [];
  readonly paths: string[] = [];
  readonly #server: http.Server;
  #waiters: (() => void)[] = [];

  constructor() {
    this.#server = http.createServer((req, res) => {
      let body = "";
      req.setEncoding("utf8");
      req.on("data", (c: string) => (body += c));
      req.on("end", () => {
        this.paths.push(req.url ?? "");
        if (!(req.headers["content-type"] ?? "").includes("json")) {
          res.writeHead(415).end();
          return;
        }
        this.bodies.push(body);
        const payload = JSON.parse(body) as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] };
        for (const rs of payload.resourceSpans) for (const ss of rs.scopeSpans) this.spans.push(...ss.spans);
        res.writeHead(200, { "Content-Type": "application/json" }).end("{}");
        for (const w of this.#waiters.splice(0)) w();
      });
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

function attr(span: OtlpSpan | { attributes?: OtlpSpan["attributes"] }, key: string): unknown {
  const v = span.attributes?.find((a) => a.key === key)?.value;
  if (!v) return undefined;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.boolValue !== undefined) return v.boolValue;
  return v.arrayValue;
}

const CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN = "00f067aa0ba902b7";

let dir: string;
let backend: EchoBackend;
let receiver: Receiver;
let running: RunningGateway | undefined;
let key: SigningKey;

function routesYaml(jwks: string): string {
  return `apiVersion: v1
kind: Secret
metadata: { name: keys, namespace: apps }
type: Opaque
data: { jwks.json: ${Buffer.from(jwks).toString("base64")} }
---
apiVersion: wsgate.io/v1alpha1
kind: WebSocketRoute
metadata: { name: chat, namespace: apps }
spec:
  rules:
    - matches: [{ path: { type: PathPrefix, value: /chat } }]
      backendRefs: [{ name: echo, port: 80 }]
  auth:
    jwt:
      issuer: ${ISSUER}
      audiences: [${AUDIENCE}]
      keys: { secretRef: { name: keys, key: jwks.json } }
      tokenFrom: [{ query: access_token }]
`;
}

beforeEach(async () => {
  key = await signingKey("ES256", "k1");
  dir = manifestDir("tracing");
  backend = await startEchoBackend();
  receiver = new Receiver();
  writeFileSync(join(dir, "service.yaml"), serviceYaml("echo", backend.port));
  writeFileSync(join(dir, "routes.yaml"), routesYaml(jwksOf(key)));
});

afterEach(async () => {
  await running?.stop(0);
  running = undefined;
  await backend.close();
  await receiver.close();
  rmSync(dir, { recursive: true, force: true });
});

async function start(extra: string[] = []): Promise<void> {
  running = await startStandalone(dir, ["--otlp-endpoint", await receiver.listen(), ...extra]);
}

function wsUrl(path: string): string {
  return `ws://127.0.0.1:${running!.httpAddress.port}${path}`;
}

describe("--otlp-endpoint", () => {
  it("continues the client's trace through auth and the backend, and hands the backend wsgate's span as parent, so that one trace shows a handshake end to end", async () => {
    await start();
    const token = await mint(key);
    const ws = await connect(wsUrl(`/chat?access_token=${token}`), undefined, {
      headers: { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` },
    });
    await roundTrip(ws, "one");
    await roundTrip(ws, "two");
    const closed = gatewayClosed(1);
    await closeClient(ws, 1000);
    await closed;
    await running!.stop(0); // flushes every buffered span
    running = undefined;

    const handshake = receiver.spans.find((s) => s.name === "wsgate.handshake")!;
    expect(handshake).toBeDefined();
    expect(handshake.traceId).toBe(CLIENT_TRACE);
    expect(handshake.parentSpanId).toBe(CLIENT_SPAN);
    expect(handshake.kind).toBe(2); // SERVER
    expect(attr(handshake, "wsgate.route")).toBe("apps/chat");
    expect(attr(handshake, "wsgate.outcome")).toBe("established");
    expect(attr(handshake, "http.response.status_code")).toBe(101);
    expect(attr(handshake, "wsgate.auth.kind")).toBe("jwt");
    expect(attr(handshake, "wsgate.retries")).toBe(0);
    expect(attr(handshake, "url.path")).toBe("/chat");
    expect(String(attr(handshake, "wsgate.endpoint"))).toMatch(/^apps\/echo:80@127\.0\.0\.1:\d+$/);

    const auth = receiver.spans.find((s) => s.name === "wsgate.auth")!;
    expect(auth.parentSpanId).toBe(handshake.spanId);
    expect(attr(auth, "wsgate.auth.outcome")).toBe("ok");
    const upstream = receiver.spans.find((s) => s.name === "wsgate.backend")!;
    expect(upstream.parentSpanId).toBe(handshake.spanId);
    expect(upstream.kind).toBe(3); // CLIENT
    expect(attr(upstream, "wsgate.backend.outcome")).toBe("upgraded");

    // The backend's parent is wsgate's backend span, in the client's trace.
    const sent = backend.requests[0]!.headers.traceparent;
    expect(sent).toBe(`00-${CLIENT_TRACE}-${upstream.spanId}-01`);

    const connection = receiver.spans.find((s) => s.name === "wsgate.connection")!;
    expect(connection.parentSpanId).toBe(handshake.spanId);
    const close = connection.events!.find((e) => e.name === "close")!;
    expect(attr(close, "websocket.close.code")).toBe(1000);
    expect(attr(close, "wsgate.close.initiator")).toBe("client");
    expect(attr(close, "wsgate.messages.from_client")).toBe(2);
    expect(attr(close, "wsgate.messages.to_client")).toBe(2);
    expect(Number(attr(close, "wsgate.connection.duration_ms"))).toBeGreaterThanOrEqual(0);

    // Tokens never leave: not in an attribute, not anywhere in what was exported.
    for (const body of receiver.bodies) expect(body).not.toContain(token);
    expect(receiver.paths.every((p) => p === "/v1/traces")).toBe(true);
  });

  it("records refused handshakes with their reason and status, so that a trace says why a client was turned away", async () => {
    await start();
    await expectRefusal(wsUrl("/chat?access_token=not-a-jwt"));
    await expectRefusal(wsUrl("/nowhere"));
    await running!.stop(0);
    running = undefined;
    const handshakes = receiver.spans.filter((s) => s.name === "wsgate.handshake");
    const byReason = new Map(handshakes.map((s) => [attr(s, "wsgate.rejection.reason"), s]));
    expect(attr(byReason.get("unauthorized")!, "http.response.status_code")).toBe(401);
    expect(attr(byReason.get("unauthorized")!, "wsgate.route")).toBe("apps/chat");
    expect(byReason.get("unauthorized")!.status?.code).toBe(2); // ERROR
    expect(attr(byReason.get("no_route")!, "http.response.status_code")).toBe(404);
    const auth = receiver.spans.find((s) => s.name === "wsgate.auth")!;
    expect(attr(auth, "wsgate.auth.outcome")).toBe("unauthorized");
    for (const body of receiver.bodies) expect(body).not.toContain("not-a-jwt");
  });

  it("propagates traceparent on plain HTTP too, so that a polling transport's requests join the same traces", async () => {
    await start();
    const token = await mint(key);
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      http
        .get(
          {
            host: "127.0.0.1",
            port: running!.httpAddress.port,
            path: `/chat/poll?access_token=${token}`,
            headers: { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` },
          },
          (res) => {
            let body = "";
            res.setEncoding("utf8");
            res.on("data", (c: string) => (body += c));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
          },
        )
        .on("error", reject);
    });
    expect(answer.status).toBe(200);
    const seen = JSON.parse(answer.body) as { headers: Record<string, string> };
    await running!.stop(0);
    running = undefined;
    const request = receiver.spans.find((s) => s.name === "wsgate.http")!;
    expect(request.traceId).toBe(CLIENT_TRACE);
    expect(attr(request, "wsgate.outcome")).toBe("proxied");
    expect(attr(request, "http.response.status_code")).toBe(200);
    const upstream = receiver.spans.find((s) => s.name === "wsgate.backend")!;
    expect(upstream.parentSpanId).toBe(request.spanId);
    expect(seen.headers.traceparent).toBe(`00-${CLIENT_TRACE}-${upstream.spanId}-01`);
    for (const body of receiver.bodies) expect(body).not.toContain(token);
  });

  it("starts new traces at --trace-sample-ratio and still propagates unsampled ones, so that backends keep one trace id per handshake", async () => {
    await start(["--trace-sample-ratio", "0"]);
    const ws = await connect(wsUrl(`/chat?access_token=${await mint(key)}`));
    ws.terminate();
    await running!.stop(0);
    running = undefined;
    expect(receiver.spans).toEqual([]);
    expect(backend.requests[0]!.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
  });
});

describe("--otlp-endpoint with --workers 2", () => {
  it("traces in every worker thread and exports their spans at shutdown, so that threads change nothing for tracing", async () => {
    // The worker threads run the built dist/workers/worker-main.js: `npm run build` first.
    await start(["--workers", "2"]);
    const token = await mint(key);
    const clients = [];
    for (let i = 0; i < 4; i++) {
      clients.push(
        await connect(wsUrl(`/chat?access_token=${token}`), undefined, {
          headers: { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` },
        }),
      );
    }
    for (const ws of clients) await roundTrip(ws, "hi");
    await running!.stop(0); // drains every worker, each flushing its spans
    running = undefined;
    const handshakes = receiver.spans.filter((s) => s.name === "wsgate.handshake");
    expect(handshakes).toHaveLength(4);
    for (const h of handshakes) {
      expect(h.traceId).toBe(CLIENT_TRACE);
      expect(attr(h, "wsgate.outcome")).toBe("established");
    }
    const upstream = new Set(receiver.spans.filter((s) => s.name === "wsgate.backend").map((s) => s.spanId));
    for (const req of backend.requests) {
      const [, trace, parent] = String(req.headers.traceparent).split("-");
      expect(trace).toBe(CLIENT_TRACE);
      expect(upstream.has(parent!)).toBe(true);
    }
    const closes = receiver.spans
      .filter((s) => s.name === "wsgate.connection")
      .map((s) => s.events?.find((e) => e.name === "close"));
    expect(closes).toHaveLength(4);
    for (const close of closes) expect(attr(close!, "websocket.close.code")).toBe(1001);
    for (const body of receiver.bodies) expect(body).not.toContain(token);
  });
});

describe("tracesUrl", () => {
  it("appends /v1/traces to a collector's base URL and keeps a full traces URL as given", () => {
    expect(tracesUrl("http://collector:4318")).toBe("http://collector:4318/v1/traces");
    expect(tracesUrl("http://collector:4318/")).toBe("http://collector:4318/v1/traces");
    expect(tracesUrl("https://otel.example.com/custom/traces")).toBe(
      "https://otel.example.com/custom/traces",
    );
  });
});
