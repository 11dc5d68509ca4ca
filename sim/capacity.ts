/**
 * Capacity planning: a service with a fixed number of workers receives
 * Poisson arrivals, and each request calls a dependency whose latency
 * changes over time — the seed's translation service that goes from 200 ms
 * to 5 s (../shared/seeds/002). Requests wait in a bounded queue for a
 * worker and are rejected when it is full.
 *
 * Each call goes through the real `createFetch` from `src/` — its total and
 * headers deadlines, retries with backoff and the per-origin retry budget,
 * the circuit breaker — on the simulator's {@linkcode VirtualClock}, with a
 * stand-in for the network that answers after a sampled latency and honours
 * the abort signal. No second implementation of any policy: what this
 * predicts is what the fetch wrapper does.
 *
 * The output is a time series (in flight, queued, rejected, goodput,
 * latency quantiles per interval) and a Little's law check, L = λW, over the
 * whole run: the time-average number of requests in the system against the
 * admitted arrival rate times the mean time in the system.
 *
 * @module
 */
import { DDSketch } from "@datadog/sketches-js";
import { type BreakerOptions, CircuitBreaker } from "../src/breaker.ts";
import type { Duration } from "../src/duration.ts";
import { isCircuitOpenError, isTimeoutError } from "../src/errors.ts";
import { createFetch } from "../src/fetch.ts";
import type { RetryOptions } from "../src/retry.ts";
import {
  checkKeys,
  durationOption,
  integerOption,
  plainObject,
  positiveNumber,
} from "../src/validate.ts";
import { nearestRank } from "./_quantile.ts";
import { VirtualClock } from "./engine.ts";
import { checkDistribution, type Distribution, sample, seededRandom } from "./random.ts";

/** The dependency's behaviour from `fromMs` on (until the next phase). */
export interface DependencyPhase {
  /** Virtual time this phase starts, in ms. The first phase must start at 0. */
  fromMs: number;
  /** How long a call takes to answer, in ms. */
  latencyMs: Distribution;
  /** Share of calls answered with 503 (after the latency). @default 0 */
  errorRate?: number;
}

/**
 * How the service calls its dependency: timebound options (`total`,
 * `headers`, `retry`, `breaker`). `{ total: false }` is a client with no
 * deadline at all, the seed's "before" picture.
 */
export interface CapacityClient {
  total?: Duration | false;
  headers?: Duration | false;
  /** Retries as `createFetch` takes them; the jitter is drawn from the run's seed unless `random` is given. */
  retry?: RetryOptions | false;
  /** A circuit breaker on the dependency's origin (runs on virtual time). */
  breaker?: Omit<BreakerOptions, "clock"> | false;
}

/** Options of {@linkcode capacity}. */
export interface CapacityOptions {
  /** λ: mean arrivals per second (a Poisson process). @default 40 */
  arrivalsPerSecond?: number;
  /** Requests served at once (workers, or connections to the dependency). @default 20 */
  concurrency?: number;
  /** Requests that may wait for a worker; more are rejected at once. @default 100 */
  queueLimit?: number;
  /** Arrivals stop after this long; the run then drains. @default "180s" */
  duration?: Duration;
  /** The dependency over time. @default 200 ms, 5 s from 60 s, 200 ms again from 120 s */
  dependency?: DependencyPhase[];
  /** The client's limits, retries and breaker. @default { total: false } */
  client?: CapacityClient;
  /**
   * Share of requests that call the dependency; the others are served
   * locally in `localMs` on the same workers (the seed's site, whose other
   * pages go down with the translation endpoint when workers are stuck).
   * @default 1
   */
  callShare?: number;
  /** Service time of requests that do not call the dependency. @default 20 */
  localMs?: Distribution;
  /** Width of one time-series interval. @default "1s" */
  sampleEvery?: Duration;
  /** Seed of the arrivals, latencies and jitter. @default 1 */
  seed?: number;
}

/** One interval of the time series; counts are for the interval, levels at its end. */
export interface CapacitySample {
  /** End of the interval, in virtual ms. */
  tMs: number;
  /** Requests being served at the end of the interval. */
  inFlight: number;
  /** Requests waiting for a worker at the end of the interval. */
  queued: number;
  arrivals: number;
  /** Arrivals turned away because the queue was full. */
  rejected: number;
  /** Requests answered successfully. */
  ok: number;
  /** Requests that failed: a timeout, an open circuit, or the dependency's 5xx. */
  failed: number;
  timeouts: number;
  circuitOpen: number;
  /** Successful requests per second. */
  goodputPerSecond: number;
  /** Calls that reached the dependency (first attempts and retries), per second. */
  dependencyCallsPerSecond: number;
  /** Time in the system (queue + service) of requests finishing in the interval; NaN when none did. */
  p50Ms: number;
  p99Ms: number;
  /** The breaker's state at the end of the interval, when there is one. */
  breaker?: "closed" | "open" | "half-open";
}

/** Little's law over the whole run. */
export interface LittlesLaw {
  /** Time-average requests in the system (queued + in flight), integrated exactly. */
  L: number;
  /** The same from the time series' end-of-interval levels (what a monitor sampling once per interval sees). */
  sampledL: number;
  /** Admitted arrivals per second. */
  lambdaPerSecond: number;
  /** Mean time in the system of admitted requests, in ms. */
  meanTimeInSystemMs: number;
  /** |L − λW| / λW. */
  relativeError: number;
  /** |sampledL − λW| / λW. */
  sampledRelativeError: number;
}

/** Output of {@linkcode capacity}. */
export interface CapacityResult {
  series: CapacitySample[];
  totals: {
    arrivals: number;
    rejected: number;
    ok: number;
    failed: number;
    timeouts: number;
    circuitOpen: number;
    dependencyCalls: number;
    /** When the last request finished (arrivals stop at `duration`). */
    endMs: number;
    /** Time in the system over all admitted requests. */
    p50Ms: number;
    p99Ms: number;
    maxQueued: number;
  };
  littlesLaw: LittlesLaw;
}

const OPTION_KEYS = new Set([
  "arrivalsPerSecond",
  "concurrency",
  "queueLimit",
  "duration",
  "dependency",
  "client",
  "callShare",
  "localMs",
  "sampleEvery",
  "seed",
]);
const CLIENT_KEYS = new Set(["total", "headers", "retry", "breaker"]);
const PHASE_KEYS = new Set(["fromMs", "latencyMs", "errorRate"]);
const ORIGIN = "http://dependency.sim";
/** Quantiles within 1 % (DDSketch's relative-accuracy guarantee). */
const SKETCH_ACCURACY = 0.01;

/**
 * The seed's translation service: ~200 ms, ~5 s from t = 60 s, recovered at
 * t = 120 s (lognormal, σ 0.25). The default `dependency` of
 * {@linkcode capacity}.
 *
 * @example
 * ```ts
 * import { SEED_DEPENDENCY } from "timebound/sim";
 * console.assert(SEED_DEPENDENCY[1].fromMs === 60_000);
 * ```
 */
export const SEED_DEPENDENCY: DependencyPhase[] = [
  { fromMs: 0, latencyMs: { kind: "lognormal", median: 200, sigma: 0.25 } },
  { fromMs: 60_000, latencyMs: { kind: "lognormal", median: 5000, sigma: 0.25 } },
  { fromMs: 120_000, latencyMs: { kind: "lognormal", median: 200, sigma: 0.25 } },
];

function checkPhases(value: unknown): DependencyPhase[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new TypeError("Invalid option 'dependency': expected a non-empty array of phases");
  }
  let last = -1;
  return value.map((p, i) => {
    const o = plainObject(`dependency[${i}]`, p);
    checkKeys(`dependency[${i}]`, o, PHASE_KEYS);
    const from = o.fromMs;
    if (typeof from !== "number" || !Number.isFinite(from) || from < 0) {
      throw new RangeError(
        `Invalid option 'dependency[${i}].fromMs': expected a finite number >= 0, got ${String(from)}`,
      );
    }
    if (i === 0 && from !== 0) {
      throw new RangeError(
        `Invalid option 'dependency[0].fromMs': the first phase must start at 0, got ${from}`,
      );
    }
    if (from <= last) {
      throw new RangeError(
        `Invalid option 'dependency[${i}].fromMs': phases must start in increasing order, got ${from} after ${last}`,
      );
    }
    last = from;
    const errorRate = o.errorRate ?? 0;
    if (typeof errorRate !== "number" || !(errorRate >= 0 && errorRate <= 1)) {
      throw new RangeError(
        `Invalid option 'dependency[${i}].errorRate': expected a number in [0, 1], got ${String(errorRate)}`,
      );
    }
    return {
      fromMs: from,
      latencyMs: checkDistribution(`dependency[${i}].latencyMs`, o.latencyMs),
      errorRate,
    };
  });
}

/**
 * Simulates a service under load calling a dependency through timebound,
 * on virtual time: Poisson arrivals at `arrivalsPerSecond`, `concurrency`
 * workers, a queue of `queueLimit`, and the dependency's latency changing
 * by phase. The same seed gives the same result.
 *
 * Cost: about 5–10 µs of real time per simulated request, each call going
 * through the real fetch wrapper (bench/sim-capacity.ts): the seed's
 * 3-minute scenario, ~7,200 requests, runs in well under 0.1 s.
 *
 * @param options The load, the service, the dependency and the client.
 * @returns A time series per `sampleEvery`, totals, and the Little's law check.
 * @throws {TypeError} For an unknown option or a wrong type; {@link RangeError} for a bad value.
 *
 * @example
 * ```ts
 * import { capacity } from "timebound/sim";
 * const r = await capacity({
 *   arrivalsPerSecond: 20,
 *   concurrency: 10,
 *   duration: "20s",
 *   dependency: [{ fromMs: 0, latencyMs: 200 }, { fromMs: 10_000, latencyMs: 5000 }],
 *   client: { total: "1s", breaker: { minCalls: 10, cooldown: "2s" } },
 * });
 * console.assert(r.totals.ok > 150 && r.totals.circuitOpen > 0);
 * console.assert(r.littlesLaw.relativeError < 1e-6);
 * ```
 */
export async function capacity(options: CapacityOptions = {}): Promise<CapacityResult> {
  const o = plainObject("options", options);
  checkKeys("", o, OPTION_KEYS);
  const lambda =
    o.arrivalsPerSecond === undefined
      ? 40
      : positiveNumber("arrivalsPerSecond", o.arrivalsPerSecond);
  const concurrency =
    o.concurrency === undefined ? 20 : integerOption("concurrency", o.concurrency, 1, 1_000_000);
  const queueLimit =
    o.queueLimit === undefined ? 100 : integerOption("queueLimit", o.queueLimit, 0, 10_000_000);
  const durationMs = o.duration === undefined ? 180_000 : durationOption("duration", o.duration);
  const sampleMs =
    o.sampleEvery === undefined ? 1000 : durationOption("sampleEvery", o.sampleEvery);
  const seed = o.seed === undefined ? 1 : integerOption("seed", o.seed, -(2 ** 31), 2 ** 32 - 1);
  const phases = o.dependency === undefined ? SEED_DEPENDENCY : checkPhases(o.dependency);
  const callShare = o.callShare ?? 1;
  if (typeof callShare !== "number" || !(callShare >= 0 && callShare <= 1)) {
    throw new RangeError(
      `Invalid option 'callShare': expected a number in [0, 1], got ${String(callShare)}`,
    );
  }
  const localMs = o.localMs === undefined ? 20 : checkDistribution("localMs", o.localMs, false);
  const client = plainObject("client", o.client ?? { total: false });
  checkKeys("client", client, CLIENT_KEYS);
  if (durationMs / sampleMs > 1_000_000) {
    throw new RangeError(
      "Invalid option 'sampleEvery': more than 1,000,000 intervals; sample less often",
    );
  }

  const clock = new VirtualClock();
  // Separate streams, so changing the client (which changes how many calls
  // draw latencies) leaves the arrival times exactly as they were.
  const arrivalRandom = seededRandom(seed, 1);
  const dependencyRandom = seededRandom(seed, 2);
  const jitterRandom = seededRandom(seed, 3);
  const kindRandom = seededRandom(seed, 4);

  let breaker: CircuitBreaker | undefined;
  if (client.breaker !== undefined && client.breaker !== false) {
    const b = plainObject("client.breaker", client.breaker);
    if ("clock" in b)
      throw new TypeError("Unknown option 'client.breaker.clock': the simulator's clock is used");
    breaker = new CircuitBreaker({ ...(b as BreakerOptions), clock });
  }
  let retry = client.retry as RetryOptions | false | undefined;
  if (retry !== undefined && retry !== false) {
    retry = { random: jitterRandom, ...plainObject("client.retry", retry) };
  }

  let dependencyCalls = 0;
  let intervalCalls = 0;
  const dependency = (_input: RequestInfo | URL, init?: RequestInit): Promise<Response> =>
    new Promise<Response>((resolve, reject) => {
      dependencyCalls++;
      intervalCalls++;
      const now = clock.now();
      let phase = phases[0]!;
      for (const p of phases) if (p.fromMs <= now) phase = p;
      // Always two draws per call (latency, then error), so the stream stays aligned.
      const latency = Math.max(0, sample(phase.latencyMs, dependencyRandom));
      const failed = dependencyRandom() < (phase.errorRate ?? 0);
      const signal = init?.signal ?? undefined;
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const onAbort = (): void => {
        clock.clearTimer(timer);
        reject(signal!.reason);
      };
      const timer = clock.setTimer(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve(new Response(null, { status: failed ? 503 : 200 }));
      }, latency);
      signal?.addEventListener("abort", onAbort, { once: true });
    });

  const fetchDependency = createFetch({
    clock,
    fetch: dependency as typeof fetch,
    total: client.total as Duration | false | undefined,
    headers: client.headers as Duration | false | undefined,
    retry,
    breaker: breaker ?? false,
  });

  // --- the service ---------------------------------------------------------
  /** Waiting requests: arrival time, whether it calls the dependency, local work. */
  const queue: [number, boolean, number][] = [];
  let queueHead = 0;
  let busy = 0;
  let area = 0; // ∫ (in system) dt, exact
  let lastChange = 0;
  let inSystem = 0;
  let sojournSum = 0;
  let admitted = 0;
  let maxQueued = 0;
  const allTimes = new DDSketch({ relativeAccuracy: SKETCH_ACCURACY });
  const tot = { arrivals: 0, rejected: 0, ok: 0, failed: 0, timeouts: 0, circuitOpen: 0 };
  let cur = { arrivals: 0, rejected: 0, ok: 0, failed: 0, timeouts: 0, circuitOpen: 0 };
  let curTimes = new DDSketch({ relativeAccuracy: SKETCH_ACCURACY });
  const series: CapacitySample[] = [];

  const level = (delta: number): void => {
    const now = clock.now();
    area += inSystem * (now - lastChange);
    lastChange = now;
    inSystem += delta;
  };

  const serve = async (arrivedAt: number, calls: boolean, localWorkMs: number): Promise<void> => {
    busy++;
    let outcome: "ok" | "failed" | "timeout" | "open";
    if (calls) {
      try {
        const res = await fetchDependency(`${ORIGIN}/translate`);
        outcome = res.ok ? "ok" : "failed";
      } catch (error) {
        outcome = isTimeoutError(error) ? "timeout" : isCircuitOpenError(error) ? "open" : "failed";
      }
    } else {
      await new Promise<void>((resolve) => clock.setTimer(resolve, localWorkMs));
      outcome = "ok";
    }
    busy--;
    level(-1);
    const t = clock.now() - arrivedAt;
    sojournSum += t;
    allTimes.accept(t);
    curTimes.accept(t);
    for (const c of [tot, cur]) {
      if (outcome === "ok") c.ok++;
      else {
        c.failed++;
        if (outcome === "timeout") c.timeouts++;
        else if (outcome === "open") c.circuitOpen++;
      }
    }
    if (queueHead < queue.length) {
      const next = queue[queueHead++]!;
      if (queueHead > 1024 && queueHead * 2 > queue.length) {
        queue.splice(0, queueHead);
        queueHead = 0;
      }
      void serve(next[0], next[1], next[2]);
    }
  };

  const arrive = (): void => {
    const now = clock.now();
    tot.arrivals++;
    cur.arrivals++;
    // Drawn for every arrival (kind, then local work), so the streams stay aligned.
    const calls = kindRandom() < callShare;
    const work = Math.max(0, sample(localMs, kindRandom));
    if (busy < concurrency) {
      admitted++;
      level(+1);
      void serve(now, calls, work);
    } else if (queue.length - queueHead < queueLimit) {
      admitted++;
      level(+1);
      queue.push([now, calls, work]);
      maxQueued = Math.max(maxQueued, queue.length - queueHead);
    } else {
      tot.rejected++;
      cur.rejected++;
    }
    const gap = -Math.log(1 - arrivalRandom()) * (1000 / lambda);
    if (now + gap < durationMs) clock.setTimer(arrive, gap);
  };

  let sampledArea = 0;
  const sampleTick = (): void => {
    const queued = queue.length - queueHead;
    const s: CapacitySample = {
      tMs: clock.now(),
      inFlight: busy,
      queued,
      ...cur,
      goodputPerSecond: cur.ok / (sampleMs / 1000),
      dependencyCallsPerSecond: intervalCalls / (sampleMs / 1000),
      p50Ms: nearestRank(curTimes, 0.5),
      p99Ms: nearestRank(curTimes, 0.99),
    };
    if (breaker) s.breaker = breaker.state(ORIGIN);
    series.push(s);
    sampledArea += (busy + queued) * sampleMs;
    cur = { arrivals: 0, rejected: 0, ok: 0, failed: 0, timeouts: 0, circuitOpen: 0 };
    curTimes = new DDSketch({ relativeAccuracy: SKETCH_ACCURACY });
    intervalCalls = 0;
    // Keep sampling through the drain, until the last request is done.
    if (clock.now() < durationMs || inSystem > 0) clock.setTimer(sampleTick, sampleMs);
  };

  const firstGap = -Math.log(1 - arrivalRandom()) * (1000 / lambda);
  if (firstGap < durationMs) clock.setTimer(arrive, firstGap);
  clock.setTimer(sampleTick, sampleMs);
  await clock.runAsync({ maxEvents: Infinity });
  level(0);

  const endMs = lastChange;
  const T = series.length > 0 ? series[series.length - 1]!.tMs : endMs;
  const L = T > 0 ? area / T : 0;
  const sampledL = T > 0 ? sampledArea / T : 0;
  const lambdaPerSecond = T > 0 ? admitted / (T / 1000) : 0;
  const W = admitted > 0 ? sojournSum / admitted : 0;
  const lw = (lambdaPerSecond / 1000) * W;
  return {
    series,
    totals: {
      ...tot,
      dependencyCalls,
      endMs,
      p50Ms: nearestRank(allTimes, 0.5),
      p99Ms: nearestRank(allTimes, 0.99),
      maxQueued,
    },
    littlesLaw: {
      L,
      sampledL,
      lambdaPerSecond,
      meanTimeInSystemMs: W,
      relativeError: lw > 0 ? Math.abs(L - lw) / lw : 0,
      sampledRelativeError: lw > 0 ? Math.abs(sampledL - lw) / lw : 0,
    },
  };
}
