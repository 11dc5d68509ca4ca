/**
 * Callers who give up and retry (issue 12, item 5), in the capacity model:
 * checked against the exact M/M/c/K+M (Erlang-A) reference, and the herd —
 * a retry storm that turns a slowdown into an outage — shown and prevented.
 */
import { describe, expect, it } from "vitest";
import { capacity, erlangA } from "../sim/mod.ts";

describe("erlangA", () => {
  it("without abandonment and with a large room it is M/M/c: Little's law and the throughput hold", () => {
    const r = erlangA({
      arrivalsPerSecond: 40,
      concurrency: 10,
      meanServiceMs: 200,
      meanPatienceMs: Number.POSITIVE_INFINITY,
      queueLimit: 2000,
    });
    expect(r.pAbandon).toBe(0);
    expect(r.pRejected).toBeLessThan(1e-12);
    expect(r.throughputPerSecond).toBeCloseTo(40, 9);
    // L = λW with W = Wq + 1/μ, Wq = Lq/λ.
    expect(r.meanInSystem).toBeCloseTo(r.meanQueue + 40 * 0.2, 9);
  });

  it.each([0, -1, Number.NaN])("rejects meanPatienceMs %s", (v) => {
    expect(() =>
      erlangA({
        arrivalsPerSecond: 1,
        concurrency: 1,
        meanServiceMs: 1,
        meanPatienceMs: v,
        queueLimit: 1,
      }),
    ).toThrow(RangeError);
  });
});

describe("capacity with callers who give up", () => {
  // Exponential service and patience, no retries, the queue drops who left:
  // the simulator's system is exactly M/M/c/K+M.
  const cases = [
    {
      arrivalsPerSecond: 60,
      concurrency: 10,
      meanServiceMs: 200,
      meanPatienceMs: 1000,
      queueLimit: 100,
    },
    {
      arrivalsPerSecond: 45,
      concurrency: 10,
      meanServiceMs: 200,
      meanPatienceMs: 500,
      queueLimit: 20,
    },
    {
      arrivalsPerSecond: 80,
      concurrency: 20,
      meanServiceMs: 300,
      meanPatienceMs: 2000,
      queueLimit: 30,
    },
  ];
  it.each(cases)("agrees with Erlang-A: %o", async (c) => {
    const ref = erlangA(c);
    const r = await capacity({
      arrivalsPerSecond: c.arrivalsPerSecond,
      concurrency: c.concurrency,
      queueLimit: c.queueLimit,
      duration: "600s",
      dependency: [{ fromMs: 0, latencyMs: { kind: "exponential", mean: c.meanServiceMs } }],
      client: { total: false },
      callers: { patienceMs: { kind: "exponential", mean: c.meanPatienceMs } },
      seed: 7,
    });
    const t = r.totals;
    const pAbandon = t.abandonedQueued! / t.arrivals;
    const pRejected = t.rejected / t.arrivals;
    // 600 s of load: tens of thousands of arrivals; the shares are within a
    // few points of a percent (absolute) of the exact stationary values.
    expect(Math.abs(pAbandon - ref.pAbandon)).toBeLessThan(0.01);
    expect(Math.abs(pRejected - ref.pRejected)).toBeLessThan(0.01);
    expect(r.littlesLaw.relativeError).toBeLessThan(1e-6);
  });

  it("the herd: without deadlines, retrying callers turn a slowdown into an outage; propagated deadlines, a budget and a breaker keep it served", async () => {
    const common = {
      arrivalsPerSecond: 40,
      concurrency: 20,
      queueLimit: 100,
      duration: "180s",
      callShare: 0.5, // the seed's site: half its pages never call the dependency
      seed: 3,
    } as const;
    const impatient = { patienceMs: 2000, retries: 3, backoff: { base: "100ms", cap: "1s" } };
    const naive = await capacity({
      ...common,
      client: { total: false },
      callers: { ...impatient, jitter: false, dropAbandoned: false },
    });
    const guarded = await capacity({
      ...common,
      client: {
        total: "1s",
        retry: { limit: 1, budget: { ratio: 0.1, minRetries: 1 } },
        breaker: { minCalls: 20, cooldown: "2s" },
      },
      callers: { ...impatient, propagateDeadline: true },
    });
    const n = naive.totals;
    const g = guarded.totals;
    // Seen on this seed: naive 7,168 caller retries, 6,051 s of worker time
    // for callers already gone, 4,868 callers served, p99 19.7 s; guarded
    // 2,958 retries, 0 s wasted, 6,825 served, p99 2.0 s.
    expect(n.callerRetries!).toBeGreaterThan(2 * g.callerRetries!);
    expect(g.wastedWorkerMs!).toBeLessThan(0.01 * n.wastedWorkerMs!);
    expect(g.callersServed!).toBeGreaterThan(1.3 * n.callersServed!);
    expect(g.p99Ms).toBeLessThan(n.p99Ms / 5);
    expect(naive.littlesLaw.relativeError).toBeLessThan(1e-6);
    expect(guarded.littlesLaw.relativeError).toBeLessThan(1e-6);
  });

  it("the same seed gives the same run", async () => {
    const run = () =>
      capacity({
        duration: "30s",
        dependency: [{ fromMs: 0, latencyMs: { kind: "exponential", mean: 600 } }],
        callers: { patienceMs: { kind: "exponential", mean: 1000 }, retries: 2 },
        seed: 11,
      });
    expect((await run()).totals).toEqual((await run()).totals);
  });
});
