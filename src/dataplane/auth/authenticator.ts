/**
 * The authentication gate of a route, for upgrades and plain HTTP alike. It fails
 * closed: auth whose keys could not be resolved, a key set or auth service that cannot
 * be reached, or anything unexpected refuses the request — never lets it through.
 */
import type { IncomingMessage } from "node:http";
import type { CompiledAuth } from "../../routing/auth-contract.js";
import type { CanonicalRequest } from "../canonical.js";
import type { ForwardingContext } from "../forwarded.js";
import { ForwardAuthClient } from "./forward-auth.js";
import { RemoteKeySets, verifyJwt, type KeySetSource, type RemoteKeySetOptions } from "./jwt.js";
import type { AuthVerdict } from "./verdict.js";

export interface AuthenticatorOptions {
  /** Tolerance for `exp` and `nbf`, in seconds (default 30). */
  readonly clockSkewSeconds?: number;
  /** Fetching and caching of `jwksUri` key sets. */
  readonly jwks?: RemoteKeySetOptions;
  /**
   * Where key sets come from instead of this thread's own fetches: a data-plane worker asks
   * the main thread, so that a process fetches each key set once (shared-key-sets.ts).
   */
  readonly keySets?: KeySetSource;
}

export class Authenticator {
  readonly #remote: KeySetSource;
  readonly #forward = new ForwardAuthClient();
  readonly #clockSkewSeconds: number;

  constructor(options: AuthenticatorOptions = {}) {
    this.#remote = options.keySets ?? new RemoteKeySets(options.jwks);
    this.#clockSkewSeconds = options.clockSkewSeconds ?? 30;
  }

  /**
   * Decides on one request. `req.url` already holds the canonical target (tokens in the
   * query are read from it); `request` is what a forward-auth service is told about.
   */
  async check(
    req: IncomingMessage,
    auth: CompiledAuth,
    context: ForwardingContext,
    request: CanonicalRequest,
  ): Promise<AuthVerdict> {
    try {
      switch (auth.kind) {
        case "jwt":
          return await verifyJwt(req, auth, {
            remote: this.#remote,
            clockSkewSeconds: this.#clockSkewSeconds,
          });
        case "forwardAuth":
          return await this.#forward.check(req, auth, context, request);
        case "unresolved":
          return {
            ok: false,
            status: 503,
            reason: "auth_unavailable",
            message:
              "authentication for this route is misconfigured (its key Secret cannot be used); see the route's ResolvedRefs condition",
            headers: { "Retry-After": "5" },
          };
      }
    } catch {
      return {
        ok: false,
        status: 503,
        reason: "auth_unavailable",
        message: "authentication failed unexpectedly",
      };
    }
  }

  /** Closes pooled connections to auth services. */
  close(): void {
    this.#forward.close();
  }
}
