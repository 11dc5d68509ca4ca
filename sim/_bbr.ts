/**
 * Private to `sim/`: BBR v1's congestion control, as Linux's tcp_bbr.c runs
 * it, for the segment-level lossy sender (`_loss.ts`), which keeps its own
 * loss detection and recovery (RACK, tail loss probes, RTO) and asks this
 * model, on every ACK, for cwnd and the pacing rate in their place of
 * CUBIC's or Reno's reaction. Simplified where the answer does not change:
 *
 * - The model: the delivery rate's windowed maximum over 10 round trips
 *   (the delivery-rate samples of tcp_rate.c: delivered segments over the
 *   longer of the send and the ACK interval, none shorter than the min RTT)
 *   and the min RTT. STARTUP at gain 2/ln 2 until the bandwidth plateaus
 *   (three rounds without 25 % growth), DRAIN at its inverse until what is
 *   in flight is down to the BDP, then PROBE_BW's eight-phase pacing-gain
 *   cycle 1.25, 0.75, 1 × 6 (a phase lasts a min RTT; 1.25 until what is
 *   in flight reaches 1.25 × BDP or a loss, 0.75 ends once it is down to
 *   the BDP), starting in a random phase other than 0.75.
 * - cwnd: the target is cwnd_gain × BDP (2 in PROBE_BW, 2/ln 2 before)
 *   plus three TSO-sized skbs, rounded up to even, plus 2 in the 1.25
 *   phase (bbr_quantization_budget), at least 4; it grows by what each ACK
 *   delivers up to the target, never above it once the bandwidth is found.
 * - On loss, no multiplicative decrease: cwnd loses what an ACK marks lost;
 *   the first round of fast recovery conserves packets (cwnd = in flight +
 *   delivered), then cwnd grows back to the target; leaving recovery
 *   restores the cwnd saved on entering it (bbr_save_cwnd,
 *   bbr_set_cwnd_to_recover_or_restore). A retransmission timeout sets
 *   cwnd to 1 (tcp_enter_loss), saves the old one and restores it when the
 *   loss state ends; the bandwidth estimate is kept.
 * - Pacing at pacing_gain × bandwidth, 1 % below it (bbr_pacing_margin);
 *   before the first sample, 2/ln 2 × the initial window per RTT; in
 *   STARTUP the rate never falls.
 *
 * Left out: PROBE_RTT (the min RTT expires after 10 s without a lower
 * sample; the uploads modelled take seconds and their RTT samples only
 * rise with the queue, so it would fire at most once, late, for 200 ms),
 * the long-term bandwidth of policed links (bbr_lt_bw_sampling: it engages
 * at loss rates ≥ 20 %, not the 1–3 % of random loss it is told apart
 * from), the ACK-aggregation cwnd bonus (bbr_extra_acked: the kernel lab
 * acknowledges segment by segment through its delayer) and app-limited
 * samples (the writer keeps the buffer full).
 *
 * @module
 */
import { fmix32 } from "./_hash.ts";

const HIGH_GAIN = 2885 / 1000;
const DRAIN_GAIN = 1000 / 2885;
const CWND_GAIN = 2;
const CYCLE = [5 / 4, 3 / 4, 1, 1, 1, 1, 1, 1];
/** Rounds the bandwidth filter spans (bbr_bw_rtts = cycle + 2). */
const BW_ROUNDS = CYCLE.length + 2;
const FULL_BW_THRESH = 5 / 4;
const FULL_BW_COUNT = 3;
const CWND_MIN = 4;
const INIT_CWND = 10;
const PACING_MARGIN = 0.99;

type Mode = "startup" | "drain" | "probe-bw";
/** The sender's recovery state, as `_loss.ts` keeps it (Linux's ca_state). */
export type RecoveryState = "open" | "recovery" | "loss";

/** What one ACK tells BBR (tcp_rate.c's rate sample and the cwnd inputs). */
export interface BbrAck {
  t: number;
  /** Segments delivered (SACKed or cumulatively acknowledged) so far. */
  delivered: number;
  /** Segments this ACK delivered. */
  acked: number;
  /** Transmissions this ACK had marked lost. */
  losses: number;
  /** `delivered` when the acknowledged transmission was sent. */
  priorDelivered: number;
  /** The sample's interval, ms (the longer of send and ACK); NaN: no sample. */
  intervalMs: number;
  minRtt: number;
  /** Segments in flight after this ACK (tcp_packets_in_flight). */
  inflight: number;
  state: RecoveryState;
  cwnd: number;
}

export class Bbr {
  mode: Mode = "startup";
  /** Pacing rate, segments/ms. */
  pacingRate: number;
  #pacingGain = HIGH_GAIN;
  #cwndGain = HIGH_GAIN;
  /** Per round: the largest delivery rate sampled in it (segments/ms). */
  #bwRounds: { round: number; bw: number }[] = [];
  /** The largest of them: the windowed max, kept as the window moves. */
  #maxBw = 0;
  #round = 0;
  #nextRoundDelivered = 0;
  #roundStart = false;
  #fullBw = 0;
  #fullBwCount = 0;
  #fullBwReached = false;
  #cycleIdx = 0;
  #cycleStamp = 0;
  #deliveredAt = 0;
  #priorCwnd = 0;
  #conservation = false;
  #prevState: RecoveryState = "open";
  readonly #seed: number;

  constructor(seed: number, initialCwnd: number, srtt: number) {
    this.#seed = seed;
    this.pacingRate = srtt > 0 ? (HIGH_GAIN * initialCwnd) / srtt : Number.POSITIVE_INFINITY;
  }

  /** The windowed max bandwidth, segments/ms (0 before the first sample). */
  bw(): number {
    return this.#maxBw;
  }

  /** Segments per TSO skb BBR aims for: ~1 ms at the pacing rate, at least 2 (bbr_tso_segs_goal). */
  #tsoSegs(): number {
    const perMs = Number.isFinite(this.pacingRate) ? this.pacingRate : 0;
    return Math.max(2, Math.min(127, Math.floor((perMs * 1000) / 1024)));
  }

  /** bbr_inflight: BDP × gain plus the quantization budget. */
  #inflight(bw: number, gain: number, minRtt: number): number {
    if (!Number.isFinite(minRtt)) return INIT_CWND;
    let cwnd = Math.ceil(bw * minRtt * gain);
    cwnd += 3 * this.#tsoSegs();
    cwnd += cwnd % 2;
    if (this.mode === "probe-bw" && this.#cycleIdx === 0) cwnd += 2;
    return cwnd;
  }

  /** bbr_save_cwnd: on entering fast recovery or a timeout. */
  saveCwnd(cwnd: number): void {
    this.#priorCwnd = this.#prevState === "open" ? cwnd : Math.max(this.#priorCwnd, cwnd);
  }

  /** A retransmission timeout (bbr_set_state to TCP_CA_Loss): the RTO ends a round. */
  onTimeout(): void {
    this.#prevState = "loss";
    this.#fullBw = 0;
    this.#roundStart = true;
  }

  /** Runs BBR on one ACK (bbr_main); returns the new cwnd. */
  onAck(a: BbrAck): number {
    this.#updateBw(a);
    this.#updateCycle(a);
    this.#checkFullBw();
    this.#checkDrain(a);
    this.#setPacing();
    return this.#setCwnd(a);
  }

  #updateBw(a: BbrAck): void {
    this.#roundStart = false;
    this.#deliveredAt = a.t;
    if (!(a.intervalMs > 0) || a.acked <= 0) return;
    if (a.priorDelivered >= this.#nextRoundDelivered) {
      this.#nextRoundDelivered = a.delivered;
      this.#round++;
      this.#roundStart = true;
      this.#conservation = false;
    }
    const bw = (a.delivered - a.priorDelivered) / a.intervalMs;
    const last = this.#bwRounds.at(-1);
    if (last && last.round === this.#round) last.bw = Math.max(last.bw, bw);
    else this.#bwRounds.push({ round: this.#round, bw });
    while (this.#bwRounds[0]!.round <= this.#round - BW_ROUNDS) this.#bwRounds.shift();
    let m = 0;
    for (const r of this.#bwRounds) if (r.bw > m) m = r.bw;
    this.#maxBw = m;
  }

  #advanceCycle(t: number): void {
    this.#cycleIdx = (this.#cycleIdx + 1) % CYCLE.length;
    this.#cycleStamp = t;
  }

  #updateCycle(a: BbrAck): void {
    if (this.mode !== "probe-bw") return;
    const gain = CYCLE[this.#cycleIdx]!;
    const full = this.#deliveredAt - this.#cycleStamp > a.minRtt;
    const inflight = a.inflight + a.acked;
    let next: boolean;
    if (gain === 1) next = full;
    else if (gain > 1)
      next = full && (a.losses > 0 || inflight >= this.#inflight(this.bw(), gain, a.minRtt));
    else next = full || inflight <= this.#inflight(this.bw(), 1, a.minRtt);
    if (next) this.#advanceCycle(this.#deliveredAt);
  }

  #checkFullBw(): void {
    if (this.#fullBwReached || !this.#roundStart) return;
    const bw = this.bw();
    if (bw >= this.#fullBw * FULL_BW_THRESH) {
      this.#fullBw = bw;
      this.#fullBwCount = 0;
      return;
    }
    this.#fullBwCount++;
    this.#fullBwReached = this.#fullBwCount >= FULL_BW_COUNT;
  }

  #checkDrain(a: BbrAck): void {
    if (this.mode === "startup" && this.#fullBwReached) this.mode = "drain";
    if (this.mode === "drain" && a.inflight <= this.#inflight(this.bw(), 1, a.minRtt)) {
      this.mode = "probe-bw";
      // A random phase, never the draining 0.75 (bbr_reset_probe_bw_mode).
      const u = (fmix32(fmix32(this.#seed ^ 0x0bb2_0bb2) ^ this.#round) >>> 0) / 2 ** 32;
      const r = Math.floor(u * (CYCLE.length - 1));
      this.#cycleIdx = CYCLE.length - 1 - r;
      this.#advanceCycle(this.#deliveredAt);
    }
    this.#pacingGain =
      this.mode === "startup"
        ? HIGH_GAIN
        : this.mode === "drain"
          ? DRAIN_GAIN
          : CYCLE[this.#cycleIdx]!;
    this.#cwndGain = this.mode === "probe-bw" ? CWND_GAIN : HIGH_GAIN;
  }

  #setPacing(): void {
    const bw = this.bw();
    if (bw <= 0) return;
    const rate = this.#pacingGain * bw * PACING_MARGIN;
    if (this.#fullBwReached || rate > this.pacingRate || !Number.isFinite(this.pacingRate)) {
      this.pacingRate = rate;
    }
  }

  #setCwnd(a: BbrAck): number {
    if (a.acked <= 0) return a.cwnd;
    let cwnd = a.cwnd;
    // bbr_set_cwnd_to_recover_or_restore.
    if (a.losses > 0) cwnd = Math.max(cwnd - a.losses, 1);
    if (a.state === "recovery" && this.#prevState !== "recovery") {
      this.#conservation = true;
      this.#nextRoundDelivered = a.delivered;
      cwnd = a.inflight + a.acked;
    } else if (this.#prevState !== "open" && a.state === "open") {
      cwnd = Math.max(cwnd, this.#priorCwnd);
      this.#conservation = false;
    }
    this.#prevState = a.state;
    if (this.#conservation) return Math.max(cwnd, a.inflight + a.acked);
    const target = this.#inflight(this.bw(), this.#cwndGain, a.minRtt);
    if (this.#fullBwReached) cwnd = Math.min(cwnd + a.acked, target);
    else if (cwnd < target || a.delivered < INIT_CWND) cwnd += a.acked;
    return Math.max(cwnd, CWND_MIN);
  }
}
