/**
 * The simulator's discrete-event engine: a virtual {@linkcode Clock} over an
 * event queue ordered by (time, sequence): a binary heap up to 256 pending
 * events, a two-tier ladder queue (Tang, Goh and Thng, "Ladder Queue", ACM
 * TOMACS 15(3), 2005) in front of it beyond, with buckets of about four
 * events, so that the heap it pops from is the current bucket's few (close
 * to a calendar queue, Brown, CACM 31(10), 1988).
 *
 * Cost per event (`bench/sim-engine.ts`): 30-40 ns of fixed work (the
 * handle, argument checks, the step itself), plus the queue's share, which
 * at 100 k pending is mostly memory: two random accesses per event (the
 * bucket an event is filed into, the callback's slot when its bucket comes
 * up) that miss the cache. A binary heap instead pays a mispredicted branch
 * per level on every pop (10 levels at 1 k pending, 17 at 100 k).
 *
 * Virtual time moves only when an event runs, so a model (or the real
 * watchdog from `src/`) driven by a {@linkcode VirtualClock} behaves the same
 * on every run and every runtime: events due at the same time run in the
 * order they were scheduled (the sequence number breaks the tie, as in
 * SimPy's `(time, priority, sequence, event)` heap).
 *
 * @module
 */

import type { Clock, TimerHandle } from "../src/clock.ts";

/** Options for {@linkcode VirtualClock}. */
export interface VirtualClockOptions {
  /** The virtual time the clock starts at, in ms. @default 0 */
  startMs?: number;
}

/** Options for {@linkcode VirtualClock.run} and {@linkcode VirtualClock.runAsync}. */
export interface RunOptions {
  /**
   * Run every event due at or before this virtual time, then leave the clock
   * at exactly this time. Without it, run until no event is left.
   */
  untilMs?: number;
  /**
   * The most events one call may run. A model that keeps scheduling would
   * otherwise never return; needing one more event than this throws.
   * `Infinity` lifts the bound.
   * @default 10_000_000
   */
  maxEvents?: number;
}

const DEFAULT_MAX_EVENTS = 10_000_000;
const RUN_OPTION_KEYS = ["untilMs", "maxEvents"];
/** Cancelled entries below which compacting is not worth it: skipping them at the top is cheap. */
const MIN_COMPACT = 64;
const INITIAL_CAPACITY = 64;
/**
 * Heap entries beyond which the queue becomes a ladder. A heap's pop costs a
 * hard-to-predict branch per level (8 levels at 256 entries, 10 at 1 k) and,
 * past the cache, a miss per level; the ladder's cost per event is flat.
 * Measured (bench/sim-engine.ts, 1 k pending): 8 M events/s as a heap of
 * 1 k, 14-15 M/s as a ladder; 128-512 all do as well, below that a
 * small queue pays for rebuilding rungs.
 */
const SPILL = 256;
/**
 * Entries per rung bucket the ladder aims for: a bucket becomes the heap when
 * its turn comes, so this is the heap's usual size in ladder mode (0-2
 * levels), close to a calendar queue's one or two events per bucket. Larger
 * buckets make deeper heaps (48: 8.5 M/s at 100 k pending); smaller ones, more
 * empty buckets to step over and a sparser rung.
 */
const PER_BUCKET = 4;
/** Times sampled from the top to find where its bulk ends (outliers stay in the top). */
const SAMPLES = 32;
/** Zero-length arrays every clock starts its ladder with (never written: `grown` replaces them). */
const NO_NUMBERS = new Float64Array(0);
const NO_INTS = new Int32Array(0);
/** What the queue's next event time is when there is none: event times are always finite. */
const EMPTY = Number.POSITIVE_INFINITY;

/**
 * The opaque handle that `setTimer` and `schedule` return: the slot that holds
 * the event and the event's sequence number, which tells a live event from
 * a later one that reuses the slot. Running events never touch it.
 */
class Timer {
  readonly owner: VirtualClock;
  readonly slot: number;
  readonly seq: number;
  constructor(owner: VirtualClock, slot: number, seq: number) {
    this.owner = owner;
    this.slot = slot;
    this.seq = seq;
  }
}

/**
 * Yields to the host's macrotask queue. Captured at load so that fake timers
 * a test installs later (which replace these globals) cannot hang
 * {@linkcode VirtualClock.runAsync}. `setImmediate` (Node, Deno, Bun) costs
 * ~2 µs; `setTimeout(0)` is the portable fallback (browsers, workerd without
 * Node compatibility) and costs ~1 ms, but the virtual clock never reads it.
 */
const hostYield: (fn: () => void) => unknown =
  typeof globalThis.setImmediate === "function"
    ? globalThis.setImmediate.bind(globalThis)
    : globalThis.setTimeout.bind(globalThis);
const macrotask = (): Promise<void> => new Promise<void>((resolve) => hostYield(resolve));

/**
 * `list` if it holds `min` numbers, else a copy with room for at least `min`
 * (doubling), its length even (whole entries).
 */
function grown(list: Float64Array<ArrayBuffer>, min: number): Float64Array<ArrayBuffer> {
  if (list.length >= min) return list;
  const bigger = new Float64Array(
    2 * Math.ceil(Math.max(min, 2 * list.length, 2 * INITIAL_CAPACITY) / 2),
  );
  bigger.set(list);
  return bigger;
}

function describe(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

/**
 * Throws unless `value` is a finite number, and at least `min` when given
 * (`minName` names the bound in the message). Allocates nothing unless it
 * throws: it runs on every `setTimer`.
 */
function checkTime(action: string, name: string, value: unknown, min?: number, minName?: string) {
  if (typeof value !== "number") {
    throw new TypeError(
      `Cannot ${action} as '${name}' must be a number: current value is ${describe(value)}`,
    );
  }
  if (!Number.isFinite(value) || (min !== undefined && value < min)) {
    const bound = min === undefined ? "" : ` >= ${minName ? `${minName} (${min})` : min}`;
    throw new RangeError(
      `Cannot ${action} as '${name}' must be a finite number${bound}: current value is ${value}`,
    );
  }
}

/** Throws a TypeError naming the first key of `options` not in `known`. */
function checkKeys(action: string, options: object, known: string[]) {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new TypeError(
        `Cannot ${action} as '${key}' is not an option: expected one of ${known.join(", ")}`,
      );
    }
  }
}

/**
 * A virtual {@linkcode Clock} and discrete-event engine. Timers go into a
 * queue ordered by (due time, scheduling sequence); nothing happens
 * until you run events with {@linkcode VirtualClock.step},
 * {@linkcode VirtualClock.run} or {@linkcode VirtualClock.runAsync}. It never
 * reads the real clock or arms a real timer (`runAsync` only yields to the
 * host between events).
 *
 * Guarantees:
 * - Events run in (time, sequence) order: time never goes backwards, and
 *   events due at the same time run first-in, first-out.
 * - The same calls produce the same run, on every runtime.
 * - A cleared timer never runs; clearing costs O(1) (the queue compacts once
 *   cancelled entries outnumber live ones).
 * - Scheduling and running an event cost O(1) amortized once many are
 *   pending (a ladder queue), O(log n) in the worst case (a heap).
 * - An exception thrown by an event propagates out of `step`/`run`/`runAsync`;
 *   that event counts as run and the clock stays at its time.
 *
 * @example
 * ```ts
 * import { VirtualClock } from "timebound/sim";
 * const clock = new VirtualClock();
 * const log = [];
 * clock.setTimer(() => log.push(`b@${clock.now()}`), 20);
 * clock.setTimer(() => log.push(`a@${clock.now()}`), 10);
 * const cancelled = clock.setTimer(() => log.push("never"), 15);
 * clock.clearTimer(cancelled);
 * clock.run({ untilMs: 100 });
 * console.assert(log.join() === "a@10,b@20");
 * console.assert(clock.now() === 100);
 * ```
 */
export class VirtualClock implements Clock {
  #now: number;
  #seq = 0;
  // The heap, as an array of structs in one typed array: entry i is
  // [time, slot] at 2i, 2i+1. Comparisons read only this array (no pointer
  // chasing, no closure per comparison) and both children of an entry sit
  // side by side in memory. An entry owns its slot until it leaves the queue
  // (a cleared timer's slot is freed only then), so its sequence number is
  // `#slotSeqs[slot]`: read only to break a tie, and 16 bytes per entry
  // instead of 24 to move through the ladder's tiers. Sequence numbers are
  // exact in a float64 up to 2^53 (a Uint32 would wrap after ~7 minutes at
  // 10 M/s). Slots are read back with `| 0`: a float64 used as an array
  // index costs a conversion check at every use.
  #heap = new Float64Array(2 * INITIAL_CAPACITY);
  #size = 0;
  // Callbacks live in slots, so the heap moves numbers, never object
  // pointers (each pointer store into a large array costs a GC write
  // barrier), and popping reads one dense array instead of a scattered
  // object. A slot's callback is null once its timer is cleared: that is the
  // whole of O(1) cancellation; the heap entry stays and is skipped when it
  // reaches the top.
  #fns: ((() => void) | null | undefined)[] = [];
  /**
   * The sequence number of the event in each slot (kept after the slot is
   * freed: its callback, undefined then, says it is free).
   */
  #slotSeqs = new Float64Array(INITIAL_CAPACITY);
  #freeSlots: number[] = [];
  /** Entries anywhere in the queue (heap, rung, top) whose timer was cleared. */
  #cancelled = 0;
  #running = false;
  // The ladder (used once the heap would outgrow SPILL). Three tiers, each
  // holding [time, slot] pairs, every entry of a lower tier due no later
  // than any entry of a higher one:
  // - the heap: the current bucket, plus events scheduled into its span;
  // - the rung: `#nb` buckets of equal width from `#rungStart`, unsorted;
  //   bucket `#cur` is the one the heap holds, later ones wait their turn;
  // - the top: everything due at or after `#topStart`, unsorted (appending is
  //   O(1) and sequential in memory).
  // When the heap empties, the next non-empty bucket becomes the heap (Floyd's
  // heapify, O(bucket)); when the rung is used up, one pass spreads the top
  // over a new rung. An event is moved about twice (top, bucket, heap):
  // O(1) amortized against a heap's O(log n) cache misses. (Outliers left in
  // the top are scanned again at the next rung, but each rung takes most of
  // the top.) A bucket that gets most events (a skewed spread) just makes a
  // large heap: never worse than O(log n). Ties stay first-in, first-out:
  // equal times always land in the same tier and bucket, except at
  // `#topStart`, where the rung's entries were all scheduled before the top's.
  // With no rung and an empty top, `#topStart` is Infinity: a plain heap.
  // The ladder's arrays start as shared empty ones: a clock that never
  // holds 256 events (a simulated upload holds a few) allocates none.
  #top = NO_NUMBERS;
  #topSize = 0;
  #topStart = EMPTY;
  /**
   * The rung's buckets, one after another in one array (built by a counting
   * sort, so appending to a bucket touches two cache lines, not four):
   * bucket b fills `#rung` from where bucket b-1's room ends up to
   * `#ends[2b]`, and has room up to `#ends[2b + 1]`.
   */
  #rung = NO_NUMBERS;
  #ends = NO_INTS;
  /** Entries that found their bucket full, by bucket (rare: see the room `#buildRung` leaves). */
  #overflow: Map<number, number[]> | undefined;
  /** Buckets in `#overflow`: while 0, no bucket needs a look there. */
  #overflowed = 0;
  /** The bucket of each top entry while a rung is built (-1: it stays in the top). */
  #scratch = NO_INTS;
  #nb = 0;
  #cur = 0;
  #rungStart = 0;
  /** Buckets per ms: an event's bucket is floor((time - rungStart) * invWidth). */
  #invWidth = 0;
  /** Entries in buckets after `#cur`. */
  #rungSize = 0;
  /**
   * When a rung finds nearly all its entries due at one instant, they stay a
   * heap (spilling them again at the next push would cost O(n) per event):
   * until the heap doubles (`#spillAt`) or that instant (`#instantAt`) has
   * passed, the heap does not spill at SPILL.
   */
  #spillAt = SPILL;
  #instantAt = Number.NaN;

  /**
   * @param options Where virtual time starts.
   * @throws {RangeError} If `startMs` is not a finite number.
   * @throws {TypeError} If `options` has a key other than `startMs`.
   *
   * @example
   * ```ts
   * import { VirtualClock } from "timebound/sim";
   * const clock = new VirtualClock({ startMs: 1000 });
   * console.assert(clock.now() === 1000);
   * ```
   */
  constructor(options: VirtualClockOptions = {}) {
    const startMs = options.startMs ?? 0;
    checkKeys("create VirtualClock", options, ["startMs"]);
    checkTime("create VirtualClock", "startMs", startMs);
    this.#now = startMs;
  }

  /**
   * The current virtual time in ms: the time of the event running now or
   * last run, or `untilMs` after a bounded run.
   *
   * @example
   * ```ts
   * import { VirtualClock } from "timebound/sim";
   * const clock = new VirtualClock();
   * clock.setTimer(() => console.assert(clock.now() === 5), 5);
   * clock.run();
   * console.assert(clock.now() === 5);
   * ```
   */
  now(): number {
    return this.#now;
  }

  /**
   * The number of scheduled events that will still run (cleared ones excluded).
   *
   * @example
   * ```ts
   * import { VirtualClock } from "timebound/sim";
   * const clock = new VirtualClock();
   * const h = clock.setTimer(() => {}, 1);
   * clock.setTimer(() => {}, 2);
   * clock.clearTimer(h);
   * console.assert(clock.pending === 1);
   * ```
   */
  get pending(): number {
    return this.#size + this.#rungSize + this.#topSize - this.#cancelled;
  }

  /**
   * Calls `fn` once, `ms` virtual milliseconds from now (after every event
   * already scheduled for that same time).
   *
   * @param fn The callback.
   * @param ms The delay: a finite number ≥ 0 (fractions are kept).
   * @returns A handle for {@linkcode VirtualClock.clearTimer}.
   * @throws {RangeError} If `ms` is negative, NaN or infinite.
   *
   * @example
   * ```ts
   * import { VirtualClock } from "timebound/sim";
   * const clock = new VirtualClock();
   * let firedAt = -1;
   * clock.setTimer(() => { firedAt = clock.now(); }, 2.5);
   * clock.run();
   * console.assert(firedAt === 2.5);
   * ```
   */
  setTimer(fn: () => void, ms: number): TimerHandle {
    checkTime("set timer", "ms", ms, 0);
    return this.#push(this.#now + ms, fn, "set timer");
  }

  /**
   * Calls `fn` once at the absolute virtual time `atMs` (after every event
   * already scheduled for that same time).
   *
   * @param atMs When to run: a finite number ≥ {@linkcode VirtualClock.now}.
   * @param fn The callback.
   * @returns A handle for {@linkcode VirtualClock.clearTimer}.
   * @throws {RangeError} If `atMs` is in the past, NaN or infinite.
   *
   * @example
   * ```ts
   * import { VirtualClock } from "timebound/sim";
   * const clock = new VirtualClock({ startMs: 100 });
   * clock.schedule(150, () => console.assert(clock.now() === 150));
   * console.assert(clock.run() === 1);
   * ```
   */
  schedule(atMs: number, fn: () => void): TimerHandle {
    checkTime("schedule event", "atMs", atMs, this.#now, "now");
    return this.#push(atMs, fn, "schedule event");
  }

  /**
   * Cancels a timer in O(1). A handle that already ran or was cleared, and
   * `undefined` or `null`, are ignored (as `clearTimeout` does).
   *
   * @param handle A handle from this clock's `setTimer` or `schedule`.
   * @throws {TypeError} If `handle` came from elsewhere (another clock, a
   * real `setTimeout`): silently ignoring it would let the timer run.
   *
   * @example
   * ```ts
   * import { VirtualClock } from "timebound/sim";
   * const clock = new VirtualClock();
   * let ran = false;
   * const h = clock.setTimer(() => { ran = true; }, 10);
   * clock.clearTimer(h);
   * clock.clearTimer(h); // ignored
   * clock.run();
   * console.assert(!ran);
   * ```
   */
  clearTimer(handle: TimerHandle): void {
    if (handle instanceof Timer && handle.owner === this) {
      const slot = handle.slot;
      // Ignore a timer that already ran (its slot is free, or holds a later
      // event) or was already cleared.
      if (this.#slotSeqs[slot] !== handle.seq || this.#fns[slot] == null) return;
      this.#fns[slot] = null;
      this.#cancelled++;
      // Compact once most entries are dead: O(size) work paid for by more
      // than size/2 O(1) cancellations, so clearing stays O(1) amortized
      // and memory stays bounded however many timers are re-armed.
      if (
        this.#cancelled >= MIN_COMPACT &&
        this.#cancelled * 2 > this.#size + this.#rungSize + this.#topSize
      ) {
        this.#compact();
      }
      return;
    }
    if (handle === undefined || handle === null) return;
    throw new TypeError(
      `Cannot clear timer as 'handle' was not returned by this VirtualClock: current value is ${describe(handle)}`,
    );
  }

  /**
   * Runs the next event, advancing the clock to its time.
   *
   * @returns `false` if no event was left to run.
   * @throws {Error} If called from inside a running event or while
   * `runAsync` is in progress.
   *
   * @example
   * ```ts
   * import { VirtualClock } from "timebound/sim";
   * const clock = new VirtualClock();
   * clock.setTimer(() => {}, 3);
   * console.assert(clock.step() === true && clock.now() === 3);
   * console.assert(clock.step() === false);
   * ```
   */
  step(): boolean {
    this.#enter("step");
    try {
      const at = this.#peek();
      if (at === EMPTY) return false;
      this.#runTop(at);
      return true;
    } finally {
      this.#running = false;
    }
  }

  /**
   * Runs events in order until none is left or the next is due after
   * `untilMs`; then, if `untilMs` was given, sets the clock to it. Events due
   * exactly at `untilMs` run. Synchronous: promise callbacks that the events
   * queue run only after `run` returns; use {@linkcode VirtualClock.runAsync}
   * for code that awaits between timers.
   *
   * @param options Where to stop and how many events to allow.
   * @returns The number of events run.
   * @throws {RangeError} If `untilMs` is before now or not finite, or
   * `maxEvents` is not a non-negative integer or `Infinity`.
   * @throws {Error} If more than `maxEvents` events are due (the clock stays
   * at the last event run), or if called from inside a running event.
   *
   * @example
   * ```ts
   * import { VirtualClock } from "timebound/sim";
   * const clock = new VirtualClock();
   * const tick = () => clock.setTimer(tick, 10); // runs forever
   * tick();
   * console.assert(clock.run({ untilMs: 95 }) === 9);
   * console.assert(clock.now() === 95 && clock.pending === 1);
   * ```
   */
  run(options: RunOptions = {}): number {
    const { untilMs, maxEvents } = this.#checkRun(options);
    this.#enter("run");
    try {
      let count = 0;
      for (;;) {
        const next = this.#peek();
        if (next === EMPTY || next > untilMs) break;
        if (count === maxEvents) this.#tooMany(maxEvents, options.untilMs);
        this.#runTop(next);
        count++;
      }
      if (options.untilMs !== undefined) this.#now = untilMs;
      return count;
    } finally {
      this.#running = false;
    }
  }

  /**
   * Like {@linkcode VirtualClock.run}, for code that mixes promises and
   * timers (the fetch wrapper, streams, the watchdog under test).
   *
   * Before the first event and after every event, `runAsync` waits for one
   * turn of the host's macrotask queue. A runtime empties its whole microtask
   * queue before it starts a macrotask, so every promise chain an event
   * starts — however many `await`s deep — has settled, and every timer it set
   * or cleared is in the queue, before virtual time moves again. This is the
   * same interleaving a real runtime gives timers (microtasks drain between
   * timer callbacks). A microtask-only loop (`await` a resolved promise N
   * times) cannot promise this: nothing tells it a chain N+1 steps long is
   * still running.
   *
   * The run is deterministic as long as the model's asynchrony is promises
   * and this clock: work that waits on real I/O or real timers is outside the
   * model and may land at any virtual time. Each event costs one host yield
   * (~2 µs with `setImmediate`; see `run` for synchronous models).
   *
   * @param options Where to stop and how many events to allow.
   * @returns The number of events run.
   * @throws {RangeError} If `untilMs` is before now or not finite, or
   * `maxEvents` is not a non-negative integer or `Infinity`.
   * @throws {Error} If more than `maxEvents` events are due, or if another
   * run is in progress.
   *
   * @example
   * ```ts
   * import { VirtualClock } from "timebound/sim";
   * const clock = new VirtualClock();
   * const sleep = (ms) => new Promise((resolve) => clock.setTimer(resolve, ms));
   * const log = [];
   * (async () => {
   *   await sleep(10);
   *   for (let i = 0; i < 100; i++) await null; // a long promise chain
   *   log.push(`woke@${clock.now()}`);
   *   await sleep(0);
   *   log.push(`slept0@${clock.now()}`);
   * })();
   * clock.setTimer(() => log.push(`other@${clock.now()}`), 11);
   * await clock.runAsync();
   * console.assert(log.join() === "woke@10,slept0@10,other@11");
   * ```
   */
  async runAsync(options: RunOptions = {}): Promise<number> {
    const { untilMs, maxEvents } = this.#checkRun(options);
    this.#enter("runAsync");
    try {
      let count = 0;
      await macrotask();
      for (;;) {
        const next = this.#peek();
        if (next === EMPTY || next > untilMs) break;
        if (count === maxEvents) this.#tooMany(maxEvents, options.untilMs);
        this.#runTop(next);
        count++;
        await macrotask();
      }
      if (options.untilMs !== undefined) this.#now = untilMs;
      return count;
    } finally {
      this.#running = false;
    }
  }

  /**
   * Shorthand for `runAsync({ untilMs: now() + ms, maxEvents })`: lets `ms`
   * of virtual time pass, draining promises between events.
   *
   * @param ms How long: a finite number ≥ 0.
   * @param options `maxEvents`, as for {@linkcode VirtualClock.runAsync}.
   * @returns The number of events run.
   * @throws {RangeError} If `ms` is negative, NaN or infinite (as a rejection).
   *
   * @example
   * ```ts
   * import { VirtualClock } from "timebound/sim";
   * const clock = new VirtualClock();
   * const done = new Promise((resolve) => clock.setTimer(resolve, 30)).then(() => clock.now());
   * await clock.advance(50);
   * console.assert((await done) === 30 && clock.now() === 50);
   * ```
   */
  async advance(ms: number, options: Pick<RunOptions, "maxEvents"> = {}): Promise<number> {
    checkTime("advance", "ms", ms, 0);
    return await this.runAsync({ ...options, untilMs: this.#now + ms });
  }

  #enter(method: string): void {
    if (this.#running) {
      throw new Error(
        `Cannot ${method} as this VirtualClock is already running (called from an event, or while runAsync is in progress)`,
      );
    }
    this.#running = true;
  }

  #checkRun(options: RunOptions): { untilMs: number; maxEvents: number } {
    checkKeys("run", options, RUN_OPTION_KEYS);
    const { untilMs, maxEvents = DEFAULT_MAX_EVENTS } = options;
    if (untilMs !== undefined) checkTime("run", "untilMs", untilMs, this.#now, "now");
    if (typeof maxEvents !== "number") {
      throw new TypeError(
        `Cannot run as 'maxEvents' must be a number: current value is ${describe(maxEvents)}`,
      );
    }
    if (!((Number.isSafeInteger(maxEvents) && maxEvents >= 0) || maxEvents === Infinity)) {
      throw new RangeError(
        `Cannot run as 'maxEvents' must be a non-negative integer or Infinity: current value is ${maxEvents}`,
      );
    }
    return { untilMs: untilMs ?? Infinity, maxEvents };
  }

  #tooMany(maxEvents: number, untilMs: number | undefined): never {
    const limit = untilMs === undefined ? "" : ` before untilMs ${untilMs}`;
    throw new Error(
      `Stopped after maxEvents (${maxEvents}) events at ${this.#now} ms with more events due${limit}: a model that keeps scheduling may never finish; raise maxEvents if this is expected`,
    );
  }

  #push(atMs: number, fn: () => void, action: string): Timer {
    if (typeof fn !== "function") {
      throw new TypeError(
        `Cannot ${action} as 'fn' must be a function: current value is ${describe(fn)}`,
      );
    }
    const seq = this.#seq++;
    let slot = this.#freeSlots.pop();
    if (slot === undefined) {
      slot = this.#fns.length;
      this.#fns.push(fn);
      if (slot === this.#slotSeqs.length) this.#slotSeqs = grown(this.#slotSeqs, slot + 1);
    } else {
      this.#fns[slot] = fn;
    }
    this.#slotSeqs[slot] = seq;
    if (atMs >= this.#topStart) {
      this.#toTop(atMs, slot);
    } else if (this.#nb > 0) {
      const bucket = this.#bucketOf(atMs);
      if (bucket > this.#cur) {
        this.#toBucket(bucket, atMs, slot);
        this.#rungSize++;
      } else {
        this.#heapPush(atMs, slot);
      }
    } else if (
      this.#size >= SPILL &&
      (this.#size >= this.#spillAt || this.#heap[0] !== this.#instantAt)
    ) {
      // The heap has outgrown the cache: from now on it is a ladder. Its
      // entries go to the top, and the next pop spreads them over a rung.
      this.#top = grown(this.#top, 2 * (this.#topSize + this.#size + 1));
      this.#top.set(this.#heap.subarray(0, 2 * this.#size), 2 * this.#topSize);
      this.#topSize += this.#size;
      this.#size = 0;
      this.#topStart = -EMPTY;
      this.#toTop(atMs, slot);
    } else {
      this.#heapPush(atMs, slot);
    }
    return new Timer(this, slot, seq);
  }

  #heapPush(atMs: number, slot: number): void {
    if (2 * this.#size + 2 > this.#heap.length) this.#heap = grown(this.#heap, 2 * this.#size + 2);
    const heap = this.#heap;
    // Sift up. The new entry has the largest sequence number, so an equal
    // time above it already comes first: comparing times alone is enough.
    let i = this.#size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pt = heap[2 * p]!;
      if (pt <= atMs) break;
      heap[2 * i] = pt;
      heap[2 * i + 1] = heap[2 * p + 1]!;
      i = p;
    }
    heap[2 * i] = atMs;
    heap[2 * i + 1] = slot;
  }

  #toTop(atMs: number, slot: number): void {
    const n = 2 * this.#topSize++;
    if (n + 2 > this.#top.length) this.#top = grown(this.#top, n + 2);
    const top = this.#top;
    top[n] = atMs;
    top[n + 1] = slot;
  }

  #toBucket(bucket: number, atMs: number, slot: number): void {
    const ends = this.#ends;
    const n = ends[2 * bucket]!;
    if (n < ends[2 * bucket + 1]!) {
      const rung = this.#rung;
      rung[n] = atMs;
      rung[n + 1] = slot;
      ends[2 * bucket] = n + 2;
      return;
    }
    this.#overflow ??= new Map();
    const list = this.#overflow.get(bucket);
    if (list === undefined) {
      this.#overflow.set(bucket, [atMs, slot]);
      this.#overflowed++;
    } else {
      list.push(atMs, slot);
    }
  }

  /**
   * The rung bucket of a time. Monotone in `atMs` (IEEE subtraction and
   * multiplication round monotonically), so bucket order is time order;
   * times before the rung give a negative index (they belong in the heap),
   * times past its last bucket are clamped into it.
   */
  #bucketOf(atMs: number): number {
    const k = Math.floor((atMs - this.#rungStart) * this.#invWidth);
    return k < this.#nb ? k : this.#nb - 1;
  }

  /**
   * Called when the heap is empty: makes the next non-empty bucket the heap,
   * spreading the top over a new rung first when the rung is used up.
   * Returns false once nothing is left; the queue is then a plain heap again.
   */
  #refill(): boolean {
    for (;;) {
      const ends = this.#ends;
      while (++this.#cur < this.#nb) {
        const b = this.#cur;
        const start = b === 0 ? 0 : ends[2 * b - 1]!;
        const end = ends[2 * b]!;
        const more = this.#overflowed > 0 ? this.#overflow!.get(b) : undefined;
        if (end === start && more === undefined) continue;
        this.#rungSize -= (end - start + (more === undefined ? 0 : more.length)) / 2;
        this.#size = 0;
        this.#load(this.#rung, start, end);
        if (more !== undefined) {
          this.#load(more, 0, more.length);
          this.#overflow!.delete(b);
          this.#overflowed--;
        }
        for (let i = (this.#size >> 1) - 1; i >= 0; i--) this.#siftDown(i);
        if (this.#size > 0) return true;
      }
      this.#nb = 0;
      if (this.#topSize === 0) {
        this.#topStart = EMPTY;
        return false;
      }
      if (this.#topSize <= SPILL) {
        // Small enough to be a plain heap again.
        const n = 2 * this.#topSize;
        this.#topSize = 0;
        this.#topStart = EMPTY;
        this.#heapify(this.#top, n);
        if (this.#size > 0) return true;
        continue;
      }
      if (this.#buildRung()) return true;
    }
  }

  /**
   * Appends the live entries among numbers `from`–`to` of `list` to the
   * heap (heapified by the caller), freeing the slots of cancelled ones.
   * Reading each entry's callback here, in a tight loop, lets the CPU fetch
   * their cache lines in parallel, so running them later does not wait on
   * one miss after another.
   */
  #load(list: ArrayLike<number>, from: number, to: number): void {
    const k0 = 2 * this.#size;
    if (this.#heap.length < k0 + to - from) this.#heap = grown(this.#heap, k0 + to - from);
    const heap = this.#heap;
    const fns = this.#fns;
    let k = k0;
    for (let i = from; i < to; i += 2) {
      const slot = list[i + 1]! | 0;
      if (fns[slot] === null) {
        this.#freeSlot(slot);
        this.#cancelled--;
        continue;
      }
      heap[k] = list[i]!;
      heap[k + 1] = slot;
      k += 2;
    }
    this.#size = k / 2;
  }

  /**
   * Makes the heap of the live entries among the first `n` numbers of
   * `from` (the heap is empty), freeing the slots of cancelled ones.
   */
  #heapify(from: ArrayLike<number>, n: number): void {
    if (this.#heap.length < n) this.#heap = grown(this.#heap, n);
    this.#size = 0;
    this.#load(from, 0, n);
    for (let i = (this.#size >> 1) - 1; i >= 0; i--) this.#siftDown(i);
  }

  /**
   * Spreads the top over a new rung of about PER_BUCKET entries per bucket,
   * from the top's earliest time to where its bulk ends. A few far outliers
   * (a 1e9 ms guard timer among events due within a second) would otherwise
   * make every bucket but the first empty: they stay in the top. Returns
   * true if it made a heap instead (the entries are nearly all due at once).
   */
  #buildRung(): boolean {
    const top = this.#top;
    const n = 2 * this.#topSize;
    let lo = top[0]!;
    let hi = lo;
    for (let i = 2; i < n; i += 2) {
      const t = top[i]!;
      if (t < lo) lo = t;
      else if (t > hi) hi = t;
    }
    // Where the bulk ends: the 94th percentile of evenly spaced samples of
    // live entries (re-armed guard timers leave many cancelled far ones).
    const samples: number[] = [];
    const stride = 2 * Math.floor(this.#topSize / SAMPLES);
    for (let j = 0; j < SAMPLES; j++) {
      if (this.#fns[top[j * stride + 1]! | 0] !== null) samples.push(top[j * stride]!);
    }
    samples.sort((a, b) => a - b);
    const bulk = samples.length > 0 ? samples[Math.floor(samples.length * 0.94)]! : hi;
    // Without outliers the rung takes everything; with them, twice the
    // bulk's span, and later entries stay in the top.
    const all = hi - lo <= 4 * (bulk - lo);
    const end = all ? hi : lo + 2 * (bulk - lo);
    if (end === lo) {
      // Nearly all due at one instant: spreading them would gain nothing;
      // the heap orders them (by sequence) in O(n log n) once, and stays a
      // heap until it doubles.
      this.#topSize = 0;
      this.#topStart = EMPTY;
      this.#heapify(top, n);
      this.#spillAt = 2 * this.#size;
      this.#instantAt = lo;
      return this.#size > 0;
    }
    // Twice the buckets when the rung reaches twice the bulk's span: the
    // events scheduled while it drains fill its later half as densely.
    const nb = Math.max(1, Math.ceil(this.#topSize / PER_BUCKET) * (all ? 1 : 2));
    this.#nb = nb;
    this.#cur = -1;
    this.#rungStart = lo;
    this.#invWidth = nb / (end - lo);
    this.#overflow?.clear();
    this.#overflowed = 0;
    // Counting sort: count each bucket's entries, give each bucket room for
    // twice the average more (events scheduled while the rung drains land in
    // its later buckets: with delays spread evenly over the rung's span,
    // pending events thin out towards its end and new ones fill it up), then
    // place them.
    if (this.#ends.length < 2 * nb) this.#ends = new Int32Array(4 * nb);
    if (this.#scratch.length < this.#topSize) this.#scratch = new Int32Array(2 * this.#topSize);
    const ends = this.#ends;
    const where = this.#scratch;
    ends.fill(0, 0, 2 * nb);
    for (let i = 0, j = 0; i < n; i += 2, j++) {
      const t = top[i]!;
      if (all || t < end) {
        const b = this.#bucketOf(t);
        where[j] = b;
        ends[2 * b] = ends[2 * b]! + 1;
      } else {
        where[j] = -1;
      }
    }
    let moved = 0;
    for (let b = 0; b < nb; b++) moved += ends[2 * b]!;
    // At least PER_BUCKET's worth: with outliers the rung reaches past the
    // entries it takes, and its later buckets fill up only as it drains.
    const room = 2 * (2 * Math.max(Math.ceil(moved / nb), PER_BUCKET) + 2);
    let at = 0;
    for (let b = 0; b < nb; b++) {
      const count = ends[2 * b]!;
      ends[2 * b] = at;
      at += 2 * count + room;
      ends[2 * b + 1] = at;
    }
    // Nothing in the rung is kept: a larger one need not copy the old.
    if (this.#rung.length < at) this.#rung = grown(NO_NUMBERS, at);
    const rung = this.#rung;
    let kept = 0;
    for (let i = 0, j = 0; i < n; i += 2, j++) {
      const b = where[j]!;
      if (b >= 0) {
        const k = ends[2 * b]!;
        rung[k] = top[i]!;
        rung[k + 1] = top[i + 1]!;
        ends[2 * b] = k + 2;
      } else {
        top[kept] = top[i]!;
        top[kept + 1] = top[i + 1]!;
        kept += 2;
      }
    }
    this.#topSize = kept / 2;
    this.#rungSize = moved;
    // Pushes from now on at or after `end` go to the top (with no outliers,
    // `end` is the last entry: a later push that ties with it runs after it).
    this.#topStart = end;
    return false;
  }

  /** Drops cancelled entries from the top; returns the next live event's time or EMPTY. */
  #peek(): number {
    for (;;) {
      while (this.#size > 0) {
        if (this.#fns[this.#heap[1]! | 0] !== null) return this.#heap[0]!;
        this.#popRoot();
        this.#cancelled--;
      }
      if (this.#topStart === EMPTY && this.#nb === 0) return EMPTY;
      if (!this.#refill()) return EMPTY;
    }
  }

  /** Runs the event at the top, due at `at`; `#peek` has just skipped any cancelled ones. */
  #runTop(at: number): void {
    // Popping frees the slot first, so clearing the running timer's own
    // handle from inside its callback is ignored.
    const fn = this.#popRoot()!;
    this.#now = at;
    fn();
  }

  /**
   * Removes the root, frees its slot and returns its callback (null if it was
   * cleared). Floyd's pop: one comparison per level on the way down.
   */
  #popRoot(): (() => void) | null {
    const heap = this.#heap;
    const slot = heap[1]! | 0;
    const top = this.#fns[slot]!;
    this.#freeSlot(slot);
    const n = --this.#size;
    if (n === 0) return top;
    const seqs = this.#slotSeqs;
    const lt = heap[2 * n]!;
    const lslot = heap[2 * n + 1]!;
    // Move the hole at the root down to a leaf along the smaller children...
    let i = 0;
    let c = 1;
    while (c < n) {
      if (c + 1 < n) {
        const tl = heap[2 * c]!;
        const tr = heap[2 * c + 2]!;
        if (tr < tl || (tr === tl && seqs[heap[2 * c + 3]! | 0]! < seqs[heap[2 * c + 1]! | 0]!))
          c++;
      }
      heap[2 * i] = heap[2 * c]!;
      heap[2 * i + 1] = heap[2 * c + 1]!;
      i = c;
      c = 2 * i + 1;
    }
    // ...then sift the former last entry up from there: usually 0-1 levels,
    // as it came from the bottom and tends to be late.
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pt = heap[2 * p]!;
      if (pt < lt || (pt === lt && seqs[heap[2 * p + 1]! | 0]! < seqs[lslot | 0]!)) break;
      heap[2 * i] = pt;
      heap[2 * i + 1] = heap[2 * p + 1]!;
      i = p;
    }
    heap[2 * i] = lt;
    heap[2 * i + 1] = lslot;
    return top;
  }

  #freeSlot(slot: number): void {
    this.#fns[slot] = undefined;
    this.#freeSlots.push(slot);
  }

  /** Removes every cancelled entry from every tier and restores the heap (Floyd's heapify, O(size)). */
  #compact(): void {
    this.#heapify(this.#heap, 2 * this.#size);
    this.#topSize = this.#filter(this.#top, 0, 2 * this.#topSize) / 2;
    this.#rungSize = 0;
    for (let b = this.#cur + 1; b < this.#nb; b++) {
      const start = b === 0 ? 0 : this.#ends[2 * b - 1]!;
      const end = this.#filter(this.#rung, start, this.#ends[2 * b]!);
      this.#ends[2 * b] = end;
      this.#rungSize += (end - start) / 2;
      const more = this.#overflowed > 0 ? this.#overflow!.get(b) : undefined;
      if (more !== undefined) {
        more.length = this.#filter(more, 0, more.length);
        this.#rungSize += more.length / 2;
      }
    }
  }

  /**
   * Drops cancelled entries from numbers `from`–`to` of `list` in place
   * (freeing their slots); returns where the survivors end.
   */
  #filter(list: { [i: number]: number }, from: number, to: number): number {
    const fns = this.#fns;
    let k = from;
    for (let i = from; i < to; i += 2) {
      const slot = list[i + 1]! | 0;
      if (fns[slot] === null) {
        this.#freeSlot(slot);
        this.#cancelled--;
        continue;
      }
      list[k] = list[i]!;
      list[k + 1] = slot;
      k += 2;
    }
    return k;
  }

  #siftDown(start: number): void {
    const heap = this.#heap;
    const seqs = this.#slotSeqs;
    const n = this.#size;
    const t = heap[2 * start]!;
    const slot = heap[2 * start + 1]!;
    let i = start;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n) {
        const tl = heap[2 * c]!;
        const tr = heap[2 * c + 2]!;
        if (tr < tl || (tr === tl && seqs[heap[2 * c + 3]! | 0]! < seqs[heap[2 * c + 1]! | 0]!))
          c++;
      }
      const tc = heap[2 * c]!;
      // The sequence number only on a tie: it is a read from another array.
      if (t < tc || (t === tc && seqs[slot | 0]! < seqs[heap[2 * c + 1]! | 0]!)) break;
      heap[2 * i] = tc;
      heap[2 * i + 1] = heap[2 * c + 1]!;
      i = c;
    }
    heap[2 * i] = t;
    heap[2 * i + 1] = slot;
  }
}
