/**
 * The backend's 101 reaches the client byte for byte: Node's HTTP parser reads header
 * values as latin1, so the proxy writes them back as latin1. Written as UTF-8, a value
 * with a byte ≥ 0x80 (an obs-text byte, or UTF-8 a backend sent) reached the client as
 * other bytes. Real sockets only.
 */
import type net from "node:net";
import { afterEach, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "./helpers/gateway.js";
import { serviceWithEndpoints, simpleRoute } from "./helpers/objects.js";
import { rawUpgrade, startRawBackend, type RawBackend } from "./helpers/raw-peers.js";

let gw: TestGateway | undefined;
let backend: RawBackend | undefined;
let client: net.Socket | undefined;

afterEach(async () => {
  client?.destroy();
  await backend?.close();
  await gw?.close();
  gw = backend = client = undefined;
});

/** The bytes the client received up to the end of the response head. */
function responseHead(socket: net.Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf("\r\n\r\n");
      if (end >= 0) resolve(received.subarray(0, end));
    });
    socket.once("close", () =>
      reject(new Error(`closed after ${JSON.stringify(received.toString("latin1"))}`)),
    );
  });
}

it("passes a non-ASCII header value of the backend's 101 on unchanged, so that the client reads what the backend sent", async () => {
  // The raw backend writes its 101 as UTF-8: "café" is the bytes 63 61 66 c3 a9.
  backend = await startRawBackend({ extraHeaders: ["X-Name: café"] });
  gw = await startTestGateway();
  gw.apply([
    ...serviceWithEndpoints("apps", "echo", [{ port: backend.port }]),
    simpleRoute("apps", "echo", "echo"),
  ]);
  client = rawUpgrade(gw.port);
  const head = await responseHead(client);
  expect(head.subarray(0, 12).toString("latin1")).toBe("HTTP/1.1 101");
  expect(head.includes(Buffer.from("\r\nX-Name: café", "utf8"))).toBe(true);
});
