/**
 * Seeded randomness for the planners: independent, reproducible streams of
 * uniform numbers (pure-rand's xoroshiro128+), and the few distributions
 * that network planning needs (lognormal bandwidths, exponential
 * inter-arrival times, weighted choices), written as plain data so a plan
 * can cross to a worker thread and back unchanged.
 *
 * @module
 */
import { uniformFloat64 } from "pure-rand/distribution/uniformFloat64";
import { xoroshiro128plusFromState } from "pure-rand/generator/xoroshiro128plus";
import { describe } from "../src/duration.ts";
import { fmix32 } from "./_hash.ts";

/** Uniform numbers in [0, 1). */
export type Random = () => number;

/**
 * A number drawn afresh for every trial: a constant, or one of these
 * distributions (all plain data, so they survive `structuredClone` and
 * `JSON.stringify`).
 *
 * - `uniform`: every value in [min, max) equally likely.
 * - `lognormal`: `median × e^(sigma × N(0,1))`, clamped to [min, max] when
 *   given. Bandwidths and latencies are positive and right-skewed; a
 *   lognormal is the usual fit for both (e.g. residential uplinks).
 * - `exponential`: memoryless, with the given mean (Poisson gaps).
 * - `choice`: one of `values`, with optional relative `weights`.
 */
export type Distribution =
  | number
  | { kind: "uniform"; min: number; max: number }
  | { kind: "lognormal"; median: number; sigma: number; min?: number; max?: number }
  | { kind: "exponential"; mean: number }
  | { kind: "choice"; values: number[]; weights?: number[] };

/**
 * A seeded stream of uniform numbers in [0, 1): 53 random bits each, from
 * xoroshiro128+ (pure-rand). `stream` picks one of 2^32 independent streams
 * for the same seed (e.g. one per trial), so trial i draws the same numbers
 * however the trials are split between workers.
 *
 * The 128-bit state is filled by hashing (seed, stream) rather than taken
 * from pure-rand's `xoroshiro128plus(seed)`: seeding that from small
 * integers gives a near-1 first output (0.99999937 for seed 42), a known
 * weakness of xoroshiro started from a low-entropy state.
 *
 * @param seed Any integer (taken modulo 2^32).
 * @param stream Which independent stream. @default 0
 * @returns A function returning the next number on each call.
 * @throws {RangeError} If `seed` or `stream` is not a finite integer.
 *
 * @example
 * ```ts
 * import { seededRandom } from "timebound/sim";
 * const a = seededRandom(7, 1);
 * const b = seededRandom(7, 1);
 * const x = a();
 * console.assert(x === b() && x >= 0 && x < 1);
 * console.assert(seededRandom(7, 2)() !== x);
 * ```
 */
export function seededRandom(seed: number, stream = 0): Random {
  for (const [name, v] of [
    ["seed", seed],
    ["stream", stream],
  ] as const) {
    if (!Number.isInteger(v)) {
      throw new RangeError(`Invalid option '${name}': expected an integer, got ${describe(v)}`);
    }
  }
  const s = Number(BigInt.asIntN(32, BigInt(seed)));
  const t = Number(BigInt.asIntN(32, BigInt(stream)));
  const state: number[] = [
    fmix32(s ^ 0x9e3779b9),
    fmix32(t ^ 0x7f4a7c15),
    fmix32(s + Math.imul(t, 0x85ebca6b) + 0x165667b1),
    fmix32(t - Math.imul(s, 0xc2b2ae35) + 0x27d4eb2f),
  ];
  if (!state.some((w) => w !== 0)) state[0] = 1; // the all-zero state is a fixed point
  const rng = xoroshiro128plusFromState(state);
  return () => uniformFloat64(rng);
}

/** A standard normal variate (Box–Muller); always consumes exactly two uniforms. */
function normal(random: Random): number {
  const u1 = 1 - random(); // (0, 1]: log(0) is -Infinity
  const u2 = random();
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/**
 * Draws one value of `dist`.
 *
 * Each kind consumes a fixed count of uniforms (constant 0, normal-based 2,
 * others 1), so a plan's draws line up across runs.
 *
 * @example
 * ```ts
 * import { sample, seededRandom } from "timebound/sim";
 * const random = seededRandom(1);
 * console.assert(sample(5, random) === 5);
 * const bw = sample({ kind: "lognormal", median: 4e6, sigma: 0.6, min: 2.5e5 }, random);
 * console.assert(bw >= 2.5e5);
 * ```
 */
export function sample(dist: Distribution, random: Random): number {
  if (typeof dist === "number") return dist;
  switch (dist.kind) {
    case "uniform":
      return dist.min + (dist.max - dist.min) * random();
    case "lognormal": {
      const v = dist.median * Math.exp(dist.sigma * normal(random));
      return Math.min(dist.max ?? Infinity, Math.max(dist.min ?? 0, v));
    }
    case "exponential":
      return -dist.mean * Math.log(1 - random());
    case "choice": {
      const u = random();
      const w = dist.weights;
      if (!w)
        return dist.values[Math.min(dist.values.length - 1, Math.floor(u * dist.values.length))]!;
      let sum = 0;
      for (const x of w) sum += x;
      let acc = 0;
      for (let i = 0; i < w.length; i++) {
        acc += w[i]! / sum;
        if (u < acc) return dist.values[i]!;
      }
      return dist.values[dist.values.length - 1]!;
    }
  }
}

/**
 * The value at quantile `q` of `dist` (exact for every kind; used to say
 * which constraint binds, e.g. "payload / p1 bandwidth").
 *
 * @example
 * ```ts
 * import { quantileOf } from "timebound/sim";
 * console.assert(quantileOf({ kind: "uniform", min: 0, max: 10 }, 0.1) === 1);
 * console.assert(quantileOf({ kind: "lognormal", median: 4, sigma: 1 }, 0.5) === 4);
 * ```
 */
export function quantileOf(dist: Distribution, q: number): number {
  if (typeof dist === "number") return dist;
  switch (dist.kind) {
    case "uniform":
      return dist.min + (dist.max - dist.min) * q;
    case "lognormal": {
      const v = dist.median * Math.exp(dist.sigma * normalQuantile(q));
      return Math.min(dist.max ?? Infinity, Math.max(dist.min ?? 0, v));
    }
    case "exponential":
      return -dist.mean * Math.log(1 - q);
    case "choice": {
      const w = dist.weights ?? dist.values.map(() => 1);
      const pairs = dist.values.map((v, i) => [v, w[i]!] as const).sort((a, b) => a[0] - b[0]);
      const sum = pairs.reduce((s, p) => s + p[1], 0);
      let acc = 0;
      for (const [v, wt] of pairs) {
        acc += wt / sum;
        if (q <= acc) return v;
      }
      return pairs[pairs.length - 1]![0];
    }
  }
}

/**
 * The standard normal quantile, by Acklam's rational approximation
 * (relative error < 1.15e-9), which is plenty for choosing timeouts.
 */
function normalQuantile(p: number): number {
  if (p <= 0) return -Infinity;
  if (p >= 1) return Infinity;
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972,
    -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734,
    4.374664141464968, 2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (
      (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) /
      ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1)
    );
  }
  if (p > 1 - lo) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) /
    (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1)
  );
}

/**
 * Validates a {@linkcode Distribution} option, naming it in the error.
 *
 * @param name The option's name, for messages.
 * @param dist The value to check.
 * @param positive Whether every value must be > 0 (bandwidths, sizes). @default true
 * @returns `dist`, typed.
 * @throws {TypeError} For an unknown kind or shape; {@link RangeError} for a bad number.
 *
 * @example
 * ```ts
 * import { checkDistribution } from "timebound/sim";
 * checkDistribution("rttMs", { kind: "uniform", min: 20, max: 200 });
 * try {
 *   checkDistribution("rttMs", { kind: "uniform", min: 200, max: 20 });
 * } catch (e) {
 *   console.assert(e instanceof RangeError && e.message.includes("'rttMs.max'"));
 * }
 * ```
 */
export function checkDistribution(name: string, dist: unknown, positive = true): Distribution {
  const num = (key: string, v: unknown, min = positive ? 0 : -Infinity, open = positive) => {
    if (typeof v !== "number") {
      throw new TypeError(`Invalid option '${key}': expected a number, got ${describe(v)}`);
    }
    if (!Number.isFinite(v) || (open ? v <= min : v < min)) {
      const bound = open ? `> ${min}` : `>= ${min}`;
      throw new RangeError(`Invalid option '${key}': expected a finite number ${bound}, got ${v}`);
    }
    return v;
  };
  if (typeof dist === "number") {
    num(name, dist, 0, positive);
    return dist;
  }
  if (typeof dist !== "object" || dist === null || Array.isArray(dist)) {
    throw new TypeError(
      `Invalid option '${name}': expected a number or a distribution object, got ${describe(dist)}`,
    );
  }
  const d = dist as Record<string, unknown>;
  const keys: Record<string, string[]> = {
    uniform: ["kind", "min", "max"],
    lognormal: ["kind", "median", "sigma", "min", "max"],
    exponential: ["kind", "mean"],
    choice: ["kind", "values", "weights"],
  };
  const allowed = typeof d.kind === "string" ? keys[d.kind] : undefined;
  if (!allowed) {
    throw new TypeError(
      `Invalid option '${name}.kind': expected one of ${Object.keys(keys).join(", ")}, got ${describe(d.kind)}`,
    );
  }
  for (const k of Object.keys(d)) {
    if (!allowed.includes(k)) {
      throw new TypeError(`Unknown option '${name}.${k}': expected one of ${allowed.join(", ")}`);
    }
  }
  switch (d.kind) {
    case "uniform": {
      const min = num(`${name}.min`, d.min, 0, positive);
      const max = num(`${name}.max`, d.max, 0, positive);
      if (max < min) {
        throw new RangeError(`Invalid option '${name}.max': expected >= min (${min}), got ${max}`);
      }
      break;
    }
    case "lognormal": {
      num(`${name}.median`, d.median, 0, true);
      num(`${name}.sigma`, d.sigma, 0, false);
      const min = d.min === undefined ? 0 : num(`${name}.min`, d.min, 0, false);
      if (d.max !== undefined) {
        const max = num(`${name}.max`, d.max, 0, true);
        if (max < min) {
          throw new RangeError(
            `Invalid option '${name}.max': expected >= min (${min}), got ${max}`,
          );
        }
      }
      break;
    }
    case "exponential":
      num(`${name}.mean`, d.mean, 0, true);
      break;
    case "choice": {
      if (!Array.isArray(d.values) || d.values.length === 0) {
        throw new TypeError(
          `Invalid option '${name}.values': expected a non-empty array of numbers, got ${describe(d.values)}`,
        );
      }
      for (const [i, v] of d.values.entries()) num(`${name}.values[${i}]`, v, 0, positive);
      if (d.weights !== undefined) {
        if (!Array.isArray(d.weights) || d.weights.length !== d.values.length) {
          throw new TypeError(
            `Invalid option '${name}.weights': expected an array as long as values (${d.values.length}), got ${describe(d.weights)}`,
          );
        }
        for (const [i, v] of d.weights.entries()) num(`${name}.weights[${i}]`, v, 0, false);
        if (!d.weights.some((w) => (w as number) > 0)) {
          throw new RangeError(`Invalid option '${name}.weights': expected a weight > 0`);
        }
      }
      break;
    }
  }
  return dist as Distribution;
}
