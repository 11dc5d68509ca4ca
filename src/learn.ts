/**
 * Limits learned online (issue 13, item 5): `headers: { learn: { … } }`
 * follows each origin's recent time to headers, `readIdle: { learn: { … } }`
 * each call's longest wait on one body read — a high quantile of a
 * sliding window, times a factor — and never leaves [floor, ceiling]; until
 * the window holds `warmup` observations it is `initial`. It can never
 * extend `total`, which stays absolute (the watchdog takes the smaller).
 *
 * A timeout the learned limit caused is recorded as an observation at the
 * limit (what is known: it took at least that long), so a dependency that
 * slows down pushes the limit up, by the factor each time, until it fits or
 * reaches the ceiling — and never past the ceiling: a slowdown to 5 s cannot
 * teach a limit whose ceiling is 1 s to wait 5 s.
 *
 * The window is a log-bucket histogram (buckets 2 % wide: the quantile is
 * within 1 %, as DDSketch's), in six sub-windows that age out one at a time.
 * Written here rather than taken from a sketch library because `src/` has no
 * runtime dependencies; `timebound/sim`'s `Observer` uses DDSketch for the
 * offline half of the loop.
 *
 * @module
 */
import type { Clock } from "./clock.ts";
import type { Duration } from "./duration.ts";
import { checkKeys, durationOption, integerOption, plainObject } from "./validate.ts";

/** How a limit is learned. */
export interface LearnOptions {
  /** The quantile of recent times the limit follows: 1 − the false-timeout rate accepted. @default 0.999 */
  quantile?: number;
  /** The limit is the quantile times this. @default 1.5 */
  factor?: number;
  /** Never below this. */
  floor: Duration;
  /** Never above this, however slow the dependency gets. */
  ceiling: Duration;
  /** Observations needed in the window before the limit follows them. @default 100 */
  warmup?: number;
  /** How far back observations count. @default "5m" */
  window?: Duration;
  /** The limit until `warmup` observations. @default the ceiling */
  initial?: Duration;
}

/** A limit given as `{ learn }` instead of a duration. */
export interface Learned {
  learn: LearnOptions;
}

/** Whether an option value asks for a learned limit. */
export function isLearned(value: unknown): value is Learned {
  return typeof value === "object" && value !== null && "learn" in value;
}

/** Relative width of a bucket: γ = 1.0202… gives every quantile within 1 %. */
const GAMMA = (1 + 0.01) / (1 - 0.01);
const LOG_GAMMA = Math.log(GAMMA);
const SUBWINDOWS = 6;
/** Past this many origins the least recently seen is forgotten. */
const MAX_ORIGINS = 1000;
/** The cached limit is recomputed after this many new observations (or a sub-window's turn). */
const RECOMPUTE_EVERY = 16;
const KEYS = new Set(["quantile", "factor", "floor", "ceiling", "warmup", "window", "initial"]);

class OriginWindow {
  readonly counts: Map<number, number>[] = [];
  readonly sizes: number[] = [];
  head = 0;
  headStart: number;
  limitMs: number;
  fresh = 0;
  computedAt = Number.NEGATIVE_INFINITY;

  constructor(now: number, initial: number) {
    for (let i = 0; i < SUBWINDOWS; i++) {
      this.counts.push(new Map());
      this.sizes.push(0);
    }
    this.headStart = now;
    this.limitMs = initial;
  }

  rotate(now: number, subMs: number): void {
    const steps = Math.floor((now - this.headStart) / subMs);
    if (steps <= 0) return;
    for (let i = 0; i < Math.min(steps, SUBWINDOWS); i++) {
      this.head = (this.head + 1) % SUBWINDOWS;
      this.counts[this.head]!.clear();
      this.sizes[this.head] = 0;
    }
    this.headStart += steps * subMs;
    this.fresh = RECOMPUTE_EVERY; // the window changed: recompute on next use
  }

  total(): number {
    let n = 0;
    for (const s of this.sizes) n += s;
    return n;
  }
}

/** One learned limit of one fetch instance, per origin. */
export class LearnedLimit {
  readonly name: string;
  private readonly quantile: number;
  private readonly factor: number;
  private readonly floorMs: number;
  private readonly ceilingMs: number;
  private readonly warmup: number;
  private readonly subMs: number;
  private readonly initialMs: number;
  private readonly clock: Clock;
  private readonly origins = new Map<string, OriginWindow>();

  /**
   * @param name The option's name, for messages (`"headers"`).
   * @throws {TypeError} for an unknown key or a wrong type; {@link RangeError} for a bad value.
   */
  constructor(name: string, value: Learned, clock: Clock) {
    this.name = name;
    this.clock = clock;
    const o = plainObject(`${name}.learn`, value.learn);
    checkKeys(`${name}.learn`, o, KEYS);
    const q = o.quantile ?? 0.999;
    if (typeof q !== "number" || !(q > 0 && q < 1)) {
      throw new RangeError(
        `Invalid option '${name}.learn.quantile': expected a number in (0, 1), got ${String(q)}`,
      );
    }
    this.quantile = q;
    const f = o.factor ?? 1.5;
    if (typeof f !== "number" || !(f >= 1 && Number.isFinite(f))) {
      throw new RangeError(
        `Invalid option '${name}.learn.factor': expected a finite number >= 1, got ${String(f)}`,
      );
    }
    this.factor = f;
    if (o.floor === undefined || o.ceiling === undefined) {
      throw new TypeError(
        `Invalid option '${name}.learn': 'floor' and 'ceiling' are required (a learned limit is always bounded)`,
      );
    }
    this.floorMs = durationOption(`${name}.learn.floor`, o.floor);
    this.ceilingMs = durationOption(`${name}.learn.ceiling`, o.ceiling);
    if (this.floorMs > this.ceilingMs) {
      throw new RangeError(
        `Invalid option '${name}.learn': floor (${this.floorMs} ms) is above ceiling (${this.ceilingMs} ms)`,
      );
    }
    this.warmup =
      o.warmup === undefined ? 100 : integerOption(`${name}.learn.warmup`, o.warmup, 1, 1e9);
    this.subMs =
      (o.window === undefined ? 300_000 : durationOption(`${name}.learn.window`, o.window)) /
      SUBWINDOWS;
    const initial =
      o.initial === undefined ? this.ceilingMs : durationOption(`${name}.learn.initial`, o.initial);
    this.initialMs = Math.min(this.ceilingMs, Math.max(this.floorMs, initial));
  }

  /** The limit before any origin has `warmup` observations, in ms. */
  get initial(): number {
    return this.initialMs;
  }

  private windowOf(origin: string, now: number): OriginWindow {
    let w = this.origins.get(origin);
    if (w) {
      // Most recently seen last: the first entry is the one to forget.
      this.origins.delete(origin);
    } else {
      if (this.origins.size >= MAX_ORIGINS) {
        this.origins.delete(this.origins.keys().next().value!);
      }
      w = new OriginWindow(now, this.initialMs);
    }
    this.origins.set(origin, w);
    w.rotate(now, this.subMs);
    return w;
  }

  /** The limit for a call to `origin` now, in ms. */
  valueFor(origin: string): number {
    const now = this.clock.now();
    const w = this.windowOf(origin, now);
    if (w.fresh >= RECOMPUTE_EVERY || now - w.computedAt >= this.subMs) {
      w.fresh = 0;
      w.computedAt = now;
      w.limitMs = this.compute(w);
    }
    return w.limitMs;
  }

  private compute(w: OriginWindow): number {
    const n = w.total();
    if (n < this.warmup) return this.initialMs;
    const merged = new Map<number, number>();
    for (const c of w.counts) for (const [k, v] of c) merged.set(k, (merged.get(k) ?? 0) + v);
    const keys = [...merged.keys()].sort((a, b) => a - b);
    const rank = Math.max(1, Math.ceil(this.quantile * n));
    let seen = 0;
    let at = keys[keys.length - 1]!;
    for (const k of keys) {
      seen += merged.get(k)!;
      if (seen >= rank) {
        at = k;
        break;
      }
    }
    // The bucket's upper edge: never below what was seen at that rank.
    const q = at === Number.NEGATIVE_INFINITY ? 0 : GAMMA ** at;
    return Math.min(this.ceilingMs, Math.max(this.floorMs, Math.ceil(q * this.factor)));
  }

  /** Records how long the phase took for `origin` (a timeout: the limit that fired, a lower bound). */
  observe(origin: string, ms: number): void {
    const w = this.windowOf(origin, this.clock.now());
    const key = ms <= 0 ? Number.NEGATIVE_INFINITY : Math.ceil(Math.log(ms) / LOG_GAMMA);
    const c = w.counts[w.head]!;
    c.set(key, (c.get(key) ?? 0) + 1);
    w.sizes[w.head]!++;
    w.fresh++;
  }

  /** Every origin's current limit and the observations behind it (for metrics). */
  snapshot(): Array<{ origin: string; limitMs: number; observations: number }> {
    return [...this.origins].map(([origin, w]) => ({
      origin,
      limitMs: w.limitMs,
      observations: w.total(),
    }));
  }
}
