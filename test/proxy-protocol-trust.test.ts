/**
 * PROXY protocol headers name the client, so `wsgate serve --proxy-protocol
 * --trusted-proxies …` believes them only from the load balancers it lists, on
 * both listeners; and a header that arrives one byte per write is still read.
 */
import { rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type WebSocket from "ws";
import type { RunningGateway } from "../src/cli/serve.js";
import { startEchoBackend, type EchoBackend } from "./helpers/backends.js";
import { closeClient, connect } from "./helpers/gateway.js";
import { manifestDir, routeYaml, serviceYaml, startStandalone } from "./helpers/standalone.js";

let dir: string;
let backend: EchoBackend;

beforeAll(async () => {
  backend = await startEchoBackend();
  dir = manifestDir("proxy-trust");
  writeFileSync(join(dir, "echo.yaml"), `${serviceYaml("echo", backend.port)}---\n${routeYaml("echo", "/")}`);
});

afterAll(async () => {
  await backend.close();
  rmSync(dir, { recursive: true, force: true });
});

const UPGRADE =
  "GET / HTTP/1.1\r\nHost: chat\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
  "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
  "X-Forwarded-For: 198.51.100.99\r\n\r\n";

/** Writes `bytes` to port and resolves with everything received until the gateway closed. */
function exchange(port: number, bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write(bytes));
    const received: Buffer[] = [];
    socket.on("data", (d: Buffer) => {
      received.push(d);
      // An answer came: the header was believed. Done either way.
      socket.destroy();
    });
    socket.on("error", () => undefined);
    socket.once("close", () => resolve(Buffer.concat(received)));
  });
}

/** The first flight of a TLS client (its ClientHello), caught by a listener that answers nothing. */
function clientHello(): Promise<Buffer> {
  return new Promise((resolve) => {
    const catcher = net.createServer((socket) =>
      socket.once("data", (hello: Buffer) => {
        socket.destroy();
        catcher.close();
        resolve(hello);
      }),
    );
    catcher.listen(0, "127.0.0.1", () => {
      const { port } = catcher.address() as net.AddressInfo;
      tls.connect({ port, host: "127.0.0.1", servername: "chat.example.com" }).on("error", () => undefined);
    });
  });
}

/** A ws client whose connection first carries `header`, written one byte per write. */
function dribbledHeader(port: number, header: Buffer): Promise<WebSocket> {
  return connect(`ws://127.0.0.1:${port}/`, undefined, {
    createConnection: () => {
      const socket = net.connect(port, "127.0.0.1");
      socket.setNoDelay(true);
      // ws writes its request once connect() returns; the header goes first, byte by byte.
      for (let i = 0; i < header.length; i++) socket.write(header.subarray(i, i + 1));
      return socket;
    },
  });
}

describe("from a peer outside --trusted-proxies", () => {
  let running: RunningGateway;
  beforeAll(async () => {
    running = await startStandalone(dir, ["--proxy-protocol", "--trusted-proxies", "10.0.0.0/8"]);
  });
  afterAll(() => running.stop(0));

  it("refuses a spoofed PROXY header on the http listener, so that a client cannot name itself", async () => {
    const before = backend.requests.length;
    const header = "PROXY TCP4 203.0.113.50 10.0.0.1 40000 80\r\n";
    const answer = await exchange(running.httpAddress.port, Buffer.from(header + UPGRADE));
    expect(answer.length).toBe(0);
    expect(backend.requests.length).toBe(before);
  });

  it("refuses a spoofed PROXY header on the https listener before any TLS byte", async () => {
    const header = Buffer.from("PROXY TCP4 203.0.113.50 10.0.0.1 40000 443\r\n");
    const answer = await exchange(running.httpsAddress.port, Buffer.concat([header, await clientHello()]));
    expect(answer.length).toBe(0);
  });
});

describe("from a load balancer inside --trusted-proxies", () => {
  let running: RunningGateway;
  beforeAll(async () => {
    running = await startStandalone(dir, ["--proxy-protocol", "--trusted-proxies", "127.0.0.1"]);
  });
  afterAll(() => running.stop(0));

  it("believes the PROXY header, and not an X-Forwarded-For the client sent behind it", async () => {
    const header = "PROXY TCP4 203.0.113.50 10.0.0.1 40000 80\r\n";
    const answer = await exchange(running.httpAddress.port, Buffer.from(header + UPGRADE));
    expect(answer.toString("latin1")).toMatch(/^HTTP\/1\.1 101 /);
    expect(backend.requests.at(-1)!.headers["x-forwarded-for"]).toBe("203.0.113.50");
  });

  it("reads a v1 header dribbled one byte per write", async () => {
    const header = Buffer.from("PROXY TCP4 203.0.113.51 10.0.0.1 40001 80\r\n");
    const ws = await dribbledHeader(running.httpAddress.port, header);
    expect(backend.requests.at(-1)!.headers["x-forwarded-for"]).toBe("203.0.113.51");
    await closeClient(ws);
  });

  it("reads a v2 header with 4 KiB of TLVs dribbled one byte per write", async () => {
    const signature = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
    const addresses = Buffer.from([198, 51, 100, 52, 10, 0, 0, 1, 0x9c, 0x42, 0x00, 0x50]);
    const tlv = Buffer.alloc(4_096);
    tlv[0] = 0x04; // PP2_TYPE_NOOP
    tlv.writeUInt16BE(tlv.length - 3, 1);
    const fixed = Buffer.from([0x21, 0x11, 0, 0]);
    fixed.writeUInt16BE(addresses.length + tlv.length, 2);
    const ws = await dribbledHeader(
      running.httpAddress.port,
      Buffer.concat([signature, fixed, addresses, tlv]),
    );
    expect(backend.requests.at(-1)!.headers["x-forwarded-for"]).toBe("198.51.100.52");
    await closeClient(ws);
  });
});
