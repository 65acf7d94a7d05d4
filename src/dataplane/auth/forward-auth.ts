/**
 * Forward auth: a subrequest to an auth service decides. 2xx admits (its
 * `responseHeaders` go to the backend); any other answer below 500 — 401, 403, a
 * redirect to a login page — is passed to the client as the service gave it; a 5xx,
 * no answer in time, or no connection at all → 503. Connections to the auth service
 * are kept alive and pooled.
 */
import http from "node:http";
import https from "node:https";
import type { CompiledForwardAuth } from "../../routing/auth-contract.js";
import type { CanonicalRequest } from "../canonical.js";
import type { ForwardingContext } from "../forwarded.js";
import type { AuthVerdict } from "./verdict.js";

/** Largest auth service body passed on to a client. */
const MAX_BODY = 64 * 1024;

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(", ") : value;
}

function unavailable(message: string): AuthVerdict {
  return { ok: false, status: 503, reason: "auth_unavailable", message, headers: { "Retry-After": "5" } };
}

export class ForwardAuthClient {
  readonly #http = new http.Agent({ keepAlive: true, maxFreeSockets: 64 });
  readonly #https = new https.Agent({ keepAlive: true, maxFreeSockets: 64 });

  check(
    req: http.IncomingMessage,
    config: CompiledForwardAuth,
    context: ForwardingContext,
    request: CanonicalRequest,
  ): Promise<AuthVerdict> {
    const url = new URL(config.url);
    const headers: Record<string, string> = {};
    for (const name of config.requestHeaders) {
      const value = single(req.headers[name.toLowerCase()]);
      if (value !== undefined) headers[name] = value;
    }
    // What the auth service needs to know about the original request (Traefik's convention),
    // canonical: the service authorises exactly the host and path the backend will get.
    headers["X-Forwarded-Method"] = req.method ?? "GET";
    headers["X-Forwarded-Proto"] = context.proto;
    headers["X-Forwarded-Host"] = request.authority;
    headers["X-Forwarded-Uri"] = request.target;
    headers["X-Forwarded-For"] = context.clientAddress;

    return new Promise((resolve) => {
      let settled = false;
      const settle = (verdict: AuthVerdict): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(verdict);
      };
      const secure = url.protocol === "https:";
      const request = (secure ? https : http).request(url, {
        method: "GET",
        headers,
        agent: secure ? this.#https : this.#http,
      });
      const timer = setTimeout(() => {
        request.destroy();
        settle(unavailable("the auth service did not answer in time"));
      }, config.timeoutMs);
      request.on("error", (err) => settle(unavailable(`the auth service is unreachable (${err.message})`)));
      request.on("response", (response) => {
        const status = response.statusCode ?? 500;
        if (status >= 200 && status < 300) {
          response.resume(); // drained, so the connection goes back to the pool
          const set: [string, string][] = [];
          for (const name of config.responseHeaders) {
            const value = single(response.headers[name.toLowerCase()]);
            if (value !== undefined) set.push([name, value]);
          }
          settle({
            ok: true,
            grant: {
              remove: new Set(config.responseHeaders.map((h) => h.toLowerCase())),
              set,
              stripBearerProtocol: false,
            },
          });
          return;
        }
        if (status >= 500) {
          response.resume();
          settle(unavailable(`the auth service failed (${status})`));
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        response.on("data", (chunk: Buffer) => {
          if (size < MAX_BODY) chunks.push(chunk.subarray(0, MAX_BODY - size));
          size += chunk.length;
          if (size > MAX_BODY) response.destroy();
        });
        const pass = (): void => {
          const raw = response.rawHeaders;
          const passed: [string, string][] = [];
          for (let i = 0; i < raw.length; i += 2) passed.push([raw[i] as string, raw[i + 1] as string]);
          settle({
            ok: false,
            status,
            reason: status === 401 ? "unauthorized" : status === 403 ? "forbidden" : "auth_denied",
            message: `the auth service answered ${status}`,
            answer: {
              statusMessage: response.statusMessage ?? "",
              headers: passed,
              body: Buffer.concat(chunks),
            },
          });
        };
        response.once("end", pass);
        response.once("close", pass);
        response.once("error", () => settle(unavailable("the auth service failed while answering")));
      });
      request.end();
    });
  }

  /** Closes pooled connections. */
  close(): void {
    this.#http.destroy();
    this.#https.destroy();
  }
}
