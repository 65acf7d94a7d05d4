/**
 * The rebalancer: on every sweep, for each route with `spec.rebalance`, compares each
 * ready endpoint's live connections to the weighted mean over the endpoints its rules
 * balance over ({@link planRebalance}) and, while one is over its bound, closes its oldest
 * connections old enough to move — through the drain machinery (reason `rebalance`, the
 * route's `rebalance.closeCode`, a Close frame at a frame boundary) and within the route's
 * {@link CloseBudget}. The clients reconnect and least-connections puts them on the
 * emptiest endpoints.
 *
 * Counts are global (with `--workers`, shared memory); the connections it may close are
 * this thread's own. Each worker closes its share of an endpoint's excess ({@link ownShare})
 * within its whole part of the route's rate ({@link workerRate}), so the route's closes
 * never exceed `maxClosesPerSecond` per gateway replica.
 */
import type { Endpoint, Route, Rule } from "../../routing/table.js";
import type { HealthView } from "../balancer.js";
import type { ConnectionRegistry, LiveConnection } from "../connections.js";
import type { EndpointStates } from "../endpoint-state.js";
import type { TableSource } from "../entry.js";
import { sweepConnection } from "../sweeper.js";
import { CloseBudget, workerRate } from "./close-budget.js";
import { rebalanceChannels, type RebalanceClosed, type RebalanceStateChanged } from "./events.js";
import { ownShare, planRebalance, type EndpointLoad } from "./plan.js";
import { RecentPeak } from "./population.js";

/** How long a dip in a rule's connection count is taken for clients on their way back. */
const POPULATION_WINDOW_MS = 10_000;

/** Which part of the data plane this is: worker `index` of `count` (1 without `--workers`). */
export interface WorkerShare {
  readonly index: number;
  readonly count: number;
}

export interface RebalancerOptions {
  readonly tables: TableSource;
  readonly connections: ConnectionRegistry;
  readonly states: EndpointStates;
  readonly health?: HealthView | undefined;
  readonly share?: WorkerShare | undefined;
}

/** What the rebalancer keeps about one route between sweeps. */
interface RouteState {
  budget: CloseBudget;
  /** Set while rebalancing: since the first close, and how many were sent. */
  episode?: { startedAt: number; closes: number } | undefined;
}

/** This thread's connections on one endpoint, as one step sees them. */
interface Held {
  /** Every connection of this thread counted on the endpoint (any route). */
  mine: number;
  /** Those already closing: leaving, though still counted until their close completes. */
  leaving: number;
  /** The step's route's connections that may be moved, oldest first once sorted. */
  movable: LiveConnection[];
}

export class Rebalancer {
  readonly #options: RebalancerOptions;
  readonly #share: WorkerShare;
  readonly #routes = new Map<string, RouteState>();
  readonly #population = new Map<string, RecentPeak>();

  constructor(options: RebalancerOptions) {
    this.#options = options;
    this.#share = options.share ?? { index: 0, count: 1 };
  }

  /** One step at `now`: decides and sends the closes due. Returns how many were sent. */
  step(now: number): number {
    const table = this.#options.tables.current;
    let sent = 0;
    const seen = new Set<string>();
    const rules = new Set<string>();
    for (const route of table.routes) {
      if (!route.settings.rebalance) continue;
      seen.add(route.key);
      for (const rule of route.rules) rules.add(rule.key);
      sent += this.#stepRoute(route, now);
    }
    // Routes that stopped rebalancing (removed, or the field unset) end their episode.
    for (const [key, state] of this.#routes) {
      if (seen.has(key)) continue;
      if (state.episode) this.#publishState(key, "ended", state, now, 0);
      this.#routes.delete(key);
    }
    for (const key of this.#population.keys()) if (!rules.has(key)) this.#population.delete(key);
    return sent;
  }

  #stepRoute(route: Route, now: number): number {
    const settings = route.settings.rebalance!;
    const rate = workerRate(settings.maxClosesPerSecond, this.#share.index, this.#share.count);
    let state = this.#routes.get(route.key);
    if (!state || state.budget.perSecond !== rate) {
      state = { budget: new CloseBudget(rate, now), episode: state?.episode };
      this.#routes.set(route.key, state);
    }
    let held: Map<string, Held> | undefined;
    let overBound = false;
    let skew = 100;
    let sent = 0;
    for (const rule of route.rules) {
      const domain = this.#domain(rule);
      if (domain.length < 2) continue;
      const loads: EndpointLoad[] = domain.map((e) => ({
        id: e.id,
        weight: e.weight,
        active: this.#options.states.active(e.id),
      }));
      const population = this.#peak(rule.key).observe(
        now,
        loads.reduce((sum, l) => sum + l.active, 0),
      );
      const first = planRebalance(loads, settings.maxSkewPercent, population);
      skew = Math.max(skew, first.maxSkewPercent);
      if (first.closes.size === 0) continue;
      // Over the bound but no close allowed now: still rebalancing, and no walk over every
      // connection (with 100k of them, each sweep of a long rebalance would pay for it).
      if (state.budget.available(now) === 0) {
        overBound = true;
        continue;
      }
      // Over the bound: look at this thread's connections (once per step, only now).
      held ??= this.#held(route, now, settings.minConnectionAgeMs);
      // Connections already closing are leaving: decide again without them.
      const plan = planRebalance(
        loads.map((l) => ({ ...l, active: l.active - (held!.get(l.id)?.leaving ?? 0) })),
        settings.maxSkewPercent,
        population,
      );
      if (plan.closes.size === 0) continue;
      overBound = true;
      for (const [id, closes] of plan.closes) {
        const mine = held.get(id);
        if (!mine || mine.movable.length === 0) continue;
        const load = loads.find((l) => l.id === id)!;
        const staying = mine.mine - mine.leaving;
        const wanted = Math.min(ownShare(closes, staying, load.active - mine.leaving), mine.movable.length);
        const granted = state.budget.take(now, wanted);
        if (granted === 0) continue;
        mine.movable.sort((a, b) => a.openedAt - b.openedAt);
        for (const connection of mine.movable.splice(0, granted)) {
          connection.scheduleDrain(now, "rebalance");
          // The sweep's own path closes it now: a Close frame at a frame boundary.
          sweepConnection(connection, now);
        }
        mine.leaving += granted;
        sent += granted;
      }
    }
    if (sent > 0) {
      if (!state.episode) {
        state.episode = { startedAt: now, closes: 0 };
        this.#publishState(route.key, "started", state, now, skew);
      }
      state.episode.closes += sent;
      const event: RebalanceClosed = {
        namespace: route.namespace,
        route: route.name,
        closes: sent,
        code: settings.closeCode,
      };
      if (rebalanceChannels.closed.hasSubscribers) rebalanceChannels.closed.publish(event);
    } else if (!overBound && state.episode) {
      this.#publishState(route.key, "ended", state, now, skew);
    }
    return sent;
  }

  /**
   * The endpoints a rule balances over, once each: those the balancer may pick for a
   * reconnect (ready, not terminating, weighted, not failed by health checks or ejected).
   * An endpoint no reconnect can reach is neither a source nor a destination of moves.
   */
  #domain(rule: Rule): Endpoint[] {
    const byId = new Map<string, Endpoint>();
    const health = this.#options.health;
    for (const backend of rule.backends) {
      for (const e of backend.endpoints) {
        if (!e.ready || e.terminating || e.weight <= 0) continue;
        if (health && !health.isHealthy(e.id)) continue;
        if (this.#options.states.isEjected(e.id)) continue;
        byId.set(e.id, e);
      }
    }
    return [...byId.values()];
  }

  /** This thread's connections by endpoint; movable ones are the route's, old enough, not draining. */
  #held(route: Route, now: number, minAgeMs: number): Map<string, Held> {
    const held = new Map<string, Held>();
    for (const c of this.#options.connections) {
      const id = c.labels.endpoint;
      let h = held.get(id);
      if (!h) held.set(id, (h = { mine: 0, leaving: 0, movable: [] }));
      h.mine++;
      if (c.relay.closing) {
        h.leaving++;
        continue;
      }
      if (
        c.drain === undefined &&
        c.labels.namespace === route.namespace &&
        c.labels.route === route.name &&
        now - c.openedAt >= minAgeMs
      ) {
        h.movable.push(c);
      }
    }
    return held;
  }

  #peak(ruleKey: string): RecentPeak {
    let peak = this.#population.get(ruleKey);
    if (!peak) this.#population.set(ruleKey, (peak = new RecentPeak(POPULATION_WINDOW_MS)));
    return peak;
  }

  #publishState(
    routeKey: string,
    change: "started" | "ended",
    state: RouteState,
    now: number,
    skewPercent: number,
  ): void {
    const episode = state.episode;
    if (change === "ended") state.episode = undefined;
    if (!rebalanceChannels.state.hasSubscribers) return;
    const slash = routeKey.indexOf("/");
    const table = this.#options.tables.current;
    const bound = table.routes.find((r) => r.key === routeKey)?.settings.rebalance?.maxSkewPercent ?? 0;
    const event: RebalanceStateChanged = {
      namespace: routeKey.slice(0, slash),
      route: routeKey.slice(slash + 1),
      state: change,
      boundPercent: bound,
      skewPercent,
      closes: change === "started" ? 0 : (episode?.closes ?? 0),
      ...(change === "ended" && episode ? { durationMs: now - episode.startedAt } : {}),
    };
    rebalanceChannels.state.publish(event);
  }
}
