import { describe, expect, it } from "vitest";
import { CombinedEpisodes } from "./episodes.js";
import type { RebalanceStateChanged } from "./events.js";

const started: RebalanceStateChanged = {
  namespace: "apps",
  route: "chat",
  state: "started",
  boundPercent: 150,
  skewPercent: 200,
  closes: 0,
};
const ended = (closes: number): RebalanceStateChanged => ({
  ...started,
  state: "ended",
  skewPercent: 140,
  closes,
  durationMs: 1,
});

describe("CombinedEpisodes", () => {
  it("tells one start and one end per route across workers, with the closes of all of them", () => {
    let now = 1_000;
    const episodes = new CombinedEpisodes(() => now);
    expect(episodes.accept(0, started)).toEqual(started);
    expect(episodes.accept(1, started)).toBeUndefined();
    now = 4_000;
    expect(episodes.accept(0, ended(12))).toBeUndefined();
    now = 9_000;
    expect(episodes.accept(1, ended(13))).toEqual({ ...ended(25), durationMs: 8_000 });
    // A late or unmatched end is no news.
    expect(episodes.accept(1, ended(1))).toBeUndefined();
  });

  it("ends a route's episode when the only worker in it died, so the route is not left rebalancing forever", () => {
    const episodes = new CombinedEpisodes(() => 0);
    episodes.accept(0, started);
    episodes.accept(1, started);
    expect(episodes.forget(1)).toEqual([]);
    expect(episodes.accept(0, ended(5))).toMatchObject({ state: "ended", closes: 5 });
    episodes.accept(1, started);
    expect(episodes.forget(1)).toEqual([
      expect.objectContaining({ route: "chat", state: "ended", closes: 0 }),
    ]);
  });
});
