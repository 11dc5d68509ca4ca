/**
 * The simulator's event engine: ordering, cancellation, bounds and promise
 * draining, as properties over random timer programs and against a
 * sorted-list model. (Its JSDoc examples run in doc_examples.test.ts.)
 */
import { fc, it } from "@fast-check/vitest";
import { describe, expect, vi } from "vitest";
import { seededRandom, VirtualClock } from "../sim/mod.ts";

// Note: fast-check keeps arrays short (about 10) unless told `size: "max"`;
// the arrays whose length is the point of the test say so.

// ---------------------------------------------------------------------------
// A random "program": timers that, when they run, schedule more timers and
// cancel others. Interpreting it on a VirtualClock gives a trace.

/** Timers per program: enough for deep heaps and many ties, small enough for 100 runs/s. */
const MAX_TIMERS = 60;
/** Cancelled-only ("ghost") timers: above the engine's 64-entry compaction threshold. */
const MAX_GHOSTS = 150;

interface Spec {
  /** Delay from when it is scheduled. Small integers force ties; doubles exercise fractions. */
  delayMs: number;
  /** Index of the timer whose callback schedules this one; -1: scheduled up front. */
  parent: number;
  /** Index of a timer this one's callback clears; -1: none. */
  cancels: number;
  /** Timers this one's callback sets and clears at once (never meant to run). */
  ghosts: number[];
}

const delayArb = fc.oneof(
  fc.integer({ min: 0, max: 4 }),
  fc.double({ min: 0, max: 1000, noNaN: true, noDefaultInfinity: true }),
);
const specArb = (n: number) =>
  fc.record({
    delayMs: delayArb,
    parent: fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: n - 1 })),
    cancels: fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: n - 1 })),
    ghosts: fc.array(delayArb, { maxLength: 3 }),
  });
const programArb = fc
  .integer({ min: 1, max: MAX_TIMERS })
  .chain((n) => fc.array(specArb(n), { minLength: n, maxLength: n }));
const ghostsArb = fc.array(delayArb, { maxLength: MAX_GHOSTS, size: "max" });

interface Entry {
  id: number;
  atMs: number;
  /** Order in which the timer was scheduled (0, 1, 2, ...). */
  scheduledAs: number;
}

interface Run {
  clock: VirtualClock;
  trace: Entry[];
  /** Timers cleared while still pending. */
  cancelled: Set<number>;
}

/** Schedules the program's up-front timers; callbacks do the rest as they run. */
function load(
  program: Spec[],
  options: { ghosts?: number[]; withGhosts?: boolean; clock?: VirtualClock } = {},
): Run {
  const clock = options.clock ?? new VirtualClock();
  const trace: Entry[] = [];
  const cancelled = new Set<number>();
  const handles = new Map<number, unknown>();
  const order = new Map<number, number>();
  const ran = new Set<number>();
  let scheduled = 0;
  const ghost = (delayMs: number) => {
    if (options.withGhosts) clock.clearTimer(clock.setTimer(() => trace.push(ghostEntry), delayMs));
  };
  const set = (id: number) => {
    order.set(id, scheduled++);
    handles.set(
      id,
      clock.setTimer(() => {
        ran.add(id);
        trace.push({ id, atMs: clock.now(), scheduledAs: order.get(id)! });
        const spec = program[id]!;
        program.forEach((child, k) => {
          if (child.parent === id) set(k);
        });
        spec.ghosts.forEach(ghost);
        if (spec.cancels >= 0 && handles.has(spec.cancels)) {
          if (!ran.has(spec.cancels)) cancelled.add(spec.cancels);
          clock.clearTimer(handles.get(spec.cancels));
        }
      }, program[id]!.delayMs),
    );
  };
  program.forEach((spec, k) => {
    if (spec.parent === -1) set(k);
  });
  (options.ghosts ?? []).forEach(ghost);
  return { clock, trace, cancelled };
}
const ghostEntry: Entry = { id: -1, atMs: Number.NaN, scheduledAs: -1 };

// ---------------------------------------------------------------------------

describe("VirtualClock ordering", () => {
  it.prop([programArb])("event times never decrease", (program) => {
    const { clock, trace } = load(program);
    clock.run();
    for (let i = 1; i < trace.length; i++) {
      expect(trace[i]!.atMs).toBeGreaterThanOrEqual(trace[i - 1]!.atMs);
    }
  });

  it.prop([programArb])("events due at the same time run in scheduling order", (program) => {
    const { clock, trace } = load(program);
    clock.run();
    for (let i = 1; i < trace.length; i++) {
      const [a, b] = [trace[i - 1]!, trace[i]!];
      if (a.atMs === b.atMs) expect(b.scheduledAs).toBeGreaterThan(a.scheduledAs);
    }
  });

  // runAsync yields to the host once per event (~2 µs): fewer runs keep this test under a second.
  it.prop([programArb], { numRuns: 30 })(
    "the same program gives the same trace, driven by run, step or runAsync",
    async (program) => {
      const byRun = load(program);
      byRun.clock.run();
      const byStep = load(program);
      while (byStep.clock.step()) {}
      const byRunAsync = load(program);
      await byRunAsync.clock.runAsync();
      expect(byStep.trace).toEqual(byRun.trace);
      expect(byRunAsync.trace).toEqual(byRun.trace);
      expect(load(program).trace).toEqual([]); // nothing runs until asked
    },
  );

  it.prop([programArb, ghostsArb])(
    "setting then clearing a timer is the same as never setting it",
    (program, ghosts) => {
      const plain = load(program);
      plain.clock.run();
      const haunted = load(program, { ghosts, withGhosts: true });
      expect(haunted.clock.pending).toBe(load(program).clock.pending);
      haunted.clock.run();
      expect(haunted.trace).toEqual(plain.trace);
      expect(haunted.clock.now()).toBe(plain.clock.now());
    },
  );

  it.prop([programArb])("a cleared timer never runs", (program) => {
    const { clock, trace, cancelled } = load(program);
    clock.run();
    for (const { id } of trace) expect(cancelled.has(id)).toBe(false);
    expect(clock.pending).toBe(0);
  });

  it.prop([programArb, fc.double({ min: 0, max: 3000, noNaN: true })])(
    "run({ untilMs }) runs exactly the events due by then, leaves now() there, and resumes seamlessly",
    (program, untilMs) => {
      const whole = load(program);
      whole.clock.run();
      const split = load(program);
      split.clock.run({ untilMs });
      expect(split.clock.now()).toBe(untilMs);
      expect(split.trace).toEqual(whole.trace.filter((e) => e.atMs <= untilMs));
      split.clock.run();
      expect(split.trace).toEqual(whole.trace);
    },
  );
});

// ---------------------------------------------------------------------------
// The heap against a reference model: a plain list sorted by (time, seq).

/** Operations per case: enough to grow the heap past its 64-entry start. */
const MAX_OPS = 600;
/** Timers in the mass-clearing case: several compactions (they start at 64 cleared entries). */
const MAX_MANY = 2_000;

type Op =
  | { kind: "set"; delayMs: number }
  | { kind: "clear"; pick: number }
  | { kind: "step" }
  | { kind: "advance"; ms: number }
  | { kind: "burst"; delaysMs: number[] };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("set"), delayMs: delayArb }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("clear"), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("step") }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("advance"), ms: fc.integer({ min: 0, max: 50 }) }),
  },
) as fc.Arbitrary<Op>;

/**
 * Timers set up front and in bursts by the boundary test: the queue is a
 * plain heap up to 256 entries and a ladder beyond; this crosses it both ways.
 */
const BOUNDARY_MAX = 900;
/** Operations per boundary case: advances long enough to drain a ladder back into a heap. */
const BOUNDARY_OPS = 300;
const boundaryOpArb: fc.Arbitrary<Op> = fc.oneof(
  opArb,
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("advance"), ms: fc.integer({ min: 0, max: 400 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("burst"),
      delaysMs: fc.array(delayArb, { minLength: 1, maxLength: 400 }),
    }),
  },
) as fc.Arbitrary<Op>;

/**
 * Applies `ops` to a clock and to a plain list sorted by (time, scheduling
 * order), checking after each that the same events ran, in the same order,
 * and that `pending` and `now()` agree.
 */
function checkAgainstModel(ops: Op[]): void {
  const clock = new VirtualClock();
  const handles: unknown[] = [];
  let model: { atMs: number; id: number }[] = [];
  let fired: number[] = [];
  let nowMs = 0;
  const set = (delayMs: number) => {
    const id = handles.length;
    handles.push(clock.setTimer(() => fired.push(id), delayMs));
    model.push({ atMs: nowMs + delayMs, id });
  };
  // Ids are handed out in scheduling order, so they break ties as seq does.
  const sortModel = () => model.sort((a, b) => a.atMs - b.atMs || a.id - b.id);
  for (const op of ops) {
    fired = [];
    if (op.kind === "set") {
      set(op.delayMs);
    } else if (op.kind === "burst") {
      for (const delayMs of op.delaysMs) set(delayMs);
    } else if (op.kind === "clear") {
      if (handles.length === 0) continue;
      const id = op.pick % handles.length;
      clock.clearTimer(handles[id]);
      model = model.filter((e) => e.id !== id);
    } else if (op.kind === "step") {
      const next = sortModel().shift();
      expect(clock.step()).toBe(next !== undefined);
      expect(fired).toEqual(next ? [next.id] : []);
      if (next) nowMs = next.atMs;
    } else {
      const untilMs = nowMs + op.ms;
      const due = sortModel().filter((e) => e.atMs <= untilMs);
      expect(clock.run({ untilMs })).toBe(due.length);
      expect(fired).toEqual(due.map((e) => e.id));
      model.splice(0, due.length);
      nowMs = untilMs;
    }
    expect(clock.pending).toBe(model.length);
    expect(clock.now()).toBe(nowMs);
  }
}

describe("VirtualClock queue", () => {
  it.prop([fc.array(opArb, { maxLength: MAX_OPS, size: "max" })])(
    "matches a sorted-list model under any mix of set, clear (also of fired handles), step and run",
    (ops) => checkAgainstModel(ops),
  );

  it.prop(
    [
      fc.array(delayArb, { maxLength: BOUNDARY_MAX, size: "max" }),
      fc.array(boundaryOpArb, { maxLength: BOUNDARY_OPS, size: "max" }),
    ],
    // A failing case is reported as found: shrinking hundreds of timers
    // replays the whole model many times over and can take minutes.
    { numRuns: 40, endOnFailure: true },
  )(
    "matches the sorted-list model across the heap/ladder boundary, growing and draining",
    (upFront, ops) => checkAgainstModel([{ kind: "burst", delaysMs: upFront }, ...ops]),
  );

  it.prop([
    fc.array(fc.tuple(delayArb, fc.boolean(), fc.boolean()), { maxLength: MAX_MANY, size: "max" }),
  ])("keeps the survivors in order when most of many timers are cleared", (timers) => {
    const clock = new VirtualClock();
    const fired: number[] = [];
    const handles = timers.map(([delayMs], id) => clock.setTimer(() => fired.push(id), delayMs));
    // Clear about 3 in 4, so cancelled entries outnumber live ones and the heap compacts.
    const cleared = new Set<number>();
    timers.forEach(([, a, b], id) => {
      if (a || b) {
        clock.clearTimer(handles[id]);
        cleared.add(id);
      }
    });
    expect(clock.pending).toBe(timers.length - cleared.size);
    clock.run();
    const expected = timers
      .map(([delayMs], id) => ({ delayMs, id }))
      .filter(({ id }) => !cleared.has(id))
      .sort((x, y) => x.delayMs - y.delayMs || x.id - y.id)
      .map(({ id }) => id);
    expect(fired).toEqual(expected);
  });

  it("runs many events due at one instant first-in, first-out, with more scheduled there as they run", () => {
    // More than the 256 entries where the heap spills into a ladder, all at
    // time 0: the ladder hands them back to the heap as one instant, and the
    // events they schedule at that instant must queue behind them.
    const clock = new VirtualClock();
    const fired: number[] = [];
    let next = 0;
    const set = () => {
      const id = next++;
      clock.setTimer(() => {
        fired.push(id);
        if (id < 3_000) set();
      }, 0);
    };
    for (let i = 0; i < 1_000; i++) set();
    expect(clock.run()).toBe(4_000);
    expect(fired).toEqual(Array.from({ length: 4_000 }, (_, i) => i));
    expect(clock.now()).toBe(0);
  });

  it("does not mistake a stale handle for the later timer that reuses its slot", () => {
    const clock = new VirtualClock();
    const stale = clock.setTimer(() => {}, 1);
    clock.run();
    let ran = false;
    clock.setTimer(() => {
      ran = true;
    }, 1);
    clock.clearTimer(stale);
    expect(clock.pending).toBe(1);
    clock.run();
    expect(ran).toBe(true);
  });

  it("ignores clearing a timer from inside its own callback", () => {
    const clock = new VirtualClock();
    const h: unknown = clock.setTimer(() => clock.clearTimer(h), 1);
    clock.setTimer(() => {}, 2);
    clock.step();
    expect(clock.pending).toBe(1);
  });

  it("lets an event's exception through, counted as run, and carries on", () => {
    const clock = new VirtualClock();
    clock.setTimer(() => {
      throw new Error("boom");
    }, 5);
    clock.setTimer(() => {}, 7);
    expect(() => clock.run()).toThrow("boom");
    expect(clock.now()).toBe(5);
    expect(clock.pending).toBe(1);
    expect(clock.run()).toBe(1);
    expect(clock.now()).toBe(7);
  });
});

// ---------------------------------------------------------------------------

describe("VirtualClock bounds and arguments", () => {
  it("throws once more than maxEvents events are due, leaving the clock at the last one run", () => {
    const clock = new VirtualClock();
    let ran = 0;
    const tick = () => {
      ran++;
      clock.setTimer(tick, 10);
    };
    clock.setTimer(tick, 10);
    expect(() => clock.run({ maxEvents: 5 })).toThrow(
      new Error(
        "Stopped after maxEvents (5) events at 50 ms with more events due: a model that keeps scheduling may never finish; raise maxEvents if this is expected",
      ),
    );
    expect([ran, clock.now(), clock.pending]).toEqual([5, 50, 1]);
    expect(() => clock.run({ untilMs: 1000, maxEvents: 2 })).toThrow(
      "Stopped after maxEvents (2) events at 70 ms with more events due before untilMs 1000",
    );
    // Exactly maxEvents due is fine.
    expect(clock.run({ untilMs: 100, maxEvents: 3 })).toBe(3);
  });

  it("stops a runaway model by default", () => {
    const clock = new VirtualClock();
    const spin = () => clock.setTimer(spin, 0);
    spin();
    expect(() => clock.run()).toThrow("Stopped after maxEvents (10000000) events at 0 ms");
  });

  const badMs: [unknown, string][] = [
    [-1, "RangeError: Cannot set timer as 'ms' must be a finite number >= 0: current value is -1"],
    [
      Number.NaN,
      "RangeError: Cannot set timer as 'ms' must be a finite number >= 0: current value is NaN",
    ],
    [
      Number.POSITIVE_INFINITY,
      "RangeError: Cannot set timer as 'ms' must be a finite number >= 0: current value is Infinity",
    ],
    ["5", "TypeError: Cannot set timer as 'ms' must be a number: current value is \"5\""],
  ];
  it("setTimer accepts 0 and fractions, and rejects bad delays by name", () => {
    const clock = new VirtualClock();
    expect(() => clock.setTimer(() => {}, 0)).not.toThrow();
    expect(() => clock.setTimer(() => {}, 0.25)).not.toThrow();
    for (const [ms, message] of badMs) {
      expect(String(catchError(() => clock.setTimer(() => {}, ms as number)))).toBe(message);
    }
    expect(String(catchError(() => clock.setTimer("x" as never, 1)))).toBe(
      "TypeError: Cannot set timer as 'fn' must be a function: current value is \"x\"",
    );
    expect(clock.pending).toBe(2);
  });

  it("rejects bad arguments everywhere else with messages that name them", () => {
    const clock = new VirtualClock({ startMs: 10 });
    const cases: [() => unknown, string][] = [
      [
        () => new VirtualClock({ startMs: Number.NaN }),
        "RangeError: Cannot create VirtualClock as 'startMs' must be a finite number: current value is NaN",
      ],
      [
        () => new VirtualClock({ startMS: 5 } as never),
        "TypeError: Cannot create VirtualClock as 'startMS' is not an option: expected one of startMs",
      ],
      [
        () => clock.schedule(9, () => {}),
        "RangeError: Cannot schedule event as 'atMs' must be a finite number >= now (10): current value is 9",
      ],
      [
        () => clock.schedule(Number.NaN, () => {}),
        "RangeError: Cannot schedule event as 'atMs' must be a finite number >= now (10): current value is NaN",
      ],
      [
        () => clock.run({ untilMs: 9 }),
        "RangeError: Cannot run as 'untilMs' must be a finite number >= now (10): current value is 9",
      ],
      [
        () => clock.run({ untilMs: Number.POSITIVE_INFINITY }),
        "RangeError: Cannot run as 'untilMs' must be a finite number >= now (10): current value is Infinity",
      ],
      [
        () => clock.run({ maxEvents: -1 }),
        "RangeError: Cannot run as 'maxEvents' must be a non-negative integer or Infinity: current value is -1",
      ],
      [
        () => clock.run({ maxEvents: 1.5 }),
        "RangeError: Cannot run as 'maxEvents' must be a non-negative integer or Infinity: current value is 1.5",
      ],
      [
        () => clock.run({ maxEvents: Number.NaN }),
        "RangeError: Cannot run as 'maxEvents' must be a non-negative integer or Infinity: current value is NaN",
      ],
      [
        () => clock.run({ untilMS: 5 } as never),
        "TypeError: Cannot run as 'untilMS' is not an option: expected one of untilMs, maxEvents",
      ],
      [
        () => clock.clearTimer(new VirtualClock().setTimer(() => {}, 1)),
        "TypeError: Cannot clear timer as 'handle' was not returned by this VirtualClock: current value is [object Object]",
      ],
      [
        () => clock.clearTimer(42),
        "TypeError: Cannot clear timer as 'handle' was not returned by this VirtualClock: current value is 42",
      ],
    ];
    for (const [call, message] of cases) expect(String(catchError(call))).toBe(message);
    // Edge values: 0 events allowed is a bound like any other.
    expect(clock.run({ untilMs: 10, maxEvents: 0 })).toBe(0);
    clock.schedule(10, () => {});
    expect(() => clock.run({ untilMs: 10, maxEvents: 0 })).toThrow("Stopped after maxEvents (0)");
    expect(clock.run({ maxEvents: Number.POSITIVE_INFINITY })).toBe(1);
  });

  it("advance rejects bad durations by name", async () => {
    const clock = new VirtualClock();
    for (const ms of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(String(await clock.advance(ms).catch((error: unknown) => error))).toBe(
        `RangeError: Cannot advance as 'ms' must be a finite number >= 0: current value is ${ms}`,
      );
    }
    expect(await clock.advance(0)).toBe(0);
  });

  it("ignores clearing undefined, null, or a timer that already ran or was cleared", () => {
    const clock = new VirtualClock();
    const h = clock.setTimer(() => {}, 1);
    clock.clearTimer(undefined);
    clock.clearTimer(null);
    clock.run();
    clock.clearTimer(h);
    const g = clock.setTimer(() => {}, 1);
    clock.clearTimer(g);
    clock.clearTimer(g);
    expect(clock.pending).toBe(0);
  });

  it("refuses to run from inside an event", () => {
    const clock = new VirtualClock();
    clock.setTimer(() => clock.run(), 1);
    expect(() => clock.run()).toThrow(
      "Cannot run as this VirtualClock is already running (called from an event, or while runAsync is in progress)",
    );
  });
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error("expected a throw");
}

// ---------------------------------------------------------------------------

/** Promise-chain lengths: far past any fixed "await N times" drain. */
const MAX_CHAIN = 5_000;

describe("VirtualClock.runAsync", () => {
  // Each case runs chains up to 10 k awaits long: 20 runs keep this test quick.
  it.prop([fc.integer({ min: 0, max: MAX_CHAIN }), fc.integer({ min: 0, max: MAX_CHAIN })], {
    numRuns: 20,
  })(
    "settles every promise chain an event starts before time moves on",
    async (setAfter, clearAfter) => {
      const clock = new VirtualClock();
      const log: string[] = [];
      const chain = async (length: number) => {
        for (let i = 0; i < length; i++) await null;
      };
      const victim = clock.setTimer(() => log.push("victim@2"), 2);
      clock.setTimer(() => {
        void chain(setAfter).then(() => clock.setTimer(() => log.push(`zero@${clock.now()}`), 0));
        void chain(clearAfter).then(() => clock.clearTimer(victim));
      }, 1);
      clock.setTimer(() => log.push("other@1.5"), 1.5);
      await clock.runAsync();
      expect(log).toEqual(["zero@1", "other@1.5"]);
    },
  );

  it("falls back to setTimeout(0) where there is no setImmediate (browsers, workerd)", async () => {
    vi.stubGlobal("setImmediate", undefined);
    vi.resetModules();
    try {
      const fresh = await import("../sim/engine.ts");
      expect(fresh.VirtualClock).not.toBe(VirtualClock);
      const clock = new fresh.VirtualClock();
      const log: number[] = [];
      void new Promise<void>((resolve) => clock.setTimer(resolve, 5)).then(async () => {
        for (let i = 0; i < 100; i++) await null;
        clock.setTimer(() => log.push(clock.now()), 0);
      });
      clock.setTimer(() => log.push(clock.now()), 6);
      expect(await clock.runAsync()).toBe(3);
      expect(log).toEqual([5, 6]);
    } finally {
      vi.unstubAllGlobals();
      vi.resetModules();
    }
  });

  it("picks up timers that code set before runAsync was called, after awaiting", async () => {
    const clock = new VirtualClock();
    const sleep = (ms: number) => new Promise<void>((resolve) => clock.setTimer(resolve, ms));
    const times: number[] = [];
    void (async () => {
      await Promise.resolve();
      await sleep(10);
      times.push(clock.now());
      await sleep(5);
      times.push(clock.now());
    })();
    expect(await clock.runAsync({ untilMs: 12 })).toBe(1);
    expect([times, clock.now()]).toEqual([[10], 12]);
    expect(await clock.advance(100)).toBe(1);
    expect([times, clock.now()]).toEqual([[10, 15], 112]);
  });

  it("refuses a second run while one is in progress, and rejects with an event's exception", async () => {
    const clock = new VirtualClock();
    clock.setTimer(() => {}, 1);
    const first = clock.runAsync();
    expect(() => clock.step()).toThrow("Cannot step as this VirtualClock is already running");
    await expect(clock.runAsync()).rejects.toThrow(
      "Cannot runAsync as this VirtualClock is already running",
    );
    expect(await first).toBe(1);
    clock.setTimer(() => {
      throw new Error("boom");
    }, 1);
    await expect(clock.runAsync()).rejects.toThrow("boom");
    expect(await clock.runAsync()).toBe(0); // the flag was released
  });
});

// ---------------------------------------------------------------------------
// At scale: past 2,048 pending events the queue is a ladder (top, rung of
// buckets, heap). Programs here are generated from a seed so that they can be
// large: thousands of timers, delays shaped to stress the buckets (even,
// ties, a few far guard timers among near ones, spread over many orders of
// magnitude), callbacks that schedule and clear, and runs cut at `untilMs`.

/** Timers set up front: from below the ladder threshold to a few rungs' worth. */
const LADDER_MIN = 1_500;
const LADDER_MAX = 9_000;
const SHAPES = ["even", "ties", "guards", "tail", "spread"] as const;

function ladderDelay(shape: (typeof SHAPES)[number], random: () => number): number {
  switch (shape) {
    case "even":
      return random() * 1000;
    case "ties":
      return Math.floor(random() * 5);
    case "guards":
      return random() < 0.05 ? 1e9 + random() : random() * 100;
    case "tail":
      return random() < 0.03 ? random() * 10_000 : random() * 100;
    case "spread":
      return Math.exp(random() * 20) - 1;
  }
}

interface LadderRun {
  /** Scheduling order and time of every event run, in running order. */
  ranIds: number[];
  ranAt: number[];
  /** Events that ran although cleared or already run. */
  wrong: number;
  cleared: number;
  scheduled: number;
  pendingChecks: [number, number][];
}

function runLadder(
  seed: number,
  timers: number,
  shape: (typeof SHAPES)[number],
  clearShare: number,
  cuts: number[],
): LadderRun {
  const random = seededRandom(seed);
  const clock = new VirtualClock();
  const handles: unknown[] = [];
  // Checked after the run: an expect() per event would dominate the test's time.
  const done: boolean[] = [];
  let finished = 0;
  const out: LadderRun = {
    ranIds: [],
    ranAt: [],
    wrong: 0,
    cleared: 0,
    scheduled: 0,
    pendingChecks: [],
  };
  let budget = 2 * timers;
  const clear = (id: number) => {
    if (!done[id]) {
      out.cleared++;
      finished++;
    }
    done[id] = true;
    clock.clearTimer(handles[id]);
  };
  const set = (delayMs: number) => {
    const id = handles.length;
    done.push(false);
    handles.push(
      clock.setTimer(() => {
        if (done[id]) out.wrong++;
        else finished++;
        done[id] = true;
        out.ranIds.push(id);
        out.ranAt.push(clock.now());
        if (budget-- <= 0) return;
        const children = Math.floor(random() * 3);
        for (let k = 0; k < children; k++) set(ladderDelay(shape, random));
        if (random() < clearShare) clear(Math.floor(random() * handles.length));
      }, delayMs),
    );
  };
  for (let i = 0; i < timers; i++) set(ladderDelay(shape, random));
  for (let i = 0; i < timers * clearShare; i++) clear(Math.floor(random() * handles.length));
  for (const cut of cuts) {
    clock.run({ untilMs: clock.now() + cut, maxEvents: Infinity });
    out.pendingChecks.push([clock.pending, handles.length - finished]);
  }
  clock.run({ maxEvents: Infinity });
  out.scheduled = handles.length;
  return out;
}

describe("VirtualClock at scale (ladder queue)", () => {
  it.prop(
    [
      fc.integer(),
      fc.integer({ min: LADDER_MIN, max: LADDER_MAX }),
      fc.constantFrom(...SHAPES),
      fc.double({ min: 0, max: 0.6, noNaN: true }),
      fc.array(fc.double({ min: 0, max: 500, noNaN: true }), { maxLength: 4 }),
    ],
    { numRuns: 25 },
  )(
    "runs every timer not cleared exactly once, in (time, scheduling order), and counts pending right",
    (seed, timers, shape, clearShare, cuts) => {
      const run = runLadder(seed, timers, shape, clearShare, cuts);
      let outOfOrder = 0;
      for (let i = 1; i < run.ranIds.length; i++) {
        const [t0, t1] = [run.ranAt[i - 1]!, run.ranAt[i]!];
        if (!(t1 > t0 || (t1 === t0 && run.ranIds[i]! > run.ranIds[i - 1]!))) outOfOrder++;
      }
      expect(outOfOrder).toBe(0);
      expect(run.wrong).toBe(0);
      expect(run.ranIds.length + run.cleared).toBe(run.scheduled);
      for (const [pending, live] of run.pendingChecks) expect(pending).toBe(live);
    },
  );
});
