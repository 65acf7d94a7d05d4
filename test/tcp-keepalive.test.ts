/**
 * TCP keepalive on relayed sockets: armed by the sweeper once a connection is old enough to
 * need it, not during the handshake (its setsockopt calls were ~3% of a handshake's CPU).
 * What the kernel holds is read from /proc/net/tcp: an established socket whose keepalive
 * timer runs shows timer type 2 ("tr" column), one without any pending timer shows 0.
 */
import { readFileSync } from "node:fs";
import type net from "node:net";
import { afterEach, expect, it } from "vitest";
import { TCP_KEEPALIVE_MS } from "../src/dataplane/relay.js";
import { sweepConnection } from "../src/dataplane/sweeper.js";
import { startTestGateway, type TestGateway } from "./helpers/gateway.js";
import { serviceWithEndpoints, simpleRoute } from "./helpers/objects.js";
import { eventually, rawUpgrade, startRawBackend, type RawBackend } from "./helpers/raw-peers.js";

let gw: TestGateway | undefined;
let backend: RawBackend | undefined;
let client: net.Socket | undefined;

afterEach(async () => {
  client?.destroy();
  await backend?.close();
  await gw?.close();
  gw = backend = client = undefined;
});

/** The timer type of the established IPv4 socket from `localPort` to `remotePort`, if any. */
function timerOf(localPort: number, remotePort: number): number | undefined {
  const hexPort = (p: number): string => p.toString(16).toUpperCase().padStart(4, "0");
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    const [local, remote, state, , timer] = [f[1], f[2], f[3], f[4], f[5]];
    if (state !== "01" || !local || !remote || !timer) continue; // 01: ESTABLISHED
    if (
      (localPort === 0 || local.endsWith(`:${hexPort(localPort)}`)) &&
      remote.endsWith(`:${hexPort(remotePort)}`)
    )
      return Number.parseInt(timer.split(":")[0] ?? "", 16);
  }
  return undefined;
}

it("arms TCP keepalive on both legs when the sweeper finds the connection 30 s old, not at the handshake, so that short connections skip the syscalls and long ones still find a vanished peer", async () => {
  backend = await startRawBackend();
  gw = await startTestGateway();
  gw.apply([
    ...serviceWithEndpoints("apps", "echo", [{ port: backend.port }]),
    simpleRoute("apps", "echo", "echo"),
  ]);
  client = rawUpgrade(gw.port, { path: "/" });
  const gateway = gw.gateway;
  await eventually(() => gateway.connections.size === 1, "the WebSocket to be established");
  await new Promise<void>((resolve) => client!.once("data", () => resolve()));
  const [connection] = [...gateway.connections];
  const clientPort = client.localPort as number;
  // The gateway's legs: towards the backend (any local port → the backend's), and the one it
  // accepted from the client (the gateway's port → the client's).
  const legs = (): (number | undefined)[] => [timerOf(0, backend!.port), timerOf(gw!.port, clientPort)];

  // Established and quiet: no timer yet on either leg.
  await eventually(() => legs().every((t) => t === 0), "both legs established with no timer pending");

  sweepConnection(connection!, connection!.openedAt + TCP_KEEPALIVE_MS - 1);
  expect(connection!.relay.tcpKeepAliveArmed).toBe(false);
  // (A keepalive Ping the sweep may send shows as a retransmit timer, 1, until it is acked.)
  await eventually(() => legs().every((t) => t === 0), "no keepalive timer one millisecond earlier");

  sweepConnection(connection!, connection!.openedAt + TCP_KEEPALIVE_MS);
  expect(connection!.relay.tcpKeepAliveArmed).toBe(true);
  await eventually(() => legs().every((t) => t === 2), "the keepalive timer on both legs");
});
