/**
 * Regression (found by the edge fuzz suite, seed 20261130): a peer receives at most one
 * Close frame and nothing after it (RFC 6455 §5.5.1). The backend's Close had been
 * relayed to the client when the client's protocol error made the proxy close too —
 * and the proxy sent a second Close of its own.
 */
import type net from "node:net";
import { afterEach, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "./helpers/gateway.js";
import { serviceWithEndpoints, simpleRoute } from "./helpers/objects.js";
import {
  eventually,
  rawUpgrade,
  serverFrame,
  startRawBackend,
  type RawBackend,
} from "./helpers/raw-peers.js";

let gw: TestGateway | undefined;
let backend: RawBackend | undefined;
let client: net.Socket | undefined;

afterEach(async () => {
  client?.destroy();
  await backend?.close();
  await gw?.close();
  gw = backend = client = undefined;
});

/** Opcodes of the unmasked, short frames in `bytes`. */
function opcodes(bytes: Buffer): number[] {
  const out: number[] = [];
  for (let at = 0; at + 2 <= bytes.length;) {
    out.push((bytes[at] as number) & 0x0f);
    at += 2 + ((bytes[at + 1] as number) & 0x7f);
  }
  return out;
}

it("sends the client no second Close after relaying the backend's, when the client then breaks the protocol", async () => {
  backend = await startRawBackend();
  gw = await startTestGateway({ closeTimeoutMs: 300 });
  gw.apply([
    ...serviceWithEndpoints("apps", "echo", [{ port: backend.port }]),
    simpleRoute("apps", "echo", "echo"),
  ]);
  client = rawUpgrade(gw.port);
  let received = Buffer.alloc(0);
  client.on("data", (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
  const closed = new Promise<void>((resolve) => client!.once("close", () => resolve()));
  const frames = (): Buffer => {
    const end = received.indexOf("\r\n\r\n");
    return end === -1 ? Buffer.alloc(0) : received.subarray(end + 4);
  };
  await eventually(() => received.includes("\r\n\r\n") && backend!.sockets.length === 1, "the 101");
  backend.sockets[0]!.write(serverFrame(0x88, Buffer.from([0x03, 0xea]))); // Close 1002
  await eventually(() => frames().length >= 4, "the backend's Close at the client");
  client.write(Buffer.from([0x81, 0x01, 0x61])); // an unmasked client frame: a protocol error
  await closed;
  expect(opcodes(frames())).toEqual([0x8]);
});
