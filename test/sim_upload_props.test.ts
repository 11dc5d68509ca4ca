/**
 * Properties of the upload simulator (issue 4): conservation, monotonicity,
 * the watchdog's timers, chunk-size independence, agreement with the closed
 * forms of src/model.ts, determinism. Everything runs on virtual time; the
 * watchdog is the real one from src/.
 */
import { fc, it } from "@fast-check/vitest";
import { describe, expect } from "vitest";
import {
  goodputBitsPerSecond,
  INITIAL_WINDOW_SEGMENTS,
  PAYLOAD_PER_SKB_BYTE,
  SEGMENT_PAYLOAD_BYTES,
  SKB_OVERSHOOT_BYTES,
  SNDBUF_PER_SEGMENT_BYTES,
  simulateUpload,
  type UploadParams,
} from "../sim/mod.ts";
import { uploadTimeMs } from "../src/mod.ts";
import {
  MAX_BPS,
  MAX_BUFFER,
  MAX_CHUNK,
  MAX_PAYLOAD,
  MAX_PROXY_BUFFER,
  MAX_RTT,
  MAX_STALL_AT,
  MIN_BPS,
  MIN_BUFFER,
  MIN_CHUNK,
  MIN_PROXY_BUFFER,
  MIN_PROXY_SEND_BUFFER,
  opt,
  rate,
  sendBufferWithin,
  uploadPathArb,
} from "./_upload_arb.ts";

// --- bounds ---------------------------------------------------------------

/** Runs for properties with a proxy buffer: its curves cost ~10 ms per upload. */
const PROXY_RUNS = Number(process.env.PROXY_RUNS ?? 100);
/**
 * Float slack for byte counts and times that are sums of fluid segments:
 * far below a byte or a microsecond, far above rounding error.
 */
const EPS = 1e-6;
/** Rounding error of a time computed along two different curves: far below EPS. */
const FLOAT = 1e-9;
/**
 * Runs per property: a run costs 0.1–5 ms, so 300 keep the file at a few
 * seconds while reaching the rarer mixes (store-and-forward + drop + tarpit
 * + bucket) that 100 runs sometimes miss.
 */
const RUNS = 300;

const pathArb = uploadPathArb();

/** Write-idle limits for stalls: up to 10 s. */
const MAX_STALL_IDLE = 10_000;
/**
 * A tarpit that is a stall: it reads less per limit (≤ 10 kB in 10 s) than
 * the smallest refill of the send buffer (a third of it plus half an skb,
 * ≥ 33 kB; ≥ 12 kB while it grows), so no two pulls come within a limit
 * once it holds the client. A faster reader is a slow path, whose pull gaps
 * may straddle the limit (the healthy case of "proxy buffer" below).
 */
const MAX_STALL_READ_BYTES_PER_SECOND = 1000;
/**
 * Proxy buffers for stalls, the smaller of a pair: up to 1 MiB, then up to
 * 4× (often barely more), so that the larger one too seldom swallows the
 * body (then no write limit fires) and the two differ by less than a pull
 * about as often as by more.
 */
const MAX_STALL_PROXY_BUFFER = 1024 * 1024;
const stallUpArb = fc.oneof(
  fc.double({ min: 1, max: 1.1, noNaN: true }),
  fc.double({ min: 1, max: 4, noNaN: true }),
);
/** Runs of the acceptance property: two traced uploads each, ~0.5 ms apiece. */
const MONO_RUNS = Number(process.env.MONO_RUNS ?? 1000);
/** Runs of the stall property: four uploads each, ~1 ms apiece on these paths. */
const STALL_RUNS = Number(process.env.STALL_RUNS ?? 1000);
/** Rates spread evenly over decades: stalls matter on slow uplinks. */
const logRate = (min: number, max: number) =>
  fc.double({ min: Math.log(min), max: Math.log(max), noNaN: true }).map(Math.exp);

/**
 * A streaming path through a proxy buffer (set per run) and one stall: a
 * silent proxy, a black hole upstream, or a tarpit that reads next to
 * nothing, within the first 10 s; uplinks of 0.2–20 Mbit/s, where a body
 * outlasts the buffers.
 */
const stallPathArb = fc.record({
  path: fc.record(
    {
      payloadBytes: fc.integer({ min: 500_000, max: 2 * MAX_PAYLOAD }),
      chunkBytes: fc.integer({ min: MIN_CHUNK, max: MAX_CHUNK }),
      clientBitsPerSecond: logRate(1e6, MAX_BPS),
      proxyBitsPerSecond: logRate(MIN_BPS, 20e6),
      rttMs: fc.double({ min: 0, max: MAX_RTT, noNaN: true }),
      // Spread over decades too: with megabytes in the kernel, the last pull
      // before a stall is mostly one of the first, the same for any buffer.
      sendBufferBytes: logRate(MIN_BUFFER, MAX_BUFFER).map(Math.round),
      sendBufferGrowth: opt(fc.boolean()),
      receiveWindowBytes: opt(fc.integer({ min: 1, max: 8 * 1024 * 1024 })),
      proxyBurstBytes: opt(fc.integer({ min: 0, max: 2_000_000 })),
      proxyPeakBitsPerSecond: opt(rate),
      slowStart: fc.boolean(),
      wireOverhead: fc.boolean(),
      upstreamRttMs: opt(fc.double({ min: 0, max: MAX_RTT, noNaN: true })),
      proxySendBufferBytes: opt(
        fc.integer({ min: MIN_PROXY_SEND_BUFFER, max: MAX_STALL_PROXY_BUFFER }),
      ),
    },
    { requiredKeys: ["payloadBytes", "clientBitsPerSecond", "proxyBitsPerSecond"] },
  ),
  stall: fc.oneof(
    fc.record({ dropAtMs: fc.double({ min: 0, max: 10_000, noNaN: true }) }),
    fc.record({ upstreamDropAtMs: fc.double({ min: 0, max: 10_000, noNaN: true }) }),
    fc.record({
      tarpitAtMs: fc.double({ min: 0, max: 10_000, noNaN: true }),
      serverReadBytesPerSecond: fc.double({
        min: 1,
        max: MAX_STALL_READ_BYTES_PER_SECOND,
        noNaN: true,
      }),
    }),
  ),
});

/**
 * Wake events are one per third of a buffer: a 1 KiB buffer and 3 MB make
 * ~9000 of them, each traced. Keep traced runs to fewer events.
 */
const tracedPathArb = pathArb.map((p) => ({
  ...p,
  payloadBytes: Math.min(p.payloadBytes, 100 * (p.sendBufferBytes ?? MAX_BUFFER)),
}));

/** Limits off: an upload runs to the end (or hangs). */
const NO_LIMITS = { total: false } as const;

function close(a: number, b: number, eps = EPS): boolean {
  if (a === b) return true;
  return Math.abs(a - b) <= eps * Math.max(1, Math.abs(a), Math.abs(b));
}

/** ms one chunk takes on the narrowest link (payload rate, upper bound with overhead). */
function chunkSerializationMs(p: UploadParams, chunkBytes: number): number {
  const narrowest = Math.min(p.clientBitsPerSecond, p.proxyBitsPerSecond);
  return ((chunkBytes * 8) / goodputBitsPerSecond(narrowest)) * 1000;
}

// --- conservation ---------------------------------------------------------

describe("conservation", () => {
  it.prop(
    [
      tracedPathArb,
      fc.constantFrom<UploadParams["timeouts"]>(NO_LIMITS, { writeIdle: 3000 }),
      fc.constantFrom(0, 5),
    ],
    { numRuns: RUNS },
  )(
    "pulled ≥ queued + acked, nothing decreases, the buffer never overflows (beyond one skb's overshoot), all delivered on success",
    (path, timeouts, timerLatenessMs) => {
      const r = simulateUpload({ ...path, timeouts, timerLatenessMs, trace: true });
      const trace = r.trace!;
      const buffer = path.sendBufferBytes ?? MAX_BUFFER;
      const slack = EPS * path.payloadBytes;
      let prev = trace[0]!;
      for (const e of trace) {
        expect(e.atMs).toBeGreaterThanOrEqual(prev.atMs);
        expect(e.handedBytes + slack).toBeGreaterThanOrEqual(e.queuedBytes + e.ackedBytes);
        // A woken writer may overshoot the limit by its skb (as Linux's tcp_sendmsg does).
        expect(e.queuedBytes).toBeLessThanOrEqual(buffer + SKB_OVERSHOOT_BYTES + slack);
        expect(e.queuedBytes).toBeGreaterThanOrEqual(-slack);
        expect(e.handedBytes).toBeGreaterThanOrEqual(prev.handedBytes);
        expect(e.ackedBytes + slack).toBeGreaterThanOrEqual(prev.ackedBytes);
        expect(e.deliveredBytes + slack).toBeGreaterThanOrEqual(prev.deliveredBytes);
        expect(e.handedBytes).toBeLessThanOrEqual(path.payloadBytes);
        expect(e.deliveredBytes).toBeLessThanOrEqual(path.payloadBytes + slack);
        prev = e;
      }
      // The trace ends with what ended the request.
      const last = trace.at(-1)!;
      expect(last.event).toBe({ ok: "headers", timeout: "timeout", hang: "hang" }[r.outcome]);
      if (r.outcome === "ok") {
        expect(r.bytesDelivered).toBe(path.payloadBytes);
        expect(r.bytesSent).toBe(path.payloadBytes);
        expect(last.ackedBytes).toBe(path.payloadBytes);
        expect(last.queuedBytes).toBe(0);
      } else {
        expect(r.bytesDelivered).toBeLessThanOrEqual(path.payloadBytes + slack);
      }
    },
  );
});

// --- monotonicity ---------------------------------------------------------

/** A factor ≥ 1 to scale a parameter up by: up to 20×, a poor uplink to a good one. */
const upArb = fc.double({ min: 1, max: 20, noNaN: true });

describe("monotonicity (no limits: time to the response, Infinity for a hang)", () => {
  it.prop(
    [
      pathArb,
      upArb,
      fc.constantFrom(
        "clientBitsPerSecond",
        "proxyBitsPerSecond",
        "proxyPeakBitsPerSecond",
        "serverReadBytesPerSecond",
      ),
    ],
    { numRuns: RUNS },
  )("more bandwidth on any link never makes an upload slower", (path, up, link) => {
    const base = { ...path, timeouts: NO_LIMITS };
    const before = base[link];
    if (before === undefined) return; // an unset limit is already unlimited
    const slow = simulateUpload(base);
    const fast = simulateUpload({ ...base, [link]: before * up });
    expect(fast.elapsedMs).toBeLessThanOrEqual(slow.elapsedMs * (1 + EPS));
  });

  it.prop([pathArb, fc.integer({ min: 0, max: MAX_PAYLOAD })], { numRuns: RUNS })(
    "more payload never makes an upload faster",
    (path, more) => {
      const base = { ...path, timeouts: NO_LIMITS };
      const small = simulateUpload(base);
      const big = simulateUpload({ ...base, payloadBytes: base.payloadBytes + more });
      expect(big.elapsedMs).toBeGreaterThanOrEqual(small.elapsedMs * (1 - EPS));
    },
  );

  it.prop([pathArb, fc.double({ min: 0, max: MAX_RTT, noNaN: true })], { numRuns: RUNS })(
    "more RTT never makes an upload faster",
    (path, more) => {
      const base = { ...path, timeouts: NO_LIMITS };
      const near = simulateUpload(base);
      const far = simulateUpload({ ...base, rttMs: (base.rttMs ?? 0) + more });
      expect(far.elapsedMs).toBeGreaterThanOrEqual(near.elapsedMs * (1 - EPS));
    },
  );
});

// --- send-buffer growth (issue 12, item 2) --------------------------------

describe("send-buffer growth", () => {
  it.prop(
    [tracedPathArb, fc.constantFrom<UploadParams["timeouts"]>(NO_LIMITS, { writeIdle: 3000 })],
    {
      numRuns: RUNS,
    },
  )(
    "a growing buffer never queues more than 2 × cwnd segments of skb memory (plus one skb's overshoot), nor more than its ceiling",
    (path, timeouts) => {
      const r = simulateUpload({ ...path, sendBufferGrowth: true, timeouts, trace: true });
      const ceiling = path.sendBufferBytes ?? MAX_BUFFER;
      // tcp_sndbuf_expand: 2 × cwnd × 4352 B of skb memory; cwnd = IW + acked in slow start.
      const perByte =
        ((2 * SNDBUF_PER_SEGMENT_BYTES) / SEGMENT_PAYLOAD_BYTES) * PAYLOAD_PER_SKB_BYTE;
      const iw = INITIAL_WINDOW_SEGMENTS * SEGMENT_PAYLOAD_BYTES;
      const slack = EPS * path.payloadBytes;
      for (const e of r.trace!) {
        const grown =
          path.slowStart === false ? ceiling : Math.min(ceiling, perByte * (iw + e.ackedBytes));
        expect(e.queuedBytes).toBeLessThanOrEqual(grown + SKB_OVERSHOOT_BYTES + slack);
      }
    },
  );

  it.prop([pathArb, upArb], { numRuns: RUNS })(
    "a larger ceiling never makes an upload slower",
    (path, up) => {
      const base = { ...path, timeouts: NO_LIMITS };
      const small = simulateUpload(base);
      const ceiling = Math.min(2 ** 31 - 1, Math.round((base.sendBufferBytes ?? MAX_BUFFER) * up));
      const large = simulateUpload({ ...base, sendBufferBytes: ceiling });
      // (Not: its body into the kernel sooner. The writer wakes once the
      // queue is down to 2/3 of the buffer, so a buffer δ larger, filled δ
      // further, wakes it when δ/3 more is acknowledged: the last pull can
      // come a little later.)
      expect(large.elapsedMs).toBeLessThanOrEqual(small.elapsedMs * (1 + EPS));
    },
  );

  it.prop([pathArb], { numRuns: RUNS })(
    "growth changes when the body reaches the kernel, not how long the upload takes",
    (path) => {
      const base = { ...path, timeouts: NO_LIMITS };
      const fixed = simulateUpload({ ...base, sendBufferGrowth: false });
      const growing = simulateUpload({ ...base, sendBufferGrowth: true });
      expect(growing.outcome).toBe(fixed.outcome);
      expect(growing.elapsedMs).toBe(fixed.elapsedMs);
      expect(growing.bytesDelivered).toBe(fixed.bytesDelivered);
      // A buffer always 3.9 × cwnd ahead of what is in flight never starves the link.
    },
  );
});

// --- a proxy that holds bytes (issue 12, item 1) ---------------------------

describe("proxy buffer", () => {
  // "A larger proxy buffer never makes a stall visible sooner" (issue 12),
  // taken apart (sim/README.md, "A larger proxy buffer and the moment a
  // stall shows"). The writer's pulls come at wake-ups whose byte positions
  // do not depend on the path (each refill is set by the bytes acknowledged
  // at the wake and the buffer size alone), only their times do; and the
  // client leg's curve, min(its own, proxy's upstream + buffer), only rises
  // with the buffer. So every wake-up and every pull comes no later with a
  // larger buffer: the first property, exact. It is also why a limit can
  // fire sooner: writeIdle fires at the last pull before the first gap
  // longer than the limit, a pull at a fixed byte position that a larger
  // buffer reaches sooner. On a healthy path whose pull gaps straddle the
  // limit (the kept example below) that is not a stall at all. On a stall
  // the pulls stop (or crawl) where the stall reaches the client, which a
  // larger buffer moves no sooner; the last pull before it can land up to a
  // pull gap earlier: the second property's bound.

  /** Wake-ups and pulls in order, with what was acknowledged and pulled at each. */
  const steps = (r: ReturnType<typeof simulateUpload>) => {
    const t = r.trace!;
    return {
      wakes: t.filter((e) => e.event === "wake"),
      pulls: t.filter((e) => (e.event === "write" && e.pulls > 0) || e.event === "body-end"),
    };
  };

  it.prop(
    [
      pathArb.filter((p) => p.proxyMode !== "store-and-forward"),
      fc.integer({ min: MIN_PROXY_BUFFER, max: MAX_PROXY_BUFFER }),
      upArb,
    ],
    { numRuns: MONO_RUNS },
  )(
    "a larger proxy buffer never delays a wake-up or a pull (by any time the writer has pulled as much), nor the end of the body",
    (path, buffer, up) => {
      // The same upstream send buffer, within the smaller proxy buffer.
      const send = sendBufferWithin(path.proxySendBufferBytes, buffer);
      const [small, large] = [buffer, Math.round(buffer * up)].map((proxyBufferBytes) =>
        simulateUpload({ ...path, ...send, proxyBufferBytes, timeouts: NO_LIMITS, trace: true }),
      );
      const s = steps(small!);
      const l = steps(large!);
      // The same wake-ups at the same acknowledged bytes, the same pulls at
      // the same bytes pulled, each no later; the larger buffer may get further.
      expect(l.wakes.length).toBeGreaterThanOrEqual(s.wakes.length);
      expect(l.pulls.length).toBeGreaterThanOrEqual(s.pulls.length);
      for (const [a, b] of [
        [s.wakes, l.wakes],
        [s.pulls, l.pulls],
      ] as const) {
        for (let k = 0; k < a.length; k++) {
          expect(close(b[k]!.ackedBytes, a[k]!.ackedBytes)).toBe(true);
          expect(b[k]!.handedBytes).toBe(a[k]!.handedBytes);
          expect(b[k]!.atMs).toBeLessThanOrEqual(a[k]!.atMs + EPS * Math.max(1, a[k]!.atMs));
        }
      }
      // writeEnd (where `headers` starts) no later: a buffer that swallows
      // the body ends the write phase sooner.
      if (small!.uploadEndMs !== undefined) {
        expect(large!.uploadEndMs).toBeLessThanOrEqual(small!.uploadEndMs * (1 + EPS) + EPS);
      }
    },
  );

  it.prop(
    [
      stallPathArb,
      fc.integer({ min: MIN_PROXY_BUFFER, max: MAX_STALL_PROXY_BUFFER }),
      stallUpArb,
      fc.double({ min: 50, max: MAX_STALL_IDLE, noNaN: true }),
    ],
    { numRuns: STALL_RUNS },
  )(
    "a larger proxy buffer never makes a stall visible sooner than one pull gap (plus the smaller buffer's last gap behind a tarpit)",
    ({ path: drawn, stall }, buffer, up, idle) => {
      const timeouts = { writeIdle: idle, total: false as const };
      const { proxySendBufferBytes, ...rest } = drawn;
      const path = { ...rest, ...sendBufferWithin(proxySendBufferBytes, buffer) };
      const large = Math.round(buffer * up);
      const [s, l] = [buffer, large].map((proxyBufferBytes) =>
        simulateUpload({ ...path, ...stall, proxyBufferBytes, timeouts, trace: true }),
      );
      if (s!.phase !== "writeIdle" || l!.phase !== "writeIdle") return;
      // The larger buffer's run saw the stall: without it, the same path
      // and limit fire later or never. (Else its own pull cadence fired the
      // limit before the stall reached the client: the healthy case.)
      const healthy = simulateUpload({ ...path, proxyBufferBytes: large, timeouts });
      if (healthy.phase === "writeIdle" && healthy.elapsedMs <= l!.elapsedMs * (1 + EPS)) return;
      // The bound. Let H be when the stall reaches the client's ACKs: for
      // the larger buffer H' ≥ H (it accepts for longer), and before H' its
      // pulls are the healthy path's. Its last pull is the last one before
      // H' (or after), so later than H' minus the healthy gap g' that
      // straddles it: it fires after H' − g' + limit. The smaller buffer's
      // last pull is before H (a drop: nothing is acknowledged after it), or
      // behind a tarpit at most one gap after it (the tarpit frees less
      // than a refill per limit, so only one more pull can come in time):
      // it fires by H + limit (+ that gap). Sooner by at most g' (+ gap).
      const lastPull = steps(l!).pulls.at(-1)!.atMs;
      const free = simulateUpload({
        ...path,
        proxyBufferBytes: large,
        timeouts: NO_LIMITS,
        trace: true,
      });
      // (The same pull, computed on another curve, may differ in the last bits.)
      const next =
        steps(free).pulls.find((e) => e.atMs > lastPull * (1 + FLOAT) + FLOAT)?.atMs ?? Infinity;
      const gapLarge = next - lastPull;
      const ps = steps(s!).pulls;
      const gapSmall =
        !("serverReadBytesPerSecond" in stall) || ps.length < 2
          ? 0
          : ps.at(-1)!.atMs - ps.at(-2)!.atMs;
      expect(l!.elapsedMs).toBeGreaterThanOrEqual(
        s!.elapsedMs - gapLarge - gapSmall - EPS * s!.elapsedMs,
      );
      // And never with less of the body pulled.
      expect(l!.bytesSent).toBeGreaterThanOrEqual(s!.bytesSent);
    },
  );

  // The healthy case: no stall at all. A slow uplink (0.34 Mbit/s), 100 kB
  // chunks and a 1 kB send buffer: the chunk boundaries and the refills beat,
  // so every eighth pull gap is 3.14 s against 2.35 s for the others, and a
  // 3 s writeIdle fires at the first long one, after the 9th pull, whatever
  // the proxy buffer. A larger buffer gets there sooner: by the extra bytes
  // it took at the client's rate, at the uplink's rate. (The removed
  // property's worst counterexample, 20,000 random paths.)
  it("a larger proxy buffer reaches a too-long pull gap of a healthy path sooner: by its extra bytes at the uplink rate", () => {
    const path: UploadParams = {
      payloadBytes: 2_042_961,
      chunkBytes: 102_876,
      clientBitsPerSecond: 10_572_924,
      proxyBitsPerSecond: 335_868,
      sendBufferBytes: 1043,
      wireOverhead: false,
      timeouts: { writeIdle: 3000, total: false },
      trace: true,
    };
    const buffers = [65_538, 266_622];
    const [small, large] = buffers.map((proxyBufferBytes) =>
      simulateUpload({ ...path, proxyBufferBytes }),
    );
    // Healthy: with no limit it finishes.
    expect(
      simulateUpload({ ...path, proxyBufferBytes: buffers[0], timeouts: NO_LIMITS }).outcome,
    ).toBe("ok");
    // The same pull fires the limit in both...
    expect(small!.phase).toBe("writeIdle");
    expect(large!.phase).toBe("writeIdle");
    expect(large!.bytesSent).toBe(small!.bytesSent);
    // ... the larger buffer 4.79 s sooner: its 201 kB more at 42 kB/s.
    const sooner = small!.elapsedMs - large!.elapsedMs;
    const uplinkBytesPerMs = path.proxyBitsPerSecond / 8 / 1000;
    expect(close(sooner, (buffers[1]! - buffers[0]!) / uplinkBytesPerMs)).toBe(true);
  });

  // A real stall, and the bound met: 3 MB through a 2 Mbit/s uplink whose
  // proxy goes silent at 5 s. With 500 kB or 520 kB of proxy buffer the
  // writer's pulls come every 228 ms at the uplink's pace, the larger
  // buffer's 84 ms (20 kB at 239 kB/s) earlier; the last one before the
  // ACKs stop (5.05 s) is the same pull for both, so the stall shows 84 ms
  // sooner: less than the pull gap it cut short.
  it("a larger proxy buffer can surface a silent proxy sooner, by less than a pull gap", () => {
    const path: UploadParams = {
      payloadBytes: 3_000_000,
      chunkBytes: 65_536,
      clientBitsPerSecond: 50e6,
      proxyBitsPerSecond: 2e6,
      rttMs: 100,
      sendBufferBytes: 65_536,
      timeouts: { writeIdle: 3000, total: false },
      trace: true,
    };
    const buffers = [500_000, 520_000];
    const [small, large] = buffers.map((proxyBufferBytes) =>
      simulateUpload({ ...path, proxyBufferBytes, dropAtMs: 5000 }),
    );
    expect(small!.phase).toBe("writeIdle");
    expect(large!.bytesSent).toBe(small!.bytesSent);
    const sooner = small!.elapsedMs - large!.elapsedMs;
    const uplinkBytesPerMs = goodputBitsPerSecond(path.proxyBitsPerSecond) / 8 / 1000;
    expect(close(sooner, (buffers[1]! - buffers[0]!) / uplinkBytesPerMs)).toBe(true);
    // The pull gap the stall cut short, on the larger buffer's healthy path.
    const healthy = simulateUpload({ ...path, proxyBufferBytes: buffers[1], timeouts: NO_LIMITS });
    const last = large!.elapsedMs - 3000;
    const next = steps(healthy).pulls.find((e) => e.atMs > last * (1 + FLOAT))!.atMs;
    expect(sooner).toBeGreaterThan(0);
    expect(sooner).toBeLessThan(next - last);
  });

  it.prop([pathArb.filter((p) => p.proxyMode !== "store-and-forward"), upArb], {
    numRuns: PROXY_RUNS,
  })("a larger proxy buffer never makes an upload slower", (path, up) => {
    const base = {
      ...path,
      proxyBufferBytes: path.proxyBufferBytes ?? MIN_PROXY_BUFFER,
      timeouts: NO_LIMITS,
    };
    const small = simulateUpload(base);
    const large = simulateUpload({
      ...base,
      proxyBufferBytes: Math.round(base.proxyBufferBytes * up),
    });
    expect(large.elapsedMs).toBeLessThanOrEqual(small.elapsedMs * (1 + EPS));
  });
});

// --- the watchdog's timers -------------------------------------------------

/** Write-idle limits from 50 ms (below most wake gaps) to 20 s (above most). */
const idleArb = fc.double({ min: 50, max: 20_000, noNaN: true });

/** Times at which the body stream was pulled (writeStart, writePull): write-idle progress. */
function progressTimes(trace: NonNullable<ReturnType<typeof simulateUpload>["trace"]>): number[] {
  return trace
    .filter((e) => (e.event === "write" && e.pulls > 0) || e.event === "body-end")
    .map((e) => e.atMs);
}

describe("timers", () => {
  it.prop([tracedPathArb, idleArb], { numRuns: RUNS })(
    "write-idle fires exactly at the last pull + limit, and only after a gap that long",
    (path, idle) => {
      const r = simulateUpload({
        ...path,
        timeouts: { total: false, writeIdle: idle },
        trace: true,
      });
      const pulls = progressTimes(r.trace!);
      for (let i = 1; i < pulls.length; i++) expect(pulls[i]! - pulls[i - 1]!).toBeLessThan(idle);
      if (r.phase === "writeIdle") {
        expect(r.uploadEndMs).toBeUndefined();
        expect(close(r.elapsedMs, pulls.at(-1)! + idle)).toBe(true);
      } else if (r.uploadEndMs === undefined) {
        // No limit other than write-idle: a body not fully handed over ends only by it.
        expect.unreachable(`outcome ${r.outcome} without the body handed over`);
      }
    },
  );

  it.prop([pathArb, fc.double({ min: 1, max: 60_000, noNaN: true })], { numRuns: RUNS })(
    "total fires at start + total, unless the response came first",
    (path, total) => {
      const free = simulateUpload({ ...path, timeouts: NO_LIMITS });
      const r = simulateUpload({ ...path, timeouts: { total } });
      if (free.elapsedMs < total) {
        expect(r.outcome).toBe("ok");
        expect(r.elapsedMs).toBe(free.elapsedMs);
      } else if (free.elapsedMs > total) {
        expect(r.outcome).toBe("timeout");
        expect(r.phase).toBe("total");
        expect(close(r.elapsedMs, total)).toBe(true);
      }
    },
  );

  it.prop(
    [
      fc.integer({ min: MIN_BUFFER, max: 1024 * 1024 }),
      idleArb,
      fc.double({ min: 1.01, max: 10, noNaN: true }),
      fc.integer({ min: 1, max: 1_000_000 }),
      rate,
      rate,
      fc.double({ min: 0, max: MAX_RTT, noNaN: true }),
    ],
    { numRuns: RUNS },
  )(
    "a tarpit whose drain of 1/3 of the buffer outlasts write-idle trips write-idle for every chunk size",
    (buffer, idle, slower, extra, client, proxy, rttMs) => {
      // The server reads 1/3 of the buffer in `slower` × the limit.
      const serverReadBytesPerSecond = (buffer / 3 / (idle * slower)) * 1000;
      const payloadBytes = buffer + extra; // more than fits at once
      for (const chunkBytes of [
        MIN_CHUNK,
        16 * 1024,
        64 * 1024,
        buffer,
        2 * buffer,
        payloadBytes,
      ]) {
        const r = simulateUpload({
          payloadBytes,
          chunkBytes: Math.min(chunkBytes, 16 * 1024 * 1024),
          clientBitsPerSecond: client,
          proxyBitsPerSecond: proxy,
          rttMs,
          sendBufferBytes: buffer,
          // A fixed buffer: one still growing may drain a third of itself in time.
          sendBufferGrowth: false,
          serverReadBytesPerSecond,
          timeouts: { total: false, writeIdle: idle },
        });
        expect(r.outcome).toBe("timeout");
        expect(r.phase).toBe("writeIdle");
      }
    },
  );

  it.prop([pathArb, idleArb, fc.double({ min: 0, max: MAX_STALL_AT, noNaN: true })], {
    numRuns: RUNS,
  })(
    "a silent proxy is caught by write-idle within limit + RTT/2 of the drop",
    (path, idle, dropAtMs) => {
      // A black hole behind the proxy is another stall (the proxy buffers it).
      if (path.upstreamDropAtMs !== undefined) return;
      const r = simulateUpload({ ...path, dropAtMs, timeouts: { total: false, writeIdle: idle } });
      // Only a drop that kept the response from coming and preceded the
      // timeout is a stall to detect (a slow path may time out before it).
      if (r.outcome !== "timeout" || r.elapsedMs < dropAtMs) return;
      expect(r.stallDetectionMs).toBe(r.elapsedMs - dropAtMs);
      // The last ACKs the proxy sent before going silent land RTT/2 later;
      // the last wake, and so the last pull, is no later than that.
      expect(r.stallDetectionMs).toBeLessThanOrEqual(idle + (path.rttMs ?? 0) / 2 + EPS * idle);
    },
  );
});

// --- metamorphic: chunk size ------------------------------------------------

describe("metamorphic", () => {
  it.prop(
    [
      pathArb,
      fc.integer({ min: MIN_CHUNK, max: MAX_CHUNK }),
      fc.option(fc.double({ min: 100, max: 60_000, noNaN: true }), { nil: undefined }),
      fc.option(fc.double({ min: 100, max: 60_000, noNaN: true }), { nil: undefined }),
    ],
    { numRuns: RUNS },
  )(
    "without an idle limit, outcome and time do not depend on the chunk size beyond one chunk's serialization",
    (path, otherChunk, total, headers) => {
      const timeouts = { total: total ?? (false as const), headers: headers ?? (false as const) };
      const a = simulateUpload({ ...path, timeouts });
      const b = simulateUpload({ ...path, chunkBytes: otherChunk, timeouts });
      const slack = chunkSerializationMs(path, Math.max(path.chunkBytes ?? 65_536, otherChunk));
      expect(b.outcome).toBe(a.outcome);
      expect(b.phase).toBe(a.phase);
      if (a.elapsedMs !== b.elapsedMs)
        expect(Math.abs(a.elapsedMs - b.elapsedMs)).toBeLessThanOrEqual(slack);
    },
  );
});

// --- closed forms ------------------------------------------------------------

describe("closed-form agreement (src/model.ts)", () => {
  it.prop(
    [
      fc.integer({ min: 1, max: MAX_PAYLOAD }),
      fc.integer({ min: MIN_CHUNK, max: MAX_CHUNK }),
      rate,
      rate,
      fc.double({ min: 0, max: MAX_RTT, noNaN: true }),
      fc.constantFrom("streaming" as const, "store-and-forward" as const),
      fc.boolean(),
    ],
    { numRuns: RUNS },
  )(
    "with no loss, no tarpit and no slow start, time = uploadTimeMs within one chunk's serialization",
    (payloadBytes, chunkBytes, client, proxy, rttMs, proxyMode, wireOverhead) => {
      // A buffer that keeps the window off the bandwidth-delay product: the
      // closed form assumes the link, not the window, sets the pace.
      // The client's leg is the proxy's alone in store-and-forward mode.
      const legBitsPerSecond = proxyMode === "streaming" ? Math.min(client, proxy) : client;
      const bdp = (legBitsPerSecond / 8 / 1000) * rttMs;
      const sendBufferBytes = Math.min(2 ** 31 - 1, Math.max(MIN_BUFFER, Math.ceil(1.5 * bdp) + 1));
      const path = {
        payloadBytes,
        chunkBytes,
        clientBitsPerSecond: client,
        proxyBitsPerSecond: proxy,
        rttMs,
        proxyMode,
        sendBufferBytes,
        slowStart: false,
        wireOverhead,
      };
      const r = simulateUpload({ ...path, timeouts: NO_LIMITS });
      const g = (bps: number) => (wireOverhead ? goodputBitsPerSecond(bps) : bps);
      const expected = uploadTimeMs({
        payloadBytes,
        clientBitsPerSecond: g(client),
        proxyBitsPerSecond: g(proxy),
        rttMs,
        proxyMode,
      });
      expect(r.outcome).toBe("ok");
      expect(Math.abs(r.elapsedMs - expected)).toBeLessThanOrEqual(
        chunkSerializationMs(path, chunkBytes),
      );
    },
  );
});

// --- determinism ---------------------------------------------------------------

describe("determinism", () => {
  it.prop([tracedPathArb, fc.integer({ min: 0, max: 2 ** 32 - 1 }), idleArb], { numRuns: RUNS })(
    "same parameters and seed → same result and trace (timer lateness drawn from the seed)",
    (path, seed, idle) => {
      const params = {
        ...path,
        seed,
        timerLatenessMs: 2,
        timeouts: { writeIdle: idle, total: 60_000 },
        trace: true,
      };
      expect(simulateUpload(params)).toStrictEqual(simulateUpload(params));
    },
  );

  it.prop([tracedPathArb, idleArb], { numRuns: RUNS })(
    "tracing changes nothing but the trace",
    (path, idle) => {
      const params = { ...path, timeouts: { writeIdle: idle, total: 60_000 } };
      const { trace, ...traced } = simulateUpload({ ...params, trace: true });
      expect(traced).toStrictEqual(simulateUpload(params));
      expect(trace!.length).toBeGreaterThan(0);
    },
  );
});
