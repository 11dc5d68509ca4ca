/**
 * The one seam for time. Everything in timebound that waits takes a
 * {@linkcode Clock}, so the same code runs on real time ({@linkcode realClock})
 * and on the simulator's virtual time (`timebound/sim`), and tests drive it
 * deterministically without patching globals.
 *
 * @module
 */

/** An opaque handle returned by {@linkcode Clock.setTimer}. */
export type TimerHandle = unknown;

/** A source of monotonic time and one-shot timers. */
export interface Clock {
  /** Milliseconds on a monotonic scale (the origin is arbitrary). */
  now(): number;
  /**
   * Calls `fn` once, `ms` milliseconds from now. A `background` timer must not
   * keep the process alive on its own (a deadline guarding I/O: the I/O keeps
   * the process alive while it matters).
   */
  setTimer(fn: () => void, ms: number, background?: boolean): TimerHandle;
  /** Cancels a timer; a handle that already fired or was cleared is ignored. */
  clearTimer(handle: TimerHandle): void;
}

/**
 * The clock of the running process: `performance.now()` and `setTimeout`.
 *
 * @example
 * ```ts
 * import { realClock } from "timebound";
 * const t0 = realClock.now();
 * const h = realClock.setTimer(() => {}, 10);
 * realClock.clearTimer(h);
 * console.assert(realClock.now() >= t0);
 * ```
 */
export const realClock: Clock = {
  now: () => performance.now(),
  setTimer: (fn, ms, background) => {
    const handle = setTimeout(fn, ms);
    // Node, Bun and Deno (2.x) timers have unref(); workerd's are numbers and
    // never hold a worker open. A script that checks only `res.status` exits at
    // once, as with bare fetch, not when `total` would pass.
    if (background) (handle as { unref?: () => void }).unref?.();
    return handle;
  },
  clearTimer: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};
