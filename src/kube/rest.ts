/**
 * A small JSON client for the Kubernetes API: plain objects in and out, exactly
 * as the API server sends them. client-node's generated clients turn objects into
 * class instances with `Date` fields, which would not survive a round trip through
 * our zod schemas or a status update unchanged; authentication (tokens, client
 * certificates, exec and auth plugins, in-cluster token rotation) still comes from
 * its `KubeConfig`.
 */
import http from "node:http";
import https from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";

/** An error answer of the API server (a `metav1.Status`), or a transport failure (`status` 0). */
export class KubeApiError extends Error {
  override readonly name = "KubeApiError";
  /** HTTP status; 0 when no answer was received. */
  readonly status: number;
  /** `metav1.Status.reason`, e.g. `Conflict`, `NotFound`, `Invalid`. */
  readonly reason: string | undefined;
  readonly body: unknown;

  constructor(
    status: number,
    message: string,
    options: { reason?: string; body?: unknown; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = status;
    this.reason = options.reason;
    this.body = options.body;
  }
}

export function isNotFound(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 404;
}

export function isConflict(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 409;
}

export type Query = Readonly<Record<string, string | number | boolean | undefined>>;

export interface RequestOptions {
  readonly query?: Query;
  /** Defaults to `application/json`; PATCH callers pick their patch type. */
  readonly contentType?: string;
}

export interface KubeRestOptions {
  /** Idle timeout of one request's socket. */
  readonly timeoutMs?: number;
}

/** A list as the API returns it. Items of core kinds come without `apiVersion`/`kind`. */
export interface KubeList<T = unknown> {
  readonly metadata: { readonly resourceVersion?: string; readonly continue?: string };
  readonly items: T[];
}

export class KubeRest {
  readonly #kubeConfig: KubeConfig;
  readonly #timeoutMs: number;

  constructor(kubeConfig: KubeConfig, options: KubeRestOptions = {}) {
    this.#kubeConfig = kubeConfig;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
  }

  get<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>("GET", path, undefined, query ? { query } : {});
  }

  post<T>(path: string, body: unknown, query?: Query): Promise<T> {
    return this.request<T>("POST", path, body, query ? { query } : {});
  }

  put<T>(path: string, body: unknown, query?: Query): Promise<T> {
    return this.request<T>("PUT", path, body, query ? { query } : {});
  }

  /** Lists a collection, following `continue` tokens, as one consistent list. */
  async list<T>(path: string, query: Query = {}): Promise<KubeList<T>> {
    const items: T[] = [];
    let resourceVersion: string | undefined;
    let next: string | undefined;
    do {
      const page = await this.get<KubeList<T>>(path, { ...query, limit: 500, continue: next });
      items.push(...(page.items ?? []));
      resourceVersion ??= page.metadata?.resourceVersion;
      next = page.metadata?.continue || undefined;
    } while (next !== undefined);
    return { metadata: { resourceVersion }, items };
  }

  /** One request; resolves with the decoded JSON body, rejects with {@link KubeApiError}. */
  async request<T>(method: string, path: string, body?: unknown, options: RequestOptions = {}): Promise<T> {
    const cluster = this.#kubeConfig.getCurrentCluster();
    if (!cluster) throw new KubeApiError(0, "the kubeconfig has no current cluster");
    const url = new URL(cluster.server.replace(/\/+$/, "") + path);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const opts: https.RequestOptions = { method, headers: { Accept: "application/json" } };
    await this.#kubeConfig.applyToHTTPSOptions(opts);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    if (payload) {
      opts.headers = {
        ...opts.headers,
        "Content-Type": options.contentType ?? "application/json",
        "Content-Length": payload.length,
      };
    }
    const transport = url.protocol === "http:" ? http : https;
    if (transport === http) delete opts.agent;
    return new Promise<T>((resolve, reject) => {
      const req = transport.request(url, opts, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", (err) =>
          reject(new KubeApiError(0, `${method} ${path}: ${err.message}`, { cause: err })),
        );
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let decoded: unknown;
          try {
            decoded = text === "" ? undefined : JSON.parse(text);
          } catch {
            decoded = text;
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) return resolve(decoded as T);
          const s = decoded as { message?: unknown; reason?: unknown } | undefined;
          const message =
            typeof s?.message === "string" ? s.message : text.slice(0, 200) || res.statusMessage;
          reject(
            new KubeApiError(status, `${method} ${path}: ${status} ${message ?? ""}`.trim(), {
              ...(typeof s?.reason === "string" ? { reason: s.reason } : {}),
              body: decoded,
            }),
          );
        });
      });
      req.setTimeout(this.#timeoutMs, () => req.destroy(new Error(`no answer within ${this.#timeoutMs} ms`)));
      req.on("error", (err) =>
        reject(new KubeApiError(0, `${method} ${path}: ${err.message}`, { cause: err })),
      );
      req.end(payload);
    });
  }
}
