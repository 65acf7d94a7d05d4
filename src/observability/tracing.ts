/**
 * OpenTelemetry traces for `--otlp-endpoint`, exported over OTLP/HTTP. Loaded with a
 * dynamic import only when the flag is set: with tracing off neither the SDK nor the
 * exporter is in the process and the data plane has no tracer to call.
 *
 * Per request: a SERVER span (`wsgate.handshake` for upgrades, `wsgate.http` for plain
 * HTTP) continuing the client's W3C `traceparent` when present, with child spans for
 * authentication (`wsgate.auth`) and the backend (`wsgate.backend`, CLIENT: its context is
 * the `traceparent` the backend receives). An upgrade that succeeds continues as
 * `wsgate.connection`, ended at close with a `close` event (code, initiator, duration,
 * messages). Attributes name routes, endpoints, outcomes and reasons — never tokens,
 * headers, query strings or client addresses.
 */
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  defaultTextMapGetter,
  defaultTextMapSetter,
  trace,
  type Context,
  type Span,
  type Tracer,
} from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import type http from "node:http";
import type { ConnectionClosed } from "../dataplane/events.js";
import type {
  BackendTrace,
  ConnectionTrace,
  RequestTrace,
  RequestTracer,
  TraceLabels,
} from "../dataplane/tracing.js";

export interface TracingOptions {
  /**
   * The collector: a base URL (`http://collector:4318`, `/v1/traces` is appended, as for
   * OTEL_EXPORTER_OTLP_ENDPOINT) or the full traces URL (any other path is used as is).
   */
  readonly endpoint: string;
  /** Fraction of new traces recorded (a client's sampled flag is followed). */
  readonly sampleRatio: number;
  readonly serviceVersion: string;
  /** How long spans wait to be batched (default 5 s). */
  readonly exportDelayMs?: number;
}

/** `--otlp-endpoint` as the exporter's URL. */
export function tracesUrl(endpoint: string): string {
  const url = new URL(endpoint);
  if (url.pathname === "" || url.pathname === "/") url.pathname = "/v1/traces";
  return url.toString();
}

const propagator = new W3CTraceContextPropagator();

/** The OpenTelemetry {@link RequestTracer}. */
export class OtelTracing implements RequestTracer {
  readonly #provider: TracerProvider;
  readonly #tracer: Tracer;

  constructor(options: TracingOptions) {
    this.#provider = new TracerProvider({
      resource: resourceFromAttributes({
        "service.name": "wsgate",
        "service.version": options.serviceVersion,
      }),
      sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(options.sampleRatio) }),
      spanProcessors: [
        new BatchSpanProcessor({
          exporter: new OTLPTraceExporter({ url: tracesUrl(options.endpoint) }),
          scheduledDelayMillis: options.exportDelayMs ?? 5_000,
        }),
      ],
    });
    this.#tracer = this.#provider.getTracer("wsgate", options.serviceVersion);
  }

  start(req: http.IncomingMessage, kind: "upgrade" | "http"): RequestTrace {
    const parent = propagator.extract(ROOT_CONTEXT, req.headers, defaultTextMapGetter);
    const span = this.#tracer.startSpan(
      kind === "upgrade" ? "wsgate.handshake" : "wsgate.http",
      {
        kind: SpanKind.SERVER,
        attributes: { "http.request.method": req.method ?? "", "wsgate.request.kind": kind },
      },
      parent,
    );
    return new OtelRequestTrace(this.#tracer, span, trace.setSpan(parent, span));
  }

  /** Exports what is buffered. */
  flush(): Promise<void> {
    return this.#provider.forceFlush();
  }

  /** Exports what is buffered and stops. */
  shutdown(): Promise<void> {
    return this.#provider.shutdown();
  }
}

class OtelRequestTrace implements RequestTrace {
  readonly #tracer: Tracer;
  readonly #span: Span;
  readonly #context: Context;
  #ended = false;
  #attempts = 0;

  constructor(tracer: Tracer, span: Span, context: Context) {
    this.#tracer = tracer;
    this.#span = span;
    this.#context = context;
  }

  auth(kind: string): (outcome: string) => void {
    this.#span.setAttribute("wsgate.auth.kind", kind);
    const span = this.#tracer.startSpan(
      "wsgate.auth",
      { kind: SpanKind.INTERNAL, attributes: { "wsgate.auth.kind": kind } },
      this.#context,
    );
    return (outcome) => {
      span.setAttribute("wsgate.auth.outcome", outcome);
      if (outcome !== "ok") span.setStatus({ code: SpanStatusCode.ERROR, message: outcome });
      span.end();
    };
  }

  backend(): BackendTrace {
    const span = this.#tracer.startSpan("wsgate.backend", { kind: SpanKind.CLIENT }, this.#context);
    const carrier: Record<string, string> = {};
    propagator.inject(trace.setSpan(this.#context, span), carrier, defaultTextMapSetter);
    const endpoints: string[] = [];
    return {
      headers: Object.entries(carrier),
      attempt: (endpoint) => {
        endpoints.push(endpoint);
        this.#attempts++;
        span.addEvent("attempt", { "wsgate.endpoint": endpoint });
      },
      end: (outcome) => {
        span.setAttributes({
          "wsgate.backend.outcome": outcome,
          "wsgate.backend.endpoints": endpoints,
          "wsgate.retries": Math.max(0, endpoints.length - 1),
        });
        if (endpoints.length > 0)
          span.setAttribute("wsgate.endpoint", endpoints[endpoints.length - 1] as string);
        span.end();
      },
    };
  }

  refused(labels: TraceLabels, status: number, reason: string): void {
    if (this.#ended) return;
    this.#label(labels);
    this.#span.setAttributes({
      "wsgate.outcome": reason === "client_gone" ? "client_gone" : "rejected",
      "wsgate.rejection.reason": reason,
    });
    if (status > 0) this.#span.setAttribute("http.response.status_code", status);
    this.#span.setStatus({ code: SpanStatusCode.ERROR, message: reason });
    this.#end();
  }

  established(
    labels: TraceLabels & { readonly backend: string; readonly endpoint: string },
  ): ConnectionTrace {
    this.#label(labels);
    this.#span.setAttributes({
      "wsgate.outcome": "established",
      "http.response.status_code": 101,
      "wsgate.backend": labels.backend,
      "wsgate.endpoint": labels.endpoint,
    });
    this.#end();
    const connection = this.#tracer.startSpan(
      "wsgate.connection",
      {
        kind: SpanKind.INTERNAL,
        attributes: {
          "wsgate.route": `${labels.namespace}/${labels.route}`,
          "wsgate.backend": labels.backend,
          "wsgate.endpoint": labels.endpoint,
        },
      },
      this.#context,
    );
    return {
      closed(e: ConnectionClosed) {
        connection.addEvent("close", {
          "websocket.close.code": e.code,
          "wsgate.close.initiator": e.initiator,
          "wsgate.connection.duration_ms": e.durationMs,
          "wsgate.messages.from_client": e.messagesFromClient,
          "wsgate.messages.to_client": e.messagesToClient,
          "wsgate.bytes.from_client": e.bytesFromClient,
          "wsgate.bytes.to_client": e.bytesToClient,
        });
        connection.end();
      },
    };
  }

  answered(
    labels: TraceLabels & { readonly backend: string; readonly endpoint: string },
    status: number,
  ): void {
    if (this.#ended) return;
    this.#label(labels);
    this.#span.setAttributes({
      "wsgate.outcome": "proxied",
      "http.response.status_code": status,
      "wsgate.backend": labels.backend,
      "wsgate.endpoint": labels.endpoint,
    });
    if (status >= 500) this.#span.setStatus({ code: SpanStatusCode.ERROR });
    this.#end();
  }

  #label(labels: TraceLabels): void {
    if (labels.path) this.#span.setAttribute("url.path", labels.path);
    if (labels.route) this.#span.setAttribute("wsgate.route", `${labels.namespace}/${labels.route}`);
  }

  #end(): void {
    this.#ended = true;
    this.#span.setAttribute("wsgate.retries", Math.max(0, this.#attempts - 1));
    this.#span.end();
  }
}
