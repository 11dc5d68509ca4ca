/**
 * Private to `sim/`: a rate schedule, the capacity of a link that changes
 * over time, as piecewise-constant rates over one period that repeats.
 * `sim/linktrace.ts` makes one from a Mahimahi trace; `sim/_link.ts` takes
 * one as the times the path is out (slow start waits then); `sim/_served.ts`
 * passes a leg's curve through one (rates). Anything else that changes a link's
 * capacity over time (a handover, loss episodes) can be expressed as one
 * and composed the same way.
 *
 * @module
 */

/** Piecewise-constant capacity, looping: rates in payload bytes per ms. */
export interface RateSchedule {
  /** Where each constant piece starts within the period, ms: starts at 0, increasing. */
  readonly startsMs: Float64Array;
  /** The rate of each piece, payload bytes/ms (0: the link is off). */
  readonly bytesPerMs: Float64Array;
  /** The schedule repeats after this many ms. */
  readonly periodMs: number;
  /** Schedule time at the run's t = 0: piece lookups use t + offsetMs. */
  readonly offsetMs: number;
}

/**
 * Walks a schedule forward in time: `at(t)` for non-decreasing t gives the
 * rate there and when it next changes, in O(1) amortized. Piece ends are
 * computed as `period · k + start − offset` every time, so a caller that
 * snaps t to an end it was given lands exactly on the next piece.
 */
export class ScheduleCursor {
  readonly #s: RateSchedule;
  #period = 0;
  #piece = 0;
  /** The current piece's rate, after `at`. */
  rate = 0;
  /** When the current piece ends (absolute run time), after `at`. */
  endMs = 0;

  constructor(schedule: RateSchedule) {
    this.#s = schedule;
    // The piece holding t = 0: the offset's place within the period.
    const { startsMs, periodMs, offsetMs } = schedule;
    this.#period = Math.floor(offsetMs / periodMs);
    const within = offsetMs - this.#period * periodMs;
    let i = 0;
    while (i + 1 < startsMs.length && startsMs[i + 1]! <= within) i++;
    this.#piece = i;
  }

  #end(): number {
    const s = this.#s;
    const next = this.#piece + 1;
    const start = next < s.startsMs.length ? s.startsMs[next]! : s.periodMs;
    return this.#period * s.periodMs + start - s.offsetMs;
  }

  /** Moves to the piece holding `t` (t never decreases between calls). */
  at(t: number): void {
    const s = this.#s;
    let end = this.#end();
    while (end <= t) {
      this.#piece++;
      if (this.#piece === s.startsMs.length) {
        this.#piece = 0;
        this.#period++;
      }
      end = this.#end();
    }
    this.rate = s.bytesPerMs[this.#piece]!;
    this.endMs = end;
  }
}

/**
 * Off stretches (rate 0) this long or longer are outages the sender sees:
 * no ACK comes back for that long. Shorter ones are a slow link's packet
 * spacing on the trace's 20 ms grid (a 120 kbit/s link spaces its packets
 * 100 ms apart), which the queue in front of the link smooths.
 */
export const OUTAGE_MIN_MS = 100;

const outageCache = new WeakMap<Float64Array, { starts: Float64Array; rates: Float64Array }>();

/**
 * A schedule's outages as a schedule of its own: 0 during off stretches of
 * at least {@linkcode OUTAGE_MIN_MS}, Infinity elsewhere. The curve
 * builder's slow start waits there (no ACKs); the rates themselves are left
 * to `servedThrough` (sim/_served.ts).
 */
export function outagesOf(schedule: RateSchedule): RateSchedule {
  let fit = outageCache.get(schedule.startsMs);
  if (!fit) {
    const { startsMs, bytesPerMs, periodMs } = schedule;
    const starts: number[] = [];
    const rates: number[] = [];
    const piece = (at: number, rate: number) => {
      if (rates.length > 0 && rates.at(-1) === rate) return;
      starts.push(at);
      rates.push(rate);
    };
    for (let i = 0; i < startsMs.length; i++) {
      const end = i + 1 < startsMs.length ? startsMs[i + 1]! : periodMs;
      // Pieces of one rate are merged already: an off piece is a whole stretch.
      const off = bytesPerMs[i] === 0 && end - startsMs[i]! >= OUTAGE_MIN_MS;
      piece(startsMs[i]!, off ? 0 : Number.POSITIVE_INFINITY);
    }
    fit = { starts: Float64Array.from(starts), rates: Float64Array.from(rates) };
    outageCache.set(schedule.startsMs, fit);
  }
  return { ...schedule, startsMs: fit.starts, bytesPerMs: fit.rates };
}
