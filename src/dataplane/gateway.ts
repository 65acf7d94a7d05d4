/**
 * The gateway: serves WebSocket upgrades (upgrade.ts) and plain HTTP requests
 * (http-forwarder.ts) against the routing table in force. It reads the table once
 * per request and never holds it, so a swap affects new requests only and never an
 * established connection. It owns what outlives a request: endpoint states, limits,
 * the registry of live connections and the sweep over them.
 */
import type http from "node:http";
import type { Duplex } from "node:stream";
import type { RoutingTable } from "../routing/table.js";
import { AffinityKey } from "./affinity/token.js";
import { Authenticator, type AuthenticatorOptions } from "./auth/authenticator.js";
import { Balancer, type HealthView, type RandomSource } from "./balancer.js";
import { TrustedProxies, clientAddress, plainAddress, type ClientAddressHeader } from "./client-identity.js";
import { ConnectionRegistry } from "./connections.js";
import { planEndpointDrains, planShutdownDrain } from "./drain.js";
import { EndpointStates } from "./endpoint-state.js";
import { onConnectRequests } from "./h2/extended-connect.js";
import { presentAsHttp1 } from "./h2/request-view.js";
import { sessionsOf } from "./h2/sessions.js";
import type { Proto, TableSource, RequestServices } from "./entry.js";
import type { ForwardingContext } from "./forwarded.js";
import { HttpForwarder } from "./http-forwarder.js";
import { Limits } from "./limits.js";
import { Rebalancer, type WorkerShare } from "./rebalance/rebalancer.js";
import { writeRejection } from "./reject.js";
import { Sweeper } from "./sweeper.js";
import type { RequestTracer } from "./tracing.js";
import { UpgradeHandler } from "./upgrade.js";

export type { TableSource } from "./entry.js";

/**
 * The peer address, recorded when the connection arrives: Node forgets `remoteAddress`
 * once a socket is destroyed, and a client that resets right after its request must not
 * become the anonymous client "" (one shared limit bucket, an empty X-Forwarded-For).
 */
const PEER = Symbol("wsgate.peer");
type PeerSocket = {
  remoteAddress?: string | undefined;
  proxiedAddress?: string;
  [PEER]?: string | undefined;
};

function recordPeer(socket: PeerSocket): void {
  socket[PEER] ??= socket.remoteAddress;
}

/**
 * Who is on the other end of the connection: the PROXY header's client, else the TCP peer.
 * Undefined for a connection reset before Node could ask the kernel: nobody is left to
 * answer, and a request nobody can be named for is not passed on.
 */
function peerOf(socket: PeerSocket): string | undefined {
  return socket.proxiedAddress ?? socket[PEER] ?? socket.remoteAddress;
}

/** What an HTTP/2 WebSocket sent with its handshake: nothing (its DATA is read from the stream). */
const NO_BYTES = Buffer.alloc(0);

/** Node's parser errors that have a status of their own (the rest are 400). */
const CLIENT_ERRORS: Readonly<Record<string, readonly [number, string]>> = {
  HPE_HEADER_OVERFLOW: [431, "request headers too large"],
  // --header-timeout (headersTimeout) or requestTimeout passed before the request was complete.
  ERR_HTTP_REQUEST_TIMEOUT: [408, "request not received in time"],
};

export interface GatewayOptions {
  readonly tables: TableSource;
  readonly states?: EndpointStates;
  /** Route and client limits; data-plane workers share one across threads (src/workers). */
  readonly limits?: Limits;
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
  /**
   * Pass client header names containing `_` on to backends (`--underscores-in-headers`).
   * Default false: they are dropped, as nginx does, since many servers read `X_User_Id`
   * as `X-User-Id`.
   */
  readonly underscoresInHeaders?: boolean;
  /** Traces of handshakes and plain HTTP requests (`--otlp-endpoint`); none by default. */
  readonly tracer?: RequestTracer;
  /**
   * With `--workers`: which worker this gateway is, so that rebalancing uses its part of each
   * route's `maxClosesPerSecond` (src/dataplane/rebalance). Default: the only one.
   */
  readonly workerShare?: WorkerShare;
  /**
   * The key of session affinity cookies; default a random one. Workers and replicas that
   * must read each other's cookies are given the same key.
   */
  readonly affinityKey?: AffinityKey;
}

export class Gateway {
  readonly states: EndpointStates;
  readonly connections = new ConnectionRegistry();
  readonly limits: Limits;
  /** The coarse clock relays read; advanced by the sweeper. */
  readonly clock = { now: Date.now() };
  readonly #trusted: TrustedProxies;
  readonly #clientAddressHeader: ClientAddressHeader;
  readonly #sweeper: Sweeper;
  readonly #closeTimeoutMs: number;
  readonly #auth: Authenticator;
  readonly #upgrades: UpgradeHandler;
  readonly #http: HttpForwarder;
  readonly #rebalancer: Rebalancer;
  /** Set by {@link drainAll}: from then on handshakes are refused (503 `shutting_down`). */
  #shuttingDown = false;

  constructor(options: GatewayOptions) {
    this.states = options.states ?? new EndpointStates();
    this.limits = options.limits ?? new Limits();
    const random = options.random ?? Math.random;
    this.#auth = new Authenticator(options.auth);
    this.#trusted = options.trustedProxies ?? new TrustedProxies();
    this.#clientAddressHeader = options.clientAddressHeader ?? "X-Forwarded-For";
    this.#closeTimeoutMs = options.closeTimeoutMs ?? 2_000;
    const services: RequestServices = {
      tables: options.tables,
      states: this.states,
      balancer: new Balancer(this.states, random, options.health),
      limits: this.limits,
      auth: this.#auth,
      retryAfter: String(options.retryAfterSeconds ?? 5),
      underscores: options.underscoresInHeaders ?? false,
      forwardingContext: (req, proto) => this.forwardingContext(req, proto),
      ...(options.tracer ? { tracer: options.tracer } : {}),
      affinityKey: options.affinityKey ?? AffinityKey.generate(),
      shuttingDown: () => this.#shuttingDown,
    };
    this.#upgrades = new UpgradeHandler({
      ...services,
      connections: this.connections,
      clock: this.clock,
      random,
      closeTimeoutMs: this.#closeTimeoutMs,
    });
    this.#http = new HttpForwarder(services);
    this.#rebalancer = new Rebalancer({
      tables: options.tables,
      connections: this.connections,
      states: this.states,
      health: options.health,
      share: options.workerShare,
    });
    this.#sweeper = new Sweeper(
      {
        connections: this.connections,
        housekeeping: () => {
          this.limits.sweep();
          // Every sweep: moves connections off endpoints over their route's skew bound. The
          // exact time, not the sweep's coarse clock: the close budget's window is exact.
          this.#rebalancer.step(Date.now());
        },
      },
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
    server.on("connection", recordPeer);
    server.on("secureConnection", recordPeer);
    server.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      if (peerOf(req.socket as PeerSocket) === undefined) return void socket.destroy();
      // handle() answers its own failures; this is the last line, should releasing fail.
      this.#upgrades.handle(req, socket, head, proto).catch(() => socket.destroy());
    });
    server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
      if (peerOf(req.socket as PeerSocket) === undefined) return void req.socket.destroy();
      // A plain request on a kept-alive connection while stopping is still served (it ends
      // soon by itself), but closes its connection: the client's next request goes to a
      // replica that stays, instead of racing the listener's close.
      if (this.#shuttingDown && req.httpVersionMajor === 1) res.shouldKeepAlive = false;
      // HTTP/2 (an HTTPS listener with --http2): the same request, read as HTTP/1.1.
      if (req.httpVersionMajor === 2) presentAsHttp1(req);
      this.#http.handle(req, res, proto).catch(() => res.destroy());
    });
    // WebSockets over HTTP/2 (RFC 8441): extended CONNECT enters the upgrade pipeline.
    if (sessionsOf(server)) {
      onConnectRequests(server as unknown as Parameters<typeof onConnectRequests>[0], (req, socket) => {
        if (peerOf(req.socket as PeerSocket) === undefined) return void socket.destroy();
        this.#upgrades.handle(req, socket, NO_BYTES, proto).catch(() => socket.destroy());
      });
    }
    server.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => {
      const [status, message] = CLIENT_ERRORS[err.code ?? ""] ?? [400, "malformed HTTP request"];
      writeRejection(socket, status, message);
    });
  }

  /** Who the client is and what to tell the backend about it. */
  forwardingContext(req: http.IncomingMessage, proto: Proto): ForwardingContext {
    const socket = req.socket as PeerSocket;
    const peer = plainAddress(peerOf(socket));
    const peerTrusted = this.#trusted.has(peer);
    return {
      clientAddress: clientAddress(peer, req.headers, this.#trusted, this.#clientAddressHeader),
      peerAddress: peer,
      peerTrusted,
      extendForwardedFor: peerTrusted && this.#clientAddressHeader === "X-Forwarded-For",
      proto,
    };
  }

  /**
   * After a table swap: drain connections whose endpoint left or is terminating, and
   * rebalance at once where the swap added endpoints (a scale-out) instead of a sweep later.
   */
  reconcile(table: RoutingTable): number {
    const draining = planEndpointDrains(this.connections, table, Date.now());
    this.#rebalancer.step(Date.now());
    return draining;
  }

  /**
   * Shutdown: refuses handshakes from now on (503 `shutting_down`: they arrive on kept-alive
   * connections and HTTP/2 sessions the closed listeners still serve), and closes every
   * connection with 1001, spread over `windowMs`; resolves
   * when all are closed or the window (plus the close timeout) has passed.
   */
  async drainAll(windowMs: number): Promise<void> {
    this.#shuttingDown = true;
    planShutdownDrain(this.connections, windowMs, Date.now());
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
    for (const connection of this.connections) connection.destroy();
  }
}
