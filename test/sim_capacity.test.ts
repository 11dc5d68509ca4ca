/**
 * capacity(): a service under Poisson load calling a dependency through the
 * real createFetch on virtual time. Little's law (L = λW) as a property over
 * random scenarios, reproducibility, the seed's story (timeouts and a
 * breaker keep the site up), and option validation.
 */
import { fc, it as prop } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { type CapacityOptions, type CapacityResult, capacity } from "../sim/capacity.ts";

/**
 * Little's law from the time series, within sampling error: the sampled
 * time-average is compared with λW against 4 standard errors (batch means
 * over 10 batches, at least √(L/n)) plus one interval's worth of the
 * largest level (the run's edges). On 400 random scenarios the worst gap
 * used 41 % of it.
 */
function littleWithinSamplingError(r: CapacityResult): { gap: number; tolerance: number } {
  const x = r.series.map((s) => s.inFlight + s.queued);
  const n = x.length;
  const b = Math.min(10, n);
  const m = Math.floor(n / b);
  const means = Array.from(
    { length: b },
    (_, k) => x.slice(k * m, (k + 1) * m).reduce((a, v) => a + v, 0) / m,
  );
  const mu = means.reduce((a, v) => a + v, 0) / b;
  const sd = b > 1 ? Math.sqrt(means.reduce((a, v) => a + (v - mu) ** 2, 0) / (b - 1)) : 0;
  const lw = (r.littlesLaw.lambdaPerSecond * r.littlesLaw.meanTimeInSystemMs) / 1000;
  // Batch means see no variance when every sample caught an empty system
  // (light load, short calls); a level that is mostly 0 or 1 still has a
  // per-sample variance of about L, hence the √(L/n) floor.
  const se = Math.max(sd / Math.sqrt(b), Math.sqrt(r.littlesLaw.L / n));
  return { gap: Math.abs(r.littlesLaw.sampledL - lw), tolerance: 4 * se + Math.max(...x) / n };
}

const clientArb = fc.constantFrom<CapacityOptions["client"]>(
  { total: false },
  { total: "1s" },
  { total: "1s", headers: "400ms", retry: { limit: 2 } },
  { total: "2s", retry: { limit: 1 }, breaker: { minCalls: 5, cooldown: "1s" } },
);
const scenarioArb = fc.record({
  arrivalsPerSecond: fc.double({ min: 2, max: 80, noNaN: true }),
  concurrency: fc.integer({ min: 1, max: 30 }),
  queueLimit: fc.integer({ min: 0, max: 200 }),
  duration: fc.integer({ min: 5_000, max: 40_000 }),
  dependency: fc
    .tuple(
      fc.double({ min: 10, max: 500, noNaN: true }),
      fc.double({ min: 50, max: 5000, noNaN: true }),
      fc.double({ min: 0, max: 0.5, noNaN: true }),
    )
    .map(([a, b, err]) => [
      { fromMs: 0, latencyMs: { kind: "lognormal" as const, median: a, sigma: 0.5 } },
      { fromMs: 3_000, latencyMs: { kind: "exponential" as const, mean: b }, errorRate: err },
    ]),
  client: clientArb,
  callShare: fc.double({ min: 0, max: 1, noNaN: true }),
  seed: fc.integer({ min: 0, max: 2 ** 31 }),
});

describe("Little's law", () => {
  prop.prop([scenarioArb], { numRuns: 25 })(
    "L = λW holds exactly over the run, and from the time series within sampling error",
    async (options) => {
      const r = await capacity(options);
      // Exact: the integral of requests in system equals the sum of their
      // times in it (no request lost or counted twice).
      expect(r.littlesLaw.relativeError).toBeLessThan(1e-9);
      const { gap, tolerance } = littleWithinSamplingError(r);
      expect(gap).toBeLessThanOrEqual(tolerance);
      // Conservation: every arrival is rejected or finishes.
      expect(r.totals.rejected + r.totals.ok + r.totals.failed).toBe(r.totals.arrivals);
    },
  );
});

describe("capacity", () => {
  const seedStory: CapacityOptions = {
    arrivalsPerSecond: 40,
    concurrency: 20,
    queueLimit: 100,
    callShare: 0.5,
  };

  it("the same seed gives the same result; another seed another", async () => {
    const a = await capacity({
      ...seedStory,
      duration: "30s",
      client: { total: "2s", retry: { limit: 2 } },
    });
    const b = await capacity({
      ...seedStory,
      duration: "30s",
      client: { total: "2s", retry: { limit: 2 } },
    });
    expect(b).toEqual(a);
    const c = await capacity({
      ...seedStory,
      duration: "30s",
      client: { total: "2s", retry: { limit: 2 } },
      seed: 2,
    });
    expect(c.totals.arrivals).not.toBe(a.totals.arrivals);
  });

  it("arrivals do not depend on the client (separate random streams)", async () => {
    const none = await capacity({ ...seedStory, duration: "60s", client: { total: false } });
    const breaker = await capacity({
      ...seedStory,
      duration: "60s",
      client: { total: "1s", breaker: {} },
    });
    expect(breaker.totals.arrivals).toBe(none.totals.arrivals);
    expect(breaker.series.map((s) => s.arrivals)).toEqual(none.series.map((s) => s.arrivals));
  });

  it("the seed's story: without timeouts the slow dependency fills the queue; a breaker keeps the site up", async () => {
    const none = await capacity({ ...seedStory, client: { total: false } });
    const breaker = await capacity({
      ...seedStory,
      client: {
        total: "2s",
        headers: "1s",
        retry: { limit: 2 },
        breaker: { minCalls: 20, cooldown: "5s" },
      },
    });
    expect(none.totals.maxQueued).toBe(100);
    expect(none.totals.rejected / none.totals.arrivals).toBeGreaterThan(0.15);
    expect(none.totals.p99Ms).toBeGreaterThan(10_000);
    expect(breaker.totals.rejected).toBe(0);
    expect(breaker.totals.circuitOpen).toBeGreaterThan(0);
    expect(breaker.totals.p99Ms).toBeLessThan(3_000);
    // Fewer calls reach the sick dependency, and the breaker closed again after it recovered.
    expect(breaker.totals.dependencyCalls).toBeLessThan(none.totals.dependencyCalls);
    expect(breaker.series.at(-1)!.breaker).toBe("closed");
  });

  it("createFetch's total deadline bounds the service time: with no queue, no request stays longer", async () => {
    const r = await capacity({
      arrivalsPerSecond: 30,
      concurrency: 50,
      queueLimit: 0,
      duration: "30s",
      dependency: [{ fromMs: 0, latencyMs: { kind: "exponential", mean: 2000 } }],
      client: { total: "1500ms", headers: "700ms", retry: { limit: 3 } },
    });
    expect(r.totals.timeouts).toBeGreaterThan(0);
    // DDSketch's p99 is within 1 %; the max is exact.
    expect(r.totals.p99Ms).toBeLessThanOrEqual(1500 * 1.01);
    const worst = Math.max(...r.series.map((s) => (Number.isNaN(s.p99Ms) ? 0 : s.p99Ms)));
    expect(worst).toBeLessThanOrEqual(1500 * 1.01);
  });

  const bad: [CapacityOptions, ErrorConstructor, string][] = [
    [{ arrivalsPerSecond: 0 }, RangeError, "Invalid option 'arrivalsPerSecond'"],
    [{ concurrency: 1.5 }, RangeError, "Invalid option 'concurrency'"],
    [{ queueLimit: -1 }, RangeError, "Invalid option 'queueLimit'"],
    [{ duration: "forever" }, TypeError, "Invalid option 'duration'"],
    [{ callShare: 2 }, RangeError, "Invalid option 'callShare'"],
    [{ dependency: [] }, TypeError, "Invalid option 'dependency'"],
    [{ dependency: [{ fromMs: 5, latencyMs: 1 }] }, RangeError, "the first phase must start at 0"],
    [
      { dependency: [{ fromMs: 0, latencyMs: { kind: "gamma" } }] } as unknown as CapacityOptions,
      TypeError,
      "Invalid option 'dependency[0].latencyMs.kind'",
    ],
    [
      { client: { total: "1s", retries: 2 } } as unknown as CapacityOptions,
      TypeError,
      "Unknown option 'client.retries'",
    ],
    [
      { client: { breaker: { clock: {} } } } as unknown as CapacityOptions,
      TypeError,
      "Unknown option 'client.breaker.clock'",
    ],
    [{ rate: 5 } as unknown as CapacityOptions, TypeError, "Unknown option 'rate'"],
  ];
  for (const [options, E, message] of bad) {
    it(`rejects ${JSON.stringify(options)}: ${message}`, async () => {
      await expect(capacity(options)).rejects.toThrow(E);
      await expect(capacity(options)).rejects.toThrow(message);
    });
  }
});
