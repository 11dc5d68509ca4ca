/**
 * The simulator's discrete-event engine: a virtual {@linkcode Clock} over a
 * binary-heap event queue ordered by (time, sequence).
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
 * binary heap ordered by (due time, scheduling sequence); nothing happens
 * until you run events with {@linkcode VirtualClock.step},
 * {@linkcode VirtualClock.run} or {@linkcode VirtualClock.runAsync}. It never
 * reads the real clock or arms a real timer (`runAsync` only yields to the
 * host between events).
 *
 * Guarantees:
 * - Events run in (time, sequence) order: time never goes backwards, and
 *   events due at the same time run first-in, first-out.
 * - The same calls produce the same run, on every runtime.
 * - A cleared timer never runs; clearing costs O(1) (the heap compacts once
 *   cancelled entries outnumber live ones).
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
  // [time, seq, slot] at 3i, 3i+1, 3i+2. Comparisons read only this array
  // (no pointer chasing, no closure per comparison) and both children of an
  // entry sit side by side in memory. Sequence numbers are exact in a
  // float64 up to 2^53 (a Uint32 would wrap after ~7 minutes at 10 M/s).
  #heap = new Float64Array(3 * INITIAL_CAPACITY);
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
  /** Entries in the heap whose timer was cleared. */
  #cancelled = 0;
  #running = false;

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
    return this.#size - this.#cancelled;
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
      if (this.#cancelled >= MIN_COMPACT && this.#cancelled * 2 > this.#size) this.#compact();
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
    if (3 * this.#size === this.#heap.length) this.#grow();
    const seq = this.#seq++;
    // Slots in use never outnumber heap entries, so a new one fits `#slotSeqs`.
    const slot = this.#freeSlots.pop() ?? this.#fns.length;
    if (slot === this.#fns.length) this.#fns.push(fn);
    else this.#fns[slot] = fn;
    this.#slotSeqs[slot] = seq;
    const heap = this.#heap;
    // Sift up. The new entry has the largest sequence number, so an equal
    // time above it already comes first: comparing times alone is enough.
    let i = this.#size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pt = heap[3 * p]!;
      if (pt <= atMs) break;
      heap[3 * i] = pt;
      heap[3 * i + 1] = heap[3 * p + 1]!;
      heap[3 * i + 2] = heap[3 * p + 2]!;
      i = p;
    }
    heap[3 * i] = atMs;
    heap[3 * i + 1] = seq;
    heap[3 * i + 2] = slot;
    return new Timer(this, slot, seq);
  }

  #grow(): void {
    const heap = new Float64Array(this.#heap.length * 2);
    heap.set(this.#heap);
    this.#heap = heap;
    const slotSeqs = new Float64Array(this.#slotSeqs.length * 2);
    slotSeqs.set(this.#slotSeqs);
    this.#slotSeqs = slotSeqs;
  }

  /** Drops cancelled entries from the top; returns the next live event's time or EMPTY. */
  #peek(): number {
    while (this.#size > 0) {
      if (this.#fns[this.#heap[2]!] !== null) return this.#heap[0]!;
      this.#popRoot();
      this.#cancelled--;
    }
    return EMPTY;
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
    const slot = heap[2]!;
    const top = this.#fns[slot]!;
    this.#freeSlot(slot);
    const n = --this.#size;
    if (n === 0) return top;
    const lt = heap[3 * n]!;
    const ls = heap[3 * n + 1]!;
    const lslot = heap[3 * n + 2]!;
    // Move the hole at the root down to a leaf along the smaller children...
    let i = 0;
    let c = 1;
    while (c < n) {
      if (c + 1 < n) {
        const tl = heap[3 * c]!;
        const tr = heap[3 * c + 3]!;
        if (tr < tl || (tr === tl && heap[3 * c + 4]! < heap[3 * c + 1]!)) c++;
      }
      heap[3 * i] = heap[3 * c]!;
      heap[3 * i + 1] = heap[3 * c + 1]!;
      heap[3 * i + 2] = heap[3 * c + 2]!;
      i = c;
      c = 2 * i + 1;
    }
    // ...then sift the former last entry up from there: usually 0-1 levels,
    // as it came from the bottom and tends to be late.
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pt = heap[3 * p]!;
      if (pt < lt || (pt === lt && heap[3 * p + 1]! < ls)) break;
      heap[3 * i] = pt;
      heap[3 * i + 1] = heap[3 * p + 1]!;
      heap[3 * i + 2] = heap[3 * p + 2]!;
      i = p;
    }
    heap[3 * i] = lt;
    heap[3 * i + 1] = ls;
    heap[3 * i + 2] = lslot;
    return top;
  }

  #freeSlot(slot: number): void {
    this.#fns[slot] = undefined;
    this.#freeSlots.push(slot);
  }

  /** Removes every cancelled entry and restores the heap (Floyd's heapify, O(size)). */
  #compact(): void {
    const heap = this.#heap;
    const fns = this.#fns;
    const size = this.#size;
    let k = 0;
    for (let i = 0; i < size; i++) {
      const slot = heap[3 * i + 2]!;
      if (fns[slot] === null) {
        this.#freeSlot(slot);
        continue;
      }
      heap[3 * k] = heap[3 * i]!;
      heap[3 * k + 1] = heap[3 * i + 1]!;
      heap[3 * k + 2] = slot;
      k++;
    }
    this.#size = k;
    this.#cancelled = 0;
    for (let i = (k >> 1) - 1; i >= 0; i--) this.#siftDown(i);
  }

  #siftDown(start: number): void {
    const heap = this.#heap;
    const n = this.#size;
    const t = heap[3 * start]!;
    const s = heap[3 * start + 1]!;
    const slot = heap[3 * start + 2]!;
    let i = start;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n) {
        const tl = heap[3 * c]!;
        const tr = heap[3 * c + 3]!;
        if (tr < tl || (tr === tl && heap[3 * c + 4]! < heap[3 * c + 1]!)) c++;
      }
      const tc = heap[3 * c]!;
      if (t < tc || (t === tc && s < heap[3 * c + 1]!)) break;
      heap[3 * i] = tc;
      heap[3 * i + 1] = heap[3 * c + 1]!;
      heap[3 * i + 2] = heap[3 * c + 2]!;
      i = c;
    }
    heap[3 * i] = t;
    heap[3 * i + 1] = s;
    heap[3 * i + 2] = slot;
  }
}
