/**
 * The watchdog on virtual time: for any schedule of progress, it fires iff
 * and exactly when the first limit passes, never early, with at most one
 * armed timer.
 */
import { fc, it } from "@fast-check/vitest";
import { describe, expect } from "vitest";
import { VirtualClock } from "../sim/engine.ts";
import { type ResolvedLimits, Watchdog } from "../src/mod.ts";

const OFF = Number.POSITIVE_INFINITY;
const limits = (l: Partial<ResolvedLimits>): ResolvedLimits => ({
  total: OFF,
  headers: OFF,
  readIdle: OFF,
  writeIdle: OFF,
  minRate: undefined,
  ...l,
});

/** Runs `events` (time, action) on a virtual clock with a watchdog; returns when/what fired. */
function drive(
  l: ResolvedLimits,
  events: Array<[number, (wd: Watchdog) => void]>,
): {
  firedAt: number | undefined;
  phase: string | undefined;
  maxArmed: number;
  pendingAfter: number;
} {
  const clock = new VirtualClock();
  let firedAt: number | undefined;
  let phase: string | undefined;
  const wd = new Watchdog({
    clock,
    limits: l,
    onExpire(e) {
      firedAt = clock.now();
      phase = e.phase;
    },
  });
  let ran = 0;
  for (const [t, action] of events) {
    clock.schedule(t, () => {
      ran++;
      action(wd);
    });
  }
  let maxArmed = 0;
  // Whatever is pending beyond the schedule's own events is the watchdog's.
  while (clock.step()) maxArmed = Math.max(maxArmed, clock.pending - (events.length - ran));
  return { firedAt, phase, maxArmed, pendingAfter: clock.pending };
}

// Times are whole milliseconds and limits end in .5, so a deadline never
// coincides with an event: "exactly when" has one meaning.
const limitArb = fc.integer({ min: 1, max: 400 }).map((n) => n + 0.5);
const gapArb = fc.integer({ min: 0, max: 300 });

describe("watchdog, read side", () => {
  it.prop([
    fc.record({
      total: fc.option(limitArb, { nil: OFF }),
      headers: fc.option(limitArb, { nil: OFF }),
      readIdle: fc.option(limitArb, { nil: OFF }),
    }),
    gapArb,
    fc.array(fc.tuple(gapArb, gapArb), { maxLength: 20 }),
  ])(
    "fires iff and exactly when the first of total/headers/readIdle passes",
    (l, headersAfter, reads) => {
      // Build the schedule: headers at h; then per chunk: caller waits `think`, then data comes `wait` later.
      const events: Array<[number, (wd: Watchdog) => void]> = [[0, (wd) => wd.sent()]];
      let t = headersAfter;
      events.push([t, (wd) => wd.headersReceived()]);
      const candidates: Array<[number, string]> = [[l.total, "total"]];
      if (headersAfter > l.headers) candidates.push([l.headers, "headers"]);
      for (const [think, wait] of reads) {
        const w = t + think;
        const a = w + wait;
        events.push([w, (wd) => wd.readWait()]);
        events.push([a, (wd) => wd.read(1)]);
        if (wait > l.readIdle) candidates.push([w + l.readIdle, "readIdle"]);
        t = a;
      }
      const end = t + 1;
      events.push([end, (wd) => wd.end()]);
      candidates.sort((x, y) => x[0] - y[0]);
      const first = candidates[0]!;
      const r = drive(limits(l), events);
      if (first[0] < end) {
        expect(r.firedAt).toBe(first[0]);
        expect(r.phase).toBe(first[1]);
      } else {
        expect(r.firedAt).toBeUndefined();
      }
      expect(r.maxArmed).toBeLessThanOrEqual(1);
      expect(r.pendingAfter).toBe(0); // nothing left armed after end or expiry
    },
  );

  it("readIdle pauses while the caller is not reading", () => {
    const r = drive(limits({ readIdle: 100.5 }), [
      [0, (wd) => wd.sent()],
      [1, (wd) => wd.headersReceived()],
      [2, (wd) => wd.readWait()],
      [3, (wd) => wd.read(10)],
      // The caller thinks for 10 s: not the server's fault.
      [10_003, (wd) => wd.readWait()],
      [10_050, (wd) => wd.read(10)],
      [10_051, (wd) => wd.end()],
    ]);
    expect(r.firedAt).toBeUndefined();
  });
});

describe("watchdog, write side", () => {
  it.prop([
    fc.record({
      total: fc.option(limitArb, { nil: OFF }),
      headers: fc.option(limitArb, { nil: OFF }),
      writeIdle: fc.option(limitArb, { nil: OFF }),
    }),
    fc.array(fc.tuple(gapArb, gapArb), { maxLength: 20 }),
    gapArb,
  ])(
    "fires iff and exactly when the first of total/writeIdle/headers passes; source waits do not count",
    (l, pulls, headersAfter) => {
      // Per chunk: the runtime pulls `gap` after the last hand-over; the caller's source takes `source` to produce it.
      const events: Array<[number, (wd: Watchdog) => void]> = [[0, (wd) => wd.writeStart()]];
      const candidates: Array<[number, string]> = [[l.total, "total"]];
      let t = 0;
      let lastProgress = 0;
      for (const [gap, source] of pulls) {
        const pullAt = t + gap;
        if (pullAt - lastProgress > l.writeIdle)
          candidates.push([lastProgress + l.writeIdle, "writeIdle"]);
        events.push([
          pullAt,
          (wd) => {
            wd.writePull();
            wd.writeWait();
          },
        ]);
        const readyAt = pullAt + source;
        events.push([
          readyAt,
          (wd) => {
            wd.writeReady();
            wd.wrote(100);
          },
        ]);
        lastProgress = readyAt;
        t = readyAt;
      }
      const doneAt = t + 1;
      if (doneAt - lastProgress > l.writeIdle)
        candidates.push([lastProgress + l.writeIdle, "writeIdle"]);
      events.push([doneAt, (wd) => wd.writeEnd()]);
      const headersAt = doneAt + headersAfter;
      if (headersAfter > l.headers) candidates.push([doneAt + l.headers, "headers"]);
      events.push([headersAt, (wd) => wd.headersReceived()]);
      events.push([headersAt + 1, (wd) => wd.end()]);
      candidates.sort((x, y) => x[0] - y[0]);
      const first = candidates[0]!;
      const r = drive(limits(l), events);
      if (first[0] < headersAt + 1) {
        expect(r.firedAt).toBe(first[0]);
        expect(r.phase).toBe(first[1]);
      } else {
        expect(r.firedAt).toBeUndefined();
      }
      expect(r.maxArmed).toBeLessThanOrEqual(1);
      expect(r.pendingAfter).toBe(0);
    },
  );
});

describe("watchdog, minimum rate", () => {
  // A sliding window of (per) ms must hold ≥ bytes. Buckets of per/64 make
  // the check at most per/64 late, never early.
  const PER = 1000;
  const SLACK = PER / 64;

  it.prop([fc.integer({ min: 2, max: 50 }), fc.integer({ min: 1, max: 1000 })])(
    "a steady stream above the floor never trips it",
    (perWindow, size) => {
      // `perWindow` chunks of `size` bytes per window, evenly spaced: every
      // window holds perWindow × size bytes; the floor sits one chunk lower.
      const every = PER / perWindow;
      const events: Array<[number, (wd: Watchdog) => void]> = [
        [0, (wd) => wd.sent()],
        [0, (wd) => wd.headersReceived()],
      ];
      for (let i = 0; i < perWindow * 5; i++) {
        events.push([i * every, (wd) => wd.readWait()]);
        events.push([(i + 1) * every, (wd) => wd.read(size)]);
      }
      events.push([perWindow * 5 * every + 0.25, (wd) => wd.end()]);
      const r = drive(limits({ minRate: { bytes: (perWindow - 1) * size, perMs: PER } }), events);
      expect(r.firedAt).toBeUndefined();
    },
  );

  it.prop([fc.integer({ min: 100, max: 4000 }), fc.integer({ min: 1, max: 1000 })])(
    "a stall after a burst trips it within [window, window + window/64] of the last bytes that met the floor",
    (stallMs, burst) => {
      // Half a millisecond off the grid, so the burst never lands exactly on
      // the first window's end (a tie whose order the event queue decides).
      const stallAt = stallMs + 0.5;
      const events: Array<[number, (wd: Watchdog) => void]> = [
        [0, (wd) => wd.sent()],
        [0, (wd) => wd.headersReceived()],
        [0, (wd) => wd.readWait()],
        [stallAt, (wd) => wd.read(burst)],
        [stallAt, (wd) => wd.readWait()],
        [stallAt + 10 * PER, (wd) => wd.end()],
      ];
      const r = drive(limits({ minRate: { bytes: burst, perMs: PER } }), events);
      expect(r.phase).toBe("minRate");
      // Before the burst the first window already failed if the burst came later than one window.
      const expected = stallAt >= PER ? PER : stallAt + PER;
      expect(r.firedAt).toBeGreaterThanOrEqual(expected);
      expect(r.firedAt).toBeLessThanOrEqual(expected + SLACK);
    },
  );
});

describe("watchdog, largest read gap", () => {
  it.prop([
    fc.array(
      // Quarter milliseconds: exact in binary, so the schedule's sums are too.
      fc.tuple(
        fc.integer({ min: 0, max: 5000 }),
        fc.integer({ min: 0, max: 12_000 }).map((n) => n / 4),
      ),
      { maxLength: 20 },
    ),
  ])(
    "is the longest wait the caller spent on one read, rounded up; its own pauses do not count",
    (reads) => {
      const clock = new VirtualClock();
      const wd = new Watchdog({ clock, limits: limits({}), onExpire() {} });
      let t = 0;
      clock.schedule(0, () => wd.headersReceived());
      for (const [think, wait] of reads) {
        const w = t + think;
        const a = w + wait;
        clock.schedule(w, () => wd.readWait());
        clock.schedule(a, () => wd.read(1));
        t = a;
      }
      clock.schedule(t, () => wd.end());
      while (clock.step()) {}
      const waits = reads.map(([, wait]) => wait);
      expect(wd.maxReadGapMs).toBe(Math.ceil(Math.max(0, ...waits)));
    },
  );
});
