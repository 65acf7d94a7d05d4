/**
 * Endpoint selection for a rule: weighted least-connections (default) or smooth
 * weighted round-robin. Long-lived connections make round-robin skew badly, which
 * is why least-connections — lowest `active / weight` — is the default.
 */
import type { Endpoint, Rule } from "../routing/table.js";
import type { EndpointStates } from "./endpoint-state.js";

/** A source of numbers in [0, 1); injected so tie-breaking is testable. */
export type RandomSource = () => number;

/** What the balancer needs from active health checks (src/dataplane/health.ts provides it). */
export interface HealthView {
  /** False once active probes failed the endpoint; endpoints never probed are healthy. */
  isHealthy(endpointId: string): boolean;
}

/**
 * A session's preference among the candidates (session affinity, dataplane/affinity):
 * the endpoint its session is pinned to, or undefined to let the route's policy pick.
 */
export interface StickyChoice {
  choose(candidates: readonly Endpoint[], active: (endpointId: string) => number): Endpoint | undefined;
}

/**
 * What a rule's backendRef weights divide: open `connections` (WebSocket upgrades: weighted
 * least-connections keeps each backendRef's share of the connections open now) or
 * `requests` (plain HTTP: the backendRef is drawn by weight first, as Gateway API defines a
 * weight — the proportion of requests — and least-connections runs within it).
 */
export type WeightSplit = "connections" | "requests";

export class Balancer {
  readonly #states: EndpointStates;
  readonly #random: RandomSource;
  readonly #health: HealthView | undefined;
  /** Smooth weighted round-robin "current weight" per rule and endpoint. */
  readonly #roundRobin = new Map<string, Map<string, number>>();

  constructor(states: EndpointStates, random: RandomSource = Math.random, health?: HealthView) {
    this.#states = states;
    this.#random = random;
    this.#health = health;
  }

  /**
   * The endpoints that may take a new connection: ready, not terminating, weight > 0,
   * not in `exclude`, and not failed by active health checks (strictly: when every
   * endpoint fails its probe, none is tried — a 503, as HAProxy and Traefik do).
   * Passively ejected endpoints are left out unless every candidate is ejected —
   * then they are all tried (better a likely failure than a certain 503).
   */
  candidates(rule: Rule, exclude: ReadonlySet<string>): Endpoint[] {
    const eligible: Endpoint[] = [];
    let ejected = 0;
    // Indexed loops: a for-of here allocated its iterator results per handshake (bench W5).
    const backends = rule.backends;
    for (let b = 0; b < backends.length; b++) {
      const endpoints = (backends[b] as Rule["backends"][number]).endpoints;
      for (let e = 0; e < endpoints.length; e++) {
        const endpoint = endpoints[e] as Endpoint;
        if (
          endpoint.ready &&
          !endpoint.terminating &&
          endpoint.weight > 0 &&
          !exclude.has(endpoint.id) &&
          (this.#health?.isHealthy(endpoint.id) ?? true)
        ) {
          eligible.push(endpoint);
          if (this.#states.isEjected(endpoint.id)) ejected++;
        }
      }
    }
    // None or all ejected: every eligible endpoint is a candidate, and no second array
    // is built (the common case, bench W5: allocation per handshake).
    if (ejected === 0 || ejected === eligible.length) return eligible;
    return eligible.filter((e) => !this.#states.isEjected(e.id));
  }

  /**
   * Picks an endpoint for a new connection, or `undefined` when none can take one. A
   * `sticky` choice is asked first, among the same candidates, so a session is never sent
   * to an endpoint that could not take a new connection.
   */
  pick(
    rule: Rule,
    policy: "LeastConnections" | "RoundRobin",
    exclude: ReadonlySet<string> = new Set(),
    sticky?: StickyChoice,
    split: WeightSplit = "connections",
  ): Endpoint | undefined {
    let candidates = this.candidates(rule, exclude);
    if (candidates.length === 0) return undefined;
    const pinned = sticky?.choose(candidates, (id) => this.#states.active(id));
    if (pinned) return pinned;
    if (split === "requests") candidates = this.#oneBackendRef(rule, candidates);
    return policy === "RoundRobin"
      ? this.#pickRoundRobin(rule.key, candidates)
      : this.#pickLeastConnections(candidates);
  }

  #pickLeastConnections(candidates: Endpoint[]): Endpoint {
    // The array of ties is built only when there is a tie: one candidate, or one least
    // loaded, allocates nothing.
    let best = candidates[0] as Endpoint;
    let ties: Endpoint[] | undefined;
    let bestLoad = Infinity;
    for (let i = 0; i < candidates.length; i++) {
      const endpoint = candidates[i] as Endpoint;
      const load = this.#states.active(endpoint.id) / endpoint.weight;
      if (load < bestLoad) {
        bestLoad = load;
        best = endpoint;
        ties = undefined;
      } else if (load === bestLoad) {
        (ties ??= [best]).push(endpoint);
      }
    }
    return ties ? this.#pickByWeight(ties) : best;
  }

  /**
   * The candidates of one backendRef, chosen at random in proportion to its weight among
   * the backendRefs that have candidates. Weighted least-connections holds each backendRef's
   * share of OPEN connections, which is a WebSocket's share; a plain request's share is of
   * requests, and with few in flight least-connections drifts toward an even split (one
   * request open on the 70 sends the next to the 30, whatever the weights).
   */
  #oneBackendRef(rule: Rule, candidates: Endpoint[]): Endpoint[] {
    let total = 0;
    const weights: { key: string; weight: number }[] = [];
    for (const backend of rule.backends) {
      if (backend.weight > 0 && candidates.some((e) => e.backend === backend.key)) {
        weights.push({ key: backend.key, weight: backend.weight });
        total += backend.weight;
      }
    }
    if (weights.length < 2) return candidates;
    let point = this.#random() * total;
    let chosen = (weights[weights.length - 1] as { key: string }).key;
    for (const w of weights) {
      point -= w.weight;
      if (point < 0) {
        chosen = w.key;
        break;
      }
    }
    return candidates.filter((e) => e.backend === chosen);
  }

  /**
   * Among endpoints of equal load, one at random in proportion to its weight. Short plain
   * requests leave every load at 0, so this is what splits them by backendRef weight
   * (Gateway API HTTPRouteWeight); a uniform choice would give 70/30 backends 50/50.
   */
  #pickByWeight(tied: readonly Endpoint[]): Endpoint {
    let total = 0;
    for (const endpoint of tied) total += endpoint.weight;
    let point = this.#random() * total;
    for (const endpoint of tied) {
      point -= endpoint.weight;
      if (point < 0) return endpoint;
    }
    // Rounding can leave a sliver past the last weight.
    return tied[tied.length - 1] as Endpoint;
  }

  // nginx's smooth weighted round-robin: even spread, weights respected, no bursts.
  #pickRoundRobin(ruleKey: string, candidates: Endpoint[]): Endpoint {
    let current = this.#roundRobin.get(ruleKey);
    if (!current) this.#roundRobin.set(ruleKey, (current = new Map()));
    let total = 0;
    let best: Endpoint = candidates[0] as Endpoint;
    let bestWeight = -Infinity;
    for (const endpoint of candidates) {
      const weight = (current.get(endpoint.id) ?? 0) + endpoint.weight;
      current.set(endpoint.id, weight);
      total += endpoint.weight;
      if (weight > bestWeight) {
        bestWeight = weight;
        best = endpoint;
      }
    }
    current.set(best.id, bestWeight - total);
    return best;
  }
}
