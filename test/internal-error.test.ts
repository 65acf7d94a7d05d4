/**
 * Regression: an unexpected error while handling one handshake must answer that
 * client (500) and leave the process serving — not end it with an unhandled rejection.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, expect, it } from "vitest";
import { Gateway } from "../src/dataplane/gateway.js";
import type { RoutingTable } from "../src/routing/table.js";
import { expectRefusal } from "./helpers/gateway.js";

let server: http.Server | undefined;

afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
});

it("answers 500 when handling a handshake throws, and keeps serving", async () => {
  let calls = 0;
  const gateway = new Gateway({
    tables: {
      get current(): RoutingTable {
        calls++;
        throw new Error("a bug in the table source");
      },
    },
  });
  server = http.createServer();
  gateway.attach(server, "http");
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  expect((await expectRefusal(url)).status).toBe(500);
  expect((await expectRefusal(url)).status).toBe(500);
  expect(calls).toBe(2);
});
