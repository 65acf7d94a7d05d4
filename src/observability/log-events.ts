/**
 * Log lines for data-plane events: one line per closed connection, one per
 * rejected handshake, one per ejected endpoint, one per health transition, and TLS
 * certificate problems (a missing certificate at most once per routing table).
 * Paths are logged without query strings; headers are never logged.
 */
import diagnostics_channel from "node:diagnostics_channel";
import {
  channels,
  type ConnectionClosed,
  type EndpointEjected,
  type EndpointHealthChanged,
  type HandshakeRejected,
} from "../dataplane/events.js";
import {
  tlsChannels,
  type TlsContextFailed,
  type TlsHandshakeFailed,
  type TlsNoCertificate,
} from "../tls/events.js";
import type { Logger } from "./logger.js";
import { logRebalance } from "./rebalance.js";

/** One line per request wsgate answered itself: the path without its query (it may carry tokens). */
function logRejection(
  logger: Logger,
  event: "handshake_rejected" | "request_rejected",
  e: HandshakeRejected,
): void {
  if (!logger.isLevelEnabled("info")) return;
  logger.info(
    {
      event,
      route: e.route ? `${e.namespace}/${e.route}` : undefined,
      status: e.status,
      reason: e.reason,
      client: e.client,
      path: e.path,
      detail: e.detail,
      httpVersion: e.httpVersion ?? "1.1",
    },
    event === "handshake_rejected" ? "handshake rejected" : "request rejected",
  );
}

/** Subscribes `logger` to data-plane events; returns the unsubscribe function. */
export function logDataplaneEvents(logger: Logger): () => void {
  const subscriptions: [diagnostics_channel.Channel, (m: unknown) => void][] = [
    [
      channels.connectionClosed,
      (m) => {
        // Every connection ends here: with info off (the benchmark's --log-level warn),
        // build no line at all rather than a 14-field object pino then drops.
        if (!logger.isLevelEnabled("info")) return;
        const e = m as ConnectionClosed;
        logger.info(
          {
            event: "connection_closed",
            route: `${e.namespace}/${e.route}`,
            backend: e.backend,
            endpoint: e.endpoint,
            client: e.client,
            httpVersion: e.httpVersion ?? "1.1",
            durationMs: e.durationMs,
            bytesFromClient: e.bytesFromClient,
            bytesToClient: e.bytesToClient,
            messagesFromClient: e.messagesFromClient,
            messagesToClient: e.messagesToClient,
            code: e.code,
            initiator: e.initiator,
            ...(e.error ? { error: e.error } : {}),
          },
          "connection closed",
        );
      },
    ],
    [channels.handshakeRejected, (m) => logRejection(logger, "handshake_rejected", m as HandshakeRejected)],
    [channels.requestRejected, (m) => logRejection(logger, "request_rejected", m as HandshakeRejected)],
    [
      channels.endpointEjected,
      (m) => {
        const e = m as EndpointEjected;
        logger.warn({ event: "endpoint_ejected", ...e }, "endpoint ejected after a failed connect");
      },
    ],
    [
      channels.endpointHealth,
      (m) => {
        const e = m as EndpointHealthChanged;
        const fields = { event: "endpoint_health", ...e };
        if (e.healthy) logger.info(fields, "endpoint healthy again: active health checks pass");
        else logger.warn(fields, "endpoint unhealthy: active health checks fail; it gets no new connections");
      },
    ],
    [
      tlsChannels.noCertificate,
      (m) => {
        const e = m as TlsNoCertificate;
        logger.warn(
          { event: "tls_no_certificate", ...e },
          e.noneAtAll
            ? "TLS handshake refused: no certificate at all — give a route spec.tls.secretName or set --default-tls-secret (logged once per routing table)"
            : `TLS handshake refused: no certificate for ${e.servername ? `SNI ${e.servername}` : "clients without SNI"} and no default — set --default-tls-secret (logged once per routing table)`,
        );
      },
    ],
    [
      tlsChannels.contextFailed,
      (m) => {
        const e = m as TlsContextFailed;
        logger.error(
          { event: "tls_context_failed", ...e },
          "TLS certificate could not be loaded; the default certificate is served instead",
        );
      },
    ],
    [
      tlsChannels.handshakeFailed,
      (m) => {
        // A scanner's failed handshakes arrive by the thousand: nothing is built unless debug is on.
        if (!logger.isLevelEnabled("debug")) return;
        const e = m as TlsHandshakeFailed;
        logger.debug({ event: "tls_handshake_failed", ...e }, "TLS handshake failed");
      },
    ],
  ];
  for (const [channel, handler] of subscriptions) channel.subscribe(handler);
  const stopRebalance = logRebalance(logger);
  return () => {
    for (const [channel, handler] of subscriptions) channel.unsubscribe(handler);
    stopRebalance();
  };
}
