/**
 * A queueing reference for the capacity model: M/M/c/K with abandonment
 * (Erlang-A with a finite waiting room) — Poisson arrivals, exponential
 * service, `c` servers, `queueLimit` places to wait, and callers whose
 * patience is exponential and who leave the queue when it runs out. Solved
 * exactly as a birth–death chain. With exponential latencies and patience
 * and no retries, {@linkcode capacity} must agree with it: the check that
 * the simulator's queue, reneging and admission are right.
 *
 * @module
 */
import { checkKeys, integerOption, plainObject, positiveNumber } from "../src/validate.ts";

/** Options of {@linkcode erlangA}. */
export interface ErlangAInput {
  /** λ: mean arrivals per second. */
  arrivalsPerSecond: number;
  /** c: servers. */
  concurrency: number;
  /** Mean service time, ms (exponential). */
  meanServiceMs: number;
  /** Mean patience, ms (exponential); `Infinity` for callers who never leave. */
  meanPatienceMs: number;
  /** Places to wait; an arrival that finds them full is turned away. */
  queueLimit: number;
}

/** What {@linkcode erlangA} predicts for the stationary system. */
export interface ErlangAResult {
  /** Share of arrivals turned away (the waiting room full). */
  pRejected: number;
  /** Share of arrivals that wait at all (admitted, all servers busy). */
  pWait: number;
  /** Share of arrivals that leave the queue before service. */
  pAbandon: number;
  /** Mean number waiting. */
  meanQueue: number;
  /** Mean number in the system (waiting + in service). */
  meanInSystem: number;
  /** Served per second. */
  throughputPerSecond: number;
}

const KEYS = new Set([
  "arrivalsPerSecond",
  "concurrency",
  "meanServiceMs",
  "meanPatienceMs",
  "queueLimit",
]);

/**
 * The stationary M/M/c/K+M system (Erlang-A with `queueLimit` places).
 *
 * @param input Load, servers, service and patience means, waiting room.
 * @returns Shares of arrivals rejected, waiting and abandoning; means; throughput.
 * @throws {TypeError} For an unknown key; {@link RangeError} for a bad value.
 *
 * @example
 * ```ts
 * import { erlangA } from "timebound/sim";
 * const r = erlangA({ arrivalsPerSecond: 60, concurrency: 10, meanServiceMs: 200, meanPatienceMs: 1000, queueLimit: 100 });
 * console.assert(r.pAbandon > 0.1 && r.pAbandon < 0.2); // overloaded by 20 %: one in six gives up
 * ```
 */
export function erlangA(input: ErlangAInput): ErlangAResult {
  const o = plainObject("input", input);
  checkKeys("", o, KEYS);
  const lambda = positiveNumber("arrivalsPerSecond", o.arrivalsPerSecond);
  const c = integerOption("concurrency", o.concurrency, 1, 100_000);
  const mu = 1000 / positiveNumber("meanServiceMs", o.meanServiceMs);
  const patience = o.meanPatienceMs;
  if (typeof patience !== "number" || !(patience > 0)) {
    throw new RangeError(
      `Invalid option 'meanPatienceMs': expected a number > 0 or Infinity, got ${String(patience)}`,
    );
  }
  const theta = patience === Number.POSITIVE_INFINITY ? 0 : 1000 / patience;
  const k = integerOption("queueLimit", o.queueLimit, 0, 1_000_000);
  const n = c + k;
  // π_i ∝ Π_{j<i} λ / death(j+1), in logs to stay finite for large systems.
  const logP = new Float64Array(n + 1);
  for (let i = 1; i <= n; i++) {
    const death = mu * Math.min(i, c) + theta * Math.max(i - c, 0);
    logP[i] = logP[i - 1]! + Math.log(lambda / death);
  }
  let max = Number.NEGATIVE_INFINITY;
  for (const v of logP) max = Math.max(max, v);
  let sum = 0;
  const p = new Float64Array(n + 1);
  for (let i = 0; i <= n; i++) {
    p[i] = Math.exp(logP[i]! - max);
    sum += p[i]!;
  }
  let meanQueue = 0;
  let meanInSystem = 0;
  let pWait = 0;
  for (let i = 0; i <= n; i++) {
    p[i]! /= sum;
    meanQueue += Math.max(i - c, 0) * p[i]!;
    meanInSystem += i * p[i]!;
    if (i >= c && i < n) pWait += p[i]!; // PASTA: arrivals see the stationary state
  }
  const pRejected = p[n]!;
  const pAbandon = (theta * meanQueue) / lambda;
  return {
    pRejected,
    pWait,
    pAbandon,
    meanQueue,
    meanInSystem,
    throughputPerSecond: lambda * (1 - pRejected - pAbandon),
  };
}
