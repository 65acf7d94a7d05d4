import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkHandshake, type HandshakeCheck } from "./handshake.js";

/** Node's server parses each request sent raw; the check runs on the message it made. */
let server: http.Server;
let port: number;

beforeAll(async () => {
  server = http.createServer();
  const judge = (req: http.IncomingMessage, socket: net.Socket | import("node:stream").Duplex): void => {
    socket.end(
      `HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Check: ${JSON.stringify(checkHandshake(req))}\r\n\r\n`,
    );
  };
  server.on("upgrade", (req, socket) => judge(req, socket));
  server.on("request", (req, res) => judge(req, res.socket as net.Socket));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

async function check(upgrade: string, connection: string): Promise<HandshakeCheck> {
  const socket = net.connect({ port, host: "127.0.0.1" });
  socket.write(
    "GET / HTTP/1.1\r\nHost: x\r\n" +
      `Upgrade: ${upgrade}\r\nConnection: ${connection}\r\n` +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  );
  let answer = "";
  for await (const chunk of socket) answer += String(chunk);
  const line = /X-Check: (.*)\r\n/.exec(answer);
  if (!line) throw new Error(`no verdict in ${JSON.stringify(answer)}`);
  return JSON.parse(line[1] as string) as HandshakeCheck;
}

describe("checkHandshake: the Upgrade and Connection tokens", () => {
  it.each([
    ["websocket", "Upgrade"],
    ["WebSocket", "upgrade"],
    ["websocket", "keep-alive, Upgrade"],
    ["websocket, h2c", "Upgrade, keep-alive"],
  ])(
    "accepts Upgrade: %s with Connection: %s, so every browser's handshake passes",
    async (upgrade, connection) => {
      expect(await check(upgrade, connection)).toEqual({ ok: true });
    },
  );

  it.each([
    ["h2c", "Upgrade", "only Upgrade: websocket is supported"],
    ["websockets", "Upgrade", "only Upgrade: websocket is supported"],
    ["websocket", "keep-alive", "Connection header must contain Upgrade"],
    ["websocket", "Upgrades", "Connection header must contain Upgrade"],
  ])(
    "refuses Upgrade: %s with Connection: %s, so a request that is no WebSocket handshake never reaches a backend",
    async (upgrade, connection, message) => {
      expect(await check(upgrade, connection)).toMatchObject({ ok: false, status: 400, message });
    },
  );
});
