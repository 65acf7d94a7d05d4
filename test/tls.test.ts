/**
 * TLS termination with real sockets: certificates from kubernetes.io/tls Secrets
 * chosen by SNI, the default certificate, rotation without a restart, certificate
 * problems as conditions, 421 on Host/SNI mismatch, and TLS ≥ 1.2.
 */
import diagnostics_channel from "node:diagnostics_channel";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import WebSocket, { type ClientOptions } from "ws";
import type { RunningGateway } from "../src/cli/serve.js";
import { parseServeConfig } from "../src/config/config.js";
import { channels, type HandshakeRejected } from "../src/dataplane/events.js";
import { Gateway } from "../src/dataplane/gateway.js";
import { compile } from "../src/routing/compile.js";
import { TableHolder } from "../src/routing/holder.js";
import { Recompiler } from "../src/routing/recompiler.js";
import { ObjectStore, type StoredObject } from "../src/routing/store.js";
import type { RouteDiagnostics } from "../src/routing/table.js";
import { chooseCertificate, type TlsContexts } from "../src/tls/contexts.js";
import { tlsChannels, type TlsNoCertificate } from "../src/tls/events.js";
import { createHttpsServer } from "../src/tls/server.js";
import { startEchoBackend, type EchoBackend } from "./helpers/backends.js";
import { startStandalone } from "./helpers/standalone.js";
import { selfSigned, tlsSecret, type TestCertificate } from "./helpers/certs.js";
import { closeClient, roundTrip } from "./helpers/gateway.js";
import { route, serviceWithEndpoints } from "./helpers/objects.js";

interface TlsGateway {
  readonly store: ObjectStore;
  readonly holder: TableHolder;
  readonly contexts: TlsContexts;
  readonly port: number;
  apply(objects: readonly StoredObject[]): void;
  close(): Promise<void>;
}

/** Store → recompiler → holder → gateway → the HTTPS listener of `wsgate serve`, on port 0. */
async function startTlsGateway(defaultTlsSecret?: string): Promise<TlsGateway> {
  const store = new ObjectStore();
  const holder = new TableHolder();
  const recompiler = new Recompiler(store, holder, {
    ingressClass: "wsgate",
    ...(defaultTlsSecret ? { defaultTlsSecret } : {}),
  });
  const gateway = new Gateway({ tables: holder });
  const { server, contexts } = createHttpsServer({ tables: holder, onPublish: (l) => holder.onPublish(l) });
  gateway.attach(server, "https");
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    store,
    holder,
    contexts,
    port: (server.address() as AddressInfo).port,
    apply(objects) {
      store.replaceAll(objects);
      recompiler.compileNow();
    },
    async close() {
      recompiler.stop();
      gateway.destroyAll();
      await gateway.connections.whenEmpty();
      gateway.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface Handshake {
  readonly fingerprint?: string;
  readonly protocol?: string | null;
  readonly alpn?: string | false | null;
  readonly error?: NodeJS.ErrnoException;
}

/** A bare TLS handshake; resolves with the certificate the gateway chose, or the error. */
function handshake(port: number, options: tls.ConnectionOptions = {}): Promise<Handshake> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false, ...options }, () => {
      const result = {
        fingerprint: socket.getPeerCertificate().fingerprint256,
        protocol: socket.getProtocol(),
        alpn: socket.alpnProtocol,
      };
      socket.end();
      resolve(result);
    });
    socket.once("error", (error: NodeJS.ErrnoException) => resolve({ error }));
  });
}

/** ws passes TLS options such as `servername` on to https.request; its types do not list them. */
function wssOptions(servername: string, host: string): ClientOptions {
  const options: ClientOptions & tls.ConnectionOptions = {
    servername,
    headers: { Host: host },
    rejectUnauthorized: false,
  };
  return options;
}

/** Opens a wss connection with SNI `host` (Host header too, unless `hostHeader` differs). */
function connectWss(port: number, host: string, path = "/", hostHeader = host): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`wss://127.0.0.1:${port}${path}`, wssOptions(host, hostHeader));
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
    ws.once("unexpected-response", (_req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
  });
}

/** The certificate a live wss connection was made with. */
function peerFingerprint(ws: WebSocket): string {
  return ((ws as unknown as { _socket: tls.TLSSocket })._socket.getPeerCertificate() as tls.PeerCertificate)
    .fingerprint256;
}

/** A plain HTTPS GET with SNI `servername` and a Host header. */
function httpsGet(port: number, servername: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: "127.0.0.1",
        port,
        path: "/page",
        servername,
        headers: { Host: host },
        rejectUnauthorized: false,
        agent: false,
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.once("error", reject);
    req.end();
  });
}

/** Next event on a diagnostics channel. */
function nextEvent<T>(channel: diagnostics_channel.Channel): Promise<T> {
  return new Promise((resolve) => {
    const handler = (m: unknown): void => {
      channel.unsubscribe(handler);
      resolve(m as T);
    };
    channel.subscribe(handler);
  });
}

function resolvedRefs(diagnostics: readonly RouteDiagnostics[], name: string): string {
  const c = diagnostics.find((d) => d.name === name)?.conditions.find((c) => c.type === "ResolvedRefs");
  return `${c?.status}/${c?.reason}`;
}

let chatCert: TestCertificate;
let wildCert: TestCertificate;
let deepWildCert: TestCertificate;
let defaultCert: TestCertificate;
let rotatedCert: TestCertificate;

beforeAll(() => {
  chatCert = selfSigned("chat.example.com");
  wildCert = selfSigned("*.example.com");
  deepWildCert = selfSigned("*.eu.example.com");
  defaultCert = selfSigned("default.wsgate.test");
  rotatedCert = selfSigned("chat.example.com");
});

let backend: EchoBackend;
let gw: TlsGateway;

beforeEach(async () => {
  backend = await startEchoBackend();
});

afterEach(async () => {
  await gw?.close();
  await backend.close();
});

function backendObjects(): StoredObject[] {
  return serviceWithEndpoints("apps", "echo", [{ port: backend.port }]);
}

function tlsRoute(name: string, hostnames: string[], secretName: string): StoredObject {
  return route("apps", name, {
    hostnames,
    tls: { secretName },
    rules: [{ backendRefs: [{ name: "echo", port: 80 }] }],
  });
}

describe("certificate choice by SNI", () => {
  beforeEach(async () => {
    gw = await startTlsGateway("wsgate-system/default-tls");
    gw.apply([
      ...backendObjects(),
      tlsRoute("chat", ["chat.example.com"], "chat-tls"),
      tlsRoute("wild", ["*.example.com"], "wild-tls"),
      tlsRoute("eu", ["*.eu.example.com"], "eu-tls"),
      tlsSecret("apps", "chat-tls", chatCert),
      tlsSecret("apps", "wild-tls", wildCert),
      tlsSecret("apps", "eu-tls", deepWildCert),
      tlsSecret("wsgate-system", "default-tls", defaultCert),
    ]);
  });

  it("serves the exact hostname's certificate, with TLS ≥ 1.2 and ALPN http/1.1", async () => {
    const result = await handshake(gw.port, { servername: "chat.example.com", ALPNProtocols: ["http/1.1"] });
    expect(result.fingerprint).toBe(chatCert.fingerprint);
    expect(result.protocol).toMatch(/^TLSv1\.[23]$/);
    expect(result.alpn).toBe("http/1.1");
    // Case and a trailing dot do not matter.
    expect((await handshake(gw.port, { servername: "CHAT.example.com." })).fingerprint).toBe(
      chatCert.fingerprint,
    );
  });

  it("serves the most specific wildcard, at any depth", async () => {
    expect((await handshake(gw.port, { servername: "api.example.com" })).fingerprint).toBe(
      wildCert.fingerprint,
    );
    expect((await handshake(gw.port, { servername: "a.b.example.com" })).fingerprint).toBe(
      wildCert.fingerprint,
    );
    expect((await handshake(gw.port, { servername: "paris.eu.example.com" })).fingerprint).toBe(
      deepWildCert.fingerprint,
    );
    expect((await handshake(gw.port, { servername: "x.paris.eu.example.com" })).fingerprint).toBe(
      deepWildCert.fingerprint,
    );
  });

  it("serves the default certificate for an unknown SNI name and for no SNI", async () => {
    expect((await handshake(gw.port, { servername: "other.test" })).fingerprint).toBe(
      defaultCert.fingerprint,
    );
    // A wildcard never covers the bare domain.
    expect((await handshake(gw.port, { servername: "example.com" })).fingerprint).toBe(
      defaultCert.fingerprint,
    );
    // An IP address as host: Node sends no SNI.
    expect((await handshake(gw.port)).fingerprint).toBe(defaultCert.fingerprint);
  });

  it("relays wss end to end and tells the backend X-Forwarded-Proto: https", async () => {
    const ws = await connectWss(gw.port, "chat.example.com");
    expect((await roundTrip(ws, "over tls")).data.toString()).toBe("over tls");
    expect(backend.requests.at(-1)?.headers["x-forwarded-proto"]).toBe("https");
    await closeClient(ws);
  });

  it("refuses TLS 1.1 clients with a protocol_version alert", async () => {
    const result = await handshake(gw.port, {
      servername: "chat.example.com",
      minVersion: "TLSv1.1",
      maxVersion: "TLSv1.1",
      // OpenSSL 3 clients refuse TLS 1.1 themselves unless the security level allows it.
      ciphers: "DEFAULT@SECLEVEL=0",
    });
    expect(result.fingerprint).toBeUndefined();
    expect(result.error?.code).toBe("ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION");
  });
});

describe("chooseCertificate", () => {
  it("picks exact, then the longest wildcard, then the default", () => {
    const table = compile(
      {
        routes: [
          tlsRoute("chat", ["chat.example.com"], "chat-tls"),
          tlsRoute("wild", ["*.example.com"], "wild-tls"),
        ] as never,
        services: [],
        endpointSlices: [],
        secrets: [tlsSecret("apps", "chat-tls", chatCert), tlsSecret("apps", "wild-tls", wildCert)] as never,
      },
      { ingressClass: "wsgate", generation: 1 },
    ).table;
    expect(chooseCertificate(table, "chat.example.com")?.choice).toBe("exact");
    expect(chooseCertificate(table, "x.chat.example.com")?.choice).toBe("wildcard");
    expect(chooseCertificate(table, "example.com")).toBeUndefined();
    expect(chooseCertificate(table, undefined)).toBeUndefined();
  });
});

describe("rotation and certificate problems", () => {
  it("serves a rotated Secret to new handshakes while an open wss connection keeps working", async () => {
    gw = await startTlsGateway();
    const objects = [...backendObjects(), tlsRoute("chat", ["chat.example.com"], "chat-tls")];
    gw.apply([...objects, tlsSecret("apps", "chat-tls", chatCert)]);
    const before = gw.contexts.contextFor("chat.example.com");
    const open = await connectWss(gw.port, "chat.example.com");
    expect(peerFingerprint(open)).toBe(chatCert.fingerprint);

    // An unrelated change republishes the table: the unchanged Secret keeps its context.
    gw.apply([
      ...objects,
      tlsSecret("apps", "chat-tls", chatCert),
      tlsRoute("more", ["more.example.com"], "chat-tls"),
    ]);
    expect(gw.contexts.contextFor("chat.example.com")).toBe(before);

    gw.apply([...objects, tlsSecret("apps", "chat-tls", rotatedCert)]);
    expect(gw.contexts.contextFor("chat.example.com")).not.toBe(before);
    expect(gw.contexts.cachedContexts).toBe(1);

    const fresh = await connectWss(gw.port, "chat.example.com");
    expect(peerFingerprint(fresh)).toBe(rotatedCert.fingerprint);
    expect((await roundTrip(fresh, "new")).data.toString()).toBe("new");
    // The established connection was not touched by the swap.
    expect(peerFingerprint(open)).toBe(chatCert.fingerprint);
    expect((await roundTrip(open, "still here")).data.toString()).toBe("still here");
    await closeClient(open);
    await closeClient(fresh);
  });

  it("a missing Secret: ResolvedRefs=False/SecretNotFound, the host gets the default certificate", async () => {
    gw = await startTlsGateway("wsgate-system/default-tls");
    gw.apply([
      ...backendObjects(),
      tlsRoute("chat", ["chat.example.com"], "chat-tls"),
      tlsSecret("wsgate-system", "default-tls", defaultCert),
    ]);
    expect(resolvedRefs(gw.holder.diagnostics, "chat")).toBe("False/SecretNotFound");
    expect((await handshake(gw.port, { servername: "chat.example.com" })).fingerprint).toBe(
      defaultCert.fingerprint,
    );
    // The route is still served, over the default certificate.
    const ws = await connectWss(gw.port, "chat.example.com");
    expect((await roundTrip(ws, "ok")).data.toString()).toBe("ok");
    await closeClient(ws);
  });

  it("an invalid certificate: ResolvedRefs=False/InvalidCertificate, the host gets the default certificate", async () => {
    gw = await startTlsGateway("wsgate-system/default-tls");
    const notMatching = { certPem: chatCert.certPem, keyPem: rotatedCert.keyPem };
    gw.apply([
      ...backendObjects(),
      tlsRoute("chat", ["chat.example.com"], "chat-tls"),
      tlsRoute("junk", ["junk.example.com"], "junk-tls"),
      tlsSecret("apps", "chat-tls", notMatching),
      tlsSecret("apps", "junk-tls", {
        data: { "tls.crt": Buffer.from("not a certificate").toString("base64") },
      }),
      tlsSecret("wsgate-system", "default-tls", defaultCert),
    ]);
    expect(resolvedRefs(gw.holder.diagnostics, "chat")).toBe("False/InvalidCertificate");
    expect(resolvedRefs(gw.holder.diagnostics, "junk")).toBe("False/InvalidCertificate");
    expect((await handshake(gw.port, { servername: "chat.example.com" })).fingerprint).toBe(
      defaultCert.fingerprint,
    );
    expect((await handshake(gw.port, { servername: "junk.example.com" })).fingerprint).toBe(
      defaultCert.fingerprint,
    );
  });

  it("a missing default Secret is reported by compile and nothing is served for unknown names", () => {
    const result = compile(
      { routes: [], services: [], endpointSlices: [], secrets: [] },
      { ingressClass: "wsgate", generation: 1, defaultTlsSecret: "wsgate-system/nope" },
    );
    expect(result.table.defaultCertificate).toBeUndefined();
    expect(result.defaultTlsProblem).toBe("default TLS Secret wsgate-system/nope not found");
  });

  it("with no certificate at all the listener starts, handshakes fail with an alert, and it is reported once", async () => {
    gw = await startTlsGateway();
    gw.apply(backendObjects());
    const reported: TlsNoCertificate[] = [];
    const onReport = (m: unknown): void => void reported.push(m as TlsNoCertificate);
    tlsChannels.noCertificate.subscribe(onReport);
    try {
      const withSni = await handshake(gw.port, { servername: "chat.example.com" });
      expect(withSni.error?.code).toBe("ERR_SSL_SSL/TLS_ALERT_HANDSHAKE_FAILURE");
      const withoutSni = await handshake(gw.port);
      expect(withoutSni.error?.code).toBe("ERR_SSL_SSL/TLS_ALERT_HANDSHAKE_FAILURE");
      await handshake(gw.port, { servername: "again.example.com" });
      expect(reported).toEqual([{ servername: "chat.example.com", generation: 1, noneAtAll: true }]);
    } finally {
      tlsChannels.noCertificate.unsubscribe(onReport);
    }
    // A certificate arriving later is served without a restart.
    gw.apply([
      ...backendObjects(),
      tlsRoute("chat", ["chat.example.com"], "chat-tls"),
      tlsSecret("apps", "chat-tls", chatCert),
    ]);
    expect((await handshake(gw.port, { servername: "chat.example.com" })).fingerprint).toBe(
      chatCert.fingerprint,
    );
  });
});

describe("Host and SNI must agree", () => {
  beforeEach(async () => {
    gw = await startTlsGateway();
    gw.apply([
      ...backendObjects(),
      tlsRoute("chat", ["chat.example.com"], "chat-tls"),
      tlsRoute("wild", ["*.example.com"], "wild-tls"),
      tlsSecret("apps", "chat-tls", chatCert),
      tlsSecret("apps", "wild-tls", wildCert),
    ]);
  });

  it("answers 421 to a WebSocket upgrade whose Host is not the SNI name, and counts it as misdirected", async () => {
    const rejected = nextEvent<HandshakeRejected>(channels.handshakeRejected);
    const refusal = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const ws = new WebSocket(
        `wss://127.0.0.1:${gw.port}/`,
        wssOptions("api.example.com", "chat.example.com"),
      );
      ws.once("open", () => reject(new Error("handshake unexpectedly succeeded")));
      ws.once("error", reject);
      ws.once("unexpected-response", (_req, res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
    });
    expect(refusal.status).toBe(421);
    expect(refusal.body).toMatch(
      /Host chat\.example\.com does not match the TLS server name api\.example\.com/,
    );
    expect(await rejected).toMatchObject({ status: 421, reason: "misdirected" });
    expect(backend.requests).toHaveLength(0);
  });

  it("answers 421 to a plain HTTPS request whose Host is not the SNI name", async () => {
    const response = await httpsGet(gw.port, "api.example.com", "chat.example.com");
    expect(response.status).toBe(421);
  });

  it("accepts a Host with a port or in another case", async () => {
    const ws = await connectWss(gw.port, "chat.example.com", "/", `CHAT.example.com:${gw.port}`);
    await closeClient(ws);
    expect((await httpsGet(gw.port, "chat.example.com", "chat.example.com:443")).status).toBe(200);
  });
});

describe("wsgate serve with --https-listen and --default-tls-secret", () => {
  let dir: string;
  let running: RunningGateway;

  function secretYaml(cert: TestCertificate): string {
    return `apiVersion: v1
kind: Secret
metadata: { name: default-tls, namespace: wsgate-system }
type: kubernetes.io/tls
data:
  tls.crt: ${Buffer.from(cert.certPem).toString("base64")}
  tls.key: ${Buffer.from(cert.keyPem).toString("base64")}
`;
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "wsgate-tls-"));
    writeFileSync(join(dir, "default-tls.yaml"), secretYaml(defaultCert));
    running = await startStandalone(dir, ["--default-tls-secret", "wsgate-system/default-tls"]);
  });

  afterAll(async () => {
    await running.stop(0);
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves the default Secret and a rotation of its file, without a restart", async () => {
    const port = running.httpsAddress.port;
    expect((await handshake(port)).fingerprint).toBe(defaultCert.fingerprint);
    const next = running.holder.current.generation + 1;
    const tmp = join(dir, ".default-tls.yaml.tmp");
    writeFileSync(tmp, secretYaml(rotatedCert));
    renameSync(tmp, join(dir, "default-tls.yaml"));
    await running.holder.waitForGeneration(next);
    expect((await handshake(port)).fingerprint).toBe(rotatedCert.fingerprint);
    expect((await handshake(port, { servername: "anything.test" })).fingerprint).toBe(
      rotatedCert.fingerprint,
    );
  });

  it("rejects a malformed --default-tls-secret and defaults --https-listen to 0.0.0.0:8443", () => {
    expect(() => parseServeConfig(["--manifests", "/m", "--default-tls-secret", "no-slash"], {})).toThrow(
      /--default-tls-secret: must be NAMESPACE\/NAME/,
    );
    expect(parseServeConfig(["--manifests", "/m"], {}).httpsListen).toEqual({ host: "0.0.0.0", port: 8443 });
    expect(parseServeConfig(["--manifests", "/m"], { WSGATE_HTTPS_LISTEN: ":9443" }).httpsListen).toEqual({
      host: "0.0.0.0",
      port: 9443,
    });
  });
});
