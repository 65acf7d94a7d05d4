/**
 * One attempt at a WebSocket handshake with one endpoint. The outcome says whether
 * the caller may retry on another endpoint: only failures before the backend said
 * anything are retryable — once it answered (101 or not), the answer stands.
 */
import http from "node:http";
import type { Socket } from "node:net";
import type { BackendTls, Endpoint } from "../routing/table.js";
import { connectEndpoint } from "./backend-tls.js";

export type AttemptOutcome =
  | { kind: "upgraded"; response: http.IncomingMessage; socket: Socket; head: Buffer }
  | { kind: "answered"; response: http.IncomingMessage }
  /**
   * No answer: refused, reset, unreachable, or not connected within the connect budget. Retryable.
   * `tlsFailed`: TCP connected, but the TLS handshake with a TLS backend did not complete
   * (its certificate failed verification, or the port speaks no TLS).
   */
  | { kind: "unreachable"; error: Error; timedOut: boolean; tlsFailed?: boolean }
  /** Connected, but no answer before the handshake deadline. Not retried. */
  | { kind: "timeout" };

export interface AttemptOptions {
  readonly endpoint: Endpoint;
  /** The backend's TLS settings: the connection is TLS, verified before the request is sent. */
  readonly tls?: BackendTls | undefined;
  readonly path: string;
  readonly headers: readonly string[];
  /** Time left to establish TCP (Infinity: no limit); the connect budget is shared by all attempts. */
  readonly connectTimeoutMs: number;
  /** Absolute time (ms since epoch, Date.now()) by which the backend must answer; Infinity: no limit. */
  readonly handshakeDeadline: number;
}

export function attemptHandshake(options: AttemptOptions): Promise<AttemptOutcome> {
  const { endpoint } = options;
  return new Promise((resolve) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const settle = (outcome: AttemptOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(outcome);
    };
    const request = http.request({
      host: endpoint.address,
      port: endpoint.port,
      method: "GET",
      path: options.path,
      headers: options.headers as string[],
      setHost: false,
      // One connection per handshake, made directly: `agent: false` would build a
      // throwaway Agent for every request (bench/: W5 CPU per handshake -14%).
      createConnection: () => connectEndpoint(endpoint, options.tls),
    });
    // An infinite budget (a route timeout of 0s) sets no timer at all.
    if (Number.isFinite(options.connectTimeoutMs)) {
      timer = setTimeout(
        () => {
          request.destroy();
          settle({
            kind: "unreachable",
            error: new Error(`connect to ${endpoint.id} timed out`),
            timedOut: true,
          });
        },
        Math.max(1, options.connectTimeoutMs),
      );
    }
    let connected = false;
    let secured = false;
    request.on("socket", (socket) => {
      if (options.tls) socket.once("secureConnect", () => (secured = true));
      socket.once("connect", () => {
        connected = true;
        clearTimeout(timer);
        if (!Number.isFinite(options.handshakeDeadline)) return;
        timer = setTimeout(
          () => {
            request.destroy();
            settle({ kind: "timeout" });
          },
          Math.max(1, options.handshakeDeadline - Date.now()),
        );
      });
    });
    request.on("upgrade", (response, socket, head) => {
      if (settled) {
        socket.destroy();
        return;
      }
      settle({ kind: "upgraded", response, socket, head });
    });
    request.on("response", (response) => {
      if (settled) {
        response.destroy();
        return;
      }
      settle({ kind: "answered", response });
    });
    request.on("error", (error) => {
      const tlsFailed = options.tls !== undefined && connected && !secured;
      settle({ kind: "unreachable", error, timedOut: false, ...(tlsFailed ? { tlsFailed } : {}) });
    });
    request.end();
  });
}
