/**
 * WebSocket upgrades: the canonical request, the gates, authentication, an endpoint
 * (retried on another one while the backend has not answered), the 101, and the relay.
 *
 * One owner of admission: every count a handshake takes (route and client connection
 * slots, the endpoint it is counted against) is held by one {@link Lease}, ended in a
 * `finally` unless the relay took it over — so a refusal, a vanished client and a bug in
 * the middle all give back exactly what was taken. A bug answers 500 (or closes the
 * socket once bytes were written) and is published as `internal_error`; it never ends
 * the process.
 */
import type http from "node:http";
import type { Duplex } from "node:stream";
import type { RouteMatch } from "../routing/table.js";
import { passOnAnswer } from "./answer.js";
import { applyGrant, writeAuthRefusal, type AuthGrant } from "./auth/verdict.js";
import type { RandomSource } from "./balancer.js";
import type { CanonicalRequest } from "./canonical.js";
import type { ConnectionRegistry, LiveConnection } from "./connections.js";
import { enter, headerPolicy, type Proto, type RequestServices } from "./entry.js";
import { publishRejection, channels, type ConnectionClosed, type ConnectionOpened } from "./events.js";
import { upstreamHeaders } from "./forwarded.js";
import { admitUpgrade, type Refusal } from "./gates.js";
import { Lease } from "./lease.js";
import { RelayedConnection } from "./relay.js";
import { offeredHeaders, relayOptionsFor } from "./relay-setup.js";
import { writeRejection } from "./reject.js";
import { attemptHandshake, type AttemptOutcome } from "./upstream.js";

/** What upgrades need beyond the shared request services. */
export interface UpgradeServices extends RequestServices {
  readonly connections: ConnectionRegistry;
  /** The coarse clock relays read; advanced by the sweeper. */
  readonly clock: { now: number };
  readonly random: RandomSource;
  /** How long a proxy-initiated close waits for the close handshake. */
  readonly closeTimeoutMs: number;
}

/** One handshake in progress: what its events are labelled with, and whether its client left. */
interface Handshake {
  readonly req: http.IncomingMessage;
  readonly socket: Duplex;
  readonly startedAt: number;
  readonly lease: Lease;
  namespace: string;
  route: string;
  client: string;
  path: string;
  clientGone: boolean;
}

function bytesWritten(socket: Duplex): number {
  return (socket as Duplex & { bytesWritten?: number }).bytesWritten ?? 0;
}

export class UpgradeHandler {
  readonly #s: UpgradeServices;

  constructor(services: UpgradeServices) {
    this.#s = services;
  }

  /** Serves one upgrade request. Rejects only when giving back a count failed (a bug of ours). */
  async handle(req: http.IncomingMessage, socket: Duplex, head: Buffer, proto: Proto): Promise<void> {
    const h: Handshake = {
      req,
      socket,
      startedAt: Date.now(),
      lease: new Lease(),
      namespace: "",
      route: "",
      client: "",
      path: "",
      clientGone: false,
    };
    socket.on("error", () => socket.destroy());
    socket.once("close", () => (h.clientGone = true));
    let relayed = false;
    let failure: Error | undefined;
    try {
      relayed = await this.#serve(h, head, proto);
    } catch (err) {
      this.#publish(h, 500, "internal_error", `internal error: ${(err as Error)?.message ?? String(err)}`);
      if (bytesWritten(socket) === 0) writeRejection(socket, 500, "internal error");
      else socket.destroy();
    } finally {
      // Once relayed, the relay ends the lease when the connection ends.
      if (!relayed) failure = h.lease.end();
    }
    // A release that failed is a bug too; the caller in gateway.ts closes the socket.
    if (failure) throw failure;
  }

  #publish(h: Handshake, status: number, reason: Refusal["reason"], detail: string): void {
    const { namespace, route, client, path } = h;
    publishRejection(true, { namespace, route, status, reason, client, path, detail });
  }

  #refuse(h: Handshake, refusal: Refusal): false {
    if (refusal.route) {
      h.namespace = refusal.namespace;
      h.route = refusal.route;
    }
    this.#publish(h, refusal.status, refusal.reason, refusal.message);
    writeRejection(h.socket, refusal.status, refusal.message, refusal.headers);
    return false;
  }

  /** True when the connection is established and its relay owns the lease. */
  async #serve(h: Handshake, head: Buffer, proto: Proto): Promise<boolean> {
    const { req, socket } = h;
    const context = this.#s.forwardingContext(req, proto);
    h.client = context.clientAddress;
    const entry = enter(req);
    if (!entry.ok) {
      h.path = entry.path;
      return this.#refuse(h, entry.refusal);
    }
    const request = entry.request;
    h.path = request.path;
    const table = this.#s.tables.current;
    const admission = admitUpgrade(req, request, h.client, table, this.#s.limits, h.lease);
    if (!admission.ok) return this.#refuse(h, admission);
    const { route } = admission.match;
    h.namespace = route.namespace;
    h.route = route.name;

    // Authentication, after the cheap gates (so floods are limited before they reach an auth
    // service) and before any backend is chosen. It fails closed.
    let grant: AuthGrant | undefined;
    if (route.settings.auth) {
      const verdict = await this.#s.auth.check(req, route.settings.auth, context, request);
      if (h.clientGone) return false;
      if (!verdict.ok) {
        this.#publish(h, verdict.status, verdict.reason, verdict.message);
        writeAuthRefusal(socket, verdict);
        return false;
      }
      grant = verdict.grant;
    }
    const policy = headerPolicy(table, this.#s.underscores);
    const forwarded = offeredHeaders(upstreamHeaders(req, request, context, policy, true), route.settings);
    const headers = grant ? applyGrant(forwarded, grant) : forwarded;
    return this.#connect(h, head, admission.match, request, headers, grant);
  }

  /** Tries endpoints until one answers; true when it upgraded and the relay runs. */
  async #connect(
    h: Handshake,
    head: Buffer,
    { route, rule }: RouteMatch,
    request: CanonicalRequest,
    headers: string[],
    grant: AuthGrant | undefined,
  ): Promise<boolean> {
    const { states, balancer } = this.#s;
    const refuse = (
      status: number,
      reason: Refusal["reason"],
      message: string,
      extra?: Record<string, string>,
    ) =>
      this.#refuse(h, {
        namespace: route.namespace,
        route: route.name,
        status,
        reason,
        message,
        ...(extra ? { headers: extra } : {}),
      });
    const timeouts = route.settings.timeouts;
    // 0s means "no limit" for every timeout of the route. The connect budget starts after auth.
    const connectDeadline = timeouts.connectMs > 0 ? Date.now() + timeouts.connectMs : Infinity;
    const handshakeDeadline = timeouts.handshakeMs > 0 ? h.startedAt + timeouts.handshakeMs : Infinity;
    const tried = new Set<string>();
    let lastFailure: AttemptOutcome | undefined;

    for (;;) {
      const endpoint = balancer.pick(rule, route.settings.policy, tried);
      if (!endpoint) {
        if (tried.size === 0) {
          return refuse(503, "no_ready_endpoint", "no ready endpoint for this route", {
            "Retry-After": this.#s.retryAfter,
          });
        }
        if (lastFailure?.kind === "unreachable" && lastFailure.timedOut) {
          return refuse(504, "backend_timeout", "backend did not accept the connection in time");
        }
        return refuse(502, "backend_refused", "no backend accepted the connection");
      }
      const now = Date.now();
      if (now >= connectDeadline || now >= handshakeDeadline) {
        return refuse(504, "backend_timeout", "backend did not accept the connection in time");
      }
      tried.add(endpoint.id);
      states.acquire(endpoint.id);
      const releaseEndpoint = h.lease.hold(() => states.release(endpoint.id));
      const outcome = await attemptHandshake({
        endpoint,
        path: request.target,
        headers,
        connectTimeoutMs: Math.min(connectDeadline, handshakeDeadline) - now,
        handshakeDeadline,
      });

      if (h.clientGone) {
        if (outcome.kind === "upgraded") outcome.socket.destroy();
        if (outcome.kind === "answered") outcome.response.destroy();
        return false;
      }

      switch (outcome.kind) {
        case "upgraded": {
          states.recordSuccess(endpoint.id);
          const opened: ConnectionOpened = {
            namespace: route.namespace,
            route: route.name,
            backend: endpoint.backend,
            endpoint: endpoint.id,
            client: h.client,
            handshakeMs: Date.now() - h.startedAt,
          };
          try {
            this.#establish(h, head, outcome, opened, route.settings, grant?.expiresAt);
          } catch (err) {
            outcome.socket.destroy(); // the backend leg must not outlive a failed start
            throw err;
          }
          return true;
        }
        case "answered": {
          releaseEndpoint();
          states.recordSuccess(endpoint.id);
          this.#publish(
            h,
            outcome.response.statusCode ?? 502,
            "backend_rejected",
            "the backend refused the handshake",
          );
          passOnAnswer(outcome.response, h.socket);
          return false;
        }
        case "unreachable":
          releaseEndpoint();
          states.recordFailure(endpoint.id, outcome.error.message);
          lastFailure = outcome;
          continue;
        case "timeout":
          return refuse(504, "handshake_timeout", "backend did not complete the handshake in time");
      }
    }
  }

  /** Answers 101 and starts the relay, which from now on owns the lease. */
  #establish(
    h: Handshake,
    head: Buffer,
    outcome: Extract<AttemptOutcome, { kind: "upgraded" }>,
    opened: ConnectionOpened,
    settings: LiveConnection["settings"],
    authExpiresAt?: number,
  ): void {
    const { socket, lease } = h;
    const { response, socket: backend, head: backendHead } = outcome;
    const raw = response.rawHeaders;
    let text = `HTTP/1.1 101 ${response.statusMessage || "Switching Protocols"}\r\n`;
    for (let i = 0; i < raw.length; i += 2) text += `${raw[i]}: ${raw[i + 1]}\r\n`;
    socket.write(`${text}\r\n`);
    (socket as Duplex & { setNoDelay?: (v: boolean) => void }).setNoDelay?.(true);

    const { connections, clock, closeTimeoutMs } = this.#s;
    const now = Date.now();
    const lifetime = settings.timeouts.maxLifetimeMs;
    // ±10% jitter, so a cohort that connected together does not reconnect together.
    const lifetimeEndsAt = lifetime > 0 ? now + lifetime * (0.9 + 0.2 * this.#s.random()) : Infinity;
    const connection: LiveConnection = {
      labels: opened,
      relay: new RelayedConnection(
        socket,
        backend,
        relayOptionsFor(settings, response, { closeTimeoutMs, clock }),
        (end) => {
          connections.delete(connection);
          lease.end();
          const stats = connection.relay.stats;
          const closed: ConnectionClosed = {
            namespace: opened.namespace,
            route: opened.route,
            backend: opened.backend,
            endpoint: opened.endpoint,
            client: opened.client,
            durationMs: Date.now() - connection.openedAt,
            bytesFromClient: stats.bytesFromClient,
            bytesToClient: stats.bytesToClient,
            messagesFromClient: stats.messagesFromClient,
            messagesToClient: stats.messagesToClient,
            code: end.code,
            initiator: end.initiator,
            ...(end.error ? { error: end.error } : {}),
          };
          if (channels.connectionClosed.hasSubscribers) channels.connectionClosed.publish(closed);
        },
      ),
      openedAt: now,
      settings,
      lifetimeEndsAt,
      ...(authExpiresAt === undefined ? {} : { authExpiresAt }),
      drainAt: undefined,
      drainCode: settings.drain.closeCode,
    };
    connections.add(connection);
    if (channels.connectionOpened.hasSubscribers) channels.connectionOpened.publish(opened);
    connection.relay.prime(head, backendHead);
  }
}
