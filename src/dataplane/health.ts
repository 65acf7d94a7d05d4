/**
 * Active health checks (`spec.healthCheck`). After every table publish the prober
 * reconciles the endpoints it watches with the table; their state is keyed by
 * endpoint identity (`ns/service:port@ip:port`), so it survives table swaps.
 *
 * Verdicts follow thresholds: an endpoint is assumed healthy until
 * `unhealthyThreshold` consecutive probes fail, and is healthy again after
 * `healthyThreshold` consecutive successes. The balancer reads the verdicts through
 * {@link HealthView}; transitions are published on `wsgate:endpoint:health`.
 *
 * Health belongs to the endpoint, not to a route: when several routes with a
 * health check share an endpoint, the check of the oldest route (table order)
 * applies, and every route sending to that endpoint sees the verdict.
 */
import { durationToMs } from "../api/duration.js";
import type { HealthCheck } from "../api/route.js";
import type { Endpoint, RoutingTable } from "../routing/table.js";
import type { HealthView, RandomSource } from "./balancer.js";
import { channels, type EndpointHealthChanged } from "./events.js";
import { probe as runProbe, type ProbeResult, type ProbeSpec, type ProbeTarget } from "./probe.js";

export type Probe = (target: ProbeTarget, spec: ProbeSpec) => Promise<ProbeResult>;

export interface HealthProberOptions {
  /** Spreads probes in time; injected so tests can pin it. */
  readonly random?: RandomSource;
  /** The probe implementation (the real one by default). */
  readonly probe?: Probe;
}

/** A probed endpoint as /debug/config shows it. */
export interface EndpointHealthView {
  readonly endpoint: string;
  /** `namespace/name` of the route whose check applies. */
  readonly route: string;
  readonly check: HealthCheck["type"];
  readonly healthy: boolean;
  /** False while the endpoint is not ready: it keeps its verdict but is not probed. */
  readonly probing: boolean;
  readonly consecutiveFailures: number;
  readonly consecutiveSuccesses: number;
  readonly lastResult?: string;
}

interface Target {
  endpoint: Endpoint;
  route: string;
  check: HealthCheck;
  intervalMs: number;
  timeoutMs: number;
  healthy: boolean;
  failures: number;
  successes: number;
  lastResult: ProbeResult | undefined;
  timer: NodeJS.Timeout | undefined;
  inFlight: boolean;
  /** Set when the endpoint left the table: an in-flight result is then ignored. */
  gone: boolean;
}

/** ±10% around the interval, so probes of many endpoints do not stay in lockstep. */
const JITTER = 0.1;

function sameCheck(a: HealthCheck, b: HealthCheck): boolean {
  return a.type === b.type && a.path === b.path;
}

export class HealthProber implements HealthView {
  readonly #targets = new Map<string, Target>();
  readonly #random: RandomSource;
  readonly #probe: Probe;
  #stopped = false;

  constructor(options: HealthProberOptions = {}) {
    this.#random = options.random ?? Math.random;
    this.#probe = options.probe ?? runProbe;
  }

  /** False once active probes failed the endpoint; endpoints never probed are healthy. */
  isHealthy(endpointId: string): boolean {
    return this.#targets.get(endpointId)?.healthy ?? true;
  }

  /**
   * Reconciles the probed endpoints with a newly published table: starts probing
   * new endpoints of routes with a health check, stops those that left (their state
   * is forgotten), and keeps the state of the others. Endpoints that are not ready
   * keep their verdict but are not probed; terminating ones are not watched.
   */
  update(table: RoutingTable): void {
    if (this.#stopped) return;
    const wanted = new Map<string, { endpoint: Endpoint; route: string; check: HealthCheck }>();
    for (const route of table.routes) {
      for (const rule of route.rules) {
        // A rule with settings of its own (an HTTPRoute rule's WebSocketPolicy) has its own check.
        const check = (rule.settings ?? route.settings).healthCheck;
        if (!check) continue;
        for (const backend of rule.backends) {
          for (const endpoint of backend.endpoints) {
            if (endpoint.terminating || wanted.has(endpoint.id)) continue;
            wanted.set(endpoint.id, { endpoint, route: route.key, check });
          }
        }
      }
    }
    for (const [id, target] of this.#targets) {
      if (wanted.has(id)) continue;
      clearTimeout(target.timer);
      target.gone = true;
      this.#targets.delete(id);
    }
    for (const [id, want] of wanted) {
      const intervalMs = durationToMs(want.check.interval);
      const timeoutMs = durationToMs(want.check.timeout);
      let target = this.#targets.get(id);
      if (!target) {
        target = {
          ...want,
          intervalMs,
          timeoutMs,
          healthy: true,
          failures: 0,
          successes: 0,
          lastResult: undefined,
          timer: undefined,
          inFlight: false,
          gone: false,
        };
        this.#targets.set(id, target);
        // The first probe lands anywhere in the first interval: a table with many
        // endpoints does not probe them all at once.
        if (want.endpoint.ready) this.#schedule(target, this.#random() * intervalMs);
        continue;
      }
      // A different kind of check starts counting afresh; the verdict stands until it speaks.
      if (!sameCheck(target.check, want.check)) {
        target.failures = 0;
        target.successes = 0;
      }
      const intervalChanged = target.intervalMs !== intervalMs;
      Object.assign(target, want, { intervalMs, timeoutMs });
      if (!want.endpoint.ready) {
        clearTimeout(target.timer);
        target.timer = undefined;
      } else if (!target.inFlight && (target.timer === undefined || intervalChanged)) {
        clearTimeout(target.timer);
        this.#schedule(target, this.#jittered(intervalMs));
      }
    }
  }

  /** Stops every probe timer; later {@link update} calls do nothing. */
  stop(): void {
    this.#stopped = true;
    for (const target of this.#targets.values()) {
      clearTimeout(target.timer);
      target.gone = true;
    }
    this.#targets.clear();
  }

  /** Every watched endpoint, sorted by identity (for /debug/config). */
  view(): EndpointHealthView[] {
    return [...this.#targets.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([id, t]) => ({
        endpoint: id,
        route: t.route,
        check: t.check.type,
        healthy: t.healthy,
        probing: t.endpoint.ready,
        consecutiveFailures: t.failures,
        consecutiveSuccesses: t.successes,
        ...(t.lastResult ? { lastResult: t.lastResult.detail } : {}),
      }));
  }

  #jittered(intervalMs: number): number {
    return intervalMs * (1 - JITTER + 2 * JITTER * this.#random());
  }

  #schedule(target: Target, delayMs: number): void {
    target.timer = setTimeout(() => void this.#run(target), Math.max(0, delayMs));
    target.timer.unref();
  }

  async #run(target: Target): Promise<void> {
    target.timer = undefined;
    target.inFlight = true;
    const started = Date.now();
    const result = await this.#probe(target.endpoint, {
      type: target.check.type,
      path: target.check.path,
      timeoutMs: target.timeoutMs,
    });
    target.inFlight = false;
    if (target.gone || this.#stopped) return;
    this.#record(target, result);
    if (target.endpoint.ready) {
      this.#schedule(target, this.#jittered(target.intervalMs) - (Date.now() - started));
    }
  }

  #record(target: Target, result: ProbeResult): void {
    target.lastResult = result;
    if (result.ok) {
      target.failures = 0;
      target.successes++;
      if (!target.healthy && target.successes >= target.check.healthyThreshold)
        this.#transition(target, true);
    } else {
      target.successes = 0;
      target.failures++;
      if (target.healthy && target.failures >= target.check.unhealthyThreshold)
        this.#transition(target, false);
    }
  }

  #transition(target: Target, healthy: boolean): void {
    target.healthy = healthy;
    if (!channels.endpointHealth.hasSubscribers) return;
    const event: EndpointHealthChanged = {
      endpoint: target.endpoint.id,
      backend: target.endpoint.backend,
      healthy,
      check: target.check.type,
      consecutive: healthy ? target.successes : target.failures,
      ...(healthy || !target.lastResult ? {} : { detail: target.lastResult.detail }),
    };
    channels.endpointHealth.publish(event);
  }
}
