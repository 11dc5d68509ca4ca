/**
 * Private to `sim/`: a leg's send curve served by a link whose capacity
 * follows a rate schedule (a link trace), with a queue in front.
 *
 * @module
 */
import { CurveWriter, LIMIT_NONE, LIMIT_SCHEDULE, type SendCurve } from "./_link.ts";
import { type RateSchedule, ScheduleCursor } from "./_rate_schedule.ts";

/**
 * A leg's send curve X0 (what its steady links, slow start, window, bucket
 * and tarpit would let through) served by a link whose capacity follows
 * `schedule`, with a queue in front of it: a fluid FIFO fed by X0 and
 * drained at the schedule's rate. The output is
 *
 *     X(t) = min over s ≤ t of [ X0(s) + S(t) − S(s) ],
 *
 * S being the schedule's cumulative capacity: the min-plus tandem of the
 * leg and the link. X never exceeds X0 and never outruns the link; a
 * burst of the link drains what a lull left queued, so a leg slower than
 * the trace's peaks but faster than its lulls gets the trace's average.
 * It is monotone: a higher X0 or more capacity anywhere never lowers X
 * (which "limits combined moment by moment" is not: a slow tarpit would
 * take only the lulls). Nothing leaves after `cutAtMs` (the path went
 * silent); X0 is cut there already.
 *
 * X0 is built knowing only the trace's outages (`outagesOf`): no ACKs
 * come back then, so its slow start waits; otherwise its slow start and
 * window run as on a steady link, the queue absorbing the difference. What
 * this hides: a real sender has at most a window in flight (here an outage
 * can queue more), and its retransmission timer fires during a long
 * outage — harmlessly while the link holds the packets (Linux undoes the
 * timeout when the held originals are acknowledged: the kernel lab,
 * sim/README.md), not when it drops them (`linkTraceOff: "drop"`). With
 * loss or dropping outages, sim/_loss.ts sends segment by segment through
 * the schedule instead, and its timer runs.
 *
 * @param x0 The leg's curve.
 * @param schedule The link's capacity, in the run's time.
 * @param cutAtMs Nothing is delivered from then on.
 * @returns X, ending where it reaches X0's last value (the payload, or what was sent before a cut).
 */
export function servedThrough(x0: SendCurve, schedule: RateSchedule, cutAtMs: number): SendCurve {
  const cursor = new ScheduleCursor(schedule);
  const curve = new CurveWriter(64, true);
  const last = x0.lastX;
  let i = 0; // X0's segment
  let t = x0.timeAt(0);
  let y = 0; // bytes out
  let q = 0; // bytes queued in front of the link
  let endMs = Number.POSITIVE_INFINITY;
  while (t < cutAtMs) {
    // X0's jumps (a token burst with no peak rate) land in the queue at once.
    // (A segment that ended at t brought its bytes already.)
    while (i + 1 < x0.n && x0.timeAt(i + 1) <= t) {
      if (x0.rateAt(i) === Number.POSITIVE_INFINITY) q += x0.xAt(i + 1) - x0.xAt(i);
      i++;
    }
    const a = i + 1 < x0.n ? x0.rateAt(i) : 0;
    const inputEnd = i + 1 < x0.n ? x0.timeAt(i + 1) : Number.POSITIVE_INFINITY;
    cursor.at(t);
    const s = cursor.rate;
    const queued = q > 1e-9 * Math.max(1, last);
    if (!queued) q = 0;
    // All out and nothing more coming: done.
    if (!queued && i + 1 >= x0.n) break;
    const rate = queued ? s : Math.min(a, s);
    const info = queued || s < a ? LIMIT_SCHEDULE : x0.infoAt(i);
    let next = Math.min(inputEnd, cursor.endMs, cutAtMs);
    let empties = false;
    if (queued && s > a) {
      const empty = t + q / (s - a);
      if (empty < next) {
        next = empty;
        empties = true;
      }
    }
    curve.push(t, y, rate, info);
    const dt = next - t;
    y += rate * dt;
    q = empties ? 0 : Math.max(0, q + (a - rate) * dt);
    t = next;
  }
  if (y >= last - 1e-9 * Math.max(1, last) && x0.endMs !== Number.POSITIVE_INFINITY) {
    y = last;
    endMs = t;
  }
  curve.push(t, y, 0, LIMIT_NONE);
  return curve.finish(endMs);
}
