/**
 * Hop-by-hop hygiene (RFC 9110 §7.6.1): headers that describe the client's connection to
 * wsgate — `Connection` and every header it lists, `Keep-Alive`, `TE`, `Trailer`,
 * `Proxy-Connection`, `Proxy-Authorization`, `Upgrade` on a plain request — never reach a
 * backend, on the plain HTTP path exactly as on the upgrade path (one list, one function).
 * A chunked body is re-framed, never passed unframed.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "./helpers/gateway.js";
import { serviceWithEndpoints, simpleRoute } from "./helpers/objects.js";
import { getRequest, rawRequest, upgradeRequest } from "./helpers/raw-http.js";
import { startGatewayToRecordingBackend, type RecordingBackend } from "./helpers/recording-backend.js";

const HOP_BY_HOP = [
  "Keep-Alive: timeout=600",
  "TE: trailers",
  "Trailer: X-Checksum",
  "Proxy-Connection: keep-alive",
  "Proxy-Authorization: Basic cHJveHk6c2VjcmV0",
  "X-Listed: drop me",
  "X-Also-Listed: drop me too",
  "X-Kept: keep me",
];

const DROPPED = [
  "keep-alive",
  "te",
  "trailer",
  "proxy-connection",
  "proxy-authorization",
  "x-listed",
  "x-also-listed",
];

describe("hop-by-hop headers", () => {
  let gw: TestGateway;
  let backend: RecordingBackend;
  let close: () => Promise<void>;

  beforeEach(async () => {
    ({ gw, backend, close } = await startGatewayToRecordingBackend());
  });

  afterEach(() => close());

  it("plain HTTP: refuses to pass the client's Connection-listed and hop-by-hop headers so that a backend acts only on its own connection", async () => {
    const request = [
      "GET /x HTTP/1.1",
      "Host: a",
      "Connection: close, X-Listed,x-also-listed",
      // Without `Connection: upgrade` Node serves this as a plain request; Upgrade still must not pass.
      "Upgrade: h2c",
      ...HOP_BY_HOP,
      "",
      "",
    ].join("\r\n");
    expect((await rawRequest(gw.port, request)).status).toBe(200);
    const { headers } = backend.received[0]!;
    for (const name of [...DROPPED, "upgrade"]) expect(headers[name], name).toBeUndefined();
    expect(headers["x-kept"]).toBe("keep me");
    // The backend sees wsgate's own connection, not the client's `close`.
    expect(headers.connection).not.toMatch(/x-listed/i);
  });

  it("upgrade: drops the same headers, and writes its own Connection and Upgrade", async () => {
    const answer = await rawRequest(
      gw.port,
      upgradeRequest("/x", "a", HOP_BY_HOP).replace(
        "Connection: Upgrade",
        "Connection: Upgrade, X-Listed, X-Also-Listed",
      ),
    );
    expect(answer.status).toBe(101);
    const { headers } = backend.received[0]!;
    for (const name of DROPPED) expect(headers[name], name).toBeUndefined();
    expect(headers["x-kept"]).toBe("keep me");
    expect(headers.connection).toBe("Upgrade");
    expect(headers.upgrade).toBe("websocket");
  });

  it("plain HTTP: Connection cannot nominate Content-Length, so a body always reaches the backend framed", async () => {
    const request = [
      "GET /x HTTP/1.1",
      "Host: a",
      "Connection: close, Content-Length",
      "Content-Length: 5",
      "",
      "hello",
    ].join("\r\n");
    expect((await rawRequest(gw.port, request)).status).toBe(200);
    expect(backend.received.map((r) => [r.headers["content-length"], r.body])).toEqual([["5", "hello"]]);
  });

  it("plain HTTP: re-frames a chunked body as chunked", async () => {
    const request = [
      "POST /x HTTP/1.1",
      "Host: a",
      "Connection: close",
      "Transfer-Encoding: chunked",
      "",
      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    ].join("\r\n");
    expect((await rawRequest(gw.port, request)).status).toBe(200);
    expect(backend.received.map((r) => [r.headers["transfer-encoding"], r.body])).toEqual([
      ["chunked", "hello world"],
    ]);
  });

  it("plain HTTP: answers 501 to a transfer coding other than chunked instead of passing a body it cannot re-frame", async () => {
    const request = [
      "POST /x HTTP/1.1",
      "Host: a",
      "Connection: close",
      "Transfer-Encoding: gzip, chunked",
      "",
      "0\r\n\r\n",
    ].join("\r\n");
    expect((await rawRequest(gw.port, request)).status).toBe(501);
    expect(backend.received).toEqual([]);
  });
});

describe("hop-by-hop headers of a backend's answer", () => {
  let gw: TestGateway;
  let backend: http.Server;

  afterEach(async () => {
    await gw.close();
    backend.closeAllConnections();
    await new Promise<void>((resolve) => backend.close(() => resolve()));
  });

  it("stay behind, and a client that asked to close gets Connection: close", async () => {
    backend = http.createServer((_req, res) => {
      res.writeHead(200, {
        Connection: "keep-alive, X-Backend-Hop",
        "Keep-Alive": "timeout=600",
        "X-Backend-Hop": "internal",
        "X-App": "kept",
        "Content-Length": "2",
      });
      res.end("ok");
    });
    await new Promise<void>((resolve) => backend.listen(0, "127.0.0.1", resolve));
    gw = await startTestGateway();
    const port = (backend.address() as AddressInfo).port;
    gw.apply([...serviceWithEndpoints("apps", "echo", [{ port }]), simpleRoute("apps", "echo", "echo")]);
    const answer = await rawRequest(gw.port, getRequest("/", "a"));
    expect(answer.status).toBe(200);
    const head = answer.text.split("\r\n\r\n")[0]!.toLowerCase();
    expect(head).toContain("x-app: kept");
    expect(head).toContain("connection: close");
    expect(head).not.toContain("keep-alive");
    expect(head).not.toContain("x-backend-hop");
  });
});
