/**
 * Private to `sim/`: the sender's side of one TCP leg as a piecewise-linear
 * fluid. {@linkcode buildSendCurve} turns a link description into X(t), the
 * payload bytes put on the wire by time t, as a handful of breakpoints (one
 * per rate change: slow-start round, token bucket running dry, tarpit onset),
 * never one per byte or per segment.
 *
 * The writer never starves the link in this model (the upload keeps at least
 * 2/3 of the send buffer queued, and in-flight data is capped below that), so
 * X(t) depends on the link alone and can be computed before the run. Acks
 * and deliveries are X delayed by one RTT and half an RTT.
 *
 * @module
 */
import { type RateSchedule, ScheduleCursor } from "./_rate_schedule.ts";

/** What limits the sending rate on a segment; the low 4 bits of a segment's `info`. */
export const LIMIT_LINK = 0;
export const LIMIT_PEAK = 1;
export const LIMIT_SHAPER = 2;
export const LIMIT_TARPIT = 3;
export const LIMIT_WINDOW = 4;
/** Slow start, between two rounds: the window is sent, the sender waits for ACKs. */
export const LIMIT_ACKS = 5;
/** The end of the curve: everything sent, or the path went silent (no rate after). */
export const LIMIT_NONE = 6;
/** A link trace sets the pace (sim/_served.ts); rate 0: the link is off. */
export const LIMIT_SCHEDULE = 8;

/** A leg of the path, rates in payload bytes per ms. */
export interface LinkSpec {
  startMs: number;
  /** Payload bytes to send. */
  bytes: number;
  /** The narrowest plain link (no shaper), or Infinity. */
  rate: number;
  /** The token-bucket link's sustained rate (Infinity: none). */
  shaperRate: number;
  /** Its rate while tokens remain (Infinity: the other links set it, like `tc tbf` without `peakrate`). */
  shaperPeak: number;
  /** Its bucket depth in payload bytes (0: none). */
  burstBytes: number;
  /** When the server starts reading slowly (Infinity: never). */
  tarpitAtMs: number;
  /** How fast it reads from then on. */
  tarpitRate: number;
  rttMs: number;
  slowStart: boolean;
  /** The initial congestion window in bytes (RFC 6928: 10 segments). */
  initialWindow: number;
  /** The most bytes in flight (receive window, or what the send buffer keeps queued). */
  windowCap: number;
  /** Nothing sent from this time on matters (the path went silent): stop there. */
  cutAtMs: number;
  /**
   * When the path is out (sim/_rate_schedule.ts, in the run's time: rate 0
   * there, Infinity elsewhere; a link trace's outages): no ACK comes back,
   * so slow start's round clock stops. The rate itself is left to the link
   * the schedule describes (sim/_served.ts): what is sent meanwhile waits
   * in the queue in front of it.
   * @default undefined (never out)
   */
  pauses?: RateSchedule | undefined;
}

const STRIDE = 4;
const INFO_ROUND = 16;

/**
 * X(t) as points (t, x, rate to the next point, info): X is x + rate·(t' − t)
 * until the next point. The last point has rate 0: X stays there (all sent,
 * or cut). `info` is the limit code plus 16 × the slow-start round (counting
 * from 1; 0 outside slow start).
 */
export class SendCurve {
  readonly segs: Float64Array;
  readonly n: number;
  /** When X reached the payload, or Infinity if the curve was cut first. */
  readonly endMs: number;
  /** X at the last point: the payload, or what was sent before the cut. */
  readonly lastX: number;
  #cursor = 0;

  constructor(segs: Float64Array, n: number, endMs: number) {
    this.segs = segs;
    this.n = n;
    this.endMs = endMs;
    this.lastX = segs[(n - 1) * STRIDE + 1]!;
  }

  timeAt(i: number): number {
    return this.segs[i * STRIDE]!;
  }
  xAt(i: number): number {
    return this.segs[i * STRIDE + 1]!;
  }
  rateAt(i: number): number {
    return this.segs[i * STRIDE + 2]!;
  }
  infoAt(i: number): number {
    return this.segs[i * STRIDE + 3]!;
  }

  /**
   * The first time X reaches `y`, or Infinity if it never does. Queries that
   * only grow (the writer's wake targets) cost O(1) amortized.
   */
  timeOf(y: number): number {
    const s = this.segs;
    if (y > this.lastX) return Number.POSITIVE_INFINITY;
    if (y <= s[1]!) return s[0]!;
    let i = this.#cursor;
    if (s[i * STRIDE + 1]! >= y) i = 0;
    // First i with x[i] < y <= x[i+1]: that segment rises (rate > 0).
    while (s[(i + 1) * STRIDE + 1]! < y) i++;
    this.#cursor = i;
    const o = i * STRIDE;
    return s[o]! + (y - s[o + 1]!) / s[o + 2]!;
  }

  /** X(t): 0 before the start, frozen after the last point; after a jump at t, its top. */
  valueAt(t: number): number {
    const s = this.segs;
    if (t < s[0]!) return 0;
    let lo = 0;
    let hi = this.n - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (s[mid * STRIDE]! <= t) lo = mid;
      else hi = mid - 1;
    }
    const o = lo * STRIDE;
    if (lo === this.n - 1) return s[o + 1]!;
    return Math.min(s[o + 1]! + s[o + 2]! * (t - s[o]!), s[o + STRIDE + 1]!);
  }
}

/**
 * Writes a curve point by point, as {@linkcode SendCurve} holds it: a point
 * with the last one's rate and reason extends that segment (no point), and
 * a point at the last one's time replaces it — always when
 * `replaceJumps`, else only if it moved nothing (a jump, at an infinite
 * rate, is kept).
 */
export class CurveWriter {
  #segs: Float64Array;
  #n = 0;
  readonly #replaceJumps: boolean;

  constructor(capacity: number, replaceJumps: boolean) {
    this.#segs = new Float64Array(capacity * STRIDE);
    this.#replaceJumps = replaceJumps;
  }

  push(t: number, x: number, r: number, info: number): void {
    let segs = this.#segs;
    let n = this.#n;
    if (n > 0) {
      const o = (n - 1) * STRIDE;
      // Same rate, same reason: the segment goes on.
      if (segs[o + 2] === r && segs[o + 3] === info) return;
      // A zero-length segment is replaced by its successor.
      if (segs[o] === t && (this.#replaceJumps || segs[o + 1] === x)) {
        n--;
        this.#n = n;
        if (n > 0 && segs[o - STRIDE + 2] === r && segs[o - STRIDE + 3] === info) return;
      }
    }
    if ((n + 1) * STRIDE > segs.length) {
      const grown = new Float64Array(segs.length * 2);
      grown.set(segs);
      segs = grown;
      this.#segs = segs;
    }
    const o = n * STRIDE;
    segs[o] = t;
    segs[o + 1] = x;
    segs[o + 2] = r;
    segs[o + 3] = info;
    this.#n = n + 1;
  }

  /** The curve written, ending at `endMs` (see {@linkcode SendCurve.endMs}). */
  finish(endMs: number): SendCurve {
    return new SendCurve(this.#segs, this.#n, endMs);
  }
}

/**
 * Builds X(t) for one leg.
 *
 * Slow start (RFC 5681, with RFC 6928's initial window of 10 segments):
 * round k sends min(IW·2^k, window cap) bytes as a burst at the link rate,
 * then waits for the round's first ACK, one RTT after the round began. This
 * is exact for the fluid model: the ACKs of round k arrive at the link rate
 * and each releases two bytes, so round k+1's burst is twice as long. Once
 * a burst outlasts the RTT (the window passed the bandwidth-delay product)
 * or the window reaches its cap, the sender is link- or window-limited for
 * good: no loss in this model, so no congestion-avoidance sawtooth.
 *
 * A window-limited sender moves windowCap bytes per RTT (the fluid average of
 * its bursts). The token bucket refills while the sender idles between
 * slow-start rounds, as a modem's bucket does.
 */
export function buildSendCurve(spec: LinkSpec): SendCurve {
  const curve = new CurveWriter(16, false);
  const { bytes, rttMs, cutAtMs, tarpitAtMs, burstBytes } = spec;
  const sustained = spec.shaperRate;
  const peak = Math.max(spec.shaperPeak, sustained);
  const windowRate = rttMs > 0 ? spec.windowCap / rttMs : Number.POSITIVE_INFINITY;
  let t = spec.startMs;
  let x = 0;
  let tokens = burstBytes;
  let round = 0;
  let window = Math.min(spec.initialWindow, spec.windowCap);
  let slow = spec.slowStart && rttMs > 0 && window < spec.windowCap;
  let roundEnd = t + rttMs;
  let left = window;
  const pauses = spec.pauses ? new ScheduleCursor(spec.pauses) : undefined;
  /** The end of the pause piece holding t, and whether it is out: a boundary for slow start. */
  const paused = (at: number): number => {
    if (!pauses) return Number.POSITIVE_INFINITY;
    pauses.at(at);
    return pauses.endMs;
  };

  const refill = (r: number, dt: number): void => {
    if (burstBytes > 0 && sustained !== Number.POSITIVE_INFINITY) {
      tokens = Math.min(burstBytes, Math.max(0, tokens + (sustained - r) * dt));
    }
  };

  while (x < bytes && t < cutAtMs) {
    if (slow && left <= 0) {
      // The round's window is out: idle until its first ACK comes back
      // (later by any time the path is out meanwhile).
      const pauseEnd = paused(t);
      const until = Math.min(roundEnd, cutAtMs, pauseEnd);
      curve.push(t, x, 0, LIMIT_ACKS + INFO_ROUND * (round + 1));
      refill(0, until - t);
      if (pauses && pauses.rate === 0) roundEnd += until - t;
      t = until;
      if (t >= cutAtMs) break;
      if (t < roundEnd) continue;
      round++;
      window = Math.min(window * 2, spec.windowCap);
      if (window >= spec.windowCap) slow = false;
      left = window;
      roundEnd = t + rttMs;
      continue;
    }
    let r = spec.rate;
    let limit = LIMIT_LINK;
    // Slow start's clock stops while the path is out: a boundary then.
    const pauseEnd = slow ? paused(t) : Number.POSITIVE_INFINITY;
    if (t >= tarpitAtMs && spec.tarpitRate < r) {
      r = spec.tarpitRate;
      limit = LIMIT_TARPIT;
    }
    const shaper = tokens > 0 ? peak : sustained;
    if (shaper < r) {
      r = shaper;
      limit = tokens > 0 ? LIMIT_PEAK : LIMIT_SHAPER;
    }
    if (!slow && windowRate < r) {
      r = windowRate;
      limit = LIMIT_WINDOW;
    }
    if (r === Number.POSITIVE_INFINITY) {
      // Nothing but a token bucket with no peak rate limits this leg (a
      // store-and-forward proxy's upstream): its tokens leave at once, as a
      // `tc tbf` burst leaves at line rate.
      const jump = tokens > 0 ? Math.min(tokens, bytes - x) : bytes - x;
      curve.push(t, x, r, LIMIT_PEAK);
      x += jump;
      tokens -= jump;
      continue;
    }
    // The next thing that changes the rate.
    let dt = (bytes - x) / r;
    let hit = 0; // 0: all sent, 1: tarpit, 2: cut, 3: bucket empty, 4: burst sent, 5: round over, 6: pause edge
    if (t < tarpitAtMs && tarpitAtMs - t <= dt) {
      dt = tarpitAtMs - t;
      hit = 1;
    }
    if (cutAtMs - t <= dt) {
      dt = cutAtMs - t;
      hit = 2;
    }
    if (tokens > 0 && r > sustained && tokens / (r - sustained) < dt) {
      dt = tokens / (r - sustained);
      hit = 3;
    }
    if (pauseEnd - t < dt) {
      dt = pauseEnd - t;
      hit = 6;
    }
    if (slow) {
      if (left / r < dt) {
        dt = left / r;
        hit = 4;
      }
      if (roundEnd - t < dt) {
        dt = roundEnd - t;
        hit = 5;
      }
    }
    curve.push(t, x, r, limit + INFO_ROUND * (slow ? round + 1 : 0));
    refill(r, dt);
    if (slow) left -= r * dt;
    // The path is out: the round's ACKs wait.
    if (slow && pauses && pauses.rate === 0) roundEnd += dt;
    // Snap to the boundary hit, so rounding never leaves a sliver behind.
    if (hit === 0) {
      t += dt;
      x = bytes;
    } else {
      x = Math.min(bytes, x + r * dt);
      if (hit === 1) t = tarpitAtMs;
      else if (hit === 2) t = cutAtMs;
      else if (hit === 6) t = pauseEnd;
      else t += dt;
      if (hit === 3) tokens = 0;
      else if (hit === 4) left = 0;
      // The burst outlasted the RTT: ACKs now arrive while it is still
      // going, so the link, not the window, sets the pace from here on.
      else if (hit === 5) slow = false;
    }
  }
  curve.push(t, x, 0, LIMIT_NONE);
  return curve.finish(x >= bytes ? t : Number.POSITIVE_INFINITY);
}

/** The proxy's buffer is full: the client leg goes at the pace the proxy forwards. */
export const LIMIT_PROXY_BUFFER = 7;

/**
 * A continuous piecewise-linear curve as points: X(t) = xs[i] + slope·(t − ts[i])
 * between points, `before` before the first (0, or Infinity for a bound that
 * does not hold yet), frozen at the last after it. `infos[i]` is the limit
 * code of the segment from point i.
 */
export interface Points {
  ts: number[];
  xs: number[];
  infos: number[];
  before: number;
}

/** A curve's points, delayed by `dtMs` and raised by `dx`, with `before` before them. */
export function pointsOf(curve: SendCurve, dtMs = 0, dx = 0, before = 0): Points {
  const p: Points = { ts: [], xs: [], infos: [], before };
  for (let i = 0; i < curve.n; i++) {
    // A jump (a token burst with no peak rate) becomes a steep finite slope:
    // the points stay a function of time.
    const t = curve.timeAt(i) + dtMs;
    p.ts.push(p.ts.length > 0 && t <= p.ts.at(-1)! ? p.ts.at(-1)! + 1e-9 : t);
    p.xs.push(curve.xAt(i) + dx);
    p.infos.push(curve.infoAt(i));
  }
  return p;
}

/** From `atMs` on: x0 + rate·(t − atMs); Infinity before (not a bound yet). */
export function lineFrom(atMs: number, x0: number, rate: number, info: number): Points {
  // Far enough to outlast any upload the simulator runs (a year).
  const far = atMs + 3.2e10;
  return {
    ts: [atMs, far],
    xs: [x0, x0 + rate * (far - atMs)],
    infos: [info, LIMIT_NONE],
    before: Infinity,
  };
}

/** The last point at or before t (the first if none), by binary search. */
function pointIndex(ts: number[], t: number): number {
  let lo = 0;
  let hi = ts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (ts[mid]! <= t) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

function pointAt(p: Points, t: number): number {
  const { ts, xs } = p;
  if (t < ts[0]!) return p.before;
  const lo = pointIndex(ts, t);
  if (lo === ts.length - 1) return xs[lo]!;
  return xs[lo]! + ((xs[lo + 1]! - xs[lo]!) * (t - ts[lo]!)) / (ts[lo + 1]! - ts[lo]!);
}

function infoOf(p: Points, t: number): number {
  // A binary search (it was a scan): a link trace's curves have thousands of points.
  return p.infos[pointIndex(p.ts, t)]!;
}

/**
 * The pointwise minimum of curves: at every breakpoint of any of them, and
 * where two cross. O(n² log n) in points, and curves have tens of them.
 */
export function lowerEnvelope(curves: Points[]): Points {
  const times = [...new Set(curves.flatMap((c) => c.ts))].sort((a, b) => a - b);
  const at = (t: number) => Math.min(...curves.map((c) => pointAt(c, t)));
  // Add the crossings inside each interval (the minimum of linear pieces is
  // concave: it bends where the lowest one changes).
  const all: number[] = [];
  for (let i = 0; i < times.length; i++) {
    const t0 = times[i]!;
    all.push(t0);
    const t1 = times[i + 1];
    if (t1 === undefined) break;
    let lo = t0;
    for (let guard = 0; guard < curves.length; guard++) {
      // The lowest curve just after `lo` (lowest there, then least steep),
      // and when another undercuts it.
      let k = 0;
      let valueK = Number.POSITIVE_INFINITY;
      let slopeK = Number.POSITIVE_INFINITY;
      curves.forEach((c, j) => {
        const v = pointAt(c, lo);
        const slope = (pointAt(c, t1) - v) / (t1 - lo);
        if (v < valueK || (v === valueK && slope < slopeK)) {
          k = j;
          valueK = v;
          slopeK = slope;
        }
      });
      let next = t1;
      curves.forEach((c, j) => {
        if (j === k) return;
        const v0 = pointAt(c, lo);
        const v1 = pointAt(c, t1);
        if (!Number.isFinite(v0) || !Number.isFinite(v1)) return;
        const slope = (v1 - v0) / (t1 - lo);
        const gap = v0 - pointAt(curves[k]!, lo);
        if (slope < slopeK && gap >= 0) {
          const cross = lo + gap / (slopeK - slope);
          if (cross > lo && cross < next) next = cross;
        }
      });
      if (next >= t1) break;
      all.push(next);
      lo = next;
    }
  }
  const out: Points = {
    ts: [],
    xs: [],
    infos: [],
    before: Math.min(...curves.map((c) => c.before)),
  };
  for (let i = 0; i < all.length; i++) {
    const t = all[i]!;
    const x = at(t);
    if (!Number.isFinite(x)) continue;
    const t1 = all[i + 1];
    const probe = t1 === undefined ? t : (t + t1) / 2;
    const vals = curves.map((c) => pointAt(c, probe));
    const k = vals.indexOf(Math.min(...vals));
    out.ts.push(t);
    out.xs.push(x);
    out.infos.push(infoOf(curves[k]!, probe));
  }
  return out;
}

/**
 * How close to the payload a curve counts as there: an envelope's crossing
 * lands within rounding of it (174,044.99999999997 of 174,045), and a
 * curve that then creeps up to it along a far breakpoint would end there
 * (at 3.2e10 ms: a tarpit's read line, found by the property tests).
 */
const DONE_EPS_BYTES = 1e-6;

/** A SendCurve of points, ending where X reaches `bytes` (or never). */
export function curveOf(p: Points, bytes: number): SendCurve {
  const { ts, xs } = p;
  const done = bytes - DONE_EPS_BYTES;
  const segs = new Float64Array((ts.length + 1) * STRIDE);
  let n = 0;
  const push = (t: number, x: number, rate: number, info: number) => {
    if (n > 0) {
      // Same reason, same rate (to rounding): the segment goes on.
      const o = (n - 1) * STRIDE;
      const r = segs[o + 2]!;
      if (segs[o + 3] === info && Math.abs(r - rate) <= 1e-9 * Math.max(r, rate)) return;
    }
    const o = n++ * STRIDE;
    segs[o] = t;
    segs[o + 1] = x;
    segs[o + 2] = rate;
    segs[o + 3] = info;
  };
  for (let i = 0; i < ts.length; i++) {
    const t = ts[i]!;
    const x = xs[i]!;
    if (x >= done) {
      push(t, bytes, 0, LIMIT_NONE);
      return new SendCurve(segs, n, t);
    }
    if (i === ts.length - 1) break;
    const slope = (xs[i + 1]! - x) / (ts[i + 1]! - t);
    if (xs[i + 1]! >= done && slope > 0) {
      // The last byte goes inside this segment: end there, at its slope.
      const end = t + (bytes - x) / slope;
      push(t, x, slope, p.infos[i]!);
      push(end, bytes, 0, LIMIT_NONE);
      return new SendCurve(segs, n, end);
    }
    push(t, x, Math.max(0, slope), p.infos[i]!);
  }
  push(ts.at(-1)!, xs.at(-1)!, 0, LIMIT_NONE);
  return new SendCurve(segs, n, Number.POSITIVE_INFINITY);
}

/** `p` delayed by `dtMs` and raised by `dx`, worth `before` before it starts; `info` relabels every segment. */
export function shifted(
  p: Points,
  dtMs: number,
  dx: number,
  before: number,
  info?: number,
): Points {
  return {
    ts: p.ts.map((t) => t + dtMs),
    xs: p.xs.map((x) => x + dx),
    infos: info === undefined ? p.infos : p.infos.map((i) => (i === LIMIT_NONE ? i : info)),
    before,
  };
}
