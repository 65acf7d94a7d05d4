/**
 * The gateway: serves WebSocket upgrades and plain HTTP requests against the
 * routing table in force. It reads the table once per request and never holds it,
 * so a swap affects new requests only and never an established connection.
 */
import type http from "node:http";
import type { Duplex } from "node:stream";
import type { RoutingTable } from "../routing/table.js";
import { passOnAnswer } from "./answer.js";
import { Authenticator, type AuthenticatorOptions } from "./auth/authenticator.js";
import { applyGrant, writeAuthRefusal, type AuthGrant } from "./auth/verdict.js";
import { answerIfMisdirected, misdirected } from "../tls/misdirected.js";
import { Balancer, type HealthView, type RandomSource } from "./balancer.js";
import { TrustedProxies, clientAddress, plainAddress, type ClientAddressHeader } from "./client-identity.js";
import { ConnectionRegistry, type LiveConnection } from "./connections.js";
import { planEndpointDrains, spread } from "./drain.js";
import { EndpointStates } from "./endpoint-state.js";
import { channels, type ConnectionClosed, type ConnectionOpened, type HandshakeRejected } from "./events.js";
import { upstreamHeaders, type ForwardingContext } from "./forwarded.js";
import { admitUpgrade, type Refusal } from "./gates.js";
import { pathOf } from "./handshake.js";
import { HttpForwarder } from "./http-forwarder.js";
import { Limits } from "./limits.js";
import { RelayedConnection } from "./relay.js";
import { offeredHeaders, relayOptionsFor } from "./relay-setup.js";
import { writeRejection } from "./reject.js";
import { Sweeper } from "./sweeper.js";
import { attemptHandshake, type AttemptOutcome } from "./upstream.js";

/** Where the gateway reads the table in force (the table holder, in practice). */
export interface TableSource {
  readonly current: RoutingTable;
}

export interface GatewayOptions {
  readonly tables: TableSource;
  readonly states?: EndpointStates;
  readonly random?: RandomSource;
  /** Active health checks: endpoints they failed get no new connections. */
  readonly health?: HealthView;
  /** Seconds suggested to clients in `Retry-After` when no endpoint is ready. */
  readonly retryAfterSeconds?: number;
  /** Peers whose X-Forwarded-For / Forwarded headers are believed (`--trusted-proxies`). */
  readonly trustedProxies?: TrustedProxies;
  /** The one header read for the client address behind a trusted proxy (`--client-address-header`). */
  readonly clientAddressHeader?: ClientAddressHeader;
  /** Period of the sweep for idle, lifetime, keepalive and drain (default 250 ms). */
  readonly sweepIntervalMs?: number;
  /** How long a proxy-initiated close waits for the close handshake (default 2 s). */
  readonly closeTimeoutMs?: number;
  /** Authentication tuning: clock skew for `exp`/`nbf`, how `jwksUri` key sets are fetched. */
  readonly auth?: AuthenticatorOptions;
}

/** The scheme a listener serves, and the peer address a PROXY protocol header may have set. */
type Proto = ForwardingContext["proto"];

export class Gateway {
  readonly states: EndpointStates;
  readonly connections = new ConnectionRegistry();
  readonly limits = new Limits();
  /** The coarse clock relays read; advanced by the sweeper. */
  readonly clock = { now: Date.now() };
  readonly #tables: TableSource;
  readonly #balancer: Balancer;
  readonly #http: HttpForwarder;
  readonly #retryAfter: string;
  readonly #trusted: TrustedProxies;
  readonly #clientAddressHeader: ClientAddressHeader;
  readonly #sweeper: Sweeper;
  readonly #closeTimeoutMs: number;
  readonly #random: RandomSource;
  readonly #auth: Authenticator;

  constructor(options: GatewayOptions) {
    this.#tables = options.tables;
    this.states = options.states ?? new EndpointStates();
    this.#random = options.random ?? Math.random;
    this.#balancer = new Balancer(this.states, this.#random, options.health);
    this.#auth = new Authenticator(options.auth);
    this.#http = new HttpForwarder(this.states, this.#balancer, this.#auth);
    this.#retryAfter = String(options.retryAfterSeconds ?? 5);
    this.#trusted = options.trustedProxies ?? new TrustedProxies();
    this.#clientAddressHeader = options.clientAddressHeader ?? "X-Forwarded-For";
    this.#closeTimeoutMs = options.closeTimeoutMs ?? 2_000;
    this.#sweeper = new Sweeper(
      { connections: this.connections, housekeeping: () => this.limits.sweep() },
      this.clock,
      options.sweepIntervalMs ?? 250,
    );
  }

  /** Starts the periodic sweep (idle, lifetime, keepalive, drain). */
  start(): void {
    this.#sweeper.start();
  }

  /** Stops the sweep and the HTTP forwarder's pooled connections. */
  stop(): void {
    this.#sweeper.stop();
    this.#http.close();
    this.#auth.close();
  }

  /** Wires the gateway into an HTTP (or HTTPS) server. */
  attach(server: http.Server, proto: Proto): void {
    server.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      // A bug must cost this handshake, not the process (an unhandled rejection ends it).
      this.handleUpgrade(req, socket, head, proto).catch(() => {
        const written = (socket as Duplex & { bytesWritten?: number }).bytesWritten ?? 0;
        if (written === 0) writeRejection(socket, 500, "internal error");
        else socket.destroy();
      });
    });
    server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
      if (answerIfMisdirected(req, res)) return;
      this.#http.handle(req, res, this.#tables.current, this.forwardingContext(req, proto));
    });
    server.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => {
      const status = err.code === "HPE_HEADER_OVERFLOW" ? 431 : 400;
      writeRejection(socket, status, status === 431 ? "request headers too large" : "malformed HTTP request");
    });
  }

  /** Who the client is and what to tell the backend about it. */
  forwardingContext(req: http.IncomingMessage, proto: Proto): ForwardingContext {
    const socket = req.socket as typeof req.socket & { proxiedAddress?: string };
    const peer = plainAddress(socket.proxiedAddress ?? socket.remoteAddress);
    return {
      clientAddress: clientAddress(peer, req.headers, this.#trusted, this.#clientAddressHeader),
      peerAddress: peer,
      peerTrusted: this.#trusted.has(peer),
      proto,
    };
  }

  /** After a table swap: drain connections whose endpoint left or is terminating. */
  reconcile(table: RoutingTable): number {
    return planEndpointDrains(this.connections, table, Date.now());
  }

  /**
   * Shutdown: closes every connection with 1001, spread over `windowMs`; resolves
   * when all are closed or the window (plus the close timeout) has passed.
   */
  async drainAll(windowMs: number): Promise<void> {
    const now = Date.now();
    const all = [...this.connections].filter((c) => c.drainAt === undefined || c.drainAt > now + windowMs);
    spread(all, windowMs, now, 1001);
    this.#sweeper.start();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, windowMs + this.#closeTimeoutMs);
    });
    await Promise.race([this.connections.whenEmpty(), deadline]);
    clearTimeout(timer);
    this.destroyAll();
  }

  /** Ends every established connection now. */
  destroyAll(): void {
    for (const connection of this.connections) connection.relay.destroy();
  }

  async handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, proto: Proto): Promise<void> {
    const startedAt = Date.now();
    const context = this.forwardingContext(req, proto);
    const client = context.clientAddress;
    const path = pathOf(req.url);
    let clientGone = false;
    socket.on("error", () => socket.destroy());
    socket.once("close", () => (clientGone = true));

    const reject = (refusal: Refusal): void => {
      const { namespace, route, status, reason, message } = refusal;
      const event: HandshakeRejected = { namespace, route, status, reason, client, path, detail: message };
      if (channels.handshakeRejected.hasSubscribers) channels.handshakeRejected.publish(event);
      writeRejection(socket, status, message, refusal.headers);
    };

    const wrongHost = misdirected(req);
    if (wrongHost !== undefined) {
      return reject({ namespace: "", route: "", status: 421, reason: "misdirected", message: wrongHost });
    }
    const admission = admitUpgrade(req, path, client, this.#tables.current, this.limits);
    if (!admission.ok) return reject(admission);
    const { route, rule } = admission.match;
    const { namespace, name } = route;
    let admitted = true;
    const release = (): void => {
      if (admitted) admission.release();
      admitted = false;
    };
    const refuse = (
      status: number,
      reason: Refusal["reason"],
      message: string,
      headers?: Record<string, string>,
    ): void => {
      release();
      reject({ namespace, route: name, status, reason, message, ...(headers ? { headers } : {}) });
    };

    // Authentication, after the cheap gates (so floods are limited before they reach an auth
    // service) and before any backend is chosen. It fails closed.
    let grant: AuthGrant | undefined;
    if (route.settings.auth) {
      const verdict = await this.#auth.check(req, route.settings.auth, context);
      if (clientGone) return release();
      if (!verdict.ok) {
        release();
        const { status, reason, message } = verdict;
        const detail = message;
        const event: HandshakeRejected = { namespace, route: name, status, reason, client, path, detail };
        if (channels.handshakeRejected.hasSubscribers) channels.handshakeRejected.publish(event);
        return writeAuthRefusal(socket, verdict);
      }
      grant = verdict.grant;
    }

    const timeouts = route.settings.timeouts;
    // 0s means "no limit" for every timeout of the route. The connect budget starts after auth.
    const connectDeadline = timeouts.connectMs > 0 ? Date.now() + timeouts.connectMs : Infinity;
    const handshakeDeadline = timeouts.handshakeMs > 0 ? startedAt + timeouts.handshakeMs : Infinity;
    const forwarded = offeredHeaders(upstreamHeaders(req, context, true), route.settings);
    const headers = grant ? applyGrant(forwarded, grant) : forwarded;
    const tried = new Set<string>();
    let lastFailure: AttemptOutcome | undefined;

    for (;;) {
      const endpoint = this.#balancer.pick(rule, route.settings.policy, tried);
      if (!endpoint) {
        if (tried.size === 0) {
          return refuse(503, "no_ready_endpoint", "no ready endpoint for this route", {
            "Retry-After": this.#retryAfter,
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
      this.states.acquire(endpoint.id);
      const outcome = await attemptHandshake({
        endpoint,
        path: req.url ?? "/",
        headers,
        connectTimeoutMs: Math.min(connectDeadline, handshakeDeadline) - now,
        handshakeDeadline,
      });

      if (clientGone) {
        this.states.release(endpoint.id);
        release();
        if (outcome.kind === "upgraded") outcome.socket.destroy();
        if (outcome.kind === "answered") outcome.response.destroy();
        return;
      }

      switch (outcome.kind) {
        case "upgraded": {
          this.states.recordSuccess(endpoint.id);
          const opened: ConnectionOpened = {
            namespace,
            route: name,
            backend: endpoint.backend,
            endpoint: endpoint.id,
            client,
            handshakeMs: Date.now() - startedAt,
          };
          this.#establish(socket, head, outcome, opened, route.settings, release, grant?.expiresAt);
          return;
        }
        case "answered": {
          this.states.release(endpoint.id);
          this.states.recordSuccess(endpoint.id);
          release();
          const event: HandshakeRejected = {
            namespace,
            route: name,
            status: outcome.response.statusCode ?? 502,
            reason: "backend_rejected",
            client,
            path,
          };
          if (channels.handshakeRejected.hasSubscribers) channels.handshakeRejected.publish(event);
          passOnAnswer(outcome.response, socket);
          return;
        }
        case "unreachable":
          this.states.release(endpoint.id);
          this.states.recordFailure(endpoint.id, outcome.error.message);
          lastFailure = outcome;
          continue;
        case "timeout":
          this.states.release(endpoint.id);
          return refuse(504, "handshake_timeout", "backend did not complete the handshake in time");
      }
    }
  }

  #establish(
    socket: Duplex,
    head: Buffer,
    outcome: Extract<AttemptOutcome, { kind: "upgraded" }>,
    opened: ConnectionOpened,
    settings: LiveConnection["settings"],
    release: () => void,
    authExpiresAt?: number,
  ): void {
    const { response, socket: backend, head: backendHead } = outcome;
    const raw = response.rawHeaders;
    let text = `HTTP/1.1 101 ${response.statusMessage || "Switching Protocols"}\r\n`;
    for (let i = 0; i < raw.length; i += 2) text += `${raw[i]}: ${raw[i + 1]}\r\n`;
    socket.write(`${text}\r\n`);
    (socket as Duplex & { setNoDelay?: (v: boolean) => void }).setNoDelay?.(true);

    const now = Date.now();
    const lifetime = settings.timeouts.maxLifetimeMs;
    // ±10% jitter, so a cohort that connected together does not reconnect together.
    const lifetimeEndsAt = lifetime > 0 ? now + lifetime * (0.9 + 0.2 * this.#random()) : Infinity;
    const connection: LiveConnection = {
      labels: opened,
      relay: new RelayedConnection(
        socket,
        backend,
        relayOptionsFor(settings, response, { closeTimeoutMs: this.#closeTimeoutMs, clock: this.clock }),
        (end) => {
          this.connections.delete(connection);
          this.states.release(opened.endpoint);
          release();
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
    this.connections.add(connection);
    if (channels.connectionOpened.hasSubscribers) channels.connectionOpened.publish(opened);
    connection.relay.prime(head, backendHead);
  }
}
