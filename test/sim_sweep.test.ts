/**
 * sweep() and recommend(): seeded, reproducible tables (on one thread or
 * two), monotone in the limits (a looser deadline never lowers success),
 * progress, cancellation, validation; and the choice rules and diagnoses of
 * recommendFrom on hand-made sweeps.
 */
import { fc, it as prop } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { runTasks } from "../sim/pool.ts";
import { recommendFrom } from "../sim/recommend.ts";
import {
  drawTrial,
  planSweep,
  RESIDENTIAL_UPLOAD,
  type SweepCell,
  type SweepOptions,
  type SweepResult,
  sweep,
  type UploadScenario,
  wilson,
} from "../sim/sweep.ts";

const small: SweepOptions = {
  chunkBytes: [16_384, 262_144],
  writeIdle: ["1s", "5s", false],
  total: ["10s", "30s", "90s"],
  trials: 120,
  seed: 7,
};

describe("sweep", () => {
  it("the same seed reproduces the table exactly, on one thread or on two workers", async () => {
    const a = await sweep({ ...small, workers: 1 });
    const b = await sweep({ ...small, workers: 1 });
    const c = await sweep({ ...small, workers: 2 });
    expect(b).toEqual(a);
    expect(c).toEqual(a);
    const other = await sweep({ ...small, workers: 1, seed: 8 });
    expect(other.cells.map((x) => x.ok)).not.toEqual(a.cells.map((x) => x.ok));
  });

  it("reports progress up to every simulated upload", async () => {
    const seen: number[] = [];
    const r = await sweep({
      ...small,
      trials: 40,
      workers: 1,
      onProgress: (p) => seen.push(p.done),
    });
    const total = r.cells.length * 40;
    expect(seen.at(-1)).toBe(total);
    expect(seen.every((v, i) => i === 0 || v > seen[i - 1]!)).toBe(true);
  });

  it("stops when its signal aborts", async () => {
    const controller = new AbortController();
    const run = sweep({
      ...small,
      trials: 2000,
      workers: 1,
      signal: controller.signal,
      onProgress: () => controller.abort(new Error("enough")),
    });
    await expect(run).rejects.toThrow("enough");
  });

  it("cells carry a Wilson interval around the success rate and failures by phase", async () => {
    const r = await sweep({ ...small, workers: 1 });
    for (const c of r.cells) {
      expect(c.successLow).toBeLessThanOrEqual(c.successRate);
      expect(c.successHigh).toBeGreaterThanOrEqual(c.successRate);
      const failed = Object.values(c.failures).reduce((s, n) => s + (n ?? 0), 0);
      expect(c.ok + failed).toBe(c.trials);
    }
    // 10 s is too short for the slow paths (the closed form's p99 is longer).
    const short = r.cells.find((c) => c.totalMs === 10_000 && c.writeIdleMs === Infinity)!;
    expect(short.failures.total).toBeGreaterThan(0);
    expect(r.idealMs.p99).toBeGreaterThan(10_000);
  });

  it("draws each trial's path from its own stream: candidates and other probabilities do not move it", () => {
    const plan = planSweep({ trials: 10 });
    const plan2 = planSweep({ trials: 10, chunkBytes: [1024], total: ["1s"] });
    const noDrops = planSweep({
      trials: 10,
      scenario: { ...RESIDENTIAL_UPLOAD, drop: { probability: 0, atMs: 1 } },
    });
    for (let t = 0; t < 10; t++) {
      expect(drawTrial(plan2, t)).toEqual(drawTrial(plan, t));
      expect(drawTrial(noDrops, t).params.proxyBitsPerSecond).toBe(
        drawTrial(plan, t).params.proxyBitsPerSecond,
      );
    }
  });

  const bad: [SweepOptions, ErrorConstructor, string][] = [
    [{ trials: 0 }, RangeError, "Invalid option 'trials'"],
    [{ chunkBytes: [] }, TypeError, "Invalid option 'chunkBytes'"],
    [{ chunkBytes: [0] }, RangeError, "Invalid option 'chunkBytes[0]'"],
    [{ total: ["30s", "soon"] }, TypeError, "Invalid option 'total[1]'"],
    [{ writeIdle: [0] }, RangeError, "Invalid option 'writeIdle[0]'"],
    [{ headers: -1 }, RangeError, "Invalid option 'headers'"],
    [{ workers: 0 }, RangeError, "Invalid option 'workers'"],
    [{ seed: 1.5 }, RangeError, "Invalid option 'seed'"],
    [{ trails: 5 } as unknown as SweepOptions, TypeError, "Unknown option 'trails'"],
    [
      { scenario: { ...RESIDENTIAL_UPLOAD, rttMs: -1 } },
      RangeError,
      "Invalid option 'scenario.rttMs'",
    ],
    [
      { scenario: { ...RESIDENTIAL_UPLOAD, drop: { probability: 2, atMs: 0 } } },
      RangeError,
      "Invalid option 'scenario.drop.probability'",
    ],
    [
      { scenario: { ...RESIDENTIAL_UPLOAD, proxyBufferBytes: 0 } },
      RangeError,
      "Invalid option 'scenario.proxyBufferBytes'",
    ],
    [
      {
        scenario: { ...RESIDENTIAL_UPLOAD, proxyMode: "store-and-forward", proxyBufferBytes: 1e6 },
      },
      RangeError,
      "a store-and-forward proxy holds the whole body",
    ],
    [
      { scenario: { ...RESIDENTIAL_UPLOAD, upstreamRttMs: 50 } },
      RangeError,
      "a streaming proxy needs 'proxyBufferBytes' to have an upstream leg",
    ],
    [
      { scenario: { ...RESIDENTIAL_UPLOAD, proxyBufferBytes: 1e6, lossRate: 0.01 } },
      RangeError,
      "loss is not modelled behind a proxy buffer",
    ],
    [
      {
        scenario: {
          ...RESIDENTIAL_UPLOAD,
          lossRate: 0.01,
          congestionControl: "vegas" as UploadScenario["congestionControl"],
        },
      },
      RangeError,
      `Invalid option 'scenario.congestionControl': expected "cubic", "reno" or "bbr", got "vegas"`,
    ],
    [
      { scenario: { payloadBytes: 1 } as UploadScenario },
      TypeError,
      "Missing option 'scenario.clientBitsPerSecond'",
    ],
    [
      {
        scenario: {
          ...RESIDENTIAL_UPLOAD,
          proxyBitsPerSecond: { kind: "lognormal", median: 1e6, sigma: 0.5, min: 5, max: 1 },
        },
      },
      RangeError,
      "Invalid option 'scenario.proxyBitsPerSecond.max'",
    ],
    [
      {
        chunkBytes: Array(100).fill(1024),
        total: Array(100).fill(1000),
        writeIdle: Array(11).fill(1000),
      },
      RangeError,
      "exceed 100000",
    ],
  ];
  for (const [options, E, message] of bad) {
    it(`rejects ${JSON.stringify(options).slice(0, 80)}: ${message}`, async () => {
      await expect(sweep(options)).rejects.toThrow(E);
      await expect(sweep(options)).rejects.toThrow(message);
    });
  }
});

describe("runTasks", () => {
  it("does a worker's share on the calling thread when the worker cannot start", async () => {
    const runner = {
      moduleUrl: new URL("file:///nonexistent/timebound-worker.ts"),
      local: (plan: number, task: number, report: (n: number) => void) => {
        report(1);
        return plan * task;
      },
    };
    let progress = 0;
    const out = await runTasks(runner, 3, [1, 2, 3, 4], {
      workers: 2,
      onProgress: (n) => (progress += n),
    });
    expect(out).toEqual([3, 6, 9, 12]);
    expect(progress).toBe(4);
  });
});

// ---------------------------------------------------------------------------
// Monotonicity: every candidate sees the same paths, so loosening a limit can
// only turn failures into successes (the watchdog changes nothing until it
// fires).

const scenarioArb = fc.record({
  payloadBytes: fc.integer({ min: 50_000, max: 3_000_000 }),
  proxyMedian: fc.double({ min: 0.3e6, max: 20e6, noNaN: true }),
  sigma: fc.double({ min: 0, max: 1, noNaN: true }),
  rttMs: fc.integer({ min: 1, max: 400 }),
  buffer: fc.constantFrom(32_768, 131_072, 524_288),
  drop: fc.double({ min: 0, max: 0.2, noNaN: true }),
  tarpit: fc.double({ min: 0, max: 0.2, noNaN: true }),
});
const limitsArb = fc.uniqueArray(fc.integer({ min: 200, max: 60_000 }), {
  minLength: 2,
  maxLength: 4,
});

describe("properties", () => {
  prop.prop([scenarioArb, limitsArb, limitsArb, fc.integer({ min: 0, max: 1000 })], {
    numRuns: 12,
  })(
    "a looser total or writeIdle never lowers the success probability",
    async (s, totals, idles, seed) => {
      const scenario: UploadScenario = {
        payloadBytes: s.payloadBytes,
        clientBitsPerSecond: 100e6,
        proxyBitsPerSecond: { kind: "lognormal", median: s.proxyMedian, sigma: s.sigma },
        rttMs: s.rttMs,
        sendBufferBytes: s.buffer,
        drop: { probability: s.drop, atMs: { kind: "uniform", min: 0, max: 10_000 } },
        tarpit: {
          probability: s.tarpit,
          atMs: { kind: "uniform", min: 0, max: 5_000 },
          readBytesPerSecond: 5_000,
        },
      };
      const r = await sweep({
        scenario,
        chunkBytes: [16_384, 131_072],
        total: [...totals, false],
        writeIdle: [...idles, false],
        trials: 25,
        seed,
        workers: 1,
      });
      const key = (c: SweepCell) => `${c.chunkBytes}`;
      const groups = new Map<string, SweepCell[]>();
      for (const c of r.cells) groups.set(key(c), [...(groups.get(key(c)) ?? []), c]);
      for (const cells of groups.values()) {
        for (const a of cells) {
          for (const b of cells) {
            if (b.totalMs >= a.totalMs && b.writeIdleMs >= a.writeIdleMs) {
              expect(b.ok).toBeGreaterThanOrEqual(a.ok);
            }
          }
        }
      }
    },
  );
});

// ---------------------------------------------------------------------------
// recommendFrom on hand-made sweeps.

function cell(
  chunkBytes: number,
  writeIdleMs: number,
  totalMs: number,
  ok: number,
  failures = {},
): SweepCell {
  const [lo, hi] = wilson(ok, 1000);
  return {
    chunkBytes,
    writeIdleMs,
    totalMs,
    trials: 1000,
    ok,
    successRate: ok / 1000,
    successLow: lo,
    successHigh: hi,
    p50Ms: 5000,
    p99Ms: 20_000,
    meanMs: 6000,
    failures,
  };
}

function result(cells: SweepCell[], extra: Partial<SweepResult> = {}): SweepResult {
  return {
    cells,
    trials: 1000,
    seed: 1,
    scenario: RESIDENTIAL_UPLOAD,
    headersMs: Infinity,
    idealMs: { p50: 5000, p90: 11_000, p99: 22_000, p999: 31_000 },
    dropTrials: 0,
    tarpitTrials: 0,
    ...extra,
  };
}

describe("recommendFrom", () => {
  const K = 1024;
  it("takes the shortest total, the most robust chunk, then the tightest writeIdle that meets the target", () => {
    const r = recommendFrom(
      result([
        cell(16 * K, 2000, 30_000, 990),
        cell(16 * K, 5000, 30_000, 999),
        cell(16 * K, Infinity, 30_000, 999),
        cell(256 * K, 2000, 30_000, 900),
        cell(256 * K, 5000, 30_000, 999),
        cell(256 * K, Infinity, 30_000, 999),
        cell(16 * K, 5000, 60_000, 1000),
      ]),
      { target: 0.999 },
    );
    expect(r.met).toBe(true);
    expect(r.cell.totalMs).toBe(30_000);
    expect(r.cell.chunkBytes).toBe(16 * K); // holds up better at writeIdle 2 s
    expect(r.cell.writeIdleMs).toBe(5000); // tighter than "none": sees a dead proxy sooner
    expect(r.options).toEqual({ total: 30_000, writeIdle: 5000, upload: { chunkSize: 16 * K } });
    expect(r.summary).toMatch(/^Chunks of 16 KiB, writeIdle 5 s, total 30 s: 99\.9/);
  });

  it("breaks a tie in robustness towards the larger chunk, and says the others do as well", () => {
    const r = recommendFrom(
      result([cell(8 * K, 5000, 30_000, 1000), cell(32 * K, 5000, 30_000, 1000)]),
    );
    expect(r.cell.chunkBytes).toBe(32 * K);
    expect(r.notes.join()).toContain("chunks of 8 KiB do exactly as well");
  });

  it("says the total binds, with the closed-form time the slow paths need", () => {
    const r = recommendFrom(result([cell(64 * K, 5000, 10_000, 900, { total: 100 })]), {
      target: 0.999,
    });
    expect(r.met).toBe(false);
    expect(r.binding).toBe("total");
    expect(r.summary).toContain(
      "No chunk size helps: the longest total deadline tried (10 s) is shorter than",
    );
    expect(r.summary).toContain("31 s at the 99.90 % quantile");
  });

  it("says writeIdle binds when pull gaps end the uploads", () => {
    const r = recommendFrom(result([cell(64 * K, 1000, 60_000, 950, { writeIdle: 50 })]), {
      target: 0.99,
    });
    expect(r.binding).toBe("writeIdle");
    expect(r.summary).toContain("The write-idle limit binds");
  });

  it("says no limit helps when drops and tarpits alone exceed the failure budget", () => {
    const r = recommendFrom(
      result([cell(64 * K, 5000, 60_000, 994, { writeIdle: 6 })], {
        dropTrials: 4,
        tarpitTrials: 3,
      }),
      {
        target: 0.999,
      },
    );
    expect(r.binding).toBe("faults");
    expect(r.summary).toContain(
      "silent drops and tarpits were drawn for 0.7 % of uploads (4 drops, 3 tarpits in 1000 trials)",
    );
  });

  it("warns when the trials cannot resolve the target (rule of three)", () => {
    const r = recommendFrom(result([cell(64 * K, 5000, 60_000, 1000)]), { target: 0.9999 });
    expect(r.notes.join()).toContain("use ≥ 30000 trials");
  });

  for (const target of [0, 1, -0.5, Number.NaN]) {
    it(`rejects target ${target}`, () => {
      expect(() => recommendFrom(result([cell(1024, 1000, 1000, 1)]), { target })).toThrow(
        "Invalid option 'target': expected a number in (0, 1)",
      );
    });
  }
});
