/**
 * The edge, tried as an attacker would: request targets and Host headers that once
 * ended the process or reached a backend under another route's authority. Every one is
 * answered with a real status; a backend only ever receives the canonical host and path
 * that were matched and authorised — on the upgrade path and on the plain HTTP path.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { channels, type HandshakeRejected } from "../src/dataplane/events.js";
import {
  AUDIENCE,
  ISSUER,
  jwksOf,
  mint,
  publicAndJwtRoutes,
  signingKey,
  startHttpServer,
  type SigningKey,
  type TestServer,
} from "./helpers/auth.js";
import { startTestGateway, type TestGateway } from "./helpers/gateway.js";
import { serviceWithEndpoints, simpleRoute } from "./helpers/objects.js";
import { getRequest, rawRequest, upgradeRequest } from "./helpers/raw-http.js";
import {
  startGatewayToRecordingBackend,
  startRecordingBackend,
  type RecordingBackend,
} from "./helpers/recording-backend.js";
import { manifestDir, serveArgs, serviceYaml } from "./helpers/standalone.js";

/** Targets that ended the process through the plain-HTTP forwarder (or as an unhandled rejection on auth routes). */
const CRASHERS = ["http://a:b/", "http://256.256.256.256/", "http://[::1/", "http://%zz/"];

describe("no input kills the process", () => {
  let child: ChildProcess | undefined;
  let backend: RecordingBackend | undefined;
  let dir: string | undefined;

  afterEach(async () => {
    child?.kill("SIGKILL");
    await backend?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("refuses absolute-form crashers with 400 on a public and an auth route so that one request cannot end every WebSocket of the replica", async () => {
    backend = await startRecordingBackend();
    const key = await signingKey("ES256");
    dir = manifestDir("crashers");
    const secret = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "keys", namespace: "apps" },
      type: "Opaque",
      data: { "jwks.json": Buffer.from(jwksOf(key)).toString("base64") },
    };
    const route = (name: string, host: string, auth?: unknown): string =>
      JSON.stringify({
        apiVersion: "wsgate.io/v1alpha1",
        kind: "WebSocketRoute",
        metadata: { name, namespace: "apps" },
        spec: {
          hostnames: [host],
          rules: [{ backendRefs: [{ name: "echo", port: 80 }] }],
          ...(auth ? { auth } : {}),
        },
      });
    const jwt = {
      jwt: { issuer: ISSUER, audiences: [AUDIENCE], keys: { secretRef: { name: "keys", key: "jwks.json" } } },
    };
    writeFileSync(
      join(dir, "routes.yaml"),
      [
        serviceYaml("echo", backend.port),
        JSON.stringify(secret),
        route("public", "a", undefined),
        route("secure", "s", jwt),
      ].join("\n---\n"),
    );
    // The built CLI, as a Pod runs it: an uncaught exception would end this process.
    const proc = spawn(process.execPath, ["dist/cli/main.js", "serve", ...serveArgs(dir)], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    child = proc;
    const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
    const listening = await new Promise<{ http: string }>((resolve) => {
      const lines = createInterface({ input: proc.stdout! });
      lines.on("line", (line) => {
        const parsed = JSON.parse(line) as { event?: string; http?: string };
        if (parsed.event === "listening") resolve(parsed as { http: string });
      });
    });
    const port = Number(listening.http.split(":").pop());

    for (const host of ["a", "s"]) {
      for (const target of CRASHERS) {
        expect((await rawRequest(port, getRequest(target, host))).status, `${target} on ${host}`).toBe(400);
        expect(
          (await rawRequest(port, upgradeRequest(target, host))).status,
          `upgrade ${target} on ${host}`,
        ).toBe(400);
      }
    }
    expect(proc.exitCode).toBeNull();
    expect((await rawRequest(port, getRequest("/still-up", "a"))).status).toBe(200);
    expect((await rawRequest(port, getRequest("/", "s"))).status).toBe(401);
    expect(backend.received.map((r) => r.target)).toEqual(["/still-up"]);
    proc.kill("SIGTERM");
    expect(await exited).toBe(0);
  });
});

describe("a route's auth cannot be bypassed by the path", () => {
  let gw: TestGateway;
  let publicBackend: RecordingBackend;
  let secretBackend: RecordingBackend;
  let key: SigningKey;

  beforeEach(async () => {
    publicBackend = await startRecordingBackend();
    secretBackend = await startRecordingBackend();
    key = await signingKey("ES256");
    gw = await startTestGateway();
    gw.apply(publicAndJwtRoutes(publicBackend.port, secretBackend.port, jwksOf(key)));
  });

  afterEach(async () => {
    await gw.close();
    await publicBackend.close();
    await secretBackend.close();
  });

  // Each was matched to the public route `/` while the backend served `/api/...`, or is ambiguous.
  const MATRIX: [target: string, status: number][] = [
    ["/%2e%2e/api/secret", 401],
    ["/%2E%2e/api/secret", 401],
    ["http://chat.example.com/api/secret", 401],
    ["http://other.example.com/api/secret", 400],
    ["/api#x", 400],
    ["/./api", 401],
    ["/public/../api/secret", 401],
    ["/public/..%2fapi", 400],
    ["/public/..%2Fapi/secret", 400],
    ["/public/..\\api", 400],
    ["/public/%2e%2e%5capi", 400],
    ["//api", 401],
    ["//api/secret", 401],
    ["/%61pi/secret", 401],
    ["/public/.%2e/api", 401],
    ["/api%00/secret", 400],
  ];

  for (const [label, send] of [
    ["plain HTTP", getRequest],
    ["upgrade", upgradeRequest],
  ] as const) {
    it.each(MATRIX)(
      `${label}: %s is refused with %i so that the public route's backend never serves /api`,
      async (target, status) => {
        const answer = await rawRequest(gw.port, send(target, "chat.example.com"));
        expect(answer.status).toBe(status);
        expect(publicBackend.received).toEqual([]);
        expect(secretBackend.received).toEqual([]);
      },
    );
  }

  it("sends the authorised request upstream in canonical form on both paths, query unchanged", async () => {
    const token = await mint(key);
    const auth = [`Authorization: Bearer ${token}`];
    const target = "/public/%2e%2e/%61pi//secret/./x%7e?q=%2e%2e/a&b=%2F";
    expect((await rawRequest(gw.port, getRequest(target, "chat.example.com", auth))).status).toBe(200);
    expect((await rawRequest(gw.port, upgradeRequest(target, "chat.example.com", auth))).status).toBe(101);
    expect(secretBackend.received.map((r) => [r.kind, r.target])).toEqual([
      ["http", "/api/secret/x~?q=%2e%2e/a&b=%2F"],
      ["upgrade", "/api/secret/x~?q=%2e%2e/a&b=%2F"],
    ]);
    expect(publicBackend.received).toEqual([]);
  });

  it("logs the canonical path of a refusal, never the query", async () => {
    const events: HandshakeRejected[] = [];
    const onEvent = (m: unknown): void => void events.push(m as HandshakeRejected);
    channels.handshakeRejected.subscribe(onEvent);
    channels.requestRejected.subscribe(onEvent);
    try {
      await rawRequest(gw.port, upgradeRequest("/public/../api/x?token=secret", "chat.example.com"));
      await rawRequest(gw.port, getRequest("/a%zz?token=secret", "chat.example.com"));
    } finally {
      channels.handshakeRejected.unsubscribe(onEvent);
      channels.requestRejected.unsubscribe(onEvent);
    }
    expect(events.map((e) => [e.status, e.reason, e.path])).toEqual([
      [401, "unauthorized", "/api/x"],
      [400, "bad_request", "/a%zz"],
    ]);
  });
});

describe("hosts are canonical and single", () => {
  let gw: TestGateway;
  let chat: RecordingBackend;
  let other: RecordingBackend;

  beforeEach(async () => {
    chat = await startRecordingBackend();
    other = await startRecordingBackend();
    gw = await startTestGateway();
    gw.apply([
      ...serviceWithEndpoints("apps", "chat", [{ port: chat.port }]),
      ...serviceWithEndpoints("apps", "other", [{ port: other.port }]),
      simpleRoute("apps", "chat", "chat", { hostnames: ["chat.example.com"] }),
      simpleRoute("apps", "other", "other"),
    ]);
  });

  afterEach(async () => {
    await gw.close();
    await chat.close();
    await other.close();
  });

  for (const [label, send] of [
    ["plain HTTP", getRequest],
    ["upgrade", upgradeRequest],
  ] as const) {
    it(`${label}: refuses Host laundering with userinfo so that the backend never receives a host other than the one routed`, async () => {
      expect((await rawRequest(gw.port, send("/", "chat.example.com:80@evil.example"))).status).toBe(400);
      expect((await rawRequest(gw.port, send("/", "evil.example@chat.example.com"))).status).toBe(400);
      expect(chat.received.length + other.received.length).toBe(0);
    });

    it(`${label}: refuses a second Host header so that routing and the backend cannot pick different ones`, async () => {
      const request = send("/", "other.example.com", ["Host: chat.example.com"]);
      expect((await rawRequest(gw.port, request)).status).toBe(400);
      expect(chat.received.length + other.received.length).toBe(0);
    });

    it(`${label}: routes by the canonical host and sends it upstream in Host and X-Forwarded-Host`, async () => {
      expect((await rawRequest(gw.port, send("/x", "Chat.EXAMPLE.com.:8080"))).status).toBe(
        label === "upgrade" ? 101 : 200,
      );
      expect(other.received).toEqual([]);
      expect(chat.received).toHaveLength(1);
      const { headers, rawHeaders } = chat.received[0]!;
      expect(headers.host).toBe("chat.example.com:8080");
      expect(headers["x-forwarded-host"]).toBe("chat.example.com:8080");
      expect(rawHeaders.filter((h) => h.toLowerCase() === "host")).toHaveLength(1);
    });
  }
});

describe("an upgrade carrying a body", () => {
  let gw: TestGateway;
  let backend: RecordingBackend;
  let close: () => Promise<void>;

  beforeEach(async () => {
    ({ gw, backend, close } = await startGatewayToRecordingBackend());
  });

  afterEach(() => close());

  it.each([
    ["Content-Length: 5", "hello"],
    ["Transfer-Encoding: chunked", "5\r\nhello\r\n0\r\n\r\n"],
  ])(
    "is refused with 400 (%s) so that the backend never waits for bytes that will not come",
    async (header, body) => {
      const answer = await rawRequest(gw.port, upgradeRequest("/", "chat.example.com", [header]) + body);
      expect(answer.status).toBe(400);
      expect(answer.text).toContain("must not carry a body");
      expect(backend.received).toEqual([]);
    },
  );

  it("still admits an upgrade that says Content-Length: 0", async () => {
    const answer = await rawRequest(gw.port, upgradeRequest("/", "chat.example.com", ["Content-Length: 0"]));
    expect(answer.status).toBe(101);
  });
});

describe("forward auth is told the canonical request", () => {
  let gw: TestGateway;
  let backend: RecordingBackend;
  let authService: TestServer;

  afterEach(async () => {
    await gw.close();
    await backend.close();
    await authService.close();
  });

  it("sends the canonical X-Forwarded-Uri and X-Forwarded-Host, so the service authorises what the backend serves", async () => {
    backend = await startRecordingBackend();
    authService = await startHttpServer((_req, res) => {
      res.writeHead(200);
      res.end();
    });
    gw = await startTestGateway();
    gw.apply([
      ...serviceWithEndpoints("apps", "echo", [{ port: backend.port }]),
      simpleRoute("apps", "echo", "echo", { auth: { forwardAuth: { url: authService.url } } }),
    ]);
    const target = "/public/%2E%2E/api/./x?a=%2e";
    expect((await rawRequest(gw.port, getRequest(target, "Chat.Example.com"))).status).toBe(200);
    expect((await rawRequest(gw.port, upgradeRequest(target, "Chat.Example.com"))).status).toBe(101);
    const told = authService.requests.map((r) => [
      r.headers["x-forwarded-uri"],
      r.headers["x-forwarded-host"],
    ]);
    expect(told).toEqual([
      ["/api/x?a=%2e", "chat.example.com"],
      ["/api/x?a=%2e", "chat.example.com"],
    ]);
    expect(backend.received.map((r) => r.target)).toEqual(["/api/x?a=%2e", "/api/x?a=%2e"]);
  });
});

describe("spec.allowEncodedSlashes", () => {
  let gw: TestGateway;
  let backend: RecordingBackend;

  afterEach(async () => {
    await gw.close();
    await backend.close();
  });

  it("lets an opted-in route serve %2F as a byte of its segment, passed upstream still encoded", async () => {
    backend = await startRecordingBackend();
    gw = await startTestGateway();
    gw.apply([
      ...serviceWithEndpoints("apps", "echo", [{ port: backend.port }]),
      simpleRoute("apps", "files", "echo", { allowEncodedSlashes: true }, "/files"),
      simpleRoute("apps", "other", "echo", {}, "/other"),
    ]);
    const target = "/files/a%2fb/../c%2Fd?x=%2f";
    expect((await rawRequest(gw.port, getRequest(target, "a"))).status).toBe(200);
    expect((await rawRequest(gw.port, upgradeRequest(target, "a"))).status).toBe(101);
    expect(backend.received.map((r) => r.target)).toEqual(["/files/c%2Fd?x=%2f", "/files/c%2Fd?x=%2f"]);
    // The opt-out is per route: another route still refuses it.
    expect((await rawRequest(gw.port, getRequest("/other/a%2Fb", "a"))).status).toBe(400);
    // And it never extends to an encoded backslash.
    expect((await rawRequest(gw.port, getRequest("/files/a%5Cb", "a"))).status).toBe(400);
  });
});

describe("no backend answer kills the process either", () => {
  let gw: TestGateway;
  let backend: net.Server;

  afterEach(async () => {
    await gw.close();
    await new Promise<void>((resolve) => backend.close(() => resolve()));
  });

  it.each(["099 Odd", "999 Odd", "101 Switching Protocols", "600 Beyond"])(
    "answers 502 to a plain request whose backend says %s so that one odd backend cannot end the process",
    async (statusLine) => {
      backend = net.createServer((socket) => {
        socket.on("error", () => {});
        socket.once("data", () => socket.end(`HTTP/1.1 ${statusLine}\r\nContent-Length: 0\r\n\r\n`));
      });
      await new Promise<void>((resolve) => backend.listen(0, "127.0.0.1", resolve));
      gw = await startTestGateway();
      const port = (backend.address() as AddressInfo).port;
      gw.apply([...serviceWithEndpoints("apps", "echo", [{ port }]), simpleRoute("apps", "echo", "echo")]);
      expect((await rawRequest(gw.port, getRequest("/", "a"))).status).toBe(502);
      expect((await rawRequest(gw.port, getRequest("/", "a"))).status).toBe(502);
    },
  );
});
