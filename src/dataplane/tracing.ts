/**
 * The data plane's tracing seam. The data plane knows only these interfaces; the
 * OpenTelemetry implementation lives in observability/tracing.ts and is loaded only
 * with `--otlp-endpoint`. Without it no tracer is injected and every call site is a
 * skipped optional call: tracing off costs nothing.
 *
 * A trace never sees a token: it is given the canonical path (no query string), route
 * and endpoint names, outcomes and reasons — never headers.
 */
import type http from "node:http";
import type { ConnectionClosed } from "./events.js";

/** Starts one trace per request that reaches the gateway. */
export interface RequestTracer {
  /** Continues the client's W3C `traceparent` when it sent one. */
  start(req: http.IncomingMessage, kind: "upgrade" | "http"): RequestTrace;
}

/** Where a request went, once known. */
export interface TraceLabels {
  readonly namespace: string;
  readonly route: string;
  /** The canonical path, without the query string. */
  readonly path: string;
}

/** One request's trace: a span from arrival to its answer (the 101, a refusal, or the proxied response). */
export interface RequestTrace {
  /** The authentication step (JWT verification or the forward-auth call); ends with its outcome. */
  auth(kind: string): (outcome: string) => void;
  /** The backend step; its `traceparent` is what the backend receives. */
  backend(): BackendTrace;
  /** Answered by wsgate itself (or the client left: status 0, reason `client_gone`). */
  refused(labels: TraceLabels, status: number, reason: string): void;
  /** The backend's 101 was relayed: the handshake ends, the connection begins. */
  established(labels: TraceLabels & { readonly backend: string; readonly endpoint: string }): ConnectionTrace;
  /** A plain HTTP request was answered by the backend. */
  answered(
    labels: TraceLabels & { readonly backend: string; readonly endpoint: string },
    status: number,
  ): void;
}

export interface BackendTrace {
  /** `traceparent` (and `tracestate`) to send upstream in place of the client's. */
  readonly headers: readonly (readonly [string, string])[];
  /** An endpoint is tried (one per attempt: more than one means retries). */
  attempt(endpoint: string): void;
  end(outcome: string): void;
}

/** A relayed connection, after its handshake. */
export interface ConnectionTrace {
  closed(event: ConnectionClosed): void;
}

const TRACE_HEADERS = new Set(["traceparent", "tracestate"]);

/**
 * Flat `[name, value, …]` headers with the client's trace headers replaced by the
 * backend step's: the backend's parent is wsgate's span, not the client's.
 */
export function withTraceHeaders(headers: readonly string[], trace: BackendTrace): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    if (!TRACE_HEADERS.has((headers[i] as string).toLowerCase()))
      out.push(headers[i] as string, headers[i + 1] as string);
  }
  for (const [name, value] of trace.headers) out.push(name, value);
  return out;
}
