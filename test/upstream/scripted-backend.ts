/**
 * A raw backend for the backend-head tests: it records each request head it receives,
 * then writes the bytes of the current script — chunk by chunk, each in its own turn of
 * the event loop — and ends the connection unless told to stay silent.
 */
import net from "node:net";
import type { Endpoint } from "../../src/routing/table.js";

export interface Script {
  /** What the backend writes once the request head is in. */
  readonly chunks: readonly Buffer[];
  /** End (FIN) after the last chunk; false: stay open without a word. */
  readonly end: boolean;
}

export interface ScriptedBackend {
  readonly endpoint: Endpoint;
  /** The script for the next connections. */
  script: Script;
  /** Request heads received, in order of arrival. */
  readonly requests: Buffer[];
  close(): Promise<void>;
}

export async function startScriptedBackend(): Promise<ScriptedBackend> {
  const sockets = new Set<net.Socket>();
  const backend: Omit<ScriptedBackend, "endpoint" | "close"> = {
    script: { chunks: [], end: true },
    requests: [],
  };
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    const script = backend.script;
    let received = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf("\r\n\r\n");
      if (end < 0) return;
      socket.off("data", onData);
      backend.requests.push(received);
      socket.resume(); // later bytes (none expected) are dropped
      writeChunks(socket, script);
    };
    socket.on("data", onData);
  });
  server.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  const port = (server.address() as net.AddressInfo).port;
  return Object.assign(backend, {
    endpoint: {
      id: `test/scripted:80@127.0.0.1:${port}`,
      backend: "test/scripted:80",
      address: "127.0.0.1",
      port,
      ready: true,
      terminating: false,
      weight: 1,
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  });
}

function writeChunks(socket: net.Socket, script: Script): void {
  socket.setNoDelay(true);
  let i = 0;
  const next = (): void => {
    if (socket.destroyed) return;
    const chunk = script.chunks[i++];
    if (chunk === undefined) {
      if (script.end) socket.end();
      return;
    }
    socket.write(chunk);
    setImmediate(next);
  };
  next();
}
