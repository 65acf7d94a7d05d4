/**
 * An in-process gateway wired like `wsgate serve` (store → recompiler → holder →
 * gateway → real HTTP listener on port 0), with the table set directly by tests.
 */
import http from "node:http";
import type net from "node:net";
import type { AddressInfo } from "node:net";
import WebSocket, { type ClientOptions } from "ws";
import type { AuthenticatorOptions } from "../../src/dataplane/auth/authenticator.js";
import type { HealthView, RandomSource } from "../../src/dataplane/balancer.js";
import type { ClientAddressHeader, TrustedProxies } from "../../src/dataplane/client-identity.js";
import type { EndpointStates } from "../../src/dataplane/endpoint-state.js";
import { channels } from "../../src/dataplane/events.js";
import { Gateway } from "../../src/dataplane/gateway.js";
import { createProxyProtocolServer } from "../../src/dataplane/proxy-protocol.js";
import { TableHolder } from "../../src/routing/holder.js";
import { Recompiler } from "../../src/routing/recompiler.js";
import { ObjectStore, type StoredObject } from "../../src/routing/store.js";
import type { RoutingTable } from "../../src/routing/table.js";

export interface TestGateway {
  readonly store: ObjectStore;
  readonly holder: TableHolder;
  readonly gateway: Gateway;
  readonly port: number;
  /** `ws://127.0.0.1:PORT{path}`. */
  url(path?: string): string;
  /** Replaces every object and publishes the compiled table at once. */
  apply(objects: readonly StoredObject[]): RoutingTable;
  close(): Promise<void>;
}

export interface TestGatewayOptions {
  readonly random?: RandomSource;
  readonly sweepIntervalMs?: number;
  readonly closeTimeoutMs?: number;
  readonly trustedProxies?: TrustedProxies;
  /** The header read for the client address behind a trusted proxy (`--client-address-header`). */
  readonly clientAddressHeader?: ClientAddressHeader;
  /** Listen behind a PROXY protocol reader, as with `--proxy-protocol`. */
  readonly proxyProtocol?: boolean;
  /** Clock skew and jwksUri fetching of the gateway's authentication. */
  readonly auth?: AuthenticatorOptions;
  /** Active health checks (a HealthProber), as `wsgate serve` wires them. */
  readonly health?: HealthView;
  /** Endpoint states (a test may pass its own to inject a fault or read counts). */
  readonly states?: EndpointStates;
  /** `--underscores-in-headers`. */
  readonly underscoresInHeaders?: boolean;
}

export async function startTestGateway(options: TestGatewayOptions = {}): Promise<TestGateway> {
  const store = new ObjectStore();
  const holder = new TableHolder();
  const recompiler = new Recompiler(store, holder, { ingressClass: "wsgate" });
  const { proxyProtocol, ...gatewayOptions } = options;
  const gateway = new Gateway({
    tables: holder,
    sweepIntervalMs: 20,
    closeTimeoutMs: 5_000,
    ...gatewayOptions,
  });
  // As `wsgate serve` does: every publish lets the gateway schedule drains.
  holder.onPublish((p) => gateway.reconcile(p.table));
  gateway.start();
  const server = http.createServer();
  gateway.attach(server, "http");
  const listener: net.Server = proxyProtocol
    ? createProxyProtocolServer(server, {
        ...(options.trustedProxies ? { trusted: options.trustedProxies } : {}),
      })
    : server;
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
  const port = (listener.address() as AddressInfo).port;
  return {
    store,
    holder,
    gateway,
    port,
    url: (path = "/") => `ws://127.0.0.1:${port}${path}`,
    apply(objects) {
      store.replaceAll(objects);
      recompiler.compileNow();
      return holder.current;
    },
    async close() {
      recompiler.stop();
      gateway.destroyAll();
      await gateway.connections.whenEmpty();
      gateway.stop();
      server.closeAllConnections();
      if (listener !== server) await new Promise<void>((resolve) => listener.close(() => resolve()));
      else await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Opens a client and resolves once the handshake succeeded. */
export function connect(
  url: string,
  protocols?: string | string[],
  options: ClientOptions = {},
): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { maxPayload: 64 * 1024 * 1024, ...options });
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
    ws.once("unexpected-response", (_req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
  });
}

export interface Refusal {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** Attempts a handshake that must be refused; resolves with the HTTP answer. */
export function expectRefusal(url: string, options: ClientOptions = {}): Promise<Refusal> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    ws.once("open", () => {
      ws.terminate();
      reject(new Error("handshake unexpectedly succeeded"));
    });
    ws.once("unexpected-response", (_req, res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    ws.once("error", (err) => reject(err));
  });
}

/** Sends one message and resolves with the next message received. */
export function roundTrip(
  ws: WebSocket,
  data: string | Buffer,
): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve, reject) => {
    ws.once("message", (d, isBinary) => resolve({ data: d as Buffer, isBinary }));
    ws.once("error", reject);
    ws.send(data);
  });
}

/** Sends `text` and resolves with the next message as text (an echo backend's answer). */
export async function ask(ws: WebSocket, text: string): Promise<string> {
  return String((await roundTrip(ws, text)).data);
}

/**
 * Opens a client on the gateway's HTTP listener `port` for `host` and `path`, in `clients`
 * (the test's list to terminate) from the start, so that a handshake that hangs is ended
 * too; a refusal rejects with `HTTP <status>`.
 */
export function openAs(
  port: number,
  host: string,
  path = "/",
  clients: WebSocket[] = [],
  headers: Record<string, string> = {},
): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers: { Host: host, ...headers } });
    clients.push(ws);
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
    ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

/** Closes a client and resolves when its TCP connection is gone. */
export function closeClient(ws: WebSocket, code = 1000): Promise<void> {
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) return resolve();
    ws.once("close", () => resolve());
    ws.close(code);
  });
}

/**
 * Resolves after `count` more connections were closed by the gateway (its
 * counts are released by then) — the signal to wait for instead of a sleep.
 */
export function gatewayClosed(count: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    const handler = (): void => {
      if (++seen === count) {
        channels.connectionClosed.unsubscribe(handler);
        resolve();
      }
    };
    channels.connectionClosed.subscribe(handler);
  });
}
