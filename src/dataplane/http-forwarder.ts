/**
 * Plain HTTP on a matched route (Socket.IO/SockJS polling, app pages) is proxied
 * too, through http-proxy-3, with the same endpoint choice and passive health as
 * WebSocket handshakes.
 */
import http from "node:http";
import { createProxyServer } from "http-proxy-3";
import { FORWARDING_HEADERS } from "../api/headers.js";
import type { RouteMatch, RoutingTable } from "../routing/table.js";
import type { Authenticator } from "./auth/authenticator.js";
import { applyGrantToRequest, sendAuthRefusal, type AuthGrant } from "./auth/verdict.js";
import type { Balancer } from "./balancer.js";
import type { EndpointStates } from "./endpoint-state.js";
import { forwardingHeaders, type ForwardingContext } from "./forwarded.js";
import { pathOf } from "./handshake.js";

/** Errors that mean the endpoint never got the request: count against its health. */
const CONNECT_ERRORS = new Set([
  "ECONNREFUSED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ECONNECT_TIMEOUT",
  "ETIMEDOUT",
]);

function plain(
  res: http.ServerResponse,
  status: number,
  message: string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { "Content-Type": "text/plain; charset=utf-8", ...headers });
  res.end(`${message}\n`);
}

/** A request on its way upstream, with what the `proxyReq` hook must add to it. */
type ProxiedRequest = http.IncomingMessage & { wsgate?: ForwardingContext; wsgateAuth?: AuthGrant };

export class HttpForwarder {
  readonly #states: EndpointStates;
  readonly #balancer: Balancer;
  readonly #auth: Authenticator;
  readonly #agent = new http.Agent({ keepAlive: true, maxFreeSockets: 64 });
  readonly #proxy = createProxyServer({ agent: this.#agent, xfwd: false, ws: false });

  constructor(states: EndpointStates, balancer: Balancer, auth: Authenticator) {
    this.#states = states;
    this.#balancer = balancer;
    this.#auth = auth;
    // Client-sent forwarding headers are replaced, never passed on (they are spoofable).
    this.#proxy.on("proxyReq", (proxyReq, req) => {
      for (const name of FORWARDING_HEADERS) proxyReq.removeHeader(name);
      const grant = (req as ProxiedRequest).wsgateAuth;
      if (grant) applyGrantToRequest(proxyReq, grant);
      const context = (req as http.IncomingMessage & { wsgate?: ForwardingContext }).wsgate;
      if (!context) return;
      for (const [name, value] of forwardingHeaders(req, context)) proxyReq.setHeader(name, value);
    });
  }

  handle(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    table: RoutingTable,
    context: ForwardingContext,
  ): void {
    const path = pathOf(req.url);
    const match = table.match(req.headers.host ?? "", path);
    if (!match) return plain(res, 404, `no route for ${req.headers.host ?? ""}${path}`);
    const auth = match.route.settings.auth;
    if (!auth) return this.#forward(req, res, match, context);
    // Auth applies to plain HTTP on the route too (DESIGN.md §3), and fails closed the same way.
    this.#auth.check(req, auth, context).then(
      (verdict) => {
        if (!verdict.ok) return sendAuthRefusal(res, verdict);
        if (res.destroyed) return;
        (req as ProxiedRequest).wsgateAuth = verdict.grant;
        this.#forward(req, res, match, context);
      },
      // A bug must cost this request, not the process (an unhandled rejection ends it).
      () => plain(res, 500, "internal error"),
    );
  }

  /** Proxies an admitted request to an endpoint of its rule. */
  #forward(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    { route, rule }: RouteMatch,
    context: ForwardingContext,
  ): void {
    const endpoint = this.#balancer.pick(rule, route.settings.policy);
    if (!endpoint) return plain(res, 503, "no ready endpoint for this route", { "Retry-After": "5" });

    (req as http.IncomingMessage & { wsgate?: ForwardingContext }).wsgate = context;
    this.#states.acquire(endpoint.id);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.#states.release(endpoint.id);
    };
    res.once("close", release);
    this.#proxy.web(
      req,
      res,
      {
        target: { host: endpoint.address, port: endpoint.port },
        connectTimeout: route.settings.timeouts.connectMs,
        ...(route.settings.timeouts.idleMs > 0 ? { proxyTimeout: route.settings.timeouts.idleMs } : {}),
      },
      (err: NodeJS.ErrnoException) => {
        release();
        const code = err.code ?? "";
        if (CONNECT_ERRORS.has(code)) this.#states.recordFailure(endpoint.id, err.message || code);
        const timedOut = code === "ECONNECT_TIMEOUT" || code === "ETIMEDOUT";
        plain(res, timedOut ? 504 : 502, timedOut ? "backend timed out" : "backend failed");
      },
    );
  }

  close(): void {
    this.#proxy.close();
    this.#agent.destroy();
  }
}
