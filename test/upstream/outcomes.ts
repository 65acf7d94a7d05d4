/**
 * An attempt's outcome as comparable data: for an upgrade, the head and every byte the
 * backend sent after it; for an answer, its status, headers and whole body; for a
 * failure, its kind and error code. Reading consumes the outcome (sockets are read to
 * their end and closed).
 */
import type http from "node:http";
import type { Socket } from "node:net";
import { answeredExtensions, type BackendHead } from "../../src/dataplane/upstream/response-head.js";
import type { AttemptOutcome } from "../../src/dataplane/upstream.js";
import type { NodeClientOutcome } from "./node-client-attempt.js";

export type Observed =
  | {
      kind: "upgraded";
      statusMessage: string | undefined;
      rawHeaders: string[];
      /** What the relay would be told was negotiated. */
      extensions: string;
      /** `head` and the socket's later bytes, up to the backend's FIN. */
      stream: string;
    }
  | {
      kind: "answered";
      statusCode: number | undefined;
      statusMessage: string | undefined;
      rawHeaders: string[];
      body: string;
    }
  | { kind: "unreachable"; code: string | undefined; timedOut: boolean; tlsFailed: boolean }
  | { kind: "timeout" };

/** Reads `socket` to its end (or close), after `head`, as latin1. */
function readToEnd(socket: Socket, head: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const chunks = [head];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", () => undefined);
    socket.once("close", () => resolve(Buffer.concat(chunks).toString("latin1")));
    socket.once("end", () => socket.destroy());
  });
}

function readBody(response: http.IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    response.on("data", (chunk: Buffer) => chunks.push(chunk));
    response.once("end", () => {
      resolve(Buffer.concat(chunks).toString("latin1"));
      response.destroy();
    });
    response.once("error", () => resolve(`${Buffer.concat(chunks).toString("latin1")}<error>`));
    response.once("close", () => resolve(`${Buffer.concat(chunks).toString("latin1")}<closed>`));
  });
}

/** The comparable form of the gateway's outcome. */
export function observe(outcome: AttemptOutcome): Promise<Observed> {
  return observed(outcome, answeredExtensions);
}

/** The comparable form of the oracle's outcome: extensions as `IncomingMessage.headers` has them. */
export function observeNodeClient(outcome: NodeClientOutcome): Promise<Observed> {
  return observed(outcome, (response) => nodeExtensions(response as http.IncomingMessage));
}

async function observed(
  outcome: AttemptOutcome | NodeClientOutcome,
  extensionsOf: (response: BackendHead) => string,
): Promise<Observed> {
  switch (outcome.kind) {
    case "upgraded": {
      const { response } = outcome;
      return {
        kind: "upgraded",
        statusMessage: response.statusMessage,
        rawHeaders: [...response.rawHeaders],
        extensions: extensionsOf(response),
        stream: await readToEnd(outcome.socket, outcome.head),
      };
    }
    case "answered": {
      const { response } = outcome;
      return {
        kind: "answered",
        statusCode: response.statusCode,
        statusMessage: response.statusMessage,
        rawHeaders: [...response.rawHeaders],
        body: await readBody(response),
      };
    }
    case "unreachable":
      return {
        kind: "unreachable",
        code: (outcome.error as NodeJS.ErrnoException).code,
        timedOut: outcome.timedOut,
        tlsFailed: outcome.tlsFailed === true,
      };
    case "timeout":
      return { kind: "timeout" };
  }
}

/** What Node's `IncomingMessage.headers` says was negotiated (the relay read this before). */
export function nodeExtensions(response: http.IncomingMessage): string {
  const header = response.headers["sec-websocket-extensions"] ?? "";
  return Array.isArray(header) ? header.join(", ") : header;
}
