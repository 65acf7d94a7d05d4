/**
 * The gateway: serves WebSocket upgrades and plain HTTP requests against the
 * routing table in force. It reads the table once per request and never holds it,
 * so a swap affects new requests only and never an established connection.
 */
import http from "node:http";
import type { Duplex } from "node:stream";
import type { RoutingTable } from "../routing/table.js";
import { Balancer, type RandomSource } from "./balancer.js";
import { ConnectionRegistry, type LiveConnection } from "./connections.js";
import { EndpointStates } from "./endpoint-state.js";
import {
  channels,
  type ConnectionClosed,
  type ConnectionOpened,
  type HandshakeRejected,
  type RejectionReason,
} from "./events.js";
import { upstreamHeaders, type ForwardingContext } from "./forwarded.js";
import { checkHandshake, pathOf } from "./handshake.js";
import { HttpForwarder } from "./http-forwarder.js";
import { relay } from "./relay.js";
import { writeRejection } from "./reject.js";
import { attemptHandshake, type AttemptOutcome } from "./upstream.js";

/** Where the gateway reads the table in force (the table holder, in practice). */
export interface TableSource {
  readonly current: RoutingTable;
}

export interface GatewayOptions {
  readonly tables: TableSource;
  readonly states?: EndpointStates;
  readonly random?: RandomSource;
  /** Seconds suggested to clients in `Retry-After` when no endpoint is ready. */
  readonly retryAfterSeconds?: number;
}

/** Largest backend rejection body passed on to the client. */
const MAX_ANSWER_BODY = 64 * 1024;

function clientAddress(socket: Duplex & { remoteAddress?: string }): string {
  const address = socket.remoteAddress ?? "";
  return address.startsWith("::ffff:") ? address.slice(7) : address;
}

export class Gateway {
  readonly states: EndpointStates;
  readonly connections = new ConnectionRegistry();
  readonly #tables: TableSource;
  readonly #balancer: Balancer;
  readonly #http: HttpForwarder;
  readonly #retryAfter: string;

  constructor(options: GatewayOptions) {
    this.#tables = options.tables;
    this.states = options.states ?? new EndpointStates();
    this.#balancer = new Balancer(this.states, options.random);
    this.#http = new HttpForwarder(this.states, this.#balancer);
    this.#retryAfter = String(options.retryAfterSeconds ?? 5);
  }

  /** Wires the gateway into an HTTP (or HTTPS) server. */
  attach(server: http.Server, proto: ForwardingContext["proto"]): void {
    server.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      void this.handleUpgrade(req, socket, head, proto);
    });
    server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
      this.#http.handle(req, res, this.#tables.current, proto);
    });
    server.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => {
      const status = err.code === "HPE_HEADER_OVERFLOW" ? 431 : 400;
      writeRejection(socket, status, status === 431 ? "request headers too large" : "malformed HTTP request");
    });
  }

  /** Ends every established connection now (shutdown without drain). */
  destroyAll(): void {
    for (const connection of this.connections) {
      connection.client.destroy();
      connection.backend.destroy();
    }
  }

  async handleUpgrade(
    req: http.IncomingMessage,
    socket: Duplex,
    head: Buffer,
    proto: ForwardingContext["proto"],
  ): Promise<void> {
    const startedAt = Date.now();
    const client = clientAddress(req.socket);
    const path = pathOf(req.url);
    let clientGone = false;
    socket.on("error", () => socket.destroy());
    socket.once("close", () => (clientGone = true));

    const reject = (
      namespace: string,
      route: string,
      status: number,
      reason: RejectionReason,
      message: string,
      headers?: Record<string, string>,
    ): void => {
      const event: HandshakeRejected = { namespace, route, status, reason, client, path, detail: message };
      if (channels.handshakeRejected.hasSubscribers) channels.handshakeRejected.publish(event);
      writeRejection(socket, status, message, headers);
    };

    const check = checkHandshake(req);
    if (!check.ok) return reject("", "", check.status, check.reason, check.message, check.headers);

    const match = this.#tables.current.match(req.headers.host ?? "", path);
    if (!match) return reject("", "", 404, "no_route", `no route for ${req.headers.host ?? ""}${path}`);
    const { route, rule } = match;
    const { namespace, name } = route;
    const timeouts = route.settings.timeouts;
    // 0s means "no limit" for every timeout of the route.
    const connectDeadline = timeouts.connectMs > 0 ? startedAt + timeouts.connectMs : Infinity;
    const handshakeDeadline = timeouts.handshakeMs > 0 ? startedAt + timeouts.handshakeMs : Infinity;
    const headers = upstreamHeaders(req, { clientAddress: client, proto }, true);
    const tried = new Set<string>();
    let lastFailure: AttemptOutcome | undefined;

    for (;;) {
      const endpoint = this.#balancer.pick(rule, route.settings.policy, tried);
      if (!endpoint) {
        if (tried.size === 0) {
          return reject(namespace, name, 503, "no_ready_endpoint", "no ready endpoint for this route", {
            "Retry-After": this.#retryAfter,
          });
        }
        if (lastFailure?.kind === "unreachable" && lastFailure.timedOut) {
          return reject(
            namespace,
            name,
            504,
            "backend_timeout",
            "backend did not accept the connection in time",
          );
        }
        return reject(namespace, name, 502, "backend_refused", "no backend accepted the connection");
      }
      const now = Date.now();
      if (now >= connectDeadline || now >= handshakeDeadline) {
        return reject(
          namespace,
          name,
          504,
          "backend_timeout",
          "backend did not accept the connection in time",
        );
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
        if (outcome.kind === "upgraded") outcome.socket.destroy();
        if (outcome.kind === "answered") outcome.response.destroy();
        return;
      }

      switch (outcome.kind) {
        case "upgraded": {
          this.states.recordSuccess(endpoint.id);
          this.#establish(socket, head, outcome, {
            namespace,
            route: name,
            backend: endpoint.backend,
            endpoint: endpoint.id,
            client,
            handshakeMs: Date.now() - startedAt,
          });
          return;
        }
        case "answered": {
          this.states.release(endpoint.id);
          this.states.recordSuccess(endpoint.id);
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
          return reject(
            namespace,
            name,
            504,
            "handshake_timeout",
            "backend did not complete the handshake in time",
          );
      }
    }
  }

  #establish(
    socket: Duplex,
    head: Buffer,
    outcome: Extract<AttemptOutcome, { kind: "upgraded" }>,
    opened: ConnectionOpened,
  ): void {
    const { response, socket: backend, head: backendHead } = outcome;
    const raw = response.rawHeaders;
    let text = `HTTP/1.1 101 ${response.statusMessage || "Switching Protocols"}\r\n`;
    for (let i = 0; i < raw.length; i += 2) text += `${raw[i]}: ${raw[i + 1]}\r\n`;
    socket.write(`${text}\r\n`);
    if (backendHead.length > 0) socket.write(backendHead);
    if (head.length > 0) backend.write(head);
    (socket as Duplex & { setNoDelay?: (v: boolean) => void }).setNoDelay?.(true);

    const connection: LiveConnection = {
      labels: opened,
      stats: { bytesFromClient: head.length, bytesToClient: backendHead.length },
      openedAt: Date.now(),
      client: socket,
      backend,
    };
    this.connections.add(connection);
    if (channels.connectionOpened.hasSubscribers) channels.connectionOpened.publish(opened);
    relay(socket, backend, connection.stats, (end) => {
      this.connections.delete(connection);
      this.states.release(opened.endpoint);
      const closed: ConnectionClosed = {
        namespace: opened.namespace,
        route: opened.route,
        backend: opened.backend,
        endpoint: opened.endpoint,
        client: opened.client,
        durationMs: Date.now() - connection.openedAt,
        bytesFromClient: connection.stats.bytesFromClient,
        bytesToClient: connection.stats.bytesToClient,
        initiator: end.initiator,
        ...(end.error ? { error: end.error } : {}),
      };
      if (channels.connectionClosed.hasSubscribers) channels.connectionClosed.publish(closed);
    });
  }
}

/** Passes a backend's non-101 answer (e.g. 403 from the app) on to the client, then closes. */
function passOnAnswer(response: http.IncomingMessage, socket: Duplex): void {
  const chunks: Buffer[] = [];
  let size = 0;
  response.on("data", (chunk: Buffer) => {
    if (size < MAX_ANSWER_BODY) chunks.push(chunk.subarray(0, MAX_ANSWER_BODY - size));
    size += chunk.length;
  });
  const finish = (): void => {
    const body = Buffer.concat(chunks);
    const raw = response.rawHeaders;
    let text = `HTTP/1.1 ${response.statusCode ?? 502} ${response.statusMessage ?? ""}\r\n`;
    for (let i = 0; i < raw.length; i += 2) {
      const lower = (raw[i] as string).toLowerCase();
      if (lower === "content-length" || lower === "transfer-encoding" || lower === "connection") continue;
      text += `${raw[i]}: ${raw[i + 1]}\r\n`;
    }
    text += `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
    socket.once("finish", () => socket.destroy());
    socket.end(Buffer.concat([Buffer.from(text), body]));
    response.destroy();
  };
  response.once("end", finish);
  response.once("error", () => writeRejection(socket, 502, "backend failed while answering the handshake"));
}
