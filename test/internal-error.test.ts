/**
 * Regression: an unexpected error while handling one request must answer that client
 * (500, or a close once the 101 was written), give back every count the request took,
 * publish `internal_error`, and leave the process serving — not end it with an
 * uncaught exception or an unhandled rejection.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { EndpointStates } from "../src/dataplane/endpoint-state.js";
import { channels, type HandshakeRejected } from "../src/dataplane/events.js";
import { Gateway, type TableSource } from "../src/dataplane/gateway.js";
import type { RoutingTable } from "../src/routing/table.js";
import { expectRefusal, startTestGateway, type TestGateway } from "./helpers/gateway.js";
import { serviceWithEndpoints, simpleRoute } from "./helpers/objects.js";
import { getRequest, rawRequest, upgradeRequest } from "./helpers/raw-http.js";
import { startRecordingBackend, type RecordingBackend } from "./helpers/recording-backend.js";

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

/** Endpoint states whose bookkeeping after a successful connect fails: a throw after admission. */
class FailingAfterConnect extends EndpointStates {
  override recordSuccess(): void {
    throw new Error("a bug after the endpoint was acquired");
  }
}

describe("a throw after admission gives back every count it took", () => {
  let gw: TestGateway | undefined;
  let backend: RecordingBackend | undefined;

  afterEach(async () => {
    await gw?.close();
    await backend?.close();
  });

  const limited = {
    limits: { maxConnections: 10, maxConnectionsPerClient: 5 },
    timeouts: { maxLifetime: "1h" },
    loadBalancing: { policy: "RoundRobin" },
  };

  function rejections(): { events: HandshakeRejected[]; stop(): void } {
    const events: HandshakeRejected[] = [];
    const onEvent = (m: unknown): void => void events.push(m as HandshakeRejected);
    channels.handshakeRejected.subscribe(onEvent);
    channels.requestRejected.subscribe(onEvent);
    return {
      events,
      stop() {
        channels.handshakeRejected.unsubscribe(onEvent);
        channels.requestRejected.unsubscribe(onEvent);
      },
    };
  }

  it("before the 101: answers 500, publishes internal_error, and leaves route, client and endpoint counts at zero", async () => {
    backend = await startRecordingBackend();
    const states = new FailingAfterConnect();
    gw = await startTestGateway({ states });
    gw.apply([
      ...serviceWithEndpoints("apps", "echo", [{ port: backend.port }]),
      simpleRoute("apps", "echo", "echo", limited),
    ]);
    const seen = rejections();
    try {
      for (let i = 0; i < 3; i++) {
        expect((await rawRequest(gw.port, upgradeRequest("/", "a"))).status).toBe(500);
      }
    } finally {
      seen.stop();
    }
    expect(seen.events.map((e) => [e.status, e.reason, e.route])).toEqual(
      Array(3).fill([500, "internal_error", "echo"]),
    );
    expect(states.active(`apps/echo:80@127.0.0.1:${backend.port}`)).toBe(0);
    expect(gw.gateway.limits.connections("apps/echo")).toBe(0);
    expect(gw.gateway.limits.clientConnections("apps/echo", "127.0.0.1")).toBe(0);
    expect(gw.gateway.connections.size).toBe(0);
  });

  it("after the 101: closes the client, ends the backend leg and leaves every count at zero", async () => {
    backend = await startRecordingBackend();
    // The lifetime jitter is drawn after the 101 was written (RoundRobin draws nothing before).
    gw = await startTestGateway({
      random: () => {
        throw new Error("a bug after the 101");
      },
    });
    gw.apply([
      ...serviceWithEndpoints("apps", "echo", [{ port: backend.port }]),
      simpleRoute("apps", "echo", "echo", limited),
    ]);
    const seen = rejections();
    try {
      const answer = await rawRequest(gw.port, upgradeRequest("/", "a"));
      expect(answer.status).toBe(101);
    } finally {
      seen.stop();
    }
    expect(seen.events.map((e) => e.reason)).toEqual(["internal_error"]);
    const id = `apps/echo:80@127.0.0.1:${backend.port}`;
    expect(gw.gateway.states.active(id)).toBe(0);
    expect(gw.gateway.limits.connections("apps/echo")).toBe(0);
    expect(gw.gateway.limits.clientConnections("apps/echo", "127.0.0.1")).toBe(0);
    // The backend leg was ended too: the backend sees its socket close.
    const deadline = Date.now() + 5_000;
    while (backend.openSockets() > 0 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    expect(backend.openSockets()).toBe(0);
  });

  it("plain HTTP: answers 500, publishes internal_error and releases the endpoint", async () => {
    backend = await startRecordingBackend();
    gw = await startTestGateway();
    gw.apply([
      ...serviceWithEndpoints("apps", "echo", [{ port: backend.port }]),
      simpleRoute("apps", "echo", "echo"),
    ]);
    const real = gw.holder.current;
    // A bug in the table: the route's timeouts cannot be read (after the endpoint was acquired).
    const faulty: TableSource = {
      get current() {
        return {
          ...real,
          match(host: string, path: string) {
            const m = real.match(host, path);
            if (!m) return m;
            const settings = Object.create(m.route.settings, {
              timeouts: {
                get() {
                  throw new Error("a bug in the table");
                },
              },
            }) as typeof m.route.settings;
            return { rule: m.rule, route: { ...m.route, settings } };
          },
        };
      },
    };
    const gateway = new Gateway({ tables: faulty });
    server = http.createServer();
    gateway.attach(server, "http");
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    const seen = rejections();
    try {
      expect((await rawRequest(port, getRequest("/", "a"))).status).toBe(500);
      expect((await rawRequest(port, getRequest("/", "a"))).status).toBe(500);
    } finally {
      seen.stop();
      gateway.stop();
    }
    expect(seen.events.map((e) => [e.status, e.reason])).toEqual([
      [500, "internal_error"],
      [500, "internal_error"],
    ]);
    expect(gateway.states.active(`apps/echo:80@127.0.0.1:${backend.port}`)).toBe(0);
    expect(gateway.states.view()).toEqual([]);
    expect(backend.received).toEqual([]);
  });
});
