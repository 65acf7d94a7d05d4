/**
 * Backpressure must not cost bytes: a backend's chunks wait behind a client that stopped
 * reading — queued in the relay's write to the client while the backend socket is paused
 * — and what finally reaches the client is byte for byte what the backend sent. The
 * backend leg is read through a buffer shared by every backend socket
 * (src/dataplane/backend-read.ts), so a queued chunk that aliased it would be overwritten
 * by the next read. Real sockets only.
 */
import type net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
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
let backends: RawBackend[] = [];
const clients: net.Socket[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  for (const b of backends.splice(0)) await b.close();
  await gw?.close();
  gw = undefined;
});

/** Frames of 16 KiB whose payload bytes say which frame and which connection they belong to. */
function frame(connection: number, index: number): Buffer {
  const payload = Buffer.alloc(16 * 1024);
  for (let i = 0; i < payload.length; i += 4)
    payload.writeUInt32BE((connection << 24) | (index << 8) | (i & 0xff), i);
  return serverFrame(0x82, payload);
}

describe("a client that stops reading while its backend keeps sending", () => {
  it("receives, once it reads again, exactly the bytes every backend sent, in order, so no chunk queued behind it is overwritten by another socket's read", async () => {
    gw = await startTestGateway({});
    // Two connections, each to its own backend: both backend legs read into the shared buffer.
    const received: Buffer[][] = [[], []];
    const sent: Buffer[][] = [[], []];
    const sockets: net.Socket[] = [];
    backends = [await startRawBackend({}), await startRawBackend({})];
    gw.apply(
      backends.flatMap((backend, n) => [
        ...serviceWithEndpoints("apps", `echo${n}`, [{ port: backend.port }]),
        simpleRoute("apps", `echo${n}`, `echo${n}`, {}, `/c${n}`),
      ]),
    );
    for (let n = 0; n < 2; n++) {
      const backend = backends[n]!;
      const c = rawUpgrade(gw.port, { path: `/c${n}` });
      clients.push(c);
      c.on("data", (chunk: Buffer) => received[n]!.push(chunk));
      await eventually(() => backend.sockets.length === 1 && received[n]!.length > 0, "the 101");
      c.pause(); // stops reading: the relay's writes to it back up
      sockets.push(backend.sockets[0]!);
    }
    const head = received.map((chunks) => Buffer.concat(chunks));
    const relays = [...gw.gateway.connections].map((c) => c.relay);
    expect(relays).toHaveLength(2);
    // Both backends send, alternately, until both relays hold bytes for their stalled client…
    let index = 0;
    while (relays.some((r) => r.stalledSince === undefined)) {
      for (let n = 0; n < 2; n++) {
        const f = frame(n, index);
        sent[n]!.push(f);
        sockets[n]!.write(f);
      }
      index++;
      await new Promise((resolve) => setImmediate(resolve));
    }
    // …and some more, which wait in the kernel until the relays read their backends again.
    for (let extra = 0; extra < 8; extra++, index++) {
      for (let n = 0; n < 2; n++) {
        const f = frame(n, index);
        sent[n]!.push(f);
        sockets[n]!.write(f);
      }
    }
    for (const c of clients) c.resume();
    for (let n = 0; n < 2; n++) {
      const expected = Buffer.concat([head[n]!, ...sent[n]!]);
      await eventually(
        () => received[n]!.reduce((sum, chunk) => sum + chunk.length, 0) >= expected.length,
        `connection ${n}'s bytes`,
        20_000,
      );
      expect(Buffer.concat(received[n]!).equals(expected)).toBe(true);
    }
  });
});
