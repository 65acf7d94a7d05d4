/**
 * TLS to backends (a WebSocketRoute backendRef's `backendTLS`) with real sockets: a real
 * https + WebSocket backend whose certificate a test CA signed, wsgate on port 0, real `ws`
 * clients. The backend must prove who it is before one byte of the request reaches it.
 */
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { parseObject } from "../src/api/parse.js";
import { compile } from "../src/routing/compile.js";
import { ObjectStore, type StoredObject } from "../src/routing/store.js";
import type { HandshakeRejected } from "../src/dataplane/events.js";
import { startEchoBackend, type EchoBackend } from "./helpers/backends.js";
import { connect, expectRefusal, roundTrip, startTestGateway, type TestGateway } from "./helpers/gateway.js";
import { route, serviceWithEndpoints } from "./helpers/objects.js";
import { createTestCa, type TestCa } from "./helpers/test-ca.js";
import { parseManifestText } from "../src/sources/manifests.js";
import { GATEWAY_YAML } from "./helpers/gateway-api.js";

interface TlsBackend {
  readonly port: number;
  /** Requests that reached the backend (an upgrade or plain HTTP): none may, when verification fails. */
  readonly requests: http.IncomingMessage[];
  close(): Promise<void>;
}

/** An https server answering plain requests with 200 and echoing WebSocket messages. */
async function startTlsBackend(cert: { certPem: string; keyPem: string }): Promise<TlsBackend> {
  const requests: http.IncomingMessage[] = [];
  const server = https.createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
    requests.push(req);
    res.writeHead(200, { "Content-Type": "text/plain" });
    res.end(`tls backend saw ${req.url}`);
  });
  const wss = new WebSocketServer({ server });
  wss.on("connection", (socket, req) => {
    requests.push(req);
    socket.on("message", (data, isBinary) => socket.send(data, { binary: isBinary }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    async close() {
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function caSecret(namespace: string, name: string, pem: string, key = "ca.crt"): StoredObject {
  const result = parseObject({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { namespace, name },
    type: "Opaque",
    data: { [key]: Buffer.from(pem).toString("base64") },
  });
  if (result.outcome !== "ok") throw new Error(`test Secret invalid: ${JSON.stringify(result)}`);
  return result.object;
}

/** A route to Service apps/chat port 80 whose backendRef asks for TLS as `backendTLS` says. */
function tlsRoute(backendTLS: Record<string, unknown>): StoredObject {
  return route("apps", "chat", { rules: [{ backendRefs: [{ name: "chat", port: 80, backendTLS }] }] });
}

const BY_SECRET = { caCertificateRefs: [{ kind: "Secret", name: "chat-ca" }], hostname: "chat.apps.svc" };

/** Plain HTTP GET through the gateway. */
function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on("error", reject);
  });
}

let ca: TestCa;
let otherCa: TestCa;
let gw: TestGateway;
let backend: TlsBackend | undefined;
const rejections: HandshakeRejected[] = [];
const onRejected = (event: unknown): void => void rejections.push(event as HandshakeRejected);

beforeAll(() => {
  ca = createTestCa("wsgate test CA");
  otherCa = createTestCa("someone else's CA");
});

beforeEach(async () => {
  rejections.length = 0;
  subscribe("wsgate:handshake:rejected", onRejected);
  subscribe("wsgate:request:rejected", onRejected);
  gw = await startTestGateway();
});

afterEach(async () => {
  unsubscribe("wsgate:handshake:rejected", onRejected);
  unsubscribe("wsgate:request:rejected", onRejected);
  await gw.close();
  await backend?.close();
  backend = undefined;
});

async function serve(cert: { certPem: string; keyPem: string }, backendTLS: Record<string, unknown>) {
  backend = await startTlsBackend(cert);
  gw.apply([
    ...serviceWithEndpoints("apps", "chat", [{ port: backend.port }]),
    caSecret("apps", "chat-ca", ca.certPem),
    tlsRoute(backendTLS),
  ]);
}

describe("backendTLS on a WebSocketRoute backendRef", () => {
  it("relays WebSocket messages and plain HTTP to a backend whose certificate the referenced CA signed for the hostname", async () => {
    await serve(ca.issue(["chat.apps.svc"]), BY_SECRET);
    const ws = await connect(gw.url("/room"));
    try {
      expect((await roundTrip(ws, "hello over TLS")).data.toString()).toBe("hello over TLS");
    } finally {
      ws.terminate();
    }
    const plain = await get(gw.port, "/page");
    expect(plain).toEqual({ status: 200, body: "tls backend saw /page" });
    expect(rejections).toEqual([]);
  });

  it("refuses a backend whose certificate names another host (502 backend_tls), so that a wrong pod never gets the request", async () => {
    await serve(ca.issue(["billing.apps.svc"]), BY_SECRET);
    const refused = await expectRefusal(gw.url("/room"));
    expect(refused.status).toBe(502);
    const plain = await get(gw.port, "/page");
    expect(plain.status).toBe(502);
    expect(rejections.map((r) => r.reason)).toEqual(["backend_tls", "backend_tls"]);
    expect(backend?.requests).toEqual([]);
  });

  it("refuses a backend whose certificate an untrusted CA signed (502 backend_tls), so that an impostor with a valid-looking name is not trusted", async () => {
    await serve(otherCa.issue(["chat.apps.svc"]), BY_SECRET);
    const refused = await expectRefusal(gw.url("/room"));
    expect(refused.status).toBe(502);
    expect((await get(gw.port, "/page")).status).toBe(502);
    expect(rejections.map((r) => r.reason)).toEqual(["backend_tls", "backend_tls"]);
    expect(rejections[0]?.detail).toMatch(/certificate|verify/i);
    expect(backend?.requests).toEqual([]);
  });

  it("accepts a certificate carrying one of subjectAltNames instead of the hostname (URI, as a SPIFFE ID)", async () => {
    const spiffe = "spiffe://cluster.local/ns/apps/sa/chat";
    await serve(ca.issue(["pod-7.internal"], [spiffe]), {
      ...BY_SECRET,
      subjectAltNames: [{ type: "URI", uri: spiffe }],
    });
    const ws = await connect(gw.url("/"));
    try {
      expect((await roundTrip(ws, "by SAN")).data.toString()).toBe("by SAN");
    } finally {
      ws.terminate();
    }
  });

  it("refuses a certificate that carries the hostname but none of subjectAltNames, so that SANs narrow who is trusted", async () => {
    await serve(ca.issue(["chat.apps.svc"]), {
      ...BY_SECRET,
      subjectAltNames: [{ type: "URI", uri: "spiffe://cluster.local/ns/apps/sa/chat" }],
    });
    expect((await expectRefusal(gw.url("/"))).status).toBe(502);
    expect(rejections.map((r) => r.reason)).toEqual(["backend_tls"]);
  });

  it("refuses to fall back to plain text when the backend port speaks no TLS (502 backend_tls)", async () => {
    const plainBackend: EchoBackend = await startEchoBackend();
    try {
      gw.apply([
        ...serviceWithEndpoints("apps", "chat", [{ port: plainBackend.port }]),
        caSecret("apps", "chat-ca", ca.certPem),
        tlsRoute(BY_SECRET),
      ]);
      expect((await expectRefusal(gw.url("/"))).status).toBe(502);
      expect(rejections.map((r) => r.reason)).toEqual(["backend_tls"]);
      expect(plainBackend.requests).toEqual([]);
    } finally {
      await plainBackend.close();
    }
  });
});

describe("backendTLS references", () => {
  function compiled(objects: StoredObject[]) {
    const store = new ObjectStore();
    store.replaceAll(objects);
    return compile(store.snapshot(), { ingressClass: "wsgate", generation: 1 });
  }

  it("leaves out a backend whose CA Secret is missing (ResolvedRefs=False InvalidCACertificateRef) instead of speaking plain text to it", () => {
    const result = compiled([...serviceWithEndpoints("apps", "chat", [{ port: 8443 }]), tlsRoute(BY_SECRET)]);
    const diag = result.diagnostics.find((d) => d.name === "chat");
    expect(diag?.conditions.find((c) => c.type === "ResolvedRefs")).toMatchObject({
      status: "False",
      reason: "InvalidCACertificateRef",
      message: expect.stringContaining("Secret apps/chat-ca not found"),
    });
    expect(result.table.routes.flatMap((r) => r.rules.flatMap((rule) => rule.backends))).toEqual([]);
  });

  it("refuses a CA Secret whose ca.crt holds no certificate (NoValidCACertificate)", () => {
    const result = compiled([
      ...serviceWithEndpoints("apps", "chat", [{ port: 8443 }]),
      caSecret("apps", "chat-ca", "not a certificate"),
      tlsRoute(BY_SECRET),
    ]);
    const resolved = result.diagnostics
      .find((d) => d.name === "chat")
      ?.conditions.find((c) => c.type === "ResolvedRefs");
    expect(resolved).toMatchObject({ status: "False", reason: "NoValidCACertificate" });
  });

  it("compiles the CA bundle, SNI hostname and subjectAltNames into the backend as plain data (it crosses to workers)", () => {
    const result = compiled([
      ...serviceWithEndpoints("apps", "chat", [{ port: 8443 }]),
      caSecret("apps", "chat-ca", ca.certPem),
      tlsRoute({ ...BY_SECRET, subjectAltNames: [{ type: "Hostname", hostname: "chat.apps.svc" }] }),
    ]);
    const tls = result.table.routes[0]?.rules[0]?.backends[0]?.tls;
    expect(tls).toEqual({
      hostname: "chat.apps.svc",
      subjectAltNames: [{ type: "Hostname", hostname: "chat.apps.svc" }],
      caPem: ca.certPem.trim(),
    });
    expect(structuredClone(tls)).toEqual(tls);
  });
});

/** A BackendTLSPolicy (gateway.networking.k8s.io/v1) for Service apps/chat (or one port of it). */
function policy(
  name: string,
  validation: Record<string, unknown>,
  sectionName?: string,
  createdAt?: string,
): StoredObject {
  const result = parseObject({
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "BackendTLSPolicy",
    metadata: { namespace: "apps", name, ...(createdAt ? { creationTimestamp: createdAt } : {}) },
    spec: {
      targetRefs: [{ group: "", kind: "Service", name: "chat", ...(sectionName ? { sectionName } : {}) }],
      validation,
    },
  });
  if (result.outcome !== "ok") throw new Error(`test policy invalid: ${JSON.stringify(result)}`);
  return result.object;
}

const SECRET_CA = {
  caCertificateRefs: [{ group: "", kind: "Secret", name: "chat-ca" }],
  hostname: "chat.apps.svc",
};

describe("BackendTLSPolicy and appProtocol kubernetes.io/wss", () => {
  it("applies a BackendTLSPolicy on the Service port to a WebSocketRoute backend: 101 with the right certificate, 502 backend_tls with a wrong name", async () => {
    backend = await startTlsBackend(ca.issue(["chat.apps.svc"]));
    const base = [
      ...serviceWithEndpoints("apps", "chat", [{ port: backend.port }]),
      caSecret("apps", "chat-ca", ca.certPem),
      route("apps", "chat", { rules: [{ backendRefs: [{ name: "chat", port: 80 }] }] }),
    ];
    gw.apply([...base, policy("chat-tls", SECRET_CA, "ws")]);
    const ws = await connect(gw.url("/"));
    try {
      expect((await roundTrip(ws, "policy")).data.toString()).toBe("policy");
    } finally {
      ws.terminate();
    }
    gw.apply([...base, policy("chat-tls", { ...SECRET_CA, hostname: "billing.apps.svc" }, "ws")]);
    expect((await expectRefusal(gw.url("/"))).status).toBe(502);
    expect(rejections.map((r) => r.reason)).toEqual(["backend_tls"]);
  });

  it("refuses plain text to an appProtocol kubernetes.io/wss port: TLS with the system CAs, so a test CA's certificate is not trusted (502 backend_tls)", async () => {
    backend = await startTlsBackend(ca.issue(["chat.apps.svc"]));
    const [service, ...slices] = serviceWithEndpoints("apps", "chat", [{ port: backend.port }]);
    const wss = parseObject({
      ...(service as object),
      spec: { ports: [{ name: "ws", port: 80, appProtocol: "kubernetes.io/wss" }] },
    });
    if (wss.outcome !== "ok") throw new Error("test Service invalid");
    const table = gw.apply([
      wss.object,
      ...slices,
      route("apps", "chat", { rules: [{ backendRefs: [{ name: "chat", port: 80 }] }] }),
    ]);
    expect(table.routes[0]?.rules[0]?.backends[0]?.tls).toEqual({ hostname: "chat.apps.svc" });
    expect((await expectRefusal(gw.url("/"))).status).toBe(502);
    expect(rejections.map((r) => r.reason)).toEqual(["backend_tls"]);
    expect(backend.requests).toEqual([]);
  });

  it("lets the older of two policies on one port hold it, and a port's policy win over the whole Service's", () => {
    const store = new ObjectStore();
    store.replaceAll([
      ...serviceWithEndpoints("apps", "chat", [{ port: 8443 }]),
      caSecret("apps", "chat-ca", ca.certPem),
      route("apps", "chat", { rules: [{ backendRefs: [{ name: "chat", port: 80 }] }] }),
      policy(
        "whole-service",
        { ...SECRET_CA, hostname: "service.apps.svc" },
        undefined,
        "2026-01-01T00:00:00Z",
      ),
      policy("newer-port", { ...SECRET_CA, hostname: "newer.apps.svc" }, "ws", "2026-03-01T00:00:00Z"),
      policy("older-port", { ...SECRET_CA, hostname: "older.apps.svc" }, "ws", "2026-02-01T00:00:00Z"),
    ]);
    const { table } = compile(store.snapshot(), { ingressClass: "wsgate", generation: 1 });
    expect(table.routes[0]?.rules[0]?.backends[0]?.tls?.hostname).toBe("older.apps.svc");
  });

  it("applies a BackendTLSPolicy to an HTTPRoute's backend too", () => {
    const { objects, errors } = parseManifestText(`${GATEWAY_YAML}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: chat, namespace: apps }
spec:
  parentRefs: [{ name: web }]
  rules: [{ backendRefs: [{ name: chat, port: 80 }] }]
`);
    expect(errors).toEqual([]);
    const store = new ObjectStore();
    store.replaceAll([
      ...objects,
      ...serviceWithEndpoints("apps", "chat", [{ port: 8443 }]),
      caSecret("apps", "chat-ca", ca.certPem),
      policy("chat-tls", SECRET_CA),
    ]);
    const { table } = compile(store.snapshot(), { ingressClass: "wsgate", generation: 1 });
    const backends = table.routes.flatMap((r) => r.rules.flatMap((rule) => rule.backends));
    expect(backends.map((b) => [b.key, b.tls?.hostname, b.tls?.caPem])).toEqual([
      ["apps/chat:80", "chat.apps.svc", ca.certPem.trim()],
    ]);
  });
});

describe("CA bundles in ConfigMaps", () => {
  function caConfigMap(pem: string): StoredObject {
    const result = parseObject({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { namespace: "apps", name: "chat-ca" },
      data: { "ca.crt": pem },
    });
    if (result.outcome !== "ok") throw new Error(`test ConfigMap invalid: ${JSON.stringify(result)}`);
    return result.object;
  }

  it("trusts the ca.crt of a ConfigMap a BackendTLSPolicy names (101), and leaves the backend out while the ConfigMap is missing", async () => {
    backend = await startTlsBackend(ca.issue(["chat.apps.svc"]));
    const base = [
      ...serviceWithEndpoints("apps", "chat", [{ port: backend.port }]),
      route("apps", "chat", { rules: [{ backendRefs: [{ name: "chat", port: 80 }] }] }),
      policy("chat-tls", {
        caCertificateRefs: [{ group: "", kind: "ConfigMap", name: "chat-ca" }],
        hostname: "chat.apps.svc",
      }),
    ];
    gw.apply([...base, caConfigMap(ca.certPem)]);
    const ws = await connect(gw.url("/"));
    try {
      expect((await roundTrip(ws, "configmap")).data.toString()).toBe("configmap");
    } finally {
      ws.terminate();
    }
    const table = gw.apply(base);
    expect(table.routes[0]?.rules[0]?.backends).toEqual([]);
    expect((await expectRefusal(gw.url("/"))).status).toBe(503);
    expect(backend.requests).toHaveLength(1);
  });

  it("refuses a policy's CA ref of another kind (the backend is left out, never plain text)", () => {
    const store = new ObjectStore();
    store.replaceAll([
      ...serviceWithEndpoints("apps", "chat", [{ port: 8443 }]),
      route("apps", "chat", { rules: [{ backendRefs: [{ name: "chat", port: 80 }] }] }),
      policy("chat-tls", {
        caCertificateRefs: [{ group: "cert-manager.io", kind: "Certificate", name: "chat-ca" }],
        hostname: "chat.apps.svc",
      }),
    ]);
    const result = compile(store.snapshot(), { ingressClass: "wsgate", generation: 1 });
    expect(result.table.routes[0]?.rules[0]?.backends).toEqual([]);
    const resolved = result.diagnostics[0]?.conditions.find((c) => c.type === "ResolvedRefs");
    expect(resolved).toMatchObject({ status: "False", message: expect.stringContaining("Certificate") });
  });
});
