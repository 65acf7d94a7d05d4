/**
 * With `--workers N`, every worker rebalances its own connections and reports its own
 * start and end. For the route, rebalancing runs from the first worker's start to the
 * last worker's end: this folds the workers' reports into that one story, so a route gets
 * one RebalanceStarted and one RebalanceEnded Event per scale-out, not one pair per thread.
 */
import type { RebalanceStateChanged } from "./events.js";

interface Episode {
  /** Workers rebalancing the route now. */
  readonly workers: Set<number>;
  /** Closes reported by workers that ended, and when the first worker started. */
  closes: number;
  startedAt: number;
}

export class CombinedEpisodes {
  readonly #episodes = new Map<string, Episode>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** A worker's report; returns the route's event, if this report changes the route's state. */
  accept(worker: number, e: RebalanceStateChanged): RebalanceStateChanged | undefined {
    const key = `${e.namespace}/${e.route}`;
    const episode = this.#episodes.get(key);
    if (e.state === "started") {
      if (episode) {
        episode.workers.add(worker);
        return undefined;
      }
      this.#episodes.set(key, { workers: new Set([worker]), closes: 0, startedAt: this.#now() });
      return e;
    }
    if (!episode || !episode.workers.delete(worker)) return undefined;
    episode.closes += e.closes;
    if (episode.workers.size > 0) return undefined;
    this.#episodes.delete(key);
    return { ...e, closes: episode.closes, durationMs: this.#now() - episode.startedAt };
  }

  /**
   * A worker died: its episodes will never report their end. Returns the routes' end
   * events for episodes it was the last one in (with the closes of workers that reported).
   */
  forget(worker: number): RebalanceStateChanged[] {
    const ended: RebalanceStateChanged[] = [];
    for (const [key, episode] of this.#episodes) {
      if (!episode.workers.delete(worker) || episode.workers.size > 0) continue;
      this.#episodes.delete(key);
      const slash = key.indexOf("/");
      ended.push({
        namespace: key.slice(0, slash),
        route: key.slice(slash + 1),
        state: "ended",
        boundPercent: 0,
        skewPercent: 0,
        closes: episode.closes,
        durationMs: this.#now() - episode.startedAt,
      });
    }
    return ended;
  }
}
