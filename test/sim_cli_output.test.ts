/**
 * The CLI's table units and progress estimate (sim/cli/output.ts): one unit
 * family per table, and an ETA that does not swing when work completes in
 * bursts.
 */
import { describe, expect, it } from "vitest";
import { Eta, sizeUnit, timeUnit } from "../sim/cli/output.ts";

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
