/**
 * The admin listener: /metrics, /healthz, /readyz and /debug/config. Kept apart
 * from the traffic listeners so probes and scrapes never compete with clients.
 */
import http from "node:http";
import type { Registry } from "prom-client";

export interface AdminSources {
  readonly registry: Registry;
  /** Serving traffic is worthwhile: the first table is published and we are not shutting down. */
  ready(): boolean;
  /** The process is alive and its sources are not stuck. */
  healthy(): boolean;
  /** JSON for /debug/config: the compiled table, every route's conditions, source problems. */
  debugConfig(): unknown;
}

function send(res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { "Content-Type": type, "Cache-Control": "no-store" });
  res.end(body);
}

export function createAdminServer(sources: AdminSources): http.Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD")
      return send(res, 405, "text/plain", "method not allowed\n");
    switch (path) {
      case "/metrics":
        sources.registry.metrics().then(
          (text) => send(res, 200, sources.registry.contentType, text),
          (err: Error) => send(res, 500, "text/plain", `metrics failed: ${err.message}\n`),
        );
        return;
      case "/healthz":
        return sources.healthy()
          ? send(res, 200, "text/plain", "ok\n")
          : send(res, 503, "text/plain", "unhealthy\n");
      case "/readyz":
        return sources.ready()
          ? send(res, 200, "text/plain", "ready\n")
          : send(res, 503, "text/plain", "not ready\n");
      case "/debug/config":
        return send(res, 200, "application/json", `${JSON.stringify(sources.debugConfig(), null, 2)}\n`);
      default:
        return send(res, 404, "text/plain", "not found: try /metrics /healthz /readyz /debug/config\n");
    }
  });
}
