/**
 * One periodic sweep over every live connection instead of a timer per socket:
 * stalled peers, idle timeouts, maximum lifetimes, keepalive pings and their
 * deadlines, and scheduled drain closes. It also advances the coarse clock the relays read.
 */
import type { ConnectionRegistry, DrainReason, LiveConnection } from "./connections.js";
import { TCP_KEEPALIVE_MS } from "./relay.js";

export interface SweepTarget {
  readonly connections: ConnectionRegistry;
  /** Called once per sweep for housekeeping (e.g. expiring rate-limit buckets). */
  housekeeping?(): void;
}

/** Closes or pings one connection as its route's settings and the time demand. */
export function sweepConnection(connection: LiveConnection, now: number): void {
  const relay = connection.relay;
  if (relay.closing) return;
  if (!relay.tcpKeepAliveArmed && now - connection.openedAt >= TCP_KEEPALIVE_MS) relay.armTcpKeepAlive();
  const { timeouts, keepalive } = connection.settings;
  const stalledSince = relay.stalledSince;
  if (stalledSince !== undefined && relay.stallTimeoutMs > 0 && now - stalledSince >= relay.stallTimeoutMs) {
    // A side took no bytes for that long: its peer is paused and unread, so not even its
    // FIN or RST would be seen. Close both; the close timeout destroys what cannot answer.
    connection.close(1001, "peer stopped reading");
    return;
  }
  const drain = connection.drain;
  if (drain !== undefined && now >= drain.at) {
    connection.close(drain.code, DRAIN_MESSAGE[drain.reason]);
    return;
  }
  if (connection.authExpiresAt !== undefined && now >= connection.authExpiresAt) {
    // 1008 tells the client why (policy: its token expired); the backend just sees a normal close.
    connection.closeSides(1008, 1000, "token expired");
    return;
  }
  if (now >= connection.lifetimeEndsAt) {
    connection.close(1001, "maximum connection lifetime reached");
    return;
  }
  if (timeouts.idleMs > 0 && now - relay.lastFrameAt >= timeouts.idleMs) {
    connection.close(1001, "idle timeout");
    return;
  }
  if (!keepalive) return;
  // Waiting for the client's answer: any frame from it since the Ping counts.
  if (relay.awaitingPong && relay.lastClientFrameAt < relay.pingSentAt) {
    if (now - relay.pingSentAt >= keepalive.timeoutMs) connection.close(1001, "keepalive timeout");
    return;
  }
  if (now - relay.lastClientFrameAt >= keepalive.intervalMs) relay.ping();
}

/** The Close reason a due drain sends. */
const DRAIN_MESSAGE: Readonly<Record<DrainReason, string>> = {
  endpoint: "going away: endpoint draining",
  shutdown: "going away: shutting down",
  rebalance: "service restart: moving to a less loaded endpoint",
};

export class Sweeper {
  readonly #target: SweepTarget;
  readonly #clock: { now: number };
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(target: SweepTarget, clock: { now: number }, intervalMs: number) {
    this.#target = target;
    this.#clock = clock;
    this.#intervalMs = intervalMs;
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.sweep(), this.#intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  sweep(): void {
    const now = (this.#clock.now = Date.now());
    for (const connection of this.#target.connections) sweepConnection(connection, now);
    this.#target.housekeeping?.();
  }
}
