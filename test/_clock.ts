/** Test clocks. */
import { type Clock, realClock } from "../src/mod.ts";

/** realClock, counting armed timers: a finished request must leave none behind. */
export function countingClock(): Clock & { armed(): number } {
  const live = new Set<unknown>();
  return {
    now: () => realClock.now(),
    setTimer(fn, ms, background) {
      const h = realClock.setTimer(
        () => {
          live.delete(h);
          fn();
        },
        ms,
        background,
      );
      live.add(h);
      return h;
    },
    clearTimer(h) {
      live.delete(h);
      realClock.clearTimer(h);
    },
    armed: () => live.size,
  };
}
