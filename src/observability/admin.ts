/**
 * The admin listener: /metrics, /healthz, /readyz, /debug/config, and the status
 * page (`/`, its JSON at `/status`). Kept apart from the traffic listeners so
 * probes and scrapes never compete with clients.
 */
import http from "node:http";
import type { Registry } from "prom-client";
import { STATUS_PAGE_CSP, STATUS_PAGE_FILES } from "./status-page.js";

export interface AdminSources {
  /** What /metrics serves: a registry, or (with data-plane workers) anything that renders one text. */
  readonly registry: Pick<Registry, "metrics" | "contentType">;
  /** Serving traffic is worthwhile: the first table is published and we are not shutting down. */
  ready(): boolean;
  /** The process is alive and its sources are not stuck. */
  healthy(): boolean;
  /** JSON for /debug/config: the compiled table, every route's conditions, source problems. */
  debugConfig(): unknown;
  /** JSON for /status, the data of the status page at `/` (with `--workers`, gathered from them). */
  status?(): unknown;
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
      case "/status": {
        const status = sources.status;
        if (!status) break;
        Promise.resolve()
          .then(() => status())
          .then(
            (view) => send(res, 200, "application/json", `${JSON.stringify(view)}\n`),
            (err: Error) => send(res, 500, "text/plain", `status failed: ${err.message}\n`),
          );
        return;
      }
    }
    const file = sources.status ? STATUS_PAGE_FILES.get(path ?? "") : undefined;
    if (file) {
      res.writeHead(200, {
        "Content-Type": file.type,
        "Cache-Control": "no-store",
        "Content-Security-Policy": STATUS_PAGE_CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
      });
      return void res.end(req.method === "HEAD" ? undefined : file.body);
    }
    send(res, 404, "text/plain", "not found: try / /status /metrics /healthz /readyz /debug/config\n");
  });
}
