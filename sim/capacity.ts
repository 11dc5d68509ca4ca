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
import type { Learned } from "../src/learn.ts";
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
  /** Per attempt; `{ learn: … }` for a limit learned online (see `createFetch`). */
  headers?: Duration | false | Learned;
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
  /**
   * The service's own callers, who give up and retry: each waits at most
   * `patienceMs` for its answer, then leaves (a request still queued is
   * dropped when `dropAbandoned`; one in service keeps its worker busy — the
   * herd), and retries a failure or a give-up up to `retries` times after a
   * backoff. @default none: callers wait forever and never retry
   */
  callers?: CapacityCallers;
}

/** The service's callers (see {@linkcode CapacityOptions.callers}). */
export interface CapacityCallers {
  /** How long a caller waits for its answer, in ms. */
  patienceMs: Distribution;
  /** Retries after a failed answer or a give-up. @default 0 */
  retries?: number;
  /** Backoff before retry n: base × 2^(n−1), capped. @default { base: "100ms", cap: "5s" } */
  backoff?: { base?: Duration; cap?: Duration };
  /** Full jitter on the backoff (uniform in [0, backoff]); without it retries come in waves. @default true */
  jitter?: boolean;
  /** The service notices a caller that left while queued (a disconnect check) and drops its request. @default true */
  dropAbandoned?: boolean;
  /**
   * The service passes each caller's remaining patience to its dependency
   * call as timebound's `callerBudget` (deadline propagation): a caller who
   * gives up frees its worker. @default false
   */
  propagateDeadline?: boolean;
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
  /** With `callers`: callers who gave up in the interval. */
  abandoned?: number;
  /** With `callers`: requests that were callers' retries. */
  callerRetries?: number;
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
    /** With `callers`: callers who gave up waiting (in the queue or in service). */
    abandoned?: number;
    /** …of which while still queued (the Erlang-A "abandonment"). */
    abandonedQueued?: number;
    /** Requests that finished after their caller had left: work done for nobody. */
    wasted?: number;
    /** Worker time spent on requests after their caller had left, in ms. */
    wastedWorkerMs?: number;
    /** Requests that were callers' retries. */
    callerRetries?: number;
    /** Callers (first arrivals) who got a successful answer in the end. */
    callersServed?: number;
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
  "callers",
]);
const CALLER_KEYS = new Set([
  "patienceMs",
  "retries",
  "backoff",
  "jitter",
  "dropAbandoned",
  "propagateDeadline",
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

/** One of the service's callers, across its tries. */
interface Caller {
  /** Requests it has sent so far. */
  tries: number;
}

/** One request in the service. */
interface Req {
  arrivedAt: number;
  calls: boolean;
  work: number;
  caller: Caller | undefined;
  /** When its caller gives up (Infinity without `callers`). */
  deadline: number;
  patience: unknown;
  queued: boolean;
  /** Its caller is gone: gave up, or has its answer. */
  left: boolean;
  /** When its caller gave up. */
  leftAt: number;
  /** Dropped from the queue after its caller left. */
  dropped: boolean;
}

interface ResolvedCallers {
  patienceMs: Distribution;
  retries: number;
  baseMs: number;
  capMs: number;
  jitter: boolean;
  dropAbandoned: boolean;
  propagateDeadline: boolean;
}

function checkCallers(value: unknown): ResolvedCallers {
  const o = plainObject("callers", value);
  checkKeys("callers", o, CALLER_KEYS);
  if (o.patienceMs === undefined) {
    throw new TypeError("Invalid option 'callers.patienceMs': expected a distribution in ms");
  }
  const b = plainObject("callers.backoff", o.backoff ?? {});
  checkKeys("callers.backoff", b, new Set(["base", "cap"]));
  const flag = (name: string, v: unknown, d: boolean): boolean => {
    if (v === undefined) return d;
    if (typeof v !== "boolean") {
      throw new TypeError(`Invalid option 'callers.${name}': expected a boolean, got ${String(v)}`);
    }
    return v;
  };
  return {
    patienceMs: checkDistribution("callers.patienceMs", o.patienceMs),
    retries: o.retries === undefined ? 0 : integerOption("callers.retries", o.retries, 0, 100),
    baseMs: b.base === undefined ? 100 : durationOption("callers.backoff.base", b.base),
    capMs: b.cap === undefined ? 5000 : durationOption("callers.backoff.cap", b.cap),
    jitter: flag("jitter", o.jitter, true),
    dropAbandoned: flag("dropAbandoned", o.dropAbandoned, true),
    propagateDeadline: flag("propagateDeadline", o.propagateDeadline, false),
  };
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
  const callers = o.callers === undefined ? undefined : checkCallers(o.callers);
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
  const patienceRandom = seededRandom(seed, 5);
  const callerJitter = seededRandom(seed, 6);

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
    headers: client.headers as Duration | false | Learned | undefined,
    retry,
    breaker: breaker ?? false,
  });

  // --- the service ---------------------------------------------------------
  const queue: Req[] = [];
  let queueHead = 0;
  let queuedNow = 0; // entries in the queue not dropped
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
  const crowd = {
    abandoned: 0,
    abandonedQueued: 0,
    wasted: 0,
    wastedWorkerMs: 0,
    callerRetries: 0,
    callersServed: 0,
  };
  let curAbandoned = 0;
  let curRetries = 0;

  const level = (delta: number): void => {
    const now = clock.now();
    area += inSystem * (now - lastChange);
    lastChange = now;
    inSystem += delta;
  };

  /** A caller gives up, or got a failure: another try after the backoff, if it has one left. */
  const retryLater = (caller: Caller): void => {
    if (!callers || caller.tries > callers.retries) return;
    const n = caller.tries; // retries made so far + 1
    const ceiling = Math.min(callers.capMs, callers.baseMs * 2 ** (n - 1));
    const delay = callers.jitter ? callerJitter() * ceiling : ceiling;
    clock.setTimer(() => {
      crowd.callerRetries++;
      curRetries++;
      enter(caller);
    }, delay);
  };

  const giveUp = (req: Req): void => {
    if (req.left) return;
    req.left = true;
    req.leftAt = clock.now();
    crowd.abandoned++;
    curAbandoned++;
    if (req.queued) {
      crowd.abandonedQueued++;
      if (callers!.dropAbandoned) {
        req.dropped = true;
        req.queued = false;
        queuedNow--;
        level(-1);
        sojournSum += clock.now() - req.arrivedAt;
      }
    }
    retryLater(req.caller!);
  };

  const serve = async (req: Req): Promise<void> => {
    busy++;
    let outcome: "ok" | "failed" | "timeout" | "open";
    if (req.calls) {
      try {
        let init: { callerBudget: number } | undefined;
        if (callers?.propagateDeadline && req.caller) {
          init = { callerBudget: Math.max(1, req.deadline - clock.now()) };
        }
        const res = await fetchDependency(`${ORIGIN}/translate`, init);
        outcome = res.ok ? "ok" : "failed";
      } catch (error) {
        outcome = isTimeoutError(error) ? "timeout" : isCircuitOpenError(error) ? "open" : "failed";
      }
    } else {
      await new Promise<void>((resolve) => clock.setTimer(resolve, req.work));
      outcome = "ok";
    }
    busy--;
    level(-1);
    const t = clock.now() - req.arrivedAt;
    sojournSum += t;
    allTimes.accept(t);
    curTimes.accept(t);
    if (req.left) {
      // The caller is gone: whatever the answer, it was work done for nobody.
      crowd.wasted++;
      crowd.wastedWorkerMs += clock.now() - req.leftAt;
    } else if (req.caller) {
      clock.clearTimer(req.patience);
      req.left = true;
      if (outcome === "ok") crowd.callersServed++;
      else retryLater(req.caller);
    }
    for (const c of [tot, cur]) {
      if (outcome === "ok") c.ok++;
      else {
        c.failed++;
        if (outcome === "timeout") c.timeouts++;
        else if (outcome === "open") c.circuitOpen++;
      }
    }
    while (queueHead < queue.length) {
      const next = queue[queueHead++]!;
      if (queueHead > 1024 && queueHead * 2 > queue.length) {
        queue.splice(0, queueHead);
        queueHead = 0;
      }
      if (next.dropped) continue;
      next.queued = false;
      queuedNow--;
      void serve(next);
      break;
    }
  };

  /** A request of `caller` (a new one, or a retry) reaches the service. */
  const enter = (caller: Caller | undefined): void => {
    const now = clock.now();
    tot.arrivals++;
    cur.arrivals++;
    // Drawn for every arrival (kind, then local work), so the streams stay aligned.
    const calls = kindRandom() < callShare;
    const work = Math.max(0, sample(localMs, kindRandom));
    const req: Req = {
      arrivedAt: now,
      calls,
      work,
      caller,
      deadline: Number.POSITIVE_INFINITY,
      patience: undefined,
      queued: false,
      left: false,
      leftAt: 0,
      dropped: false,
    };
    if (caller) caller.tries++;
    if (busy >= concurrency && queuedNow >= queueLimit) {
      tot.rejected++;
      cur.rejected++;
      if (caller) retryLater(caller);
      return;
    }
    admitted++;
    level(+1);
    if (caller && callers) {
      const patience = Math.max(0, sample(callers.patienceMs, patienceRandom));
      req.deadline = now + patience;
      req.patience = clock.setTimer(() => giveUp(req), patience);
    }
    if (busy < concurrency) void serve(req);
    else {
      req.queued = true;
      queue.push(req);
      queuedNow++;
      maxQueued = Math.max(maxQueued, queuedNow);
    }
  };

  const arrive = (): void => {
    const now = clock.now();
    enter(callers ? { tries: 0 } : undefined);
    const gap = -Math.log(1 - arrivalRandom()) * (1000 / lambda);
    if (now + gap < durationMs) clock.setTimer(arrive, gap);
  };

  let sampledArea = 0;
  const sampleTick = (): void => {
    const queued = queuedNow;
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
    if (callers) {
      s.abandoned = curAbandoned;
      s.callerRetries = curRetries;
      curAbandoned = 0;
      curRetries = 0;
    }
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
      ...(callers ? crowd : {}),
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
