/**
 * The CLI's table units and progress estimate (sim/cli/output.ts): one unit
 * family per table, and an ETA that does not swing when work completes in
 * bursts; the capacity plot's p99 (sim/cli/plot.ts), which counts requests
 * still inside.
 */
import { describe, expect, it } from "vitest";
import type { CapacitySample } from "../sim/capacity.ts";
import { Eta, sizeUnit, timeUnit } from "../sim/cli/output.ts";
import { p99InSystemMs } from "../sim/cli/plot.ts";

describe("timeUnit: one unit per table", () => {
  it("seconds once any value reaches a second, with one number of decimals", () => {
    const t = timeUnit([147, 18_960, 3_010, 20]);
    expect(t.unit).toBe("s");
    expect([147, 18_960, 3_010, 20].map(t.number)).toEqual(["0.15", "18.96", "3.01", "0.02"]);
    expect(t.format(3_010)).toBe("3.01 s");
  });
  it("milliseconds when every value is under a second", () => {
    const t = timeUnit([12.5, 480, 3.25]);
    expect(t.unit).toBe("ms");
    expect([12.5, 480, 3.25].map(t.number)).toEqual(["12.5", "480.0", "3.3"]);
  });
  it("large values group thousands; ∞, no value and zero pass through", () => {
    const t = timeUnit([51_230_000, 5_000, Infinity, Number.NaN, 0]);
    expect(t.number(51_230_000)).toBe("51,230.0");
    expect(t.number(5_000)).toBe("5.0");
    expect(t.number(Infinity)).toBe("∞");
    expect(t.number(Number.NaN)).toBe("–");
    expect(t.number(0)).toBe("0");
    expect(t.format(Infinity)).toBe("∞");
  });
});

describe("sizeUnit: one size family per table", () => {
  it("decimal when any value is not a whole number of KiB", () => {
    const f = sizeUnit([2_400_000, 910_000]);
    expect([f(2_400_000), f(910_000)]).toEqual(["2.40 MB", "0.91 MB"]);
  });
  it("binary when every value is", () => {
    const f = sizeUnit([16_384, 262_144]);
    expect([f(16_384), f(262_144)]).toEqual(["16 KiB", "256 KiB"]);
  });
});

describe("Eta", () => {
  it("shows nothing until the rate is measured", () => {
    const eta = new Eta(1000);
    expect(eta.update(0, 0)).toBe("–");
    expect(eta.update(10, 100)).toBe("–"); // the first unit: the clock starts here
    expect(eta.update(11, 200)).toBe("–"); // 1 unit in 0.1 s: too little to say
  });

  it("is steady when work arrives in bursts: the mean rate since the first unit", () => {
    // 10,000 units at 100/s in bursts of 500 every 5 s (as sweep's workers report).
    const eta = new Eta(10_000);
    eta.update(500, 5_000);
    const shown: number[] = [];
    for (let done = 1000, t = 10_000; done < 10_000; done += 500, t += 5_000) {
      // Redraws between bursts see the same count: the estimate stays put.
      const at = eta.update(done, t);
      expect(eta.update(done, t)).toBe(at);
      const [n, unit, s] = at.split(" ");
      shown.push(unit === "min" ? Number(n) * 60 + Number(s ?? 0) : Number(n));
    }
    // It only ever goes down, by the 5 s between bursts.
    for (let i = 1; i < shown.length; i++) expect(shown[i]).toBe(shown[i - 1]! - 5);
    expect(shown[0]).toBe(90);
  });

  it("formats past a minute in 5 s steps, and 0 s when done", () => {
    const eta = new Eta(1000);
    eta.update(1, 0);
    expect(eta.update(101, 10_000)).toBe("1 min 30 s"); // 899 left at 10/s: 89.9 s
    expect(eta.update(1000, 11_000)).toBe("0 s");
  });
});

describe("p99InSystemMs: the capacity plot's p99 counts requests still inside", () => {
  const sample = (tMs: number, o: Partial<CapacitySample>): CapacitySample => ({
    tMs,
    inFlight: 0,
    queued: 0,
    arrivals: 0,
    rejected: 0,
    ok: 0,
    failed: 0,
    timeouts: 0,
    circuitOpen: 0,
    goodputPerSecond: 0,
    dependencyCallsPerSecond: 0,
    p50Ms: Number.NaN,
    p99Ms: Number.NaN,
    ...o,
  });

  it("is the finished requests' p99 when nothing is inside, and null when nothing happened", () => {
    const p = p99InSystemMs([sample(1000, { arrivals: 10, ok: 10, p99Ms: 250 }), sample(2000, {})]);
    expect(p).toEqual([250, null]);
  });

  it("does not fall when workers get stuck: only quick requests finish, the rest wait", () => {
    // 10 admitted per second. From t = 3 s, 20 stay stuck inside and more
    // queue up; the only ones finishing are quick (20 ms).
    const series = [
      sample(1000, { arrivals: 10, ok: 10, p99Ms: 200 }),
      sample(2000, { arrivals: 10, ok: 10, p99Ms: 210 }),
      sample(3000, { arrivals: 10, ok: 2, p99Ms: 20, inFlight: 8 }),
      sample(4000, { arrivals: 10, ok: 2, p99Ms: 20, inFlight: 10, queued: 6 }),
      sample(5000, { arrivals: 10, ok: 2, p99Ms: 20, inFlight: 10, queued: 14 }),
      sample(6000, { arrivals: 10, ok: 2, p99Ms: 20, inFlight: 10, queued: 22 }),
    ];
    const p = p99InSystemMs(series);
    expect(p.slice(0, 2)).toEqual([200, 210]);
    // Finished-only p99 would read 20 ms from t = 3 s on; counting the
    // requests inside it rises with their wait: the oldest of 32 inside at
    // t = 6 s arrived by t = 3 s (the 32nd most recent admission).
    expect(p.slice(2)).toEqual([20, 1000, 2000, 3000]);
    for (let i = 3; i < p.length; i++) expect(p[i]!).toBeGreaterThan(p[i - 1]!);
  });

  it("keeps the finished requests' p99 when it is the higher one", () => {
    const p = p99InSystemMs([
      sample(1000, { arrivals: 10, ok: 5, p99Ms: 4000, inFlight: 5 }),
      sample(2000, { arrivals: 10, ok: 10, p99Ms: 4000, inFlight: 5 }),
    ]);
    expect(p).toEqual([4000, 4000]);
  });
});
