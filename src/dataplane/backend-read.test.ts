import { once } from "node:events";
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { BACKEND_READ } from "./backend-read.js";

/** A listening peer on port 0 and a backend-style socket connected to it (reading through BACKEND_READ). */
async function pair(): Promise<{ socket: net.Socket; peer: net.Socket }> {
  const server = net.createServer();
  servers.push(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const accepted = once(server, "connection");
  const { port } = server.address() as net.AddressInfo;
  const socket = net.connect({ host: "127.0.0.1", port, onread: BACKEND_READ });
  sockets.push(socket);
  await once(socket, "connect");
  const [peer] = (await accepted) as [net.Socket];
  sockets.push(peer);
  return { socket, peer };
}

/** Resolves once `predicate` holds, checked every event-loop turn (a signal, not a sleep). */
async function until(predicate: () => boolean): Promise<void> {
  while (!predicate()) await new Promise((resolve) => setImmediate(resolve));
}

/** `count` chunks of `size` bytes, each filled with its own byte so aliasing shows. */
function patterned(count: number, size: number, salt: number): Buffer[] {
  return Array.from({ length: count }, (_, i) => Buffer.alloc(size, (i * 7 + salt) & 0xff));
}

const servers: net.Server[] = [];
const sockets: net.Socket[] = [];
afterEach(() => {
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const server of servers.splice(0)) server.close();
});

describe("BACKEND_READ (one read buffer shared by every backend socket)", () => {
  it("keeps every chunk a listener holds intact while other sockets read into the shared buffer, so a write queued behind a slow peer relays what was read", async () => {
    const a = await pair();
    const b = await pair();
    const held: Buffer[][] = [[], []];
    a.socket.on("data", (chunk: Buffer) => held[0]!.push(chunk));
    b.socket.on("data", (chunk: Buffer) => held[1]!.push(chunk));
    const sentA = patterned(200, 700, 1);
    const sentB = patterned(200, 900, 2);
    // One chunk at a time each way, interleaved, so that reads alternate between the sockets.
    for (let i = 0; i < 200; i++) {
      a.peer.write(sentA[i]!);
      b.peer.write(sentB[i]!);
      const [gotA, gotB] = [(i + 1) * 700, (i + 1) * 900];
      await until(
        () =>
          held[0]!.reduce((n, c) => n + c.length, 0) >= gotA &&
          held[1]!.reduce((n, c) => n + c.length, 0) >= gotB,
      );
    }
    expect(Buffer.concat(held[0]!).equals(Buffer.concat(sentA))).toBe(true);
    expect(Buffer.concat(held[1]!).equals(Buffer.concat(sentB))).toBe(true);
  });

  it("keeps, in order, what arrives while nobody reads the socket (between the backend's 101 and the relay), so no early backend message is lost", async () => {
    const { socket, peer } = await pair();
    // As the handshake leaves it: read, but neither flowing nor paused.
    const first: Buffer[] = [];
    const onFirst = (chunk: Buffer): void => void first.push(chunk);
    socket.on("data", onFirst);
    peer.write("101 and the head");
    await until(() => first.length > 0);
    socket.off("data", onFirst);
    (socket as { readableFlowing: boolean | null }).readableFlowing = null;
    peer.write("a greeting the backend sends at once");
    await until(() => socket.readableLength > 0);
    peer.write(", then more");
    const later: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => later.push(chunk));
    await until(() => Buffer.concat(later).length >= 47);
    expect(Buffer.concat(later).toString()).toBe("a greeting the backend sends at once, then more");
  });

  it("stops reading while paused and ends on the peer's FIN, as a relay's backpressure and half-close need", async () => {
    const { socket, peer } = await pair();
    const got: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => got.push(chunk));
    peer.write("one");
    await until(() => got.length === 1);
    socket.pause();
    peer.write("two");
    // The peer's bytes wait in the kernel, not in a listener: nothing arrives while paused.
    await new Promise((resolve) => setImmediate(resolve));
    await until(() => peer.writableLength === 0);
    expect(Buffer.concat(got).toString()).toBe("one");
    const ended = once(socket, "end");
    peer.end();
    socket.resume();
    await ended;
    expect(Buffer.concat(got).toString()).toBe("onetwo");
  });
});
