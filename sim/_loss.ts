/**
 * Private to `sim/`: one TCP sender on a lossy path, segment by segment.
 * {@linkcode buildLossyCurve} runs Linux's loss recovery for one upload before
 * the upload's own run, and returns what the rest of the simulator needs:
 * E(t), the payload bytes acknowledged in order one RTT later (the loss-free
 * model's X(t): acks are E delayed by one RTT, in-order deliveries by half),
 * and the recovery events for the trace.
 *
 * The path: the sender's segments queue FIFO in front of one bottleneck (a
 * line rate, optionally a token bucket as `tc tbf` shapes, optionally a
 * link trace's capacity behind them: a segment leaves once the trace has
 * served its bytes, nothing while it is off), never dropped there; TCP small
 * queues counts that queue as the sender's own (the lab's `tbf` is on the
 * sender). Each transmission is then lost or not by the loss model (the
 * delayer of the kernel lab drops behind the bottleneck, as a lossy radio
 * hop does); survivors reach the receiver RTT/2 later and their ACK (with
 * SACK) is back RTT/2 after that. FIFO: ACKs come back in the order of
 * sending, so the sender learns of a loss as soon as a later segment is
 * acknowledged.
 *
 * The sender, as Linux does it (net/ipv4/tcp_input.c, tcp_recovery.c,
 * tcp_timer.c, tcp_cubic.c), simplified where the answer does not change:
 * - Loss detection by RACK: a segment is lost once a segment sent after it
 *   is SACKed and a reordering window has passed (min RTT / 4 while fewer
 *   than 3 segments are SACKed and no recovery is under way; 0 otherwise,
 *   the "3 duplicate ACKs" rule). Detection starts a fast recovery: the
 *   lost segments go again first (the first at once), ssthresh = β·cwnd
 *   (CUBIC 0.7, Reno 0.5), and proportional rate reduction (RFC 6937, as
 *   tcp_cwnd_reduction) brings what is out down to ssthresh over the
 *   recovery round; one reduction per recovery, which ends once everything
 *   sent before it is acknowledged, with cwnd = ssthresh.
 * - Tail loss probe (RFC 8985): with nothing later to be SACKed, the
 *   sender probes 2·SRTT after its last send (plus 200 ms with one segment
 *   out; never later than the RTO) with new data, or the last segment
 *   again, and restarts the RTO from the probe; its SACK drives RACK.
 * - Retransmission timeout: RTO = SRTT + max(4·RTTVAR, 200 ms `tcp_rto_min`),
 *   at most 120 s, doubling per consecutive timeout and reset by an ACK
 *   that advances. It marks everything outstanding lost, sets ssthresh =
 *   β·cwnd and cwnd = 1: slow start back to ssthresh. RTT samples (Karn:
 *   first transmissions only) include the queue at the bottleneck.
 * - Congestion avoidance: CUBIC (RFC 9438: W(t) = C(t − K)³ + Wmax with
 *   C = 0.4, fast convergence, the Reno-friendly region) or Reno (one
 *   segment per RTT). Slow start from 10 segments, +1 per segment
 *   delivered, on ACKs that advance the cumulative ACK only
 *   (tcp_may_raise_cwnd: not on SACKs above a hole).
 *   No HyStart (it acts once cwnd passes the bandwidth-delay product, where
 *   the link sets the pace anyway), no delayed ACKs, no F-RTO undo.
 * - Or BBR v1 (`spec.bbr`, `_bbr.ts`): on every ACK it sets cwnd from its
 *   bandwidth and min-RTT model and paces the sends, with no
 *   multiplicative decrease on fast recovery or RTO; the detection and
 *   retransmission above are the same. Delivery-rate samples as
 *   tcp_rate.c takes them (per transmission: delivered and its time at the
 *   send, and the send that opened the interval).
 * - The send buffer and the receive window cap what is in flight, as in the
 *   loss-free model.
 *
 * Loss draws are common random numbers: Bernoulli loss hashes (seed,
 * segment, attempt) to a uniform u and loses iff u < p, so a higher p loses
 * a superset of the same transmissions; Gilbert–Elliott walks its two
 * states once per transmission on the wire, with two uniforms hashed from
 * (seed, transmission). Neither touches the timer-lateness stream. A
 * replayed pattern (`list`) loses exactly the transmissions it names: the
 * kernel lab's drops, for one, so a real upload and the model's can be
 * set against each other on the same losses.
 *
 * @module
 */
import { Bbr } from "./_bbr.ts";
import { fmix32 } from "./_hash.ts";
import { curveOf, LIMIT_LINK, type Points, type SendCurve } from "./_link.ts";
import { outagesOf, type RateSchedule, ScheduleCursor } from "./_rate_schedule.ts";

/** Payload bytes per segment (MTU 1500 with timestamps). */
const MSS = 1448;
const RTO_MIN_MS = 200;
const RTO_MAX_MS = 120_000;
const CUBIC_C = 0.4;

/** How transmissions get lost. */
export type LossSpec =
  | { kind: "bernoulli"; rate: number }
  /**
   * A recorded pattern, replayed: these transmissions on the wire (0-based,
   * in the order they leave the bottleneck, retransmissions and probes
   * included) are lost, no others (ns-3's ListErrorModel).
   */
  | { kind: "list"; lost: readonly number[] }
  | {
      kind: "gilbert-elliott";
      /** Per transmission: good → bad. */
      goodToBad: number;
      /** Per transmission: bad → good. */
      badToGood: number;
      lossInGood: number;
      lossInBad: number;
    };

export interface LossyLinkSpec {
  bytes: number;
  /** Line rate at the bottleneck, payload bytes/ms (Infinity: none). */
  rate: number;
  /** Token bucket: sustained rate (Infinity: none), peak rate, depth in payload bytes. */
  shaperRate: number;
  shaperPeak: number;
  burstBytes: number;
  rttMs: number;
  slowStart: boolean;
  initialWindow: number;
  /** Most bytes between the oldest unacknowledged and the next new byte. */
  windowCap: number;
  /**
   * A link trace's capacity after the line and the token bucket, in the
   * run's time (payload bytes/ms): a segment leaves the bottleneck once the
   * trace has served its bytes, FIFO; off, nothing leaves. Undefined: none.
   */
  schedule?: RateSchedule | undefined;
  /**
   * With `schedule`: the link loses what it holds and what reaches it while
   * it is out (an off stretch of `OUTAGE_MIN_MS` or more: a dead radio),
   * instead of keeping it queued until it is back (a trace's off, as
   * Mahimahi's). The sender finds out by its retransmission timer.
   */
  dropWhileOff?: boolean;
  /** Transmissions leaving the bottleneck after this are lost (a silent path). */
  cutAtMs: number;
  loss: LossSpec;
  /** CUBIC's or Reno's multiplicative decrease. */
  beta: number;
  cubic: boolean;
  /**
   * BBR v1 (`_bbr.ts`) sets cwnd and paces instead of CUBIC or Reno; the
   * loss detection and recovery here stay. `beta` and `cubic` are unused.
   */
  bbr?: boolean;
  seed: number;
}

/** A recovery event, at the sender. */
export interface LossEvent {
  atMs: number;
  kind: "fast-retransmit" | "rto" | "tail-probe";
  detail: string;
}

export interface LossyCurve {
  /** E(t): acknowledged in order at t + RTT. */
  curve: SendCurve;
  /**
   * The largest cwnd at which the window was not full after sending
   * (segments), as a step function of the bytes acknowledged: `cwndAt[k]`
   * from `ackedAt[k]` on. Linux grows the send buffer with it then
   * (`tcp_sndbuf_expand`, `tcp_should_expand_sndbuf`), never shrinks it.
   */
  ackedAt: number[];
  cwndAt: number[];
  events: LossEvent[];
  transmissions: number;
  retransmissions: number;
  timeouts: number;
}

/** A uniform in [0, 1) that depends only on (seed, a, b): common random numbers. */
export function lossUniform(seed: number, a: number, b: number): number {
  let h = fmix32(seed ^ 0x5bd1e995);
  h = fmix32(h ^ Math.imul(a + 1, 0x9e3779b1));
  h = fmix32(h ^ Math.imul(b + 1, 0x85ebca77));
  const lo = fmix32(h ^ 0x27d4eb2f);
  h >>>= 0;
  // 53 bits: h's 32 and 21 of lo.
  return (h * 2 ** 21 + (lo >>> 11)) / 2 ** 53;
}

interface Tx {
  seg: number;
  sentAt: number;
  dep: number;
  lost: boolean;
  retx: boolean;
  /** Counted in the sender's pipe (not yet SACKed or marked lost). */
  inPipe: boolean;
  /** Rate sampling (tcp_rate.c): segments delivered, and when, at the send; the send that started the interval. */
  priorDelivered: number;
  deliveredAt: number;
  firstTxAt: number;
}

/**
 * Runs the sender until the payload is acknowledged, or the path has gone
 * silent, and returns E(t) and the events.
 */
export function buildLossyCurve(spec: LossyLinkSpec): LossyCurve {
  const { bytes, rttMs: rtt, loss, beta, seed } = spec;
  const n = Math.ceil(bytes / MSS);
  const size = (i: number): number => (i === n - 1 ? bytes - i * MSS : MSS);
  const windowSegs = Math.max(1, Math.floor(spec.windowCap / MSS));

  // Receiver and sender state per segment.
  const received = new Uint8Array(n);
  const sacked = new Uint8Array(n);
  const attempts = new Uint16Array(n);
  let rcvNext = 0;
  let una = 0;
  let nextNew = 0;
  const retxQ: number[] = [];
  let retxHead = 0;
  const queued = new Uint8Array(n);

  const txs: Tx[] = [];
  /** Next transmission whose ACK is still to come (ground truth: skips lost ones). */
  let ackPtr = 0;
  /** Oldest transmission the sender still counts as outstanding. */
  let oldest = 0;
  let pipe = 0;

  let cwnd = spec.slowStart ? Math.max(1, Math.round(spec.initialWindow / MSS)) : windowSegs;
  let ssthresh = spec.slowStart ? Number.POSITIVE_INFINITY : cwnd;
  let state: "open" | "recovery" | "loss" = "open";
  let recoverAt = 0;
  // Warm connection: the first RTT sample is the path's RTT (RFC 6298 2.2).
  let srtt = rtt;
  let rttvar = rtt / 2;
  let minRtt = rtt > 0 ? rtt : Number.POSITIVE_INFINITY;
  let backoff = 0;
  let rtoAt = Number.POSITIVE_INFINITY;
  let tlpAt = Number.POSITIVE_INFINITY;
  let tlpOut = false;
  let reoAt = Number.POSITIVE_INFINITY;
  /** The reordering timer marks transmissions before this one. */
  let reoUpTo = 0;
  /** The tail loss probe out, its transmission (−1: none). */
  let tlpTx = -1;
  /** Acks seen since the oldest undetected lost transmission. */
  let sackedSince = 0;
  // Proportional rate reduction, during a recovery.
  let priorCwnd = 1;
  let prrDelivered = 0;
  let prrOut = 0;
  // CUBIC.
  let wMax = 0;
  let epochStart = Number.NaN;
  let k = 0;
  let originPoint = 0;
  let renoEst = 0;

  // Delivery-rate sampling (tcp_rate.c) and BBR, with `spec.bbr`.
  const bbr = spec.bbr ? new Bbr(seed, cwnd, srtt) : undefined;
  if (bbr) ssthresh = Number.POSITIVE_INFINITY;
  let delivered = 0;
  let deliveredTime = 0;
  let firstTxTime = 0;
  /** Transmissions the current ACK (or timer) marked lost. */
  let lossesNow = 0;
  /** BBR's pacing: the earliest time of the next transmission. */
  let paceAt = 0;

  // The bottleneck.
  let depPtr = 0;
  let tsqWakeAt = Number.POSITIVE_INFINITY;
  let maxPipe = 0;
  let maxPipeSince = 0;
  let cwndLimited = false;
  let linkFree = 0;
  let tokens = Math.max(spec.burstBytes, MSS);
  let tokensAt = 0;
  const bucket = Math.max(spec.burstBytes, MSS);
  const line = Math.min(spec.rate, spec.shaperPeak);

  // Gilbert–Elliott state, per transmission on the wire.
  let bad = false;

  const events: LossEvent[] = [];
  const ackedAt = [0];
  const cwndAt = [Math.floor(cwnd)];
  let retransmissions = 0;
  let timeouts = 0;

  const pts: Points = { ts: [0], xs: [0], infos: [LIMIT_LINK], before: 0 };
  const lastRate = (): number =>
    spec.shaperRate < line ? spec.shaperRate : line === Number.POSITIVE_INFINITY ? 1e12 : line;

  const rto = (): number =>
    Math.min(RTO_MAX_MS, (srtt + Math.max(4 * rttvar, RTO_MIN_MS)) * 2 ** backoff);

  const cursor = spec.schedule ? new ScheduleCursor(spec.schedule) : undefined;
  let traceFree = 0;
  /** With `dropWhileOff`: where the link is out. */
  const outages =
    cursor && spec.dropWhileOff ? new ScheduleCursor(outagesOf(spec.schedule!)) : undefined;
  /** Set by `depart`: the segment just sent met the link out. */
  let droppedAtLink = false;
  /**
   * The trace serves `s` bytes from `from` on (cut-through behind the line:
   * it starts when the line starts the segment, or when the trace is done
   * with the one before), walking its pieces; off pieces serve nothing.
   */
  const served = (from: number, s: number): number => {
    const c = cursor!;
    let t = Math.max(from, traceFree);
    let left = s;
    for (;;) {
      c.at(t);
      if (c.rate > 0) {
        const done = t + left / c.rate;
        if (done <= c.endMs) return done;
        left -= c.rate * (c.endMs - t);
      }
      t = c.endMs;
    }
  };

  const depart = (t: number, s: number): number => {
    let start = Math.max(t, linkFree);
    if (spec.shaperRate !== Number.POSITIVE_INFINITY) {
      tokens = Math.min(bucket, tokens + spec.shaperRate * (start - tokensAt));
      tokensAt = start;
      if (tokens < s) {
        start += (s - tokens) / spec.shaperRate;
        tokens = s;
        tokensAt = start;
      }
      tokens -= s;
    }
    let dep = line === Number.POSITIVE_INFINITY ? start : start + s / line;
    linkFree = dep;
    droppedAtLink = false;
    if (outages) {
      // `dropWhileOff`: a segment that meets the link out — its turn comes
      // while the link is out, or the link goes out before it is through —
      // is lost; the link was busy with it until the outage began.
      const turn = Math.max(start, traceFree);
      outages.at(turn);
      if (outages.rate === 0) {
        droppedAtLink = true;
        return Math.max(dep, turn);
      }
      const nextOut = outages.endMs;
      const done = served(start, s);
      if (done > nextOut) {
        traceFree = nextOut;
        droppedAtLink = true;
        return Math.max(dep, nextOut);
      }
      dep = Math.max(dep, done);
      traceFree = dep;
    } else if (cursor) {
      dep = Math.max(dep, served(start, s));
      traceFree = dep;
    }
    return dep;
  };

  const replayed = loss.kind === "list" ? new Set(loss.lost) : undefined;
  const drawLost = (seg: number, wire: number): boolean => {
    if (loss.kind === "list") return replayed!.has(wire);
    if (loss.kind === "bernoulli") return lossUniform(seed, seg, attempts[seg]!) < loss.rate;
    const flip = lossUniform(seed, wire, 0x7fff_0001);
    bad = bad ? flip >= loss.badToGood : flip < loss.goodToBad;
    return lossUniform(seed, wire, 0x7fff_0002) < (bad ? loss.lossInBad : loss.lossInGood);
  };

  const transmit = (t: number, seg: number, retx: boolean): void => {
    const dep = depart(t, size(seg));
    const lost = drawLost(seg, txs.length) || droppedAtLink || dep > spec.cutAtMs;
    attempts[seg] = attempts[seg]! + 1;
    if (pipe === 0) firstTxTime = deliveredTime = t;
    txs.push({
      seg,
      sentAt: t,
      dep,
      lost,
      retx,
      inPipe: true,
      priorDelivered: delivered,
      deliveredAt: deliveredTime,
      firstTxAt: firstTxTime,
    });
    // Linux paces from the 10th segment on (tcp_update_skb_after_send).
    if (bbr && txs.length > 10 && bbr.pacingRate > 0) {
      paceAt = Math.max(paceAt, t) + size(seg) / MSS / bbr.pacingRate;
    }
    pipe++;
    if (retx) retransmissions++;
    if (state === "recovery") prrOut++;
    if (rtoAt === Number.POSITIVE_INFINITY) rtoAt = t + rto();
    // Tail loss probe armed in the open state (RFC 8985 7.2).
    if (state === "open" && !tlpOut) {
      const pto = 2 * srtt + (pipe === 1 ? RTO_MIN_MS : 2);
      tlpAt = Math.min(t + pto, rtoAt);
    }
  };

  const inFlightSegs = (): number => nextNew - una;

  /** Transmissions still queued at the bottleneck at `t`. */
  const queuedAt = (t: number): number => {
    while (depPtr < txs.length && txs[depPtr]!.dep <= t) depPtr++;
    return txs.length - depPtr;
  };
  /**
   * TCP small queues (tcp_small_queue_check): a socket keeps at most
   * two skbs, or 1 ms of its pacing rate, in the qdisc below it, so the
   * rest waits in the send buffer and the bottleneck's queue stays short.
   * Pacing rate: 2 × (slow start) or 1.2 × cwnd per SRTT; an skb holds 1 ms
   * of it (tcp_tso_autosize), 2 to 45 segments.
   */
  const tsqLimit = (): number => {
    if (!(srtt > 0)) return Number.POSITIVE_INFINITY;
    const perMs = bbr ? Math.min(bbr.pacingRate, 1e9) : ((cwnd < ssthresh ? 2 : 1.2) * cwnd) / srtt;
    const skb = Math.max(2, Math.min(45, Math.floor(perMs)));
    return Math.max(2 * skb, perMs);
  };

  const trySend = (t: number): void => {
    tsqWakeAt = Number.POSITIVE_INFINITY;
    while (pipe < Math.floor(cwnd)) {
      if (bbr && t < paceAt) {
        // Paced: the next transmission waits for its time.
        tsqWakeAt = paceAt;
        break;
      }
      if (line !== Number.POSITIVE_INFINITY || spec.shaperRate !== Number.POSITIVE_INFINITY) {
        if (queuedAt(t) >= tsqLimit()) {
          // Throttled: the next departure frees room.
          tsqWakeAt = txs[depPtr]!.dep;
          break;
        }
      }
      while (retxHead < retxQ.length && sacked[retxQ[retxHead]!]) {
        queued[retxQ[retxHead]!] = 0;
        retxHead++;
      }
      if (retxHead < retxQ.length) {
        const seg = retxQ[retxHead++]!;
        queued[seg] = 0;
        // Retransmitting the head restarts the timer (tcp_xmit_retransmit_queue).
        if (seg === una) rtoAt = t + rto();
        transmit(t, seg, true);
        continue;
      }
      if (nextNew < n && inFlightSegs() < windowSegs) {
        transmit(t, nextNew++, false);
        continue;
      }
      break;
    }
    // Cwnd-limited (tcp_is_cwnd_limited): slow start grows cwnd only while
    // it is under twice what was out; congestion avoidance only when the
    // window, not the queue or the writer, held the sender back.
    maxPipe = Math.max(maxPipe, pipe);
    cwndLimited = pipe >= Math.floor(cwnd);
    // The send buffer grows to 2 × cwnd segments of skb memory only when
    // the window is not full after sending (tcp_should_expand_sndbuf), and
    // never shrinks: a sender that loss keeps window-limited stays small.
    if (!cwndLimited && state === "open" && Math.floor(cwnd) > cwndAt.at(-1)!) {
      ackedAt.push(Math.min(bytes, una * MSS));
      cwndAt.push(Math.floor(cwnd));
    }
  };

  const markLost = (i: number): void => {
    const tx = txs[i]!;
    if (!tx.inPipe) return;
    tx.inPipe = false;
    pipe--;
    lossesNow++;
    if (!sacked[tx.seg] && !queued[tx.seg]) {
      queued[tx.seg] = 1;
      retxQ.push(tx.seg);
    }
  };

  const cubicReset = (): void => {
    // Fast convergence (RFC 9438 4.7).
    wMax = spec.cubic && cwnd < wMax ? (cwnd * (1 + beta)) / 2 : cwnd;
    epochStart = Number.NaN;
  };

  const enterRecovery = (t: number, seg: number): void => {
    const from = cwnd;
    if (bbr) {
      // No reduction: BBR saves cwnd (bbr_ssthresh) and, on the ACK, conserves packets.
      bbr.saveCwnd(cwnd);
      state = "recovery";
      recoverAt = nextNew;
      tlpAt = Number.POSITIVE_INFINITY;
      events.push({
        atMs: t,
        kind: "fast-retransmit",
        detail: `segment ${seg + 1} lost (a later one was acknowledged): retransmitted, BBR keeps its rate (cwnd ${Math.floor(from)}, packet conservation for a round)`,
      });
      return;
    }
    cubicReset();
    ssthresh = Math.max(2, cwnd * beta);
    priorCwnd = cwnd;
    prrDelivered = 0;
    prrOut = 0;
    // The retransmission goes at once (PRR's forced fast retransmit).
    cwnd = pipe + 1;
    state = "recovery";
    recoverAt = nextNew;
    tlpAt = Number.POSITIVE_INFINITY;
    events.push({
      atMs: t,
      kind: "fast-retransmit",
      detail: `segment ${seg + 1} lost (a later one was acknowledged): retransmitted, cwnd ${Math.floor(from)} → ${Math.floor(ssthresh)} segments`,
    });
  };

  /**
   * Proportional rate reduction (RFC 6937, Linux's tcp_cwnd_reduction):
   * while more than ssthresh is out, send ssthresh/priorCwnd of what is
   * delivered; below it, slow start back up to ssthresh.
   */
  const prr = (delivered: number, advanced: boolean): void => {
    if (delivered <= 0) return;
    prrDelivered += delivered;
    const delta = ssthresh - pipe;
    let sndcnt: number;
    if (delta < 0) {
      sndcnt = Math.ceil((ssthresh * prrDelivered) / priorCwnd) - prrOut;
    } else {
      sndcnt = Math.min(delta, Math.max(prrDelivered - prrOut, delivered) + (advanced ? 1 : 0));
    }
    sndcnt = Math.max(sndcnt, prrOut > 0 ? 0 : 1);
    cwnd = pipe + sndcnt;
  };

  /** RACK: every outstanding transmission older than the newest acked one is lost. */
  const detect = (t: number, upTo: number): void => {
    let first = -1;
    for (let i = oldest; i < upTo; i++) {
      if (txs[i]!.inPipe) {
        markLost(i);
        if (first < 0) first = i;
      }
    }
    if (first >= 0 && state === "open") enterRecovery(t, txs[first]!.seg);
    reoAt = Number.POSITIVE_INFINITY;
    sackedSince = 0;
  };

  const grow = (t: number, acked: number): void => {
    if (t - maxPipeSince > srtt) {
      maxPipeSince = t;
      maxPipe = pipe;
    }
    for (let a = 0; a < acked; a++) {
      if (cwnd < ssthresh) {
        if (cwnd < 2 * maxPipe) cwnd += 1;
        continue;
      }
      if (!cwndLimited) continue;
      if (!spec.cubic) {
        cwnd += 1 / cwnd;
        continue;
      }
      if (Number.isNaN(epochStart)) {
        epochStart = t;
        if (cwnd < wMax) {
          k = Math.cbrt((wMax - cwnd) / CUBIC_C);
          originPoint = wMax;
        } else {
          k = 0;
          originPoint = cwnd;
        }
        renoEst = cwnd;
      }
      const rttS = (Number.isFinite(minRtt) ? minRtt : srtt) / 1000;
      const tt = (t - epochStart) / 1000 + rttS;
      const target = originPoint + CUBIC_C * (tt - k) ** 3;
      let cnt = target > cwnd ? cwnd / (target - cwnd) : 100 * cwnd;
      // The Reno-friendly region (RFC 9438 4.3).
      renoEst += (3 * (1 - beta)) / (1 + beta) / cwnd;
      if (renoEst > cwnd) cnt = Math.min(cnt, cwnd / (renoEst - cwnd));
      cwnd += 1 / Math.max(cnt, 2);
    }
  };

  const onAck = (t: number, i: number): void => {
    const tx = txs[i]!;
    lossesNow = 0;
    // The receiver (its state at t − RTT/2 is what this ACK reports).
    if (!received[tx.seg]) {
      received[tx.seg] = 1;
      const before = rcvNext;
      while (rcvNext < n && received[rcvNext]) rcvNext++;
      if (rcvNext > before) {
        const at = t - rtt;
        const x = Math.min(bytes, rcvNext * MSS);
        const x0 = pts.xs.at(-1)!;
        const ser = Math.min(size(rcvNext - 1) / lastRate(), at - pts.ts.at(-1)!);
        if (ser > 0 && at - ser > pts.ts.at(-1)!) {
          pts.ts.push(at - ser);
          pts.xs.push(x0);
          pts.infos.push(LIMIT_LINK);
        }
        pts.ts.push(at > pts.ts.at(-1)! ? at : pts.ts.at(-1)! + 1e-9);
        pts.xs.push(x);
        pts.infos.push(LIMIT_LINK);
      }
    }
    // The sender.
    if (!tx.retx) {
      const sample = t - tx.sentAt;
      minRtt = Math.min(minRtt, sample);
      rttvar = 0.75 * rttvar + 0.25 * Math.abs(srtt - sample);
      srtt = 0.875 * srtt + 0.125 * sample;
    }
    let fresh = 0;
    if (tx.inPipe) {
      tx.inPipe = false;
      pipe--;
    }
    let intervalMs = Number.NaN;
    if (!sacked[tx.seg]) {
      sacked[tx.seg] = 1;
      fresh = 1;
      delivered++;
      deliveredTime = t;
      // The rate sample (tcp_rate_gen): no interval shorter than the min RTT.
      const interval = Math.max(tx.sentAt - tx.firstTxAt, t - tx.deliveredAt);
      if (!(interval < minRtt)) intervalMs = interval;
      firstTxTime = tx.sentAt;
    }
    if (i === tlpTx) {
      tlpOut = false;
      tlpTx = -1;
    }
    // Outstanding older transmissions: lost (FIFO). RACK marks them once the
    // reordering window has passed, at once with 3 SACKs or in recovery.
    let pending = false;
    for (let j = oldest; j < i; j++) {
      if (txs[j]!.inPipe) {
        pending = true;
        break;
      }
    }
    if (pending) {
      sackedSince++;
      if (state !== "open" || sackedSince >= 3 || !Number.isFinite(minRtt) || minRtt === 0) {
        detect(t, i);
      } else if (reoAt === Number.POSITIVE_INFINITY) {
        reoAt = t + minRtt / 4;
        reoUpTo = i;
      } else {
        reoUpTo = i;
      }
    }
    while (oldest < txs.length && !txs[oldest]!.inPipe) oldest++;
    const advanced = rcvNext > una;
    una = rcvNext;
    if (state !== "open" && una >= recoverAt) {
      if (state === "recovery" && !bbr) cwnd = ssthresh;
      state = "open";
    }
    if (bbr) {
      // BBR's cong_control runs on every ACK, SACKs included, instead of PRR and growth.
      cwnd = bbr.onAck({
        t,
        delivered,
        acked: fresh,
        losses: lossesNow,
        priorDelivered: tx.priorDelivered,
        intervalMs,
        minRtt,
        inflight: pipe,
        state,
        cwnd,
      });
    } else if (state === "recovery") prr(fresh, advanced);
    // Linux raises cwnd only on ACKs that advance snd_una (tcp_may_raise_cwnd:
    // FLAG_DATA_ACKED), not on SACKs above a hole.
    else if (advanced) grow(t, fresh);
    if (advanced) {
      backoff = 0;
      rtoAt = pipe > 0 || una < nextNew ? t + rto() : Number.POSITIVE_INFINITY;
      if (state === "open" && !tlpOut && pipe > 0) {
        tlpAt = Math.min(t + 2 * srtt + (pipe === 1 ? RTO_MIN_MS : 2), rtoAt);
      }
    }
  };

  const onRto = (t: number): void => {
    const from = cwnd;
    if (bbr) {
      bbr.saveCwnd(cwnd);
      bbr.onTimeout();
    } else if (state !== "loss") {
      cubicReset();
      ssthresh = Math.max(2, cwnd * beta);
    }
    cwnd = 1;
    state = "loss";
    for (let i = oldest; i < txs.length; i++) markLost(i);
    // Everything not yet SACKed goes again, oldest first.
    retxQ.length = 0;
    retxHead = 0;
    queued.fill(0);
    for (let s = una; s < nextNew; s++) {
      if (!sacked[s]) {
        queued[s] = 1;
        retxQ.push(s);
      }
    }
    recoverAt = nextNew;
    timeouts++;
    const waited = rto();
    backoff++;
    rtoAt = t + rto();
    tlpAt = Number.POSITIVE_INFINITY;
    tlpOut = false;
    reoAt = Number.POSITIVE_INFINITY;
    sackedSince = 0;
    events.push({
      atMs: t,
      kind: "rto",
      detail: `retransmission timeout (${Math.round(waited)} ms, ${backoff === 1 ? "first" : `backoff ×${2 ** (backoff - 1)}`}): segment ${una + 1} again, cwnd ${Math.floor(from)} → 1, ${bbr ? "BBR restores it when the recovery ends" : `ssthresh ${Math.floor(ssthresh)}`}`,
    });
  };

  const onTlp = (t: number): void => {
    tlpAt = Number.POSITIVE_INFINITY;
    tlpOut = true;
    tlpTx = txs.length;
    let seg: number;
    if (nextNew < n && inFlightSegs() < windowSegs) {
      seg = nextNew++;
      transmit(t, seg, false);
    } else {
      // The newest segment not yet SACKed, again.
      seg = nextNew - 1;
      while (seg > una && sacked[seg]) seg--;
      transmit(t, seg, true);
    }
    tlpAt = Number.POSITIVE_INFINITY;
    // The probe restarts the retransmission timer from now
    // (tcp_send_loss_probe → tcp_rearm_rto): a probe that fired at the RTO's
    // own time (the PTO is clipped to it) is not followed by a timeout at once.
    rtoAt = t + rto();
    events.push({
      atMs: t,
      kind: "tail-probe",
      detail: `no ACK for 2 RTTs: tail loss probe (segment ${seg + 1})`,
    });
  };

  trySend(0);
  const stopAt = spec.cutAtMs + rtt;
  let guard = 0;
  while (una < n) {
    while (ackPtr < txs.length && txs[ackPtr]!.lost) ackPtr++;
    const tAck = ackPtr < txs.length ? txs[ackPtr]!.dep + rtt : Number.POSITIVE_INFINITY;
    const t = Math.min(tAck, reoAt, tlpAt, rtoAt, tsqWakeAt);
    if (t === Number.POSITIVE_INFINITY || t > stopAt) break;
    if (++guard > 50_000_000) throw new Error("lossy link: runaway simulation");
    if (t === tAck) {
      onAck(t, ackPtr++);
    } else if (t === reoAt) {
      detect(t, reoUpTo);
    } else if (t === tsqWakeAt) {
      // Room at the bottleneck: trySend below.
    } else if (t === tlpAt) {
      onTlp(t);
    } else {
      onRto(t);
    }
    trySend(t);
  }
  return {
    curve: curveOf(pts, bytes),
    ackedAt,
    cwndAt,
    events,
    transmissions: txs.length,
    retransmissions,
    timeouts,
  };
}
