/**
 * The oracle of the backend-head differential tests: the upgrade attempt as it was
 * before the gateway read the backend's 101 itself — Node's `http.request` writing the
 * head and Node's client parser reading the answer (src/dataplane/upstream.ts at 0e15c1d,
 * kept verbatim apart from names).
 */
import http from "node:http";
import type { Socket } from "node:net";
import { connectEndpoint } from "../../src/dataplane/backend-tls.js";
import type { AttemptOptions } from "../../src/dataplane/upstream.js";

export type NodeClientOutcome =
  | { kind: "upgraded"; response: http.IncomingMessage; socket: Socket; head: Buffer }
  | { kind: "answered"; response: http.IncomingMessage }
  | { kind: "unreachable"; error: Error; timedOut: boolean; tlsFailed?: boolean }
  | { kind: "timeout" };

export function nodeClientAttempt(options: AttemptOptions): Promise<NodeClientOutcome> {
  const { endpoint } = options;
  return new Promise((resolve) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const settle = (outcome: NodeClientOutcome): void => {
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
