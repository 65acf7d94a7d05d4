/**
 * The backend handshake over TLS (BackendTLSPolicy, backendTLS, kubernetes.io/wss) on the
 * gateway's own path and on the path before it (Node's `http.request`,
 * test/upstream/node-client-attempt.ts): a verified backend's 101 reads the same, and a
 * failed verification or a port without TLS fails the same way, marked `tlsFailed` (what
 * makes the refusal `backend_tls`). Real TLS servers on port 0.
 */
import net from "node:net";
import tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BackendTls, Endpoint } from "../src/routing/table.js";
import { attemptHandshake, type AttemptOptions } from "../src/dataplane/upstream.js";
import { createTestCa, type TestCa } from "./helpers/test-ca.js";
import { nodeClientAttempt } from "./upstream/node-client-attempt.js";
import { observe, observeNodeClient } from "./upstream/outcomes.js";

const ANSWER =
  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
  "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x02hi";

/** Answers every request head with ANSWER, then ends. */
function answer(socket: net.Socket): void {
  socket.on("error", () => socket.destroy());
  let received = "";
  socket.on("data", (chunk: Buffer) => {
    received += chunk.toString("latin1");
    if (received.includes("\r\n\r\n")) socket.end(ANSWER, "latin1");
  });
}

let ca: TestCa;
let tlsServer: tls.Server;
let plainServer: net.Server;

function endpointOf(server: net.Server): Endpoint {
  const { port } = server.address() as net.AddressInfo;
  return {
    id: `test/tls:443@127.0.0.1:${port}`,
    backend: "test/tls:443",
    address: "127.0.0.1",
    port,
    ready: true,
    terminating: false,
    weight: 1,
  };
}

beforeAll(async () => {
  ca = createTestCa();
  const cert = ca.issue(["chat.apps.svc"]);
  tlsServer = tls.createServer({ cert: cert.certPem, key: cert.keyPem }, answer);
  // A plain HTTP port: it answers the TLS ClientHello as the garbage it is, and closes.
  plainServer = net.createServer((socket) => {
    socket.on("error", () => socket.destroy());
    socket.once("data", () => socket.end("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"));
  });
  tlsServer.listen(0, "127.0.0.1");
  plainServer.listen(0, "127.0.0.1");
  await Promise.all([
    new Promise((resolve) => tlsServer.once("listening", resolve)),
    new Promise((resolve) => plainServer.once("listening", resolve)),
  ]);
});

afterAll(async () => {
  await Promise.all([
    new Promise((resolve) => tlsServer.close(resolve)),
    new Promise((resolve) => plainServer.close(resolve)),
  ]);
});

function options(server: net.Server, backendTls: BackendTls): AttemptOptions {
  return {
    endpoint: endpointOf(server),
    tls: backendTls,
    path: "/chat",
    headers: ["Host", "chat.example", "Connection", "Upgrade", "Upgrade", "websocket"],
    connectTimeoutMs: Infinity,
    handshakeDeadline: Infinity,
  };
}

async function bothPaths(server: net.Server, backendTls: BackendTls) {
  const node = await observeNodeClient(await nodeClientAttempt(options(server, backendTls)));
  const gateway = await observe(await attemptHandshake(options(server, backendTls)));
  return { gateway, node };
}

describe("the backend handshake over TLS", () => {
  it("reads a verified backend's 101 as Node's client did, so that TLS backends relay as before", async () => {
    const { gateway, node } = await bothPaths(tlsServer, { caPem: ca.certPem, hostname: "chat.apps.svc" });
    expect(gateway).toEqual(node);
    expect(gateway).toMatchObject({ kind: "upgraded", stream: "\x81\x02hi" });
  });

  it("fails a certificate for another name as before, marked tlsFailed, so that the refusal stays backend_tls", async () => {
    const { gateway, node } = await bothPaths(tlsServer, { caPem: ca.certPem, hostname: "other.apps.svc" });
    expect(gateway).toEqual(node);
    expect(gateway).toMatchObject({
      kind: "unreachable",
      tlsFailed: true,
      code: "ERR_TLS_CERT_ALTNAME_INVALID",
    });
  });

  it("fails a port that speaks no TLS as before, marked tlsFailed, so that a plain port is never trusted", async () => {
    const { gateway, node } = await bothPaths(plainServer, { caPem: ca.certPem, hostname: "chat.apps.svc" });
    expect(gateway).toEqual(node);
    expect(gateway).toMatchObject({ kind: "unreachable", tlsFailed: true });
  });
});
