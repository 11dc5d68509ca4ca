/**
 * A circuit breaker per origin: when a dependency fails often enough, calls
 * fail fast with {@linkcode CircuitOpenError} instead of piling up; after a
 * cooldown one probe is let through, and its outcome closes or reopens it.
 *
 * Written here rather than taken from cockatiel: cockatiel's breakers read
 * the wall clock themselves, so they cannot run on the simulator's virtual clock
 * or in tests without patching globals, and `src/` carries no runtime
 * dependencies.
 *
 * @module
 */
import { type Clock, realClock } from "./clock.ts";
import type { Duration } from "./duration.ts";
import { CircuitOpenError } from "./errors.ts";
import { callSafely } from "./report.ts";
import { checkKeys, durationOption, integerOption, plainObject } from "./validate.ts";

/** Options of {@linkcode CircuitBreaker}. */
export interface BreakerOptions {
  /** Open when failures / calls in the window reach this. @default 0.5 */
  failureRatio?: number;
  /** …and the window holds at least this many calls. @default 10 */
  minCalls?: number;
  /** The sliding window failures are counted over. @default "10s" */
  window?: Duration;
  /** How long an open breaker fails fast before letting a probe through. @default "5s" */
  cooldown?: Duration;
  /** The clock. @default realClock */
  clock?: Clock;
  /** Told of every state change, after it (a throw is reported, never propagated). @default none */
  onStateChange?: (change: BreakerStateChange) => void;
}

/** A breaker's state changed for one origin. */
export interface BreakerStateChange {
  origin: string;
  from: BreakerState;
  to: BreakerState;
  /** When, on the breaker's clock (ms). */
  at: number;
}

/** A breaker's state. */
export type BreakerState = "closed" | "open" | "half-open";

/** One origin's state, for metrics. */
export interface BreakerSnapshot {
  origin: string;
  state: BreakerState;
  calls: number;
  failures: number;
  /** While open: ms until a probe is allowed. */
  retryAfterMs?: number;
  /** A half-open probe is in flight (settled when its headers arrive, or as neutral). */
  probing: boolean;
}

/** Admission to call an origin; settle it exactly once. */
export interface BreakerTicket {
  readonly origin: string;
  readonly probe: boolean;
}

/** The window is kept as this many buckets; counts age out a bucket at a time. */
const BUCKETS = 10;
const KEYS = new Set(["failureRatio", "minCalls", "window", "cooldown", "clock", "onStateChange"]);
/** Past this many origins, idle closed ones are forgotten so the map stays bounded. */
const MAX_IDLE_ORIGINS = 1000;

class OriginState {
  state: BreakerState = "closed";
  openedAt = 0;
  probing = false;
  readonly ok = new Array<number>(BUCKETS).fill(0);
  readonly bad = new Array<number>(BUCKETS).fill(0);
  /** Index of the bucket that `bucketStart` belongs to. */
  bucket = 0;
  bucketStart = 0;

  rotate(now: number, bucketMs: number): void {
    const steps = Math.floor((now - this.bucketStart) / bucketMs);
    if (steps <= 0) return;
    for (let i = 0; i < Math.min(steps, BUCKETS); i++) {
      this.bucket = (this.bucket + 1) % BUCKETS;
      this.ok[this.bucket] = 0;
      this.bad[this.bucket] = 0;
    }
    this.bucketStart += steps * bucketMs;
  }

  totals(): { calls: number; failures: number } {
    let ok = 0;
    let bad = 0;
    for (let i = 0; i < BUCKETS; i++) {
      ok += this.ok[i]!;
      bad += this.bad[i]!;
    }
    return { calls: ok + bad, failures: bad };
  }

  reset(now: number): void {
    this.ok.fill(0);
    this.bad.fill(0);
    this.bucketStart = now;
  }
}

/**
 * Circuit breakers for many origins, sharing one policy. Pass one to
 * `createFetch({ breaker })` (or share it between several fetches) and read
 * its state for metrics.
 *
 * @example
 * ```ts
 * import { CircuitBreaker, isCircuitOpenError } from "timebound";
 * const breaker = new CircuitBreaker({ failureRatio: 0.5, minCalls: 2, cooldown: "1s" });
 * for (let i = 0; i < 2; i++) breaker.settle(breaker.admit("https://a.example"), false);
 * console.assert(breaker.state("https://a.example") === "open");
 * try {
 *   breaker.admit("https://a.example");
 * } catch (e) {
 *   console.assert(isCircuitOpenError(e));
 * }
 * ```
 */
export class CircuitBreaker {
  private readonly failureRatio: number;
  private readonly minCalls: number;
  private readonly bucketMs: number;
  private readonly cooldownMs: number;
  private readonly clock: Clock;
  private readonly onStateChange: ((change: BreakerStateChange) => void) | undefined;
  private readonly origins = new Map<string, OriginState>();

  constructor(options: BreakerOptions = {}) {
    const o = plainObject("breaker", options);
    checkKeys("breaker", o, KEYS);
    const ratio = o.failureRatio ?? 0.5;
    if (typeof ratio !== "number") {
      throw new TypeError(
        `Invalid option 'breaker.failureRatio': expected a number in (0, 1], got ${typeof ratio}`,
      );
    }
    if (!(ratio > 0 && ratio <= 1)) {
      throw new RangeError(
        `Invalid option 'breaker.failureRatio': expected a number in (0, 1], got ${ratio}`,
      );
    }
    this.failureRatio = ratio;
    this.minCalls =
      o.minCalls === undefined ? 10 : integerOption("breaker.minCalls", o.minCalls, 1, 1_000_000);
    this.bucketMs =
      (o.window === undefined ? 10_000 : durationOption("breaker.window", o.window)) / BUCKETS;
    this.cooldownMs =
      o.cooldown === undefined ? 5_000 : durationOption("breaker.cooldown", o.cooldown);
    if (o.clock !== undefined && typeof (o.clock as Clock).now !== "function") {
      throw new TypeError("Invalid option 'breaker.clock': expected a Clock with now()");
    }
    this.clock = (o.clock as Clock | undefined) ?? realClock;
    if (o.onStateChange !== undefined && typeof o.onStateChange !== "function") {
      throw new TypeError("Invalid option 'breaker.onStateChange': expected a function");
    }
    this.onStateChange = o.onStateChange as ((change: BreakerStateChange) => void) | undefined;
  }

  /** Moves `origin` to `to`, then tells the subscriber. */
  private move(origin: string, e: OriginState, to: BreakerState, now: number): void {
    const from = e.state;
    e.state = to;
    if (to === "open") e.openedAt = now;
    if (from !== to) callSafely(this.onStateChange, { origin, from, to, at: now });
  }

  private entry(origin: string, now: number): OriginState {
    let e = this.origins.get(origin);
    if (!e) {
      if (this.origins.size >= MAX_IDLE_ORIGINS) this.forgetIdle(now);
      e = new OriginState();
      e.bucketStart = now;
      this.origins.set(origin, e);
    }
    return e;
  }

  private forgetIdle(now: number): void {
    for (const [origin, e] of this.origins) {
      e.rotate(now, this.bucketMs);
      if (e.state === "closed" && e.totals().calls === 0) this.origins.delete(origin);
    }
  }

  /**
   * Lets a call through, or throws {@linkcode CircuitOpenError} without
   * touching the network. Settle the ticket with {@linkcode CircuitBreaker.settle}.
   */
  admit(origin: string): BreakerTicket {
    const now = this.clock.now();
    const e = this.entry(origin, now);
    if (e.state === "open") {
      const wait = e.openedAt + this.cooldownMs - now;
      if (wait > 0) throw new CircuitOpenError({ origin, retryAfterMs: wait });
      this.move(origin, e, "half-open", now);
    }
    if (e.state === "half-open") {
      // One probe at a time; the others keep failing fast until it settles.
      if (e.probing) throw new CircuitOpenError({ origin, retryAfterMs: this.cooldownMs });
      e.probing = true;
      return { origin, probe: true };
    }
    return { origin, probe: false };
  }

  /**
   * Records a call's outcome: `true` success, `false` failure, `undefined`
   * neither (the caller gave up; a probe's slot is released).
   */
  settle(ticket: BreakerTicket, ok: boolean | undefined): void {
    const now = this.clock.now();
    const e = this.entry(ticket.origin, now);
    if (ticket.probe) {
      e.probing = false;
      if (ok === undefined) return;
      if (ok) {
        e.reset(now);
        this.move(ticket.origin, e, "closed", now);
      } else this.move(ticket.origin, e, "open", now);
      return;
    }
    if (ok === undefined || e.state !== "closed") return;
    e.rotate(now, this.bucketMs);
    if (ok) {
      e.ok[e.bucket]!++;
      return; // a success never opens the circuit
    }
    e.bad[e.bucket]!++;
    const { calls, failures } = e.totals();
    if (calls >= this.minCalls && failures / calls >= this.failureRatio) {
      this.move(ticket.origin, e, "open", now);
    }
  }

  /** The state of `origin` (closed when never seen). */
  state(origin: string): BreakerState {
    const e = this.origins.get(origin);
    if (!e) return "closed";
    if (e.state === "open" && this.clock.now() - e.openedAt >= this.cooldownMs) return "half-open";
    return e.state;
  }

  /** Every known origin's state and window counts. */
  snapshot(): BreakerSnapshot[] {
    const now = this.clock.now();
    return [...this.origins].map(([origin, e]) => {
      e.rotate(now, this.bucketMs);
      const s: BreakerSnapshot = {
        origin,
        state: this.state(origin),
        ...e.totals(),
        probing: e.probing,
      };
      if (e.state === "open") s.retryAfterMs = Math.max(0, e.openedAt + this.cooldownMs - now);
      return s;
    });
  }
}
