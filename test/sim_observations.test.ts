/**
 * fromObservations(): limits from measured timings — the quantile (DDSketch,
 * within 1 %) times the stated margin, from timebound Timings, curl -w
 * values or plain phase durations.
 */
import { fc, it as prop } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { fromObservations, type PhaseSample } from "../sim/observations.ts";
import type { Timings } from "../src/timings.ts";

/** Within DDSketch's relative accuracy (1 %) of `expected`. */
function near(actual: number | undefined, expected: number): void {
  expect(actual).toBeDefined();
  expect(Math.abs(actual! - expected)).toBeLessThanOrEqual(0.01 * expected + 1e-9);
}

/** Exact nearest-rank quantile, for checking the sketch. */
function exactQuantile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
}

describe("fromObservations", () => {
  it("the seed's rule of thumb: max 300 ms, ×2 → 600 ms", () => {
    const samples = Array.from({ length: 2000 }, (_, i) => ({
      headersMs: 100 + (i % 201), // 100–300 ms
      totalMs: 100 + (i % 201),
    }));
    const r = fromObservations(samples, { quantile: 0.999, margin: 2 });
    expect(r.limits.headers!.maxMs).toBeCloseTo(300, 5);
    // p99.9 ≈ 300 (within DDSketch's 1 %), doubled, rounded up to two digits.
    expect(r.timeouts.headers).toBeGreaterThanOrEqual(590);
    expect(r.timeouts.headers).toBeLessThanOrEqual(610);
    expect(r.limits.headers!.exceedRate).toBe(0);
    expect(r.notes.some((n) => n.includes("readIdle"))).toBe(false); // no body data: no readIdle
    expect(r.timeouts.readIdle).toBeUndefined();
  });

  prop.prop([
    fc.array(fc.double({ min: 0.5, max: 60_000, noNaN: true }), {
      minLength: 200,
      maxLength: 2000,
    }),
    fc.constantFrom(0.5, 0.9, 0.99),
  ])("the quantile is within DDSketch's 1 % of the exact one", (values, q) => {
    const r = fromObservations(
      values.map((v) => ({ headersMs: v, totalMs: v })),
      { quantile: q, margin: 1 },
    );
    const exact = exactQuantile(values, q);
    // DDSketch guarantees relative accuracy 1 % for the rank it picks; ranks
    // differ by at most one sample from nearest-rank, so compare against
    // the neighbours' range too.
    const s = [...values].sort((a, b) => a - b);
    const k = Math.ceil(q * s.length) - 1;
    const lo = Math.min(exact, s[Math.max(0, k - 1)]!) * 0.99;
    const hi = Math.max(exact, s[Math.min(s.length - 1, k + 1)]!) * 1.01;
    expect(r.limits.headers!.quantileMs).toBeGreaterThanOrEqual(lo);
    expect(r.limits.headers!.quantileMs).toBeLessThanOrEqual(hi);
  });

  prop.prop([
    fc.array(fc.double({ min: 1, max: 10_000, noNaN: true }), { minLength: 1, maxLength: 300 }),
    fc.double({ min: 1, max: 5, noNaN: true }),
  ])(
    "a limit is at least quantile × margin (rounded up), and a larger margin never lowers it",
    (values, margin) => {
      const samples = values.map((v) => ({ headersMs: v, totalMs: 2 * v }));
      const a = fromObservations(samples, { margin });
      const b = fromObservations(samples, { margin: margin + 0.5 });
      expect(a.timeouts.headers).toBeGreaterThanOrEqual(
        a.limits.headers!.quantileMs * margin - 1e-9,
      );
      expect(b.timeouts.headers).toBeGreaterThanOrEqual(a.timeouts.headers!);
      expect(b.timeouts.total).toBeGreaterThanOrEqual(a.timeouts.total);
    },
  );

  prop.prop([
    fc.array(fc.double({ min: 0.1, max: 10_000, noNaN: true }), { minLength: 1, maxLength: 99 }),
  ])(
    "with fewer samples than 1/(1 − q), the quantile is the largest sample: no limit below what was seen",
    (values) => {
      const r = fromObservations(
        values.map((v) => ({ headersMs: v, totalMs: v })),
        { quantile: 0.99, margin: 1.02 }, // the margin covers DDSketch's 1 %
      );
      expect(r.limits.headers!.exceedRate).toBe(0);
      expect(r.limits.total!.exceedRate).toBe(0);
    },
  );

  it("reads curl -w timings (seconds): headers from posttransfer to starttransfer", () => {
    const curl = Array.from({ length: 100 }, () => ({
      time_namelookup: 0.004,
      time_connect: 0.072,
      time_appconnect: 0.223,
      time_pretransfer: 0.2237,
      time_posttransfer: 0.25,
      time_starttransfer: 0.45,
      time_total: 0.8218,
    }));
    const r = fromObservations(curl, { margin: 1 });
    near(r.limits.headers!.quantileMs, 200); // 0.45 − 0.25 s
    near(r.limits.total!.quantileMs, 821.8);
    near(r.limits.writeIdle!.quantileMs, 26.3); // 0.25 − 0.2237 s
    expect(r.notes.some((n) => n.includes("only 100 samples"))).toBe(true); // p99 needs ≥ 1000
  });

  it("reads timebound Timings: headers counted from the end of the upload", () => {
    const t: Timings = {
      start: 0,
      attempts: 1,
      uploadStart: 5,
      uploadEnd: 1005,
      headers: 1105,
      bodyEnd: 1205,
      total: 1205,
      bytesSent: 1e6,
      bytesReceived: 10,
    };
    const r = fromObservations([t], { margin: 1 });
    near(r.limits.headers!.quantileMs, 100);
    near(r.limits.readIdle!.quantileMs, 100);
    near(r.limits.writeIdle!.quantileMs, 1000);
    expect(r.notes.some((n) => n.includes("whole-body durations"))).toBe(true);
  });

  it("prefers measured read gaps to whole-body durations", () => {
    const samples: PhaseSample[] = [
      { headersMs: 50, bodyMs: 5000, maxReadGapMs: 40, totalMs: 5100 },
    ];
    const r = fromObservations(samples, { margin: 1 });
    near(r.limits.readIdle!.quantileMs, 40);
  });

  const bad: [unknown, unknown, ErrorConstructor, string][] = [
    [[], {}, TypeError, "Invalid argument 'samples': expected a non-empty array"],
    [[{ headersMs: 1, totalMs: 1 }], { quantile: 1 }, RangeError, "Invalid option 'quantile'"],
    [[{ headersMs: 1, totalMs: 1 }], { quantile: 0 }, RangeError, "Invalid option 'quantile'"],
    [
      [{ headersMs: 1, totalMs: 1 }],
      { margin: 0.5 },
      RangeError,
      "Invalid option 'margin': expected a number >= 1",
    ],
    [[{ headersMs: 1, totalMs: 1 }], { margins: 2 }, TypeError, "Unknown option 'margins'"],
    [[{ headersMs: -1, totalMs: 1 }], {}, TypeError, "Invalid observation samples[0].headersMs"],
    [[{ headersMs: 1, totalMs: 1, foo: 1 }], {}, TypeError, "Unknown option 'samples[0].foo'"],
    [[{ time_total: 1 }], {}, TypeError, "curl timings need time_pretransfer"],
    [
      [{ start: 0, attempts: 1, bytesSent: 0, bytesReceived: 0 }],
      {},
      TypeError,
      "Timings without headers or total",
    ],
  ];
  for (const [samples, options, E, message] of bad) {
    it(`rejects ${JSON.stringify(samples)} ${JSON.stringify(options)}: ${message}`, () => {
      const run = () => fromObservations(samples as PhaseSample[], options as object);
      expect(run).toThrow(E);
      expect(run).toThrow(message);
    });
  }
});
