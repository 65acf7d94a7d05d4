/**
 * WebSocket upgrades, as one pipeline: entry (the canonical request) → gates → auth →
 * connect with retry (connect.ts) → establish (the 101 and the relay). Each step either
 * hands the next one what it needs or ends the handshake with a {@link Refused}, and
 * every refusal is answered and published by one function.
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
import type { RouteMatch, RoutingTable } from "../routing/table.js";
import { sessionPinFor } from "./affinity/pin.js";
import type { SessionPin } from "./affinity/session.js";
import { passOnAnswer } from "./answer.js";
import { applyGrant, writeAuthRefusal, type AuthGrant, type AuthRefusal } from "./auth/verdict.js";
import type { RandomSource } from "./balancer.js";
import type { CanonicalRequest } from "./canonical.js";
import { connectWithRetry, type Connected, type ConnectRequest, type NotConnected } from "./connect.js";
import { LiveConnection, type ConnectionRegistry } from "./connections.js";
import { enter, headerPolicy, type Proto, type RequestServices } from "./entry.js";
import { httpVersionOf } from "./h2/extended-connect.js";
import { publishRejection, channels, type ConnectionClosed, type ConnectionOpened } from "./events.js";
import { upstreamHeaders, type ForwardingContext } from "./forwarded.js";
import { admitUpgrade, shutdownRefusal, type Refusal } from "./gates.js";
import { Lease } from "./lease.js";
import { RelayedConnection, type RelayEnd } from "./relay.js";
import { offeredHeaders, relayOptionsFor } from "./relay-setup.js";
import { editHeaders, filterRequestHeaders, redirectLocation, upstreamTarget } from "./request-filters.js";
import { writeRejection } from "./reject.js";
import { withTraceHeaders, type BackendTrace, type RequestTrace } from "./tracing.js";

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
  /** Its trace, when tracing is on. */
  readonly trace: RequestTrace | undefined;
  /** The `Set-Cookie` that pins the session to the endpoint chosen (session affinity). */
  affinityCookie?: string;
}

/**
 * Why a handshake ends without a relay: why connect with retry ended without one (our
 * own refusal, the backend's non-101 answer, the client gone), or the authentication
 * step's refusal (possibly an auth service's own answer, passed on). Every one is
 * answered by one function, `#refuse`.
 */
type Refused = NotConnected | { readonly ok: false; readonly kind: "auth"; readonly refusal: AuthRefusal };

/** What the gates admitted. */
interface Admitted {
  readonly ok: true;
  readonly request: CanonicalRequest;
  readonly match: RouteMatch;
  readonly context: ForwardingContext;
  /** The table in force when the request arrived: read once, used for every step. */
  readonly table: RoutingTable;
}

/** A connect request, with what the handshake does once it is answered. */
interface Connecting extends ConnectRequest {
  readonly sticky: SessionPin | undefined;
  readonly step: BackendTrace | undefined;
}

/** What the authentication step gives a route without auth: no grant. */
const NO_AUTH = { ok: true, grant: undefined } as const;

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
      trace: this.#s.tracer?.start(req, "upgrade"),
    };
    const onError = (): void => void socket.destroy();
    const onClose = (): void => void (h.clientGone = true);
    socket.on("error", onError);
    // `on`, not `once` (a wrapper less per handshake): a socket closes once, and a relayed
    // one has it removed below.
    socket.on("close", onClose);
    let relayed = false;
    let failure: Error | undefined;
    try {
      relayed = await this.#serve(h, head, proto);
      // The relay listens from now on. These listeners would hold the handshake — its
      // request with every header — for the connection's whole life (bench W4: heap per
      // idle connection).
      if (relayed) {
        socket.off("error", onError);
        socket.off("close", onClose);
      }
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

  /** The pipeline. True when the connection is established and its relay owns the lease. */
  async #serve(h: Handshake, head: Buffer, proto: Proto): Promise<boolean> {
    const admitted = this.#admit(h, proto);
    if (!admitted.ok) return this.#refuse(h, admitted);
    // A RequestRedirect is answered here: before auth, and no backend is chosen.
    const redirect = admitted.match.rule.filters?.redirect;
    if (redirect) {
      const location = redirectLocation(admitted.request, proto, admitted.match.rule, redirect);
      writeRejection(h.socket, redirect.statusCode, `redirected to ${location}`, { Location: location });
      return false;
    }
    // A route without auth does not pay for an async step (a promise and a microtask per
    // handshake, bench W5).
    const authenticated = admitted.match.route.settings.auth
      ? await this.#authenticate(h, admitted)
      : NO_AUTH;
    if (!authenticated.ok) return this.#refuse(h, authenticated);
    const { grant } = authenticated;
    // Awaited here rather than in an async #connect: one async frame and its promise less
    // per handshake (bench W5).
    const connecting = this.#connecting(h, admitted, grant);
    const connected = this.#connected(h, connecting, await connectWithRetry(this.#s, connecting));
    if (!connected.ok) return this.#refuse(h, connected);
    try {
      this.#establish(h, head, connected, admitted.match, grant?.expiresAt);
    } catch (err) {
      connected.upgraded.socket.destroy(); // the backend leg must not outlive a failed start
      throw err;
    }
    return true;
  }

  /** Entry and gates: the canonical request, then the checks that need no backend. */
  #admit(h: Handshake, proto: Proto): Admitted | Refused {
    const { req } = h;
    const context = this.#s.forwardingContext(req, proto);
    h.client = context.clientAddress;
    const entry = enter(req);
    if (!entry.ok) {
      h.path = entry.path;
      return { ok: false, kind: "refused", refusal: entry.refusal };
    }
    const request = entry.request;
    h.path = request.path;
    if (this.#s.shuttingDown?.())
      return { ok: false, kind: "refused", refusal: shutdownRefusal(this.#s.retryAfter) };
    const table = this.#s.tables.current;
    const admission = admitUpgrade(req, request, h.client, table, this.#s.limits, h.lease, proto);
    if (!admission.ok) return { ok: false, kind: "refused", refusal: admission };
    h.namespace = admission.match.route.namespace;
    h.route = admission.match.route.name;
    return { ok: true, request, match: admission.match, context, table };
  }

  /**
   * Authentication, after the cheap gates (so floods are limited before they reach an
   * auth service) and before any backend is chosen. It fails closed. No grant on a
   * route without auth.
   */
  async #authenticate(
    h: Handshake,
    { match, context, request }: Admitted,
  ): Promise<{ readonly ok: true; readonly grant: AuthGrant | undefined } | Refused> {
    const auth = match.route.settings.auth;
    if (!auth) return NO_AUTH;
    const endAuth = h.trace?.auth(auth.kind);
    const verdict = await this.#s.auth.check(h.req, auth, context, request);
    endAuth?.(verdict.ok ? "ok" : verdict.reason);
    if (h.clientGone) return { ok: false, kind: "client_gone" };
    return verdict.ok ? { ok: true, grant: verdict.grant } : { ok: false, kind: "auth", refusal: verdict };
  }

  /** What connect with retry is asked: the headers offered upstream, the trace step, the session pin. */
  #connecting(h: Handshake, admitted: Admitted, grant: AuthGrant | undefined): Connecting {
    const { request, match, context, table } = admitted;
    const policy = headerPolicy(table, this.#s.underscores);
    const forwarded = offeredHeaders(
      filterRequestHeaders(
        upstreamHeaders(h.req, request, context, policy, true),
        match.rule,
        policy.identityHeaders,
      ),
      match.route.settings,
    );
    const headers = grant ? applyGrant(forwarded, grant) : forwarded;
    const step = h.trace?.backend();
    return {
      match,
      target: upstreamTarget(request, match.rule),
      headers: step ? withTraceHeaders(headers, step) : headers,
      startedAt: h.startedAt,
      lease: h.lease,
      client: h,
      // Set whether or not they are given: one object shape, and no spread copies (bench W5).
      onAttempt: step ? (id: string) => step.attempt(id) : undefined,
      sticky: sessionPinFor(match.route, this.#s.affinityKey, h.req, request, context),
      step,
    };
  }

  /** Connect with retry answered: the session pin's cookie and event, the trace step's end. */
  #connected(
    h: Handshake,
    { match, sticky: pin, step }: Connecting,
    connected: Connected | NotConnected,
  ): Connected | NotConnected {
    if (pin && (connected.ok || connected.kind === "answered")) {
      pin.publish(match.route.namespace, match.route.name);
      // Issued on the 101 itself: the upgrade may be a session's first request (Traefik's #3343).
      if (connected.ok) h.affinityCookie = pin.setCookieFor(connected.endpoint.id);
    }
    step?.end(
      connected.ok ? "upgraded" : connected.kind === "refused" ? connected.refusal.reason : connected.kind,
    );
    return connected;
  }

  /** Answers and publishes every way a handshake ends without a relay. Always false. */
  #refuse(h: Handshake, refused: Refused): false {
    switch (refused.kind) {
      case "refused": {
        const { refusal } = refused;
        if (refusal.route) {
          h.namespace = refusal.namespace;
          h.route = refusal.route;
        }
        this.#publish(h, refusal.status, refusal.reason, refusal.message);
        writeRejection(h.socket, refusal.status, refusal.message, refusal.headers);
        break;
      }
      case "auth":
        this.#publish(h, refused.refusal.status, refused.refusal.reason, refused.refusal.message);
        writeAuthRefusal(h.socket, refused.refusal);
        break;
      case "answered":
        this.#publish(
          h,
          refused.response.statusCode ?? 502,
          "backend_rejected",
          "the backend refused the handshake",
        );
        passOnAnswer(refused.response, h.socket);
        break;
      case "client_gone":
        h.trace?.refused(h, 0, "client_gone");
        break;
    }
    return false;
  }

  #publish(h: Handshake, status: number, reason: Refusal["reason"], detail: string): void {
    const { namespace, route, client, path } = h;
    const overHttp2 = httpVersionOf(h.req) === "2";
    publishRejection(true, {
      namespace,
      route,
      status,
      reason,
      client,
      path,
      detail,
      ...(overHttp2 ? { httpVersion: "2" as const } : {}),
    });
    h.trace?.refused(h, status, reason);
  }

  /** Answers 101 and starts the relay, which from now on owns the lease. */
  #establish(
    h: Handshake,
    head: Buffer,
    { endpoint, upgraded }: Connected,
    { route, rule }: RouteMatch,
    authExpiresAt: number | undefined,
  ): void {
    const { socket, lease } = h;
    const { response, socket: backend, head: backendHead } = upgraded;
    const edits = rule.filters?.responseHeaders;
    const raw = edits ? editHeaders(response.rawHeaders, edits) : response.rawHeaders;
    // Joined once, as the request head is (upstream/request-head.ts): no intermediate
    // strings per line, no flat copy when written (bench W5).
    const parts = new Array<string>(raw.length * 2 + 5);
    parts[0] = `HTTP/1.1 101 ${response.statusMessage || "Switching Protocols"}\r\n`;
    let n = 1;
    for (let i = 0; i < raw.length; i += 2) {
      parts[n++] = raw[i] as string;
      parts[n++] = ": ";
      parts[n++] = raw[i + 1] as string;
      parts[n++] = "\r\n";
    }
    if (h.affinityCookie) parts[n++] = `Set-Cookie: ${h.affinityCookie}\r\n`;
    parts[n++] = "\r\n";
    parts.length = n;
    // latin1, as Node's parser read the header values: byte for byte what the backend sent
    // (UTF-8 would re-encode every byte ≥ 0x80), and cheaper to encode.
    socket.write(parts.join(""), "latin1");
    (socket as Duplex & { setNoDelay?: (v: boolean) => void }).setNoDelay?.(true);

    const { connections, clock, closeTimeoutMs } = this.#s;
    const settings = route.settings;
    const opened: ConnectionOpened = {
      namespace: route.namespace,
      route: route.name,
      backend: endpoint.backend,
      endpoint: endpoint.id,
      client: h.client,
      httpVersion: httpVersionOf(h.req),
      handshakeMs: Date.now() - h.startedAt,
    };
    const now = Date.now();
    const lifetime = settings.timeouts.maxLifetimeMs;
    // ±10% jitter, so a cohort that connected together does not reconnect together.
    const lifetimeEndsAt = lifetime > 0 ? now + lifetime * (0.9 + 0.2 * this.#s.random()) : Infinity;
    const traced = h.trace?.established({ ...opened, path: h.path });
    const relay = new RelayedConnection(
      socket,
      backend,
      relayOptionsFor(settings, response, { closeTimeoutMs, clock }),
      (end) => {
        connections.delete(connection);
        lease.end();
        if (channels.connectionClosed.hasSubscribers || traced) {
          const closed = closedEvent(connection, end);
          if (channels.connectionClosed.hasSubscribers) channels.connectionClosed.publish(closed);
          traced?.closed(closed);
        }
      },
    );
    const connection = new LiveConnection({
      labels: opened,
      relay,
      openedAt: now,
      settings,
      ruleKey: rule.key,
      lifetimeEndsAt,
      authExpiresAt,
    });
    connections.add(connection);
    if (channels.connectionOpened.hasSubscribers) channels.connectionOpened.publish(opened);
    relay.prime(head, backendHead);
  }
}

/** The event of a connection that ended. */
function closedEvent(connection: LiveConnection, end: RelayEnd): ConnectionClosed {
  const { labels, relay } = connection;
  const stats = relay.stats;
  return {
    namespace: labels.namespace,
    route: labels.route,
    backend: labels.backend,
    endpoint: labels.endpoint,
    client: labels.client,
    ...(labels.httpVersion ? { httpVersion: labels.httpVersion } : {}),
    durationMs: Date.now() - connection.openedAt,
    bytesFromClient: stats.bytesFromClient,
    bytesToClient: stats.bytesToClient,
    messagesFromClient: stats.messagesFromClient,
    messagesToClient: stats.messagesToClient,
    code: end.code,
    initiator: end.initiator,
    ...(end.error ? { error: end.error } : {}),
  };
}
