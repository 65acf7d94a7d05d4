/**
 * What authentication decides, and how the decision is applied: an admitted request
 * gets headers removed and set on its way upstream; a refused one gets an honest HTTP
 * answer (ours, or the auth service's own).
 */
import type { ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { RejectionReason } from "../events.js";
import { isFramingHeader, writeAnswer, writeRejection } from "../reject.js";
import { withoutBearerProtocol } from "./tokens.js";

/** The changes an admitted request carries upstream. */
export interface AuthGrant {
  /** Lower-case names of client headers dropped before `set` is added (spoofed identity headers). */
  readonly remove: ReadonlySet<string>;
  /** Headers for the backend: claims, or an auth service's response headers. */
  readonly set: readonly (readonly [string, string])[];
  /** Drop `base64url.bearer.authorization.k8s.io.*` entries from Sec-WebSocket-Protocol. */
  readonly stripBearerProtocol: boolean;
  /** When a live connection must be closed (ms since epoch): the token's `exp`, with closeOnExpiry. */
  readonly expiresAt?: number;
}

/** An auth service's own answer, passed to the client as it came. */
export interface PassedAnswer {
  readonly statusMessage: string;
  readonly headers: readonly (readonly [string, string])[];
  readonly body: Buffer;
}

export interface AuthRefusal {
  readonly status: number;
  readonly reason: Extract<
    RejectionReason,
    "unauthorized" | "forbidden" | "auth_denied" | "auth_unavailable"
  >;
  /** Why, for logs and (when there is no `answer`) for the response body. Never carries a token. */
  readonly message: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly answer?: PassedAnswer;
}

export type AuthVerdict =
  { readonly ok: true; readonly grant: AuthGrant } | ({ readonly ok: false } & AuthRefusal);

/** Applies a grant to the flat `[name, value, …]` headers of a request going upstream (either path). */
export function applyGrant(flat: readonly string[], grant: AuthGrant): string[] {
  const out: string[] = [];
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i] as string;
    let value = flat[i + 1] as string;
    const lower = name.toLowerCase();
    if (grant.remove.has(lower)) continue;
    if (grant.stripBearerProtocol && lower === "sec-websocket-protocol") {
      const rest = withoutBearerProtocol(value);
      if (rest === undefined) continue;
      value = rest;
    }
    out.push(name, value);
  }
  for (const [name, value] of grant.set) out.push(name, value);
  return out;
}

/** Answers a refused upgrade on its raw socket, then closes it. */
export function writeAuthRefusal(socket: Duplex, refusal: AuthRefusal): void {
  const answer = refusal.answer;
  if (!answer) {
    writeRejection(socket, refusal.status, refusal.message, refusal.headers);
    return;
  }
  writeAnswer(socket, refusal.status, answer.statusMessage, answer.headers, answer.body);
}

/** Answers a refused plain HTTP request. */
export function sendAuthRefusal(res: ServerResponse, refusal: AuthRefusal): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const answer = refusal.answer;
  if (!answer) {
    res.writeHead(refusal.status, { "Content-Type": "text/plain; charset=utf-8", ...refusal.headers });
    res.end(`${refusal.message}\n`);
    return;
  }
  const headers: [string, string][] = [];
  for (const [name, value] of answer.headers) {
    if (!isFramingHeader(name)) headers.push([name, value]);
  }
  headers.push(["Content-Length", String(answer.body.length)]);
  res.writeHead(refusal.status, answer.statusMessage || undefined, headers.flat());
  res.end(answer.body);
}
