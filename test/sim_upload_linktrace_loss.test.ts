/**
 * Loss and link traces composed (issue 12, items 3 and 4): the lossy
 * sender's segments leave through the trace's capacity, so ACK clocking,
 * RTT samples and the retransmission timer see the trace. Conservation and
 * one seed, one run over any stepped trace with loss; and an outage longer
 * than a few RTOs under the segment-level sender without loss (the private
 * sim/_loss.ts: `simulateUpload` keeps loss-free paths fluid) shows the timer
 * backing off and the sender resuming from one segment. Virtual time only.
 */
import { fc, it } from "@fast-check/vitest";
import { describe, expect } from "vitest";
import { buildLossyCurve } from "../sim/_loss.ts";
import {
  type LinkTrace,
  rateScheduleOf,
  SKB_OVERSHOOT_BYTES,
  simulateUpload,
  stepTrace,
  type UploadParams,
} from "../sim/mod.ts";

// --- bounds ---------------------------------------------------------------

/** Up to 1 MB: a lossy upload is simulated segment by segment (~700 of them per MB). */
const MAX_PAYLOAD = 1_000_000;
/** Trace steps from 50 ms to 4 s, up to 5: outages and rate changes within one upload. */
const MIN_STEP_MS = 50;
const MAX_STEP_MS = 4000;
const MAX_STEPS = 5;
/** A poor uplink (200 kbit/s) to 20 Mbit/s (above, a trace is a line per packet: slow to build). */
const MIN_TRACE_BPS = 0.2e6;
const MAX_TRACE_BPS = 20e6;
const MAX_RTT = 300;
/** Residential paths lose up to a few %; 10 % keeps runs short. */
const MAX_LOSS = 0.1;
const EPS = 1e-6;
/** A lossy traced run costs ~1–30 ms. */
const RUNS = 60;
const NO_LIMITS = { total: false } as const;

const stepArb = fc.record({
  ms: fc.integer({ min: MIN_STEP_MS, max: MAX_STEP_MS }),
  bitsPerSecond: fc.oneof(
    { weight: 1, arbitrary: fc.constant(0) },
    { weight: 3, arbitrary: fc.double({ min: MIN_TRACE_BPS, max: MAX_TRACE_BPS, noNaN: true }) },
  ),
});
/** Steps must carry something somewhere: a trace needs an opportunity. */
const traceArb = fc
  .array(stepArb, { minLength: 1, maxLength: MAX_STEPS })
  .filter((steps) => steps.some((s) => s.bitsPerSecond > 0))
  .map(stepTrace);
const opt = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined, freq: 2 });
const rate = fc.double({ min: 0.5e6, max: 100e6, noNaN: true });

/** A streaming path without proxy buffer or tarpit (where loss is modelled), over a trace. */
const pathArb = fc.record(
  {
    payloadBytes: fc.integer({ min: 1, max: MAX_PAYLOAD }),
    chunkBytes: fc.integer({ min: 1024, max: 256 * 1024 }),
    clientBitsPerSecond: rate,
    proxyBitsPerSecond: fc.oneof(fc.constant(Number.POSITIVE_INFINITY), rate),
    rttMs: fc.oneof(fc.constant(0), fc.double({ min: 1, max: MAX_RTT, noNaN: true })),
    sendBufferBytes: fc.integer({ min: 16 * 1024, max: 4 * 1024 * 1024 }),
    sendBufferGrowth: opt(fc.boolean()),
    dropAtMs: opt(fc.double({ min: 0, max: 20_000, noNaN: true })),
    slowStart: fc.boolean(),
    congestionControl: opt(fc.constantFrom("cubic" as const, "reno" as const)),
    linkTrace: traceArb,
    linkTraceStartMs: opt(fc.integer({ min: 0, max: 20_000 })),
    lossRate: fc.oneof(fc.constant(0), fc.double({ min: 0.0001, max: MAX_LOSS, noNaN: true })),
    lossBurstSegments: opt(fc.double({ min: 1, max: 8, noNaN: true })),
    seed: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  },
  {
    requiredKeys: [
      "payloadBytes",
      "clientBitsPerSecond",
      "proxyBitsPerSecond",
      "linkTrace",
      "lossRate",
      "seed",
    ],
  },
);

describe("loss over a link trace", () => {
  it.prop([pathArb, fc.constantFrom<UploadParams["timeouts"]>(NO_LIMITS, { writeIdle: 3000 })], {
    numRuns: RUNS,
  })(
    "conservation: pulled ≥ queued + acked, nothing decreases, the buffer never overflows, all delivered on success",
    (path, timeouts) => {
      const r = simulateUpload({ ...path, timeouts, trace: true });
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
      if (r.outcome === "ok") {
        expect(r.bytesDelivered).toBe(path.payloadBytes);
        expect(trace.at(-1)!.queuedBytes).toBe(0);
      }
      if (r.loss) {
        expect(r.loss.retransmissions).toBeLessThanOrEqual(r.loss.transmissions);
        if (r.outcome === "ok") {
          expect(r.loss.transmissions - r.loss.retransmissions).toBe(
            Math.ceil(path.payloadBytes / 1448),
          );
        }
      }
    },
  );

  it.prop([pathArb], { numRuns: RUNS })(
    "one seed, one run: the same parameters give the same result and trace",
    (path) => {
      const params = { ...path, timeouts: NO_LIMITS, trace: true };
      expect(simulateUpload(params)).toEqual(simulateUpload(params));
    },
  );

  it("the trace paces the lossy sender: over a 2 Mbit/s trace it takes as long as over a 2 Mbit/s link", () => {
    const path = {
      payloadBytes: 1_000_000,
      clientBitsPerSecond: 100e6,
      rttMs: 50,
      lossRate: 0.01,
      seed: 3,
      wireOverhead: false,
    } satisfies Partial<UploadParams>;
    // 2 Mbit/s in 6 s loops: exactly 1,000 packets a loop, the same rate.
    const traced = simulateUpload({
      ...path,
      proxyBitsPerSecond: Number.POSITIVE_INFINITY,
      linkTrace: stepTrace([{ ms: 6000, bitsPerSecond: 2e6 }]),
    });
    const steady = simulateUpload({ ...path, proxyBitsPerSecond: 2e6 });
    expect(traced.loss!.retransmissions).toBeGreaterThan(0);
    // The same draws on (nearly) the same departures: within a few RTTs.
    expect(Math.abs(traced.elapsedMs - steady.elapsedMs)).toBeLessThan(4 * path.rttMs);
  });
});

describe("an outage under the segment-level sender, loss-free", () => {
  const RTT = 100;
  const OUTAGE_MS = 3000;
  /** 2 Mbit/s of 1,448-byte payloads, as bytes/ms. */
  const RATE = 2e6 / 8 / 1000;
  const run = (trace: LinkTrace) =>
    buildLossyCurve({
      bytes: 2_000_000,
      rate: 100e6 / 8 / 1000,
      shaperRate: Number.POSITIVE_INFINITY,
      shaperPeak: Number.POSITIVE_INFINITY,
      burstBytes: 0,
      rttMs: RTT,
      slowStart: true,
      initialWindow: 10 * 1448,
      windowCap: 4 * 1024 * 1024,
      schedule: rateScheduleOf(trace, 1448, 0),
      cutAtMs: Number.POSITIVE_INFINITY,
      loss: { kind: "bernoulli", rate: 0 },
      beta: 0.5,
      cubic: false,
      seed: 0,
    });

  it("the retransmission timer fires in the outage and backs off; the sender resumes from one segment", () => {
    const off = run(
      stepTrace([
        { ms: 2000, bitsPerSecond: 2e6 },
        { ms: OUTAGE_MS, bitsPerSecond: 0 },
        { ms: 600_000, bitsPerSecond: 2e6 },
      ]),
    );
    const steady = run(stepTrace([{ ms: 600_000, bitsPerSecond: 2e6 }]));
    expect(steady.timeouts).toBe(0);
    const rtos = off.events.filter((e) => e.kind === "rto").map((e) => e.atMs);
    // 3 s off: the timer fires at ~0.4, ~1.1 and ~2.4 s into it, doubling.
    expect(rtos.length).toBeGreaterThanOrEqual(3);
    for (const at of rtos) {
      expect(at).toBeGreaterThan(2000);
      expect(at).toBeLessThan(2000 + OUTAGE_MS);
    }
    for (let i = 2; i < rtos.length; i++) {
      const ratio = (rtos[i]! - rtos[i - 1]!) / (rtos[i - 1]! - rtos[i - 2]!);
      expect(ratio).toBeGreaterThan(1.9);
      expect(ratio).toBeLessThan(2.1);
    }
    expect(off.timeouts).toBe(rtos.length);
    expect(off.events.some((e) => e.kind === "rto" && e.detail.includes("cwnd 1 → 1"))).toBe(true);
    // Nothing is acknowledged while the link is off (the last ACKs of what
    // left before it are in one RTT after it began).
    expect(off.curve.valueAt(2000 + OUTAGE_MS - RTT)).toBe(off.curve.valueAt(2000 + RTT));
    // The fluid model loses exactly the outage; from one segment, slow
    // start costs more than an RTT on top.
    expect(off.curve.endMs - steady.curve.endMs).toBeGreaterThan(OUTAGE_MS + RTT);
    // And the steady trace paces it at its rate.
    expect(steady.curve.endMs).toBeGreaterThan(2_000_000 / RATE);
  });
});
