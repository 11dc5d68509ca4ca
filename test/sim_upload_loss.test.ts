/**
 * Loss on the upload path (issue 12, item 3): validation of the options,
 * properties (conservation, monotonicity in the loss rate under common
 * random numbers, loss 0 is the loss-free model, one seed one run), the
 * closed form of Mathis et al. for long uploads, and the trace's recovery
 * events. Everything runs on virtual time.
 */
import { fc, it } from "@fast-check/vitest";
import { describe, expect } from "vitest";
import {
  drawTrial,
  formatTrace,
  planSweep,
  RESIDENTIAL_UPLOAD,
  SKB_OVERSHOOT_BYTES,
  simulateUpload,
  type UploadParams,
} from "../sim/mod.ts";

// --- bounds ---------------------------------------------------------------

/** Up to 1 MB: a lossy upload is simulated segment by segment (~700 of them per MB). */
const MAX_PAYLOAD = 1_000_000;
/** Residential uplinks to fast ones. */
const MIN_BPS = 0.5e6;
const MAX_BPS = 100e6;
const MAX_RTT = 300;
/** The loss rates the simulator accepts go to 50 %; residential paths see up to a few %. */
const MAX_LOSS = 0.1;
const EPS = 1e-6;
/** A lossy run costs ~1–20 ms. */
const RUNS = 150;

const rate = fc.double({ min: MIN_BPS, max: MAX_BPS, noNaN: true });
const opt = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined, freq: 2 });

/** A streaming path without proxy buffer or tarpit (where loss is modelled), with or without a drop. */
const pathArb = fc.record(
  {
    payloadBytes: fc.integer({ min: 1, max: MAX_PAYLOAD }),
    chunkBytes: fc.integer({ min: 1024, max: 256 * 1024 }),
    clientBitsPerSecond: rate,
    proxyBitsPerSecond: rate,
    rttMs: fc.oneof(fc.constant(0), fc.double({ min: 1, max: MAX_RTT, noNaN: true })),
    sendBufferBytes: fc.integer({ min: 16 * 1024, max: 4 * 1024 * 1024 }),
    sendBufferGrowth: opt(fc.boolean()),
    receiveWindowBytes: opt(fc.integer({ min: 8 * 1024, max: 8 * 1024 * 1024 })),
    dropAtMs: opt(fc.double({ min: 0, max: 20_000, noNaN: true })),
    proxyBurstBytes: opt(fc.integer({ min: 0, max: 500_000 })),
    slowStart: fc.boolean(),
    congestionControl: opt(fc.constantFrom("cubic" as const, "reno" as const, "bbr" as const)),
    seed: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  },
  { requiredKeys: ["payloadBytes", "clientBitsPerSecond", "proxyBitsPerSecond", "seed"] },
);
const lossArb = fc.double({ min: 0.0001, max: MAX_LOSS, noNaN: true });
/** Random or bursty loss. */
const lossParamsArb = fc.oneof(
  lossArb.map((lossRate): Partial<UploadParams> => ({ lossRate })),
  fc
    .tuple(lossArb, fc.double({ min: 1, max: 20, noNaN: true }))
    .map(
      ([lossRate, lossBurstSegments]): Partial<UploadParams> => ({ lossRate, lossBurstSegments }),
    ),
);

const NO_LIMITS = { total: false } as const;

describe("validation", () => {
  const base: UploadParams = {
    payloadBytes: 100_000,
    clientBitsPerSecond: 2e6,
    proxyBitsPerSecond: 2e6,
    rttMs: 50,
  };
  const cases: [Partial<Record<string, unknown>>, ErrorConstructor, string][] = [
    [
      { lossRate: -0.01 },
      RangeError,
      "Invalid option 'lossRate': expected a number in [0, 0.5], got -0.01",
    ],
    [
      { lossRate: 0.6 },
      RangeError,
      "Invalid option 'lossRate': expected a number in [0, 0.5], got 0.6",
    ],
    [
      { lossRate: Number.NaN },
      RangeError,
      "Invalid option 'lossRate': expected a number in [0, 0.5], got NaN",
    ],
    [
      { lossRate: "1%" },
      TypeError,
      "Invalid option 'lossRate': expected a number in [0, 0.5], got \"1%\"",
    ],
    [
      { lossRate: 0.01, lossBurstSegments: 0.5 },
      RangeError,
      "Invalid option 'lossBurstSegments': expected a finite number >= 1, got 0.5",
    ],
    [
      { gilbertElliott: { goodToBad: 0, badToGood: 0.5 } },
      RangeError,
      "Invalid option 'gilbertElliott.goodToBad': expected a number in (0, 1], got 0",
    ],
    [
      { gilbertElliott: { goodToBad: 0.5, badToGood: 0.1 } },
      RangeError,
      "Invalid option 'gilbertElliott': expected a long-run loss rate <= 0.5, got 0.833",
    ],
    [
      { gilbertElliott: { goodToBad: 0.1, badToGood: 0.5, lossInBad: 2 } },
      RangeError,
      "Invalid option 'gilbertElliott.lossInBad': expected a number in [0, 1], got 2",
    ],
    [
      { gilbertElliott: { goodToBad: 0.1, badToGood: 0.5, lossy: 1 } },
      TypeError,
      "Unknown option 'gilbertElliott.lossy'",
    ],
    [
      { gilbertElliott: { goodToBad: 0.1, badToGood: 0.5 }, lossRate: 0.01 },
      RangeError,
      "Invalid option 'lossRate': give either 'gilbertElliott' or 'lossRate'",
    ],
    [
      { lostTransmissions: [3, 1.5] },
      RangeError,
      "Invalid option 'lostTransmissions[1]': expected an integer >= 0, got 1.5",
    ],
    [
      { lostTransmissions: [-1] },
      RangeError,
      "Invalid option 'lostTransmissions[0]': expected an integer >= 0, got -1",
    ],
    [
      { lostTransmissions: "1,2" },
      TypeError,
      "Invalid option 'lostTransmissions': expected an array of at most 1000000 integers >= 0",
    ],
    [
      { lostTransmissions: [1], lossRate: 0.01 },
      RangeError,
      "Invalid option 'lossRate': give either 'lostTransmissions' or 'lossRate', not both",
    ],
    [
      { lostTransmissions: [1], proxyMode: "store-and-forward" },
      RangeError,
      "Invalid option 'proxyMode': loss is modelled on a streaming path",
    ],
    [
      { congestionControl: "vegas" },
      RangeError,
      'Invalid option \'congestionControl\': expected "cubic", "reno" or "bbr", got "vegas"',
    ],
    [
      { lossRate: 0.01, proxyMode: "store-and-forward" },
      RangeError,
      "Invalid option 'proxyMode': loss is modelled on a streaming path without a proxy buffer or a tarpit",
    ],
    [
      { lossRate: 0.01, proxyBufferBytes: 1_000_000 },
      RangeError,
      "Invalid option 'proxyBufferBytes': loss is modelled on a streaming path",
    ],
    [
      { lossRate: 0.01, serverReadBytesPerSecond: 1000 },
      RangeError,
      "Invalid option 'serverReadBytesPerSecond': loss is modelled on a streaming path",
    ],
  ];
  for (const [extra, type, message] of cases) {
    it(`rejects ${JSON.stringify(extra)}`, () => {
      const params = { ...base, ...extra } as UploadParams;
      expect(() => simulateUpload(params)).toThrow(type);
      expect(() => simulateUpload(params)).toThrow(message);
    });
  }
});

describe("properties", () => {
  it.prop(
    [
      pathArb,
      lossParamsArb,
      fc.constantFrom<UploadParams["timeouts"]>(NO_LIMITS, { writeIdle: 3000 }),
    ],
    {
      numRuns: RUNS,
    },
  )(
    "conservation: pulled ≥ queued + acked, nothing decreases, the buffer never overflows, all delivered on success",
    (path, loss, timeouts) => {
      const r = simulateUpload({ ...path, ...loss, timeouts, trace: true });
      const trace = r.trace!;
      const slack = EPS * path.payloadBytes;
      let prev = trace[0]!;
      for (const e of trace) {
        expect(e.atMs).toBeGreaterThanOrEqual(prev.atMs);
        expect(e.handedBytes + slack).toBeGreaterThanOrEqual(e.queuedBytes + e.ackedBytes);
        expect(e.queuedBytes).toBeLessThanOrEqual(
          (path.sendBufferBytes ?? 4 * 1024 * 1024) + SKB_OVERSHOOT_BYTES + slack,
        );
        expect(e.queuedBytes).toBeGreaterThanOrEqual(-slack);
        expect(e.ackedBytes + slack).toBeGreaterThanOrEqual(prev.ackedBytes);
        expect(e.deliveredBytes + slack).toBeGreaterThanOrEqual(prev.deliveredBytes);
        expect(e.deliveredBytes).toBeLessThanOrEqual(path.payloadBytes + slack);
        prev = e;
      }
      expect(trace.at(-1)!.event).toBe(
        { ok: "headers", timeout: "timeout", hang: "hang" }[r.outcome],
      );
      if (r.outcome === "ok") {
        expect(r.bytesDelivered).toBe(path.payloadBytes);
        expect(trace.at(-1)!.queuedBytes).toBe(0);
      }
      // Every retransmission is counted among the transmissions, and at
      // least one segment per 1448 bytes went out (unless the path went silent).
      const l = r.loss!;
      expect(l.retransmissions).toBeLessThanOrEqual(l.transmissions);
      if (r.outcome === "ok") {
        expect(l.transmissions - l.retransmissions).toBe(Math.ceil(path.payloadBytes / 1448));
      }
    },
  );

  it.prop([pathArb, fc.constantFrom<UploadParams["timeouts"]>(NO_LIMITS, { writeIdle: 3000 })], {
    numRuns: RUNS,
  })("loss 0 is the loss-free model, exactly (result and trace)", (path, timeouts) => {
    const without = simulateUpload({ ...path, timeouts, trace: true });
    expect(simulateUpload({ ...path, timeouts, trace: true, lossRate: 0 })).toEqual(without);
    expect(
      simulateUpload({ ...path, timeouts, trace: true, lossRate: 0, lossBurstSegments: 5 }),
    ).toEqual(without);
  });

  it.prop([pathArb, lossParamsArb], { numRuns: RUNS })(
    "one seed, one run: the same parameters give the same result and trace",
    (path, loss) => {
      const params = { ...path, ...loss, timeouts: NO_LIMITS, trace: true };
      expect(simulateUpload(params)).toEqual(simulateUpload(params));
    },
  );

  it("the seed changes the draws: 20 seeds give more than one duration", () => {
    const times = new Set<number>();
    for (let seed = 0; seed < 20; seed++) {
      times.add(
        simulateUpload({
          payloadBytes: 500_000,
          clientBitsPerSecond: 10e6,
          proxyBitsPerSecond: 10e6,
          rttMs: 50,
          lossRate: 0.02,
          seed,
        }).elapsedMs,
      );
    }
    expect(times.size).toBeGreaterThan(1);
  });

  it("loss draws are independent of the timer lateness: enabling loss leaves the lateness draws as they were", () => {
    // A path that stalls (drop) under writeIdle: the timeout fires at the
    // last pull + writeIdle + lateness. With loss, the last pull moves,
    // but the lateness added (the first draw of the seed's stream) does not.
    const path: UploadParams = {
      payloadBytes: 2_000_000,
      clientBitsPerSecond: 10e6,
      proxyBitsPerSecond: 10e6,
      rttMs: 40,
      sendBufferBytes: 256 * 1024,
      sendBufferGrowth: false,
      dropAtMs: 500,
      timerLatenessMs: 300,
      seed: 7,
      timeouts: { writeIdle: 1000, total: false },
      trace: true,
    };
    const lateness = (r: ReturnType<typeof simulateUpload>): number => {
      const pulls = r.trace!.filter((e) => e.event === "write" && e.pulls > 0);
      return r.elapsedMs - pulls.at(-1)!.atMs - 1000;
    };
    const clean = simulateUpload(path);
    const lossy = simulateUpload({ ...path, lossRate: 0.02 });
    expect(clean.phase).toBe("writeIdle");
    expect(lossy.phase).toBe("writeIdle");
    expect(lateness(lossy)).toBeCloseTo(lateness(clean), 6);
  });
});

/**
 * More loss never makes an upload faster, as a distribution. Per seed it is
 * not a law, even with common random numbers (one uniform per segment and
 * attempt, lost iff u < p, so a higher p loses a superset): TCP's reaction
 * is not monotone in its losses. A loss that opens a recovery early can
 * spare a later, costlier one: with the earlier loss, cwnd is smaller when
 * the later segment goes, so the segments after it are fewer, or the later
 * loss lands inside the same recovery (one cut instead of two), or it is
 * found by RACK instead of a timeout. Measured: over 900 pairs (RTT 20/80/150
 * ms × 2/20 Mbit/s × p 0.2/1/3 % × 50 seeds, 300 kB), 25 uploads got faster
 * at 1.5·p, by up to 49 % (RTT 20 ms, 20 Mbit/s, p = 1 %, seed 0: 412 ms,
 * and 208 ms at 1.5 %: a timeout at p that 1.5·p avoids). Real TCP has the
 * same anomalies; what holds is the law of the distribution. So the property is tested on
 * distributions: over 60 seeds, the median and the mean at a rate p2 ≥ 1.5·p1
 * are at least those at p1.
 */
describe("monotonicity in the loss rate", () => {
  const SEEDS = 60;
  const timesAt = (path: UploadParams, lossRate: number): number[] => {
    const out: number[] = [];
    for (let seed = 0; seed < SEEDS; seed++) {
      out.push(simulateUpload({ ...path, lossRate, seed, timeouts: NO_LIMITS }).elapsedMs);
    }
    return out.sort((a, b) => a - b);
  };
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  it.prop(
    [
      // Where the bottleneck's queue does not set the RTT. With a window of
      // the whole body the body queues at the bottleneck, the RTT samples
      // and so the RTO follow the loss pattern, and even the median is not
      // monotone: fast-check found 275 kB at 0.5 Mbit/s, RTT 0, no slow
      // start, median 4.98 s at p = 0.56 % and 4.82 s at 0.84 %; and with
      // RTT 5 ms, 277 kB at 0.5 Mbit/s, no slow start, 5.01 s at 0.56 % and
      // 4.85 s at 0.84 % (60 seeds each). Bufferbloat makes real TCP's
      // timeouts as erratic. So: RTT ≥ 5 ms and a receive window of twice
      // the bandwidth-delay product (300 runs pass; LOSS_MONO_RUNS sets it).
      pathArb.map((p) => {
        const rttMs = Math.max(5, p.rttMs ?? 5);
        const bottleneck = Math.min(p.clientBitsPerSecond, p.proxyBitsPerSecond) / 8;
        return {
          ...p,
          rttMs,
          payloadBytes: Math.max(200_000, Math.min(p.payloadBytes, 500_000)),
          dropAtMs: undefined,
          // A receive window of twice the bandwidth-delay product: the
          // bottleneck's queue never sets the RTT (see above).
          receiveWindowBytes: Math.max(4 * 1448, Math.ceil((2 * bottleneck * rttMs) / 1000)),
        };
      }),
      fc.double({ min: 0.001, max: 0.03, noNaN: true }),
      fc.double({ min: 1.5, max: 4, noNaN: true }),
    ],
    { numRuns: Number(process.env.LOSS_MONO_RUNS ?? 15) },
  )("median and mean duration at p2 = k·p1 (k ≥ 1.5) ≥ at p1, over 60 seeds", (path, p1, k) => {
    const a = timesAt(path, p1);
    const b = timesAt(path, Math.min(0.5, p1 * k));
    expect(b[SEEDS / 2]!).toBeGreaterThanOrEqual(a[SEEDS / 2]! * (1 - EPS));
    expect(mean(b)).toBeGreaterThanOrEqual(mean(a) * (1 - EPS));
  });

  it("common random numbers: a higher rate loses a superset of the same segments", () => {
    // Seen through the counts: with the same seed, more loss never means
    // fewer retransmissions over 40 seeds in total.
    const path: UploadParams = {
      payloadBytes: 300_000,
      clientBitsPerSecond: 10e6,
      proxyBitsPerSecond: 10e6,
      rttMs: 30,
      timeouts: NO_LIMITS,
    };
    let low = 0;
    let high = 0;
    for (let seed = 0; seed < 40; seed++) {
      low += simulateUpload({ ...path, lossRate: 0.01, seed }).loss!.retransmissions;
      high += simulateUpload({ ...path, lossRate: 0.02, seed }).loss!.retransmissions;
    }
    expect(high).toBeGreaterThan(low);
  });
});

/**
 * Mathis, Semke, Mahdavi and Ott (1997): a long bulk transfer that loses a
 * fraction p of its segments, and that the link does not limit, averages
 * MSS/RTT · √(3/2) / √p. Reno in this model is within 0–8 % of it for
 * p ≥ 0.5 %; CUBIC's Reno-friendly region gives the same at these RTTs
 * (RFC 9438 §5.1: CUBIC's own average window, 1.054·(RTT³/p³)^¼, is below
 * Reno's √(3/(2p)) there). Band ±25 %: the constant varies by ~±15 % with
 * how losses fall (periodic vs random) and delayed ACKs, which the model
 * does not have. Smaller p needs far longer uploads to forget slow start.
 */
describe("closed form: Mathis et al.", () => {
  for (const cc of ["reno", "cubic"] as const) {
    for (const [rttMs, p] of [
      [40, 0.01],
      [100, 0.005],
      [150, 0.02],
    ] as const) {
      it(`${cc}, RTT ${rttMs} ms, loss ${p * 100} %: throughput within ±25 % of MSS/RTT·√1.5/√p`, () => {
        const payloadBytes = Math.round(300 / p) * 1448;
        let sum = 0;
        const seeds = 4;
        for (let seed = 1; seed <= seeds; seed++) {
          const r = simulateUpload({
            payloadBytes,
            clientBitsPerSecond: 10e9,
            proxyBitsPerSecond: 10e9,
            rttMs,
            lossRate: p,
            seed,
            congestionControl: cc,
            wireOverhead: false,
            timeouts: NO_LIMITS,
          });
          sum += (payloadBytes * 8) / (r.elapsedMs / 1000);
        }
        const measured = sum / seeds;
        const mathis = ((1448 * 8) / (rttMs / 1000)) * (Math.sqrt(1.5) / Math.sqrt(p));
        expect(measured / mathis).toBeGreaterThan(0.75);
        expect(measured / mathis).toBeLessThan(1.25);
      });
    }
  }
});

/**
 * BBR v1 (sim/_bbr.ts) does not take random loss for congestion: it keeps
 * pacing at its bandwidth estimate with cwnd 2 × BDP, so at 1–3 % loss it
 * keeps the link busy where CUBIC backs off (the kernel lab's recorded
 * uploads, test/sim_recorded.test.ts, hold the durations to reality).
 */
describe("BBR", () => {
  const cells = [
    { payloadBytes: 2 * 1024 * 1024, bps: 10e6, rttMs: 50 },
    { payloadBytes: 1024 * 1024, bps: 2e6, rttMs: 150 },
  ];
  const SEEDS = 20;
  const run = (c: (typeof cells)[number], extra: Partial<UploadParams>) =>
    simulateUpload({
      payloadBytes: c.payloadBytes,
      chunkBytes: 16 * 1024,
      clientBitsPerSecond: c.bps,
      proxyBitsPerSecond: c.bps,
      rttMs: c.rttMs,
      timeouts: NO_LIMITS,
      ...extra,
    });
  const medianOf = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length / 2]!;
  for (const c of cells) {
    for (const lossRate of [0.01, 0.03]) {
      it(`${lossRate * 100} % at ${c.bps / 1e6} Mbit/s, RTT ${c.rttMs} ms: faster than CUBIC on the same seeds, in median and p90, and never slower than loss-free`, () => {
        const bbr: number[] = [];
        const cubic: number[] = [];
        const clean = run(c, { congestionControl: "bbr" }).elapsedMs;
        for (let seed = 1; seed <= SEEDS; seed++) {
          bbr.push(run(c, { lossRate, seed, congestionControl: "bbr" }).elapsedMs);
          cubic.push(run(c, { lossRate, seed, congestionControl: "cubic" }).elapsedMs);
        }
        expect(Math.min(...bbr)).toBeGreaterThanOrEqual(clean * (1 - 0.01));
        expect(medianOf(bbr)).toBeLessThan(medianOf(cubic));
        expect(bbr[Math.floor(SEEDS * 0.9)]!).toBeLessThan(cubic[Math.floor(SEEDS * 0.9)]!);
      });
    }
  }

  it("loss-free, `bbr` is the loss-free model, exactly", () => {
    for (const c of cells) {
      expect(run(c, { congestionControl: "bbr", trace: true })).toEqual(run(c, { trace: true }));
    }
  });

  it("its fast retransmits keep cwnd (no multiplicative decrease); the trace says so", () => {
    const r = run(cells[0]!, { lossRate: 0.02, seed: 3, congestionControl: "bbr", trace: true });
    const events = formatTrace(r.trace!);
    expect(events).toContain("BBR sender");
    expect(events).toContain("BBR keeps its rate");
    expect(r.loss!.retransmissions).toBeGreaterThan(0);
  });
});

describe("trace", () => {
  it("shows fast retransmits and retransmission timeouts as their own events", () => {
    const kinds = new Set<string>();
    for (let seed = 0; seed < 10; seed++) {
      const r = simulateUpload({
        payloadBytes: 500_000,
        clientBitsPerSecond: 5e6,
        proxyBitsPerSecond: 5e6,
        rttMs: 100,
        // 10 %: retransmissions get lost too, and cwnd gets so small that
        // nothing later is acknowledged to reveal a loss: timeouts.
        lossRate: 0.1,
        seed,
        trace: true,
      });
      for (const e of r.trace!) kinds.add(e.event);
      const text = formatTrace(r.trace!);
      if (r.loss!.timeouts > 0) expect(text).toContain("retransmission timeout");
    }
    expect(kinds).toContain("fast-retransmit");
    expect(kinds).toContain("rto");
  });
});

describe("a replayed loss pattern (lostTransmissions)", () => {
  const path: UploadParams = {
    payloadBytes: 100_000,
    chunkBytes: 16_384,
    clientBitsPerSecond: 10e6,
    proxyBitsPerSecond: 2e6,
    rttMs: 50,
    timeouts: NO_LIMITS,
    trace: true,
  };
  const segments = Math.ceil(100_000 / 1448);

  it("an empty pattern is the loss-free model", () => {
    const { trace: _, ...plain } = path;
    expect(simulateUpload({ ...plain, lostTransmissions: [] })).toEqual(simulateUpload(plain));
  });

  it("loses exactly the transmissions named, by their place on the wire", () => {
    // The 6th transmission (segment 6): a later one is acknowledged, one
    // fast retransmit, nothing else resent.
    const mid = simulateUpload({ ...path, lostTransmissions: [5] });
    expect(mid.loss).toEqual({ transmissions: segments + 1, retransmissions: 1, timeouts: 0 });
    expect(formatTrace(mid.trace!)).toContain("segment 6 lost");
    // The last one: nothing later reveals it, a tail loss probe does (and
    // restarts the timer: no timeout follows, tcp_send_loss_probe).
    const tail = simulateUpload({ ...path, lostTransmissions: [segments - 1] });
    expect(tail.loss).toEqual({ transmissions: segments + 1, retransmissions: 1, timeouts: 0 });
    expect(tail.trace!.map((e) => e.event)).toContain("tail-probe");
    // The probe (the next transmission) lost too: the timer fires, later.
    const probeLost = simulateUpload({ ...path, lostTransmissions: [segments - 1, segments] });
    expect(probeLost.loss).toMatchObject({ retransmissions: 2, timeouts: 1 });
    expect(probeLost.elapsedMs).toBeGreaterThan(tail.elapsedMs + 200);
    // Order and duplicates in the list do not matter.
    expect(
      simulateUpload({ ...path, lostTransmissions: [segments, segments - 1, segments] }),
    ).toEqual(probeLost);
  });
});

describe("sweeps and recommend on a lossy path", () => {
  it("a scenario's lossRate reaches every trial (but a tarpitted one), with the trial's own seed; the other draws stay as they were", () => {
    const scenario = {
      ...RESIDENTIAL_UPLOAD,
      tarpit: { ...RESIDENTIAL_UPLOAD.tarpit!, probability: 0.3 },
    };
    const clean = planSweep({ scenario, trials: 50 });
    const lossy = planSweep({
      scenario: { ...scenario, lossRate: 0.02, lossBurstSegments: 3 },
      trials: 50,
    });
    let tarpitted = 0;
    for (let trial = 0; trial < 50; trial++) {
      const a = drawTrial(clean, trial);
      const b = drawTrial(lossy, trial);
      const { lossRate, lossBurstSegments, ...rest } = b.params;
      expect(rest).toEqual(a.params);
      if (b.tarpitted) {
        tarpitted++;
        expect(lossRate).toBeUndefined();
      } else {
        expect(lossRate).toBe(0.02);
        expect(lossBurstSegments).toBe(3);
      }
    }
    expect(tarpitted).toBeGreaterThan(0);
  });

  it("rejects loss through a store-and-forward proxy, and a bad burst length, naming the option", () => {
    expect(() =>
      planSweep({
        scenario: { ...RESIDENTIAL_UPLOAD, proxyMode: "store-and-forward", lossRate: 0.01 },
      }),
    ).toThrow(
      new RangeError(
        `Invalid option 'scenario.lossRate': loss is modelled through a streaming proxy, got proxyMode "store-and-forward"`,
      ),
    );
    expect(() =>
      planSweep({ scenario: { ...RESIDENTIAL_UPLOAD, lossRate: 0.01, lossBurstSegments: 0 } }),
    ).toThrow("Invalid option 'scenario.lossBurstSegments': expected a finite number >= 1, got 0");
  });
});

describe("send buffer under loss", () => {
  it("a sender that loss keeps window-limited grows its buffer less than a loss-free one (tcp_should_expand_sndbuf)", () => {
    // Linux grows the buffer to 2 × cwnd segments of skb memory only when
    // the window is not full after sending; loss keeps it full. The kernel
    // lab (10 Mbit/s, RTT 50 ms, CUBIC) read sk_sndbuf of 55–433 KB after
    // 2 MiB uploads at 1–3 % loss (`ss -m`, tb), and 451 KB loss-free. The
    // loss-free buffer stops where slow start does with the bottleneck on
    // the sender's own egress: cwnd 2 × (pipe + 2 skbs) = 2 × (41 + 6)
    // segments, 0.81 MB of payload capacity (sim/README.md, "Send-buffer
    // growth"; the lab's is 1.8 × smaller, open).
    const path: UploadParams = {
      payloadBytes: 2 * 1024 * 1024,
      chunkBytes: 16_384,
      // The lab's tbf is on the client's own egress: the client's link.
      clientBitsPerSecond: 10e6,
      proxyBitsPerSecond: 10e6,
      proxyBurstBytes: 4542,
      rttMs: 50,
      timeouts: NO_LIMITS,
      trace: true,
    };
    const largest = (r: ReturnType<typeof simulateUpload>): number =>
      Math.max(
        ...r
          .trace!.filter((e) => e.event === "block")
          .map((e) => {
            const m = /\(([\d.]+) (kB|MB)\)/.exec(e.detail);
            return m ? Number(m[1]) * (m[2] === "MB" ? 1e6 : 1e3) : 0;
          }),
      );
    const clean = largest(simulateUpload(path));
    expect(clean).toBeGreaterThan(0.7e6);
    expect(clean).toBeLessThan(0.9e6);
    const lossy: number[] = [];
    for (let seed = 1; seed <= 20; seed++) {
      lossy.push(largest(simulateUpload({ ...path, lossRate: 0.03, seed })));
    }
    lossy.sort((a, b) => a - b);
    expect(lossy[0]).toBeGreaterThan(0);
    // The segment-level sender's own TSQ cap is within a few % of the fluid's.
    expect(lossy.at(-1)).toBeLessThan(1.05 * clean);
    expect((lossy[9]! + lossy[10]!) / 2).toBeLessThan(clean / 2);
  });
});
