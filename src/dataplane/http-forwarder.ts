/**
 * Plain HTTP on a matched route (Socket.IO/SockJS polling, app pages) is proxied
 * too, through http-proxy-3, with the same canonical request, header hygiene,
 * endpoint choice and passive health as WebSocket handshakes. On a route with auth
 * each request takes a token from the client's `handshakesPerClient` bucket first, so
 * JWT verification and forward-auth calls cannot be flooded.
 *
 * As for upgrades, one {@link Lease} owns what a request holds (the endpoint it is
 * counted against) and a bug answers 500 — never an uncaught exception or an unhandled
 * rejection, which would end the process and every WebSocket on it.
 */
import http from "node:http";
import { createProxyServer } from "http-proxy-3";
import { HOP_BY_HOP_HEADERS } from "../api/headers.js";
import type { HeaderEdits } from "../routing/gateway-api/filters.js";
import type { RouteMatch } from "../routing/table.js";
import { applyGrant, sendAuthRefusal, type AuthGrant } from "./auth/verdict.js";
import { BackendTlsAgents, isBackendTlsFailure } from "./backend-tls.js";
import type { CanonicalRequest } from "./canonical.js";
import { enter, headerPolicy, type Proto, type RequestServices } from "./entry.js";
import { publishRejection, type RejectionReason } from "./events.js";
import { headerObject, upstreamHeaders } from "./forwarded.js";
import { checkSource, matchRequestOf, matchRoute, type Refusal } from "./gates.js";
import { Lease } from "./lease.js";
import {
  editHeaderObject,
  filterRequestHeaders,
  redirectLocation,
  upstreamTarget,
} from "./request-filters.js";
import { withTraceHeaders, type RequestTrace } from "./tracing.js";
import { sessionPinFor } from "./affinity/pin.js";
import type { SessionPin } from "./affinity/session.js";
import { fallsOnUnresolved, UNRESOLVED_BACKEND } from "./unresolved-backends.js";

/** Framing of a passed-on body: Node writes it again from these headers, so they stay. */
const REFRAMED = new Set(["transfer-encoding", "content-length"]);

/** A rule's ResponseHeaderModifier, by request: http-proxy-3's `proxyRes` hands back only the request. */
const RESPONSE_EDITS = new WeakMap<http.IncomingMessage, HeaderEdits>();
/** The session affinity cookie to issue with a request's answer, by request (as above). */
const AFFINITY_COOKIES = new WeakMap<http.IncomingMessage, string>();

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
  headers: Readonly<Record<string, string>> = {},
): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  res.writeHead(status, { "Content-Type": "text/plain; charset=utf-8", ...headers });
  res.end(`${message}\n`);
}

/** One request in progress: what its rejection events are labelled with. */
interface Exchange {
  readonly req: http.IncomingMessage;
  readonly res: http.ServerResponse;
  readonly lease: Lease;
  namespace: string;
  route: string;
  client: string;
  path: string;
  /** Its trace, when tracing is on. */
  readonly trace: RequestTrace | undefined;
}

export class HttpForwarder {
  readonly #s: RequestServices;
  readonly #agent = new http.Agent({ keepAlive: true, maxFreeSockets: 64 });
  readonly #proxy = createProxyServer({ agent: this.#agent, xfwd: false, ws: false });
  /** Agents for backends spoken to over TLS, one per CA/name configuration. */
  readonly #tlsAgents = new BackendTlsAgents();

  constructor(services: RequestServices) {
    this.#s = services;
    // The backend's connection is not the client's: its hop-by-hop headers stay behind, and
    // whether the client's connection stays open is our server's decision (http-proxy-3 would
    // otherwise answer `Connection: keep-alive` to a client that asked to close).
    this.#proxy.on("proxyRes", (proxyRes, req, res) => {
      this.#closeIfStopping(req, res as http.ServerResponse);
      // Node's response refuses a status outside 100-999 with a throw no caller could catch
      // (it would end the process), and 1xx or 6xx-9xx is no final answer a client can use.
      const status = proxyRes.statusCode ?? 0;
      if (status < 200 || status > 599) {
        proxyRes.destroy();
        // Answering here makes http-proxy-3 skip its copy of the backend's answer.
        plain(res as http.ServerResponse, 502, "backend answered with an invalid status");
        return;
      }
      const nominated = (proxyRes.headers.connection ?? "").split(",").map((t) => t.trim().toLowerCase());
      for (const name of [...HOP_BY_HOP_HEADERS, ...nominated]) {
        if (!REFRAMED.has(name)) delete proxyRes.headers[name];
      }
      proxyRes.headers.connection = (res as http.ServerResponse).shouldKeepAlive ? "keep-alive" : "close";
      const edits = RESPONSE_EDITS.get(req);
      if (edits) editHeaderObject(proxyRes.headers, edits);
      const affinityCookie = AFFINITY_COOKIES.get(req);
      if (affinityCookie) {
        proxyRes.headers["set-cookie"] = [...(proxyRes.headers["set-cookie"] ?? []), affinityCookie];
      }
    });
  }

  /** Serves one plain HTTP request. Rejects only when giving back a count failed (a bug of ours). */
  async handle(req: http.IncomingMessage, res: http.ServerResponse, proto: Proto): Promise<void> {
    const x: Exchange = {
      req,
      res,
      lease: new Lease(),
      namespace: "",
      route: "",
      client: "",
      path: "",
      trace: this.#s.tracer?.start(req, "http"),
    };
    let proxied = false;
    let failure: Error | undefined;
    try {
      proxied = await this.#serve(x, proto);
    } catch (err) {
      this.#publish(x, 500, "internal_error", `internal error: ${(err as Error)?.message ?? String(err)}`);
      this.#closeIfStopping(req, res);
      plain(res, 500, "internal error");
    } finally {
      // Once proxied, the response's end ends the lease.
      if (!proxied) failure = x.lease.end();
    }
    // A release that failed is a bug too; the caller in gateway.ts closes the socket.
    if (failure) throw failure;
  }

  /**
   * A response whose head is written once shutdown started closes its connection, even when
   * its request came before (a slow backend, an auth check): the client's next request goes
   * to a replica that stays instead of racing the drain. Requests that arrive during the
   * drain are marked on arrival (gateway.ts); this covers the ones already in flight.
   * HTTP/2 has no per-response close: its sessions get GOAWAY when the listeners close.
   */
  #closeIfStopping(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (req.httpVersionMajor === 1 && !res.headersSent && this.#s.shuttingDown?.())
      res.shouldKeepAlive = false;
  }

  #publish(x: Exchange, status: number, reason: RejectionReason, detail: string): void {
    const { namespace, route, client, path } = x;
    const overHttp2 = x.req.httpVersionMajor === 2;
    publishRejection(false, {
      namespace,
      route,
      status,
      reason,
      client,
      path,
      detail,
      ...(overHttp2 ? { httpVersion: "2" as const } : {}),
    });
    x.trace?.refused(x, status, reason);
  }

  /** A refusal on the route the exchange matched. */
  #onRoute(
    x: Exchange,
    status: number,
    reason: RejectionReason,
    message: string,
    headers: Record<string, string>,
  ): Refusal {
    return { namespace: x.namespace, route: x.route, status, reason, message, headers };
  }

  #refuse(x: Exchange, refusal: Refusal): false {
    if (refusal.route) {
      x.namespace = refusal.namespace;
      x.route = refusal.route;
    }
    this.#publish(x, refusal.status, refusal.reason, refusal.message);
    plain(x.res, refusal.status, refusal.message, refusal.headers);
    return false;
  }

  /** True when the request went to a backend and the response's end owns the lease. */
  async #serve(x: Exchange, proto: Proto): Promise<boolean> {
    const { req, res } = x;
    const context = this.#s.forwardingContext(req, proto);
    x.client = context.clientAddress;
    const entry = enter(req);
    if (!entry.ok) {
      x.path = entry.path;
      return this.#refuse(x, entry.refusal);
    }
    const request = entry.request;
    x.path = request.path;
    const coding = req.headers["transfer-encoding"];
    if (coding !== undefined && coding.trim().toLowerCase() !== "chunked") {
      // The body is re-framed as chunked on its way upstream; another coding would be lost.
      const message = "transfer codings other than chunked are not supported";
      return this.#refuse(x, { namespace: "", route: "", status: 501, reason: "bad_request", message });
    }
    const table = this.#s.tables.current;
    const matched = matchRoute(request, table, matchRequestOf(req, request), proto);
    if (!matched.ok) return this.#refuse(x, matched);
    const { route } = matched.match;
    x.namespace = route.namespace;
    x.route = route.name;
    const source = checkSource(matched.match, x.client);
    if (source) return this.#refuse(x, source);
    // A RequestRedirect is answered here: before auth, and no backend is chosen.
    const redirect = matched.match.rule.filters?.redirect;
    if (redirect) {
      const location = redirectLocation(request, proto, matched.match.rule, redirect);
      res.writeHead(redirect.statusCode, { Location: location, "Content-Length": 0 }).end();
      return false;
    }

    // Auth applies to plain HTTP on the route too (DESIGN.md §3), and fails closed the same way.
    let grant: AuthGrant | undefined;
    const auth = route.settings.auth;
    if (auth) {
      const rated = this.#s.limits.rate(route.key, x.client, route.settings.limits);
      if (!rated.ok) {
        const headers = { "Retry-After": String(rated.retryAfterSeconds ?? 1) };
        return this.#refuse(x, this.#onRoute(x, rated.status, rated.reason, rated.message, headers));
      }
      const endAuth = x.trace?.auth(auth.kind);
      const verdict = await this.#s.auth.check(req, auth, context, request);
      endAuth?.(verdict.ok ? "ok" : verdict.reason);
      if (res.destroyed) return false;
      // The check may have outlasted the start of shutdown: what is written from here closes.
      this.#closeIfStopping(req, res);
      if (!verdict.ok) {
        this.#publish(x, verdict.status, verdict.reason, verdict.message);
        sendAuthRefusal(res, verdict);
        return false;
      }
      grant = verdict.grant;
    }
    const policy = headerPolicy(table, this.#s.underscores);
    const forwarded = filterRequestHeaders(
      upstreamHeaders(req, request, context, policy, false),
      matched.match.rule,
      policy.identityHeaders,
    );
    const pin = sessionPinFor(route, this.#s.affinityKey, req, request, context);
    return this.#forward(x, matched.match, request, grant ? applyGrant(forwarded, grant) : forwarded, pin);
  }

  /** Proxies an admitted request to an endpoint of its rule. */
  #forward(
    x: Exchange,
    { route, rule }: RouteMatch,
    request: CanonicalRequest,
    headers: string[],
    pin?: SessionPin,
  ): boolean {
    const { req, res, lease } = x;
    const { states, balancer } = this.#s;
    if (fallsOnUnresolved(rule)) {
      const { status, reason, message } = UNRESOLVED_BACKEND;
      return this.#refuse(x, this.#onRoute(x, status, reason, message, {}));
    }
    const endpoint = balancer.pick(rule, route.settings.policy, undefined, pin, "requests");
    if (!endpoint) {
      const message = "no ready endpoint for this route";
      const retry = { "Retry-After": this.#s.retryAfter };
      return this.#refuse(x, this.#onRoute(x, 503, "no_ready_endpoint", message, retry));
    }
    states.acquire(endpoint.id);
    lease.hold(() => states.release(endpoint.id));
    if (pin) {
      pin.publish(route.namespace, route.name);
      const affinityCookie = pin.setCookieFor(endpoint.id);
      if (affinityCookie) AFFINITY_COOKIES.set(req, affinityCookie);
    }
    const step = x.trace?.backend();
    let failed = false;
    res.once("close", () => {
      lease.end();
      if (step && !failed) {
        step.end(`status ${res.statusCode}`);
        x.trace?.answered({ ...x, backend: endpoint.backend, endpoint: endpoint.id }, res.statusCode);
      }
    });
    step?.attempt(endpoint.id);

    // http-proxy-3 sends `req.url` (the canonical target since entry) and copies `req.headers`:
    // they become exactly the headers built above, so nothing the client sent slips past them.
    req.url = upstreamTarget(request, rule);
    if (rule.filters?.responseHeaders) RESPONSE_EDITS.set(req, rule.filters.responseHeaders);
    req.headers = headerObject(step ? withTraceHeaders(headers, step) : headers) as http.IncomingHttpHeaders;
    const timeouts = route.settings.timeouts;
    // At most 16 backends per rule: a scan is cheaper than an index kept per table.
    const tls = rule.backends.find((b) => b.key === endpoint.backend)?.tls;
    this.#proxy.web(
      req,
      res,
      {
        // A TLS backend: https with an Agent that verifies its certificate (SNI, CA, names).
        ...(tls
          ? {
              target: { protocol: "https:", host: endpoint.address, port: endpoint.port },
              agent: this.#tlsAgents.agentFor(tls),
            }
          : { target: { host: endpoint.address, port: endpoint.port } }),
        connectTimeout: timeouts.connectMs,
        ...(timeouts.idleMs > 0 ? { proxyTimeout: timeouts.idleMs } : {}),
      },
      (err: NodeJS.ErrnoException) => {
        lease.end();
        const code = err.code ?? "";
        failed = true;
        step?.end(code || "error");
        const tlsFailed = tls !== undefined && isBackendTlsFailure(err);
        if (CONNECT_ERRORS.has(code) || tlsFailed) states.recordFailure(endpoint.id, err.message || code);
        const timedOut = code === "ECONNECT_TIMEOUT" || code === "ETIMEDOUT";
        const status = timedOut ? 504 : 502;
        const reason = timedOut ? "backend_timeout" : tlsFailed ? "backend_tls" : "backend_error";
        this.#publish(x, status, reason, err.message || code);
        this.#closeIfStopping(req, res);
        plain(
          res,
          status,
          timedOut ? "backend timed out" : tlsFailed ? "backend TLS failed" : "backend failed",
        );
      },
    );
    return true;
  }

  close(): void {
    this.#proxy.close();
    this.#agent.destroy();
    this.#tlsAgents.destroy();
  }
}
