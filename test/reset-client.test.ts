/**
 * Regression (found by the edge fuzz suite, seed 254265930): a client that resets its
 * connection right after sending a request could be accepted before Node learned its
 * address; the request then went upstream as the anonymous client "" — an empty
 * X-Forwarded-For, and one limit bucket shared by everyone who does the same.
 */
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { afterEach, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "./helpers/gateway.js";
import { serviceWithEndpoints, simpleRoute } from "./helpers/objects.js";

let gw: TestGateway | undefined;
let backend: http.Server | undefined;

afterEach(async () => {
  await gw?.close();
  await new Promise<void>((resolve) => (backend ? backend.close(() => resolve()) : resolve()));
  gw = backend = undefined;
});

/** Sends one request and resets the connection at once; resolves when the socket is gone. */
function sendAndReset(port: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1", () => {
      socket.write("GET /echo/x HTTP/1.1\r\nHost: chat.example.com\r\n\r\n");
      socket.resetAndDestroy();
    });
    socket.on("error", () => undefined);
    socket.once("close", () => resolve());
  });
}

it("never passes on a request as the anonymous client when its client reset the connection at once", async () => {
  const seen: string[] = [];
  backend = http.createServer((req, res) => {
    seen.push(String(req.headers["x-forwarded-for"]));
    res.end("ok");
  });
  await new Promise<void>((resolve) => backend!.listen(0, "127.0.0.1", resolve));
  gw = await startTestGateway();
  gw.apply([
    ...serviceWithEndpoints("apps", "echo", [{ port: (backend.address() as AddressInfo).port }]),
    simpleRoute("apps", "echo", "echo"),
  ]);
  // Clients connect, send and reset while the gateway's event loop is blocked, so the
  // kernel has taken (and reset) them before Node accepts them: getpeername then fails.
  for (let round = 0; round < 5; round++) {
    const sent = Array.from({ length: 40 }, () => sendAndReset(gw!.port));
    await new Promise((resolve) => setImmediate(resolve));
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    await Promise.all(sent);
  }
  // A request that did get through (read before the reset) names its client.
  const ok = await fetch(`http://127.0.0.1:${gw.port}/echo/x`, { headers: { Host: "chat.example.com" } });
  expect(ok.status).toBe(200);
  expect(seen.length).toBeGreaterThan(0);
  expect(seen.filter((xff) => xff !== "127.0.0.1")).toEqual([]);
});
