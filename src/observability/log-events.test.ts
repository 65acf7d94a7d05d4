import { afterEach, describe, expect, it } from "vitest";
import { channels, type ConnectionClosed, type HandshakeRejected } from "../dataplane/events.js";
import { tlsChannels } from "../tls/events.js";
import { logDataplaneEvents } from "./log-events.js";
import { createLogger } from "./logger.js";

const stops: (() => void)[] = [];
afterEach(() => {
  for (const stop of stops.splice(0)) stop();
});

/** A logger at `level` whose lines are collected. */
function collecting(level: "info" | "warn"): string[] {
  const lines: string[] = [];
  stops.push(logDataplaneEvents(createLogger(level, { write: (line: string) => void lines.push(line) })));
  return lines;
}

/** `event` with every field read counted: what formatting a log line would touch. */
function counted<T extends object>(event: T): { event: T; reads: () => number } {
  let reads = 0;
  const proxy = new Proxy(event, {
    get(target, key, receiver) {
      reads++;
      return Reflect.get(target, key, receiver) as unknown;
    },
  });
  return { event: proxy, reads: () => reads };
}

const closed: ConnectionClosed = {
  namespace: "apps",
  route: "chat",
  backend: "apps/chat:80",
  endpoint: "apps/chat:80@10.0.0.1:8080",
  client: "192.0.2.1",
  durationMs: 1200,
  bytesFromClient: 11,
  bytesToClient: 7,
  messagesFromClient: 1,
  messagesToClient: 1,
  code: 1000,
  initiator: "client",
};
const rejected: HandshakeRejected = {
  namespace: "apps",
  route: "chat",
  status: 404,
  reason: "no_route",
  client: "192.0.2.1",
  path: "/nowhere",
};

describe("data-plane log lines", () => {
  it("reads no field of a closed connection or a refusal when info is off, so that every handshake pays nothing for a line nobody keeps", () => {
    const lines = collecting("warn");
    const close = counted(closed);
    const refusal = counted(rejected);
    channels.connectionClosed.publish(close.event);
    channels.handshakeRejected.publish(refusal.event);
    expect(close.reads()).toBe(0);
    expect(refusal.reads()).toBe(0);
    expect(lines).toEqual([]);
  });

  it("reads no field of a failed TLS handshake below debug, so that a scanner's flood of them costs no log work", () => {
    const lines = collecting("info");
    const failed = counted({ client: "192.0.2.1", code: "ERR_SSL_WRONG_VERSION_NUMBER" });
    tlsChannels.handshakeFailed.publish(failed.event);
    expect(failed.reads()).toBe(0);
    expect(lines).toEqual([]);
  });

  it("writes one connection_closed and one handshake_rejected line when info is on", () => {
    const lines = collecting("info");
    channels.connectionClosed.publish(closed);
    channels.handshakeRejected.publish(rejected);
    const [close, refusal] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(2);
    expect(close).toMatchObject({
      event: "connection_closed",
      route: "apps/chat",
      code: 1000,
      httpVersion: "1.1",
    });
    expect(refusal).toMatchObject({ event: "handshake_rejected", reason: "no_route", path: "/nowhere" });
  });
});
