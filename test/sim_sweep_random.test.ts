/**
 * The sweep's randomness (sim/random.ts): seeded streams that reproduce and
 * stay independent, distributions whose samples match their quantile
 * functions, and validation of distribution options.
 */
import { fc, it as prop } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import {
  checkDistribution,
  type Distribution,
  quantileOf,
  sample,
  seededRandom,
} from "../sim/random.ts";

/** Samples per distribution check: the empirical quantile is then within ~1.5 % (in probability) of the true one. */
const N = 20_000;

describe("seededRandom", () => {
  prop.prop([fc.integer(), fc.integer({ min: 0, max: 2 ** 32 - 1 })])(
    "same seed and stream, same numbers, all in [0, 1)",
    (seed, stream) => {
      const a = seededRandom(seed, stream);
      const b = seededRandom(seed, stream);
      for (let i = 0; i < 20; i++) {
        const x = a();
        expect(x).toBe(b());
        expect(x).toBeGreaterThanOrEqual(0);
        expect(x).toBeLessThan(1);
      }
    },
  );

  it("neighbouring streams are uncorrelated and start well mixed (no near-1 first output)", () => {
    const firsts = Array.from({ length: N }, (_, i) => seededRandom(42, i)());
    const mean = firsts.reduce((s, x) => s + x, 0) / N;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01); // SE ≈ 0.002
    let cov = 0;
    for (let i = 1; i < N; i++) cov += (firsts[i]! - 0.5) * (firsts[i - 1]! - 0.5);
    expect(Math.abs(cov / N / (1 / 12))).toBeLessThan(0.05); // lag-1 correlation
  });

  for (const v of [1.5, Number.NaN, Infinity]) {
    it(`rejects seed ${v}`, () => {
      expect(() => seededRandom(v)).toThrow("Invalid option 'seed': expected an integer");
    });
  }
});

describe("distributions", () => {
  const cases: Distribution[] = [
    { kind: "uniform", min: 10, max: 20 },
    { kind: "lognormal", median: 4e6, sigma: 0.6 },
    { kind: "lognormal", median: 4e6, sigma: 0.6, min: 3e6, max: 8e6 },
    { kind: "exponential", mean: 200 },
    { kind: "choice", values: [1, 2, 3], weights: [5, 3, 2] },
  ];
  for (const d of cases) {
    it(`${JSON.stringify(d)}: samples match quantileOf at 10/50/90 %`, () => {
      const r = seededRandom(3);
      const xs = Array.from({ length: N }, () => sample(d, r)).sort((a, b) => a - b);
      for (const q of [0.1, 0.5, 0.9]) {
        const expected = quantileOf(d, q);
        // The empirical CDF at the true quantile is within ±0.015 of q (≈ 4 SE).
        const below = xs.filter((x) => x < expected).length / N;
        const atOrBelow = xs.filter((x) => x <= expected).length / N;
        expect(below).toBeLessThanOrEqual(q + 0.015);
        expect(atOrBelow).toBeGreaterThanOrEqual(q - 0.015);
      }
    });
  }

  it("a constant is itself and consumes nothing", () => {
    const r = seededRandom(1);
    const s = seededRandom(1);
    expect(sample(7, r)).toBe(7);
    expect(r()).toBe(s());
  });

  const bad: [unknown, ErrorConstructor, string][] = [
    [-1, RangeError, "Invalid option 'd': expected a finite number > 0"],
    ["4Mbit", TypeError, "Invalid option 'd': expected a number or a distribution object"],
    [
      { kind: "beta" },
      TypeError,
      "Invalid option 'd.kind': expected one of uniform, lognormal, exponential, choice",
    ],
    [{ kind: "uniform", min: 1 }, TypeError, "Invalid option 'd.max': expected a number"],
    [
      { kind: "uniform", min: 2, max: 1 },
      RangeError,
      "Invalid option 'd.max': expected >= min (2)",
    ],
    [{ kind: "lognormal", median: 1, sigma: -1 }, RangeError, "Invalid option 'd.sigma'"],
    [{ kind: "lognormal", median: 1, sigma: 1, mu: 0 }, TypeError, "Unknown option 'd.mu'"],
    [{ kind: "exponential", mean: 0 }, RangeError, "Invalid option 'd.mean'"],
    [{ kind: "choice", values: [] }, TypeError, "Invalid option 'd.values'"],
    [{ kind: "choice", values: [1, 2], weights: [1] }, TypeError, "Invalid option 'd.weights'"],
    [
      { kind: "choice", values: [1, 2], weights: [0, 0] },
      RangeError,
      "Invalid option 'd.weights': expected a weight > 0",
    ],
  ];
  for (const [d, E, message] of bad) {
    it(`rejects ${JSON.stringify(d)}`, () => {
      expect(() => checkDistribution("d", d)).toThrow(E);
      expect(() => checkDistribution("d", d)).toThrow(message);
    });
  }
});
