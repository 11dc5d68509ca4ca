/**
 * The watchdog: one per request attempt, on a {@linkcode Clock}. It knows the
 * limits and the progress, and calls `onExpire` once when the first limit
 * passes.
 *
 * Rules (ARCHITECTURE.md, "The watchdog"):
 * - At most one armed timer. Progress only records a timestamp and a byte
 *   count; the timer, when it fires, recomputes the earliest live deadline and
 *   either expires or re-arms. Per-chunk setTimeout/clearTimeout would cost
 *   more than the I/O it guards.
 * - Every progress event also compares the clock with the armed deadline: a
 *   hot body-read loop can starve the timer queue (seen on Deno: a fast
 *   stream read for 30 s past a 1 s deadline).
 * - Idle limits and rate windows run on "active time": the read side is
 *   active only while the caller waits on a read (its own backpressure is not
 *   the server's fault), the write side only while the runtime, not the
 *   caller's source stream, holds things up.
 *
 * @module
 */
import type { Clock, TimerHandle } from "./clock.ts";
import type { Phase } from "./errors.ts";
import type { ResolvedLimits } from "./policy.ts";
import type { Timings } from "./timings.ts";

/** What expired, reported once to `onExpire`. */
export interface Expiry {
  phase: Phase;
  /** The limit in ms (for `minRate`, its window). */
  limitMs: number;
  /** Time since the request's start. */
  elapsedMs: number;
  direction?: "upload" | "download";
  minBytes?: number;
  /** Request body bytes handed over when it expired. */
  bytesSent: number;
  /** Response body bytes received when it expired. */
  bytesReceived: number;
}

/** Options of {@linkcode Watchdog}. */
export interface WatchdogInit {
  clock: Clock;
  limits: ResolvedLimits;
  /** The request's start; `total` counts from here, across attempts. @default clock.now() */
  startedAt?: number;
  /** Filled in as the exchange goes on. */
  timings?: Timings;
  /** Called once, synchronously, when a limit passes. */
  onExpire: (expiry: Expiry) => void;
}

/**
 * A minimum-rate window keeps at most this many buckets: progress events
 * closer together than window/64 share one bucket stamped with the later
 * time, so the check can be up to 1/64 of the window late, never early, and
 * memory stays bounded however small the chunks.
 */
const RATE_BUCKETS_PER_WINDOW = 64;
/** The (never written) buckets of a flow without a rate. */
const NO_BUCKETS: number[] = [];

/**
 * One direction of transfer, timed on active time (time while the other
 * side, not the caller, is the one we wait for).
 */
class Flow {
  /** Active ms accumulated before `since`. */
  private base = 0;
  /** Clock time the flow became active, or -1 while paused. */
  private since = -1;
  /** Active time of the last progress. */
  private last = 0;
  /** The longest active wait that ended in bytes (what an idle limit measures), in whole ms. */
  maxGap = 0;
  private readonly idleMs: number;
  private readonly rateBytes: number;
  private readonly ratePerMs: number;
  private readonly bucketMs: number;
  // Rate window: a deque of (active time, bytes) buckets, oldest first,
  // trimmed to the shortest suffix that still holds `rateBytes`.
  // Allocated only when a rate is set: most requests have none.
  private readonly times: number[];
  private readonly sizes: number[];
  private head = 0;
  private sum = 0;
  private bucketStart = Number.NEGATIVE_INFINITY;
  /** Set by `due()`: whether the earliest deadline is the rate's, not idle's. */
  rateDue = false;

  constructor(idleMs: number, rate: ResolvedLimits["minRate"]) {
    this.idleMs = idleMs;
    this.rateBytes = rate ? rate.bytes : 0;
    this.ratePerMs = rate ? rate.perMs : Number.POSITIVE_INFINITY;
    this.bucketMs = this.ratePerMs / RATE_BUCKETS_PER_WINDOW;
    this.times = rate ? [] : NO_BUCKETS;
    this.sizes = rate ? [] : NO_BUCKETS;
  }

  get hasRate(): boolean {
    return this.rateBytes > 0;
  }

  get rateWindowMs(): number {
    return this.ratePerMs;
  }

  get rateMinBytes(): number {
    return this.rateBytes;
  }

  get idleLimitMs(): number {
    return this.idleMs;
  }

  private activeAt(now: number): number {
    return this.since < 0 ? this.base : this.base + (now - this.since);
  }

  /** Whether the flow resumed from a pause (its deadlines may now be earlier). */
  resume(now: number): boolean {
    if (this.since >= 0) return false;
    this.since = now;
    return true;
  }

  pause(now: number): void {
    if (this.since < 0) return;
    this.base += now - this.since;
    this.since = -1;
  }

  progress(now: number, bytes: number): void {
    const at = this.activeAt(now);
    // Whole ms, rounded up: a small integer stays untagged in the object (a
    // double would be a heap box per flow, and the bench counts heap per call).
    if (bytes > 0 && at - this.last > this.maxGap) this.maxGap = Math.ceil(at - this.last);
    this.last = at;
    if (bytes === 0 || this.rateBytes === 0) return;
    const n = this.times.length;
    if (n > this.head && at - this.bucketStart < this.bucketMs) {
      this.sizes[n - 1]! += bytes;
      this.times[n - 1] = at;
    } else {
      this.times.push(at);
      this.sizes.push(bytes);
      this.bucketStart = at;
    }
    this.sum += bytes;
    while (
      this.times.length - this.head > 1 &&
      this.sum - this.sizes[this.head]! >= this.rateBytes
    ) {
      this.sum -= this.sizes[this.head]!;
      this.head++;
    }
    if (this.head > 32 && this.head * 2 > this.times.length) {
      this.times.splice(0, this.head);
      this.sizes.splice(0, this.head);
      this.head = 0;
    }
  }

  /** The clock time at which this flow's first limit passes; Infinity while paused. */
  due(): number {
    if (this.since < 0) return Number.POSITIVE_INFINITY;
    const idle = this.last + this.idleMs;
    let rate = Number.POSITIVE_INFINITY;
    if (this.rateBytes > 0) {
      // Bytes in (T - per, T] fall below the floor once T passes the oldest
      // bucket of the shortest suffix holding `rateBytes` plus one window;
      // before any such suffix exists, at the first full window.
      rate = this.sum >= this.rateBytes ? this.times[this.head]! + this.ratePerMs : this.ratePerMs;
    }
    this.rateDue = rate < idle;
    return this.since + (Math.min(idle, rate) - this.base);
  }
}

const RUNNING = 0;
const ENDED = 1;
const EXPIRED = 2;

/**
 * Guards one request attempt. The fetch wrapper reports progress; the
 * watchdog calls `onExpire` once when a limit passes, and never after `end()`.
 *
 * @example
 * ```ts
 * import { realClock, Watchdog } from "timebound";
 * const wd = new Watchdog({
 *   clock: realClock,
 *   limits: { total: 1000, headers: 200, readIdle: Infinity, writeIdle: Infinity, minRate: undefined },
 *   onExpire: (e) => console.log(e.phase),
 * });
 * wd.sent();            // request handed over: `headers` starts
 * wd.headersReceived(); // headers arrived in time
 * wd.end();             // body done: nothing left armed
 * ```
 */
export class Watchdog {
  readonly startedAt: number;
  /** Request body bytes handed to the runtime. */
  bytesSent = 0;
  /** Response body bytes received. */
  bytesReceived = 0;
  /** What expired, once it has. */
  expiry: Expiry | undefined;

  private readonly clock: Clock;
  private readonly limits: ResolvedLimits;
  private readonly timings: Timings | undefined;
  private readonly onExpire: (expiry: Expiry) => void;
  private state = RUNNING;
  private headersFrom = Number.NaN;
  private up: Flow | undefined;
  private down: Flow | undefined;
  private timer: TimerHandle | undefined;
  /** The deadline the armed timer targets; Infinity when none is armed. */
  private armedAt = Number.POSITIVE_INFINITY;
  // Set by earliest(): which limit the earliest deadline belongs to.
  private duePhase: Phase = "total";
  private dueLimit = 0;
  private dueFlow: Flow | undefined;
  private readonly tick = (): void => {
    this.timer = undefined;
    this.armedAt = Number.POSITIVE_INFINITY;
    if (this.state === RUNNING) this.evaluate(this.clock.now());
  };

  constructor(init: WatchdogInit) {
    this.clock = init.clock;
    this.limits = init.limits;
    this.timings = init.timings;
    this.onExpire = init.onExpire;
    const now = this.clock.now();
    this.startedAt = init.startedAt ?? now;
    // Arm, but never expire from inside the constructor: the owner is not
    // set up to receive `onExpire` yet. A deadline already due fires on the
    // next timer turn.
    const at = this.earliest();
    if (at !== Number.POSITIVE_INFINITY) {
      this.armedAt = at;
      this.timer = this.clock.setTimer(this.tick, Math.max(0, at - now), true);
    }
  }

  /** Whether a limit has passed. */
  get expired(): boolean {
    return this.state === EXPIRED;
  }

  /** Whether the watchdog is still guarding (neither ended nor expired). */
  get running(): boolean {
    return this.state === RUNNING;
  }

  // --- write side ---------------------------------------------------------

  /** The runtime pulled the request body for the first time. */
  writeStart(): void {
    if (this.state !== RUNNING || this.up) return;
    const now = this.clock.now();
    // Until this first pull, `headers` guarded the wait for a connection
    // (see `sent()`); now the upload's own limits do, and `headers` starts
    // again once the body is handed over.
    if (this.headersFrom !== Number.POSITIVE_INFINITY) this.headersFrom = Number.NaN;
    this.up = new Flow(this.limits.writeIdle, this.limits.minRate);
    this.up.resume(now);
    if (this.timings) this.timings.uploadStart = now - this.timings.start;
    this.rearmIfEarlier(now);
  }

  /** The runtime pulled again: the previous chunk left. */
  writePull(): void {
    if (this.state !== RUNNING || !this.up) return;
    const now = this.clock.now();
    this.up.progress(now, 0);
    this.check(now);
  }

  /** Waiting on the caller's own source stream: its slowness is not the network's. */
  writeWait(): void {
    if (this.state !== RUNNING || !this.up) return;
    this.up.pause(this.clock.now());
  }

  /** The caller's source produced data: the write side is ours to time again. */
  writeReady(): void {
    if (this.state !== RUNNING || !this.up) return;
    const now = this.clock.now();
    if (this.up.resume(now)) {
      this.up.progress(now, 0);
      this.rearmIfEarlier(now);
    }
  }

  /** `bytes` of the request body were handed to the runtime. */
  wrote(bytes: number): void {
    this.bytesSent += bytes;
    if (this.timings) this.timings.bytesSent = this.bytesSent;
    if (this.state !== RUNNING || !this.up) return;
    const now = this.clock.now();
    this.up.progress(now, bytes);
    this.check(now);
  }

  /** The request body was fully handed over: `headers` starts. */
  writeEnd(): void {
    if (this.state !== RUNNING) return;
    const now = this.clock.now();
    this.up = undefined;
    if (this.timings) this.timings.uploadEnd = now - this.timings.start;
    this.startHeaders(now);
  }

  /**
   * The request went out: `headers` starts now. With a streamed body this is
   * the wait for the runtime's first pull (a connection that never opens is
   * pulled from 0–2 times, then never), and the first pull restarts it.
   */
  sent(): void {
    if (this.state !== RUNNING) return;
    this.startHeaders(this.clock.now());
  }

  private startHeaders(now: number): void {
    if (!Number.isNaN(this.headersFrom)) return;
    this.headersFrom = now;
    this.rearmIfEarlier(now);
  }

  /**
   * A redirect that the wrapper follows itself: the next hop sends its body
   * and waits for its headers afresh, under the same `total`.
   */
  nextHop(): void {
    if (this.state !== RUNNING) return;
    this.headersFrom = Number.NaN;
    this.up = undefined;
    this.down = undefined;
    this.evaluate(this.clock.now());
  }

  // --- read side ----------------------------------------------------------

  /**
   * Response headers arrived. Write-side limits end here too: once the server
   * has answered, a stalled upload is the server's choice, not a network stall.
   */
  headersReceived(): void {
    if (this.state !== RUNNING) return;
    const now = this.clock.now();
    this.headersFrom = Number.POSITIVE_INFINITY;
    this.up = undefined;
    this.down = new Flow(this.limits.readIdle, this.limits.minRate);
    if (this.timings) this.timings.headers = now - this.timings.start;
    this.check(now);
  }

  /** The caller waits on a body read: `readIdle` and the read rate run. */
  readWait(): void {
    if (this.state !== RUNNING || !this.down) return;
    const now = this.clock.now();
    if (this.down.resume(now)) {
      this.down.progress(now, 0);
      this.rearmIfEarlier(now);
    }
  }

  /** `bytes` of the response body arrived for the waiting caller. */
  read(bytes: number): void {
    this.bytesReceived += bytes;
    if (this.timings) this.timings.bytesReceived = this.bytesReceived;
    if (this.state !== RUNNING || !this.down) return;
    const now = this.clock.now();
    this.down.progress(now, bytes);
    this.down.pause(now);
    this.check(now);
  }

  /**
   * The longest the caller waited on one body read of this hop, in ms of
   * active time (the time `readIdle` limits), rounded up to a whole ms; 0
   * before any body bytes.
   */
  get maxReadGapMs(): number {
    return this.down ? this.down.maxGap : 0;
  }

  /** The exchange is over (body read, cancelled or errored): disarm. Idempotent. */
  end(): void {
    if (this.state !== RUNNING) return;
    this.state = ENDED;
    this.disarm();
    if (this.timings) {
      const t = this.clock.now() - this.timings.start;
      this.timings.bodyEnd = t;
      this.timings.total = t;
    }
  }

  // --- deadlines ----------------------------------------------------------

  /** O(1): only when the armed deadline has passed is there anything to do. */
  private check(now: number): void {
    if (now >= this.armedAt) this.evaluate(now);
  }

  private rearmIfEarlier(now: number): void {
    if (this.earliest() < this.armedAt) this.evaluate(now);
  }

  /** The earliest live deadline; sets duePhase/dueLimit/dueFlow. */
  private earliest(): number {
    const l = this.limits;
    let at = this.startedAt + l.total;
    this.duePhase = "total";
    this.dueLimit = l.total;
    this.dueFlow = undefined;
    if (Number.isFinite(this.headersFrom)) {
      const h = this.headersFrom + l.headers;
      if (h < at) {
        at = h;
        this.duePhase = "headers";
        this.dueLimit = l.headers;
      }
    }
    if (this.up) at = this.consider(this.up, "writeIdle", at);
    if (this.down) at = this.consider(this.down, "readIdle", at);
    return at;
  }

  private consider(flow: Flow, idlePhase: Phase, at: number): number {
    const d = flow.due();
    if (d >= at) return at;
    this.dueFlow = flow;
    if (flow.rateDue) {
      this.duePhase = "minRate";
      this.dueLimit = flow.rateWindowMs;
    } else {
      this.duePhase = idlePhase;
      this.dueLimit = flow.idleLimitMs;
    }
    return d;
  }

  private evaluate(now: number): void {
    const at = this.earliest();
    if (now >= at) {
      this.expire(now);
    } else if (at === Number.POSITIVE_INFINITY) {
      this.disarm();
    } else if (at !== this.armedAt || this.timer === undefined) {
      this.disarm();
      this.armedAt = at;
      this.timer = this.clock.setTimer(this.tick, at - now, true);
    }
  }

  private disarm(): void {
    if (this.timer !== undefined) {
      this.clock.clearTimer(this.timer);
      this.timer = undefined;
    }
    this.armedAt = Number.POSITIVE_INFINITY;
  }

  private expire(now: number): void {
    this.state = EXPIRED;
    this.disarm();
    const expiry: Expiry = {
      phase: this.duePhase,
      limitMs: this.dueLimit,
      elapsedMs: now - this.startedAt,
      bytesSent: this.bytesSent,
      bytesReceived: this.bytesReceived,
    };
    if (this.duePhase === "minRate" && this.dueFlow) {
      expiry.direction = this.dueFlow === this.up ? "upload" : "download";
      expiry.minBytes = this.dueFlow.rateMinBytes;
    }
    this.expiry = expiry;
    if (this.timings) this.timings.total = expiry.elapsedMs;
    this.onExpire(expiry);
  }
}
