/**
 * The traffic listeners of one data plane: the plain HTTP listener and the HTTPS one,
 * each behind a PROXY protocol reader when `--proxy-protocol` is set. Used by the
 * single-threaded gateway and by every worker thread alike; workers listen with
 * `reusePort`, so the kernel spreads accepted connections over them.
 */
import http from "node:http";
import type net from "node:net";
import type { AddressInfo } from "node:net";
import type { ServeConfig } from "../config/config.js";
import type { TrustedProxies } from "../dataplane/client-identity.js";
import type { Gateway } from "../dataplane/gateway.js";
import { checkConnectionsWithoutListening, headerTimeoutOptions } from "../dataplane/header-timeout.js";
import { createProxyProtocolServer } from "../dataplane/proxy-protocol.js";
import type { RoutingTable } from "../routing/table.js";
import { createHttpsServer, proxiedTlsHandoff } from "../tls/server.js";

export interface ListenerSources {
  readonly config: Pick<ServeConfig, "headerTimeout" | "proxyProtocol"> & {
    /** `--http2` (default on): ALPN h2 and WebSockets over HTTP/2 on the HTTPS listener. */
    readonly http2?: boolean;
  };
  readonly gateway: Gateway;
  readonly trustedProxies: TrustedProxies;
  readonly tables: { readonly current: RoutingTable };
  onPublish(listener: () => void): () => void;
  /** Session-ticket keys shared by every worker's HTTPS listener (tls/server.ts `newTicketKeys`). */
  readonly ticketKeys?: Uint8Array;
}

export interface TrafficListeners {
  /** Binds both listeners; `reusePort` lets other threads bind the same ports. */
  listen(
    http: { host: string; port: number },
    https: { host: string; port: number },
    reusePort?: boolean,
  ): Promise<{ http: AddressInfo; https: AddressInfo }>;
  /** Stops accepting and closes idle keep-alive connections; resolves once every server closed. */
  close(): Promise<void>;
}

function listenOn(
  server: net.Server,
  address: { host: string; port: number },
  reusePort: boolean,
): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(
      { port: address.port, host: address.host, ...(reusePort ? { reusePort: true } : {}) },
      () => {
        server.off("error", reject);
        resolve(server.address() as AddressInfo);
      },
    );
  });
}

function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Creates (does not bind) the HTTP and HTTPS traffic listeners, wired into `gateway`. */
export function createTrafficListeners(sources: ListenerSources): TrafficListeners {
  const { config, gateway, trustedProxies } = sources;
  // Every listener bounds the time to complete request headers (slowloris): --header-timeout.
  const headerTimeout = config.headerTimeout;
  const trafficServer = http.createServer({
    keepAliveTimeout: 5_000,
    ...headerTimeoutOptions(headerTimeout),
  });
  gateway.attach(trafficServer, "http");
  // Behind a load balancer that sends PROXY headers, a TCP server reads them first (from
  // --trusted-proxies only, when set).
  const proxyReader = { timeoutMs: headerTimeout, trusted: trustedProxies };
  const trafficListener: net.Server = config.proxyProtocol
    ? createProxyProtocolServer(trafficServer, proxyReader)
    : trafficServer;
  const { server: httpsServer, contexts: tlsContexts } = createHttpsServer({
    tables: sources.tables,
    onPublish: (l) => sources.onPublish(l),
    headerTimeoutMs: headerTimeout,
    http2: config.http2 !== false,
    ...(sources.ticketKeys ? { ticketKeys: sources.ticketKeys } : {}),
  });
  gateway.attach(httpsServer, "https");
  const httpsListener: net.Server = config.proxyProtocol
    ? createProxyProtocolServer(proxiedTlsHandoff(httpsServer, tlsContexts, headerTimeout), proxyReader)
    : httpsServer;
  if (config.proxyProtocol) {
    checkConnectionsWithoutListening(trafficServer);
    checkConnectionsWithoutListening(httpsServer);
  }
  return {
    async listen(httpAddress, httpsAddress, reusePort = false) {
      const h = await listenOn(trafficListener, httpAddress, reusePort);
      const s = await listenOn(httpsListener, httpsAddress, reusePort);
      return { http: h, https: s };
    },
    async close() {
      const closingTls =
        httpsListener === httpsServer
          ? closeServer(httpsServer)
          : Promise.all([closeServer(httpsListener), closeServer(httpsServer)]);
      httpsServer.closeIdleConnections();
      const closing =
        trafficListener === trafficServer
          ? closeServer(trafficServer)
          : Promise.all([closeServer(trafficListener), closeServer(trafficServer)]);
      trafficServer.closeIdleConnections();
      await Promise.all([closing, closingTls]);
    },
  };
}
