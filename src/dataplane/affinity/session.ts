/**
 * One request's session affinity: which endpoint its session is pinned to (a cookie the
 * gateway issued, or a consistent hash of a header, a query parameter or the client
 * address), whether that pin could be honoured, and the cookie to (re)issue.
 *
 * The balancer asks {@link SessionPin.choose} among the endpoints that may take a new
 * connection — ready, not terminating, healthy, not ejected, not already tried — so a pin
 * to an endpoint that is none of these is never followed: the policy picks afresh and
 * the cookie is reissued for the new endpoint. A bad cookie is never an error.
 */
import diagnostics_channel from "node:diagnostics_channel";
import type { CompiledAffinity } from "../../routing/affinity-settings.js";
import type { Endpoint } from "../../routing/table.js";
import type { StickyChoice } from "../balancer.js";
import { cookieValue, setCookie } from "./cookie.js";
import { boundedPick } from "./hashing.js";
import type { AffinityKey } from "./token.js";

/**
 * `hit`: the session's endpoint took the request. `miss`: the request carried no pin (no
 * cookie, no header or parameter to hash). `repicked`: it carried one that could not be
 * followed — a cookie for an endpoint that is unready, terminating, ejected, gone or
 * unknown (stale key, forged), or a hashed key whose first endpoint was full or failed.
 */
export type AffinityResult = "hit" | "miss" | "repicked";

/** The `wsgate_affinity_total` event, published once per request on an affinity route. */
export interface AffinityDecided {
  readonly namespace: string;
  readonly route: string;
  readonly result: AffinityResult;
}

export const affinityChannel = diagnostics_channel.channel("wsgate:affinity:decided");

/** What a request offers to pin it by. */
export interface PinSource {
  /** The `Cookie` header (Node joins several with `; `). */
  readonly cookie: string | undefined;
  /** A request header by lower-case name (the first value when repeated). */
  header(name: string): string | undefined;
  /** The query string, `""` or `?…` as sent. */
  readonly query: string;
  /** The client identity under the trusted-proxy model. */
  readonly clientAddress: string;
  /** The client reached the gateway over TLS (the cookie's default Secure). */
  readonly overTls: boolean;
}

/** The first value of query parameter `name` in `query` (`?a=1&b=2`), percent-decoded when valid. */
export function queryValue(query: string, name: string): string | undefined {
  if (query.length < 2) return undefined;
  for (const pair of query.slice(1).split("&")) {
    const eq = pair.indexOf("=");
    const key = eq === -1 ? pair : pair.slice(0, eq);
    if (key !== name) continue;
    const raw = eq === -1 ? "" : pair.slice(eq + 1);
    try {
      return decodeURIComponent(raw.replaceAll("+", " "));
    } catch {
      return raw; // a malformed escape is still a stable key
    }
  }
  return undefined;
}

/** Whether an endpoint carries more than its route's rebalance bound among the candidates. */
export type OverloadedCheck = (
  endpoint: Endpoint,
  candidates: readonly Endpoint[],
  active: (endpointId: string) => number,
) => boolean;

/** One request's pin: asked by the balancer, then read for the metric and the cookie. */
export class SessionPin implements StickyChoice {
  readonly #affinity: CompiledAffinity;
  readonly #key: AffinityKey;
  readonly #source: PinSource;
  /** The cookie's token, or the value hashed; undefined: the request carries no pin. */
  readonly #pin: string | undefined;
  #result: AffinityResult = "miss";
  #choices = 0;
  /** Cookie routes rebalanced with `breakAffinity`: an endpoint the rebalancer is moving connections off. */
  readonly #overloaded: OverloadedCheck | undefined;

  constructor(affinity: CompiledAffinity, key: AffinityKey, source: PinSource, overloaded?: OverloadedCheck) {
    this.#affinity = affinity;
    this.#key = key;
    this.#source = source;
    this.#pin = pinOf(affinity, source);
    this.#overloaded = overloaded;
  }

  /** The outcome of the last choice (a retry after a failed first endpoint makes a hit `repicked`). */
  get result(): AffinityResult {
    return this.#result;
  }

  choose(candidates: readonly Endpoint[], active: (endpointId: string) => number): Endpoint | undefined {
    const pin = this.#pin;
    if (pin === undefined) {
      this.#result = "miss";
      return undefined;
    }
    const affinity = this.#affinity;
    if (affinity.type === "Cookie") {
      let endpoint = this.#key.endpointAmong(pin, candidates);
      // Rebalancing moves connections off this endpoint: following the cookie of a moved
      // client would send it straight back (breakAffinity; src/dataplane/rebalance).
      if (endpoint && this.#overloaded?.(endpoint, candidates, active)) endpoint = undefined;
      this.#result = endpoint ? "hit" : "repicked";
      return endpoint;
    }
    const picked = boundedPick(pin, candidates, active, affinity.balanceFactor);
    // A second choice means the first endpoint failed: the key is no longer where it hashes.
    this.#result = picked?.first === true && this.#choices === 0 ? "hit" : "repicked";
    this.#choices++;
    return picked?.endpoint;
  }

  /**
   * The `Set-Cookie` header value for a request served by `endpointId`, when its session
   * needs one: no cookie yet, or one that names another endpoint. Undefined otherwise, and
   * always for the hashing types.
   */
  setCookieFor(endpointId: string): string | undefined {
    if (this.#affinity.type !== "Cookie") return undefined;
    const token = this.#key.tokenFor(endpointId);
    return token === this.#pin ? undefined : setCookie(this.#affinity.cookie, token, this.#source.overTls);
  }

  /** Publishes the request's outcome for `wsgate_affinity_total`. */
  publish(namespace: string, route: string): void {
    if (affinityChannel.hasSubscribers) {
      const event: AffinityDecided = { namespace, route, result: this.#result };
      affinityChannel.publish(event);
    }
  }
}

function pinOf(affinity: CompiledAffinity, source: PinSource): string | undefined {
  switch (affinity.type) {
    case "Cookie":
      return cookieValue(source.cookie, affinity.cookie.name) || undefined;
    case "Header":
      return source.header(affinity.name) || undefined;
    case "QueryParameter":
      return queryValue(source.query, affinity.name) || undefined;
    case "ClientAddress":
      return source.clientAddress || undefined;
  }
}
