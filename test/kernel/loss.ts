/**
 * The simulator's loss model against the Linux TCP stack: uploads over the
 * kernel lab with seeded random drops in the delayer (each data segment
 * from the client lost with probability p, behind its `tc tbf`), compared
 * as distributions with `simulateUpload` for the same path. Loss makes a
 * single upload's duration a random variable, so one prediction against
 * one measurement means little: the median and p95 of ≥ 10 real uploads
 * are set against the median and p95 of the simulator's.
 *
 * Against which simulated uploads: the simulator replays the very drops of
 * each real upload (`lostTransmissions` from the delayer's seed,
 * drops.ts), so both sides are judged on the same losses (common random
 * numbers). Its spread over 200 loss seeds of its own is shown beside, but
 * it is no yardstick for ten real uploads: where the first loss comes
 * decides most of an upload's time at large bandwidth-delay products (1 %
 * at 10 Mbit/s, RTT 150 ms: 2.7 s to 20 s, flat in between), so the median
 * of ten uploads on other drops lands within ±10 % of the model's only one
 * time in four even if the model is exact.
 *
 * @module
 */
import { simulateUpload } from "../../sim/mod.ts";
import type { RunLine } from "./client.ts";
import { labLostTransmissions } from "./drops.ts";
import { type Lab, median, TBF_BURST_BYTES } from "./lab.ts";
import { BULK_TIMEOUTS, wireMs } from "./validate.ts";

export interface LossCell {
  payloadBytes: number;
  rateBitsPerSecond: number;
  /** Nominal RTT: the delay is calibrated to it, the simulator gets the probed one. */
  rttMs: number;
  /** Probability that a data segment from the client is dropped. */
  lossRate: number;
  chunkBytes: number;
}

export interface LossCellResult {
  cell: LossCell;
  congestionControl: string;
  rttMeasuredMs: number;
  /** Per real upload: fetch() to response headers, ms (sorted). */
  realMs: number[];
  /**
   * The delayer's drop seed of each real upload (the set, not in `realMs`'
   * order). Recorded runs without it used 1…n.
   */
  seeds?: number[];
  /** With `seeds` from a measurement: each real upload and the simulator on its drops, in `seeds`' order, ms. */
  realBySeedMs?: number[];
  pairedBySeedMs?: number[];
  /** The simulator on the real uploads' drops (one per seed), ms (sorted). */
  pairedMs: number[];
  /** Per simulated upload on its own draws (loss seeds 1…`simRuns`), ms (sorted). */
  simMs: number[];
  real: { p5: number; p50: number; p95: number };
  paired: { p5: number; p50: number; p95: number };
  sim: { p5: number; p50: number; p95: number };
  /** (real − paired) / paired, %: the judged errors. */
  medianErrorPct: number;
  p95ErrorPct: number;
  /** (real − sim) / sim, %: against the simulator's own draws, for reference. */
  simMedianErrorPct: number;
  simP95ErrorPct: number;
  pass: boolean;
  /** `ss -tmi` of each real upload's connection when its headers arrived (cwnd, ssthresh, retransmissions). */
  ss: string[];
}

/** Quantile with linear interpolation between order statistics (type 7), of sorted values. */
export function quantile(sorted: number[], q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (h - lo);
}

const spread = (xs: number[]) => ({
  p5: quantile(xs, 0.05),
  p50: quantile(xs, 0.5),
  p95: quantile(xs, 0.95),
});

/**
 * The simulator's durations for a cell, one per seed 1…`runs` (its own
 * draws; sorted), or with `replay`, one per delayer seed on that upload's
 * drops (in `replay`'s order). `congestionControl`: what the real
 * connections ran (`ss`), modelled as that where the simulator has it.
 */
export function simulateLossCell(
  cell: LossCell,
  rttMs: number,
  runs: number,
  replay?: number[],
  congestionControl = "cubic",
): number[] {
  const cc =
    congestionControl === "bbr" || congestionControl === "reno" ? congestionControl : "cubic";
  const out: number[] = [];
  const seeds = replay ?? Array.from({ length: runs }, (_, i) => i + 1);
  // More transmissions than any upload here makes (a few % resent).
  const count = 4 * Math.ceil(cell.payloadBytes / 1448);
  for (const seed of seeds) {
    const loss = replay
      ? { lostTransmissions: labLostTransmissions(seed, cell.lossRate, count) }
      : { lossRate: cell.lossRate, seed };
    const r = simulateUpload({
      payloadBytes: cell.payloadBytes,
      chunkBytes: cell.chunkBytes,
      // The tbf is on the client's own egress (lab.ts).
      clientBitsPerSecond: cell.rateBitsPerSecond,
      proxyBitsPerSecond: cell.rateBitsPerSecond,
      proxyBurstBytes: TBF_BURST_BYTES,
      rttMs,
      sendBufferBytes: 4 * 1024 * 1024,
      timeouts: BULK_TIMEOUTS,
      congestionControl: cc,
      ...loss,
    });
    if (r.outcome !== "ok") throw new Error(`simulator: ${r.outcome} ${r.phase ?? ""}`);
    out.push(r.elapsedMs);
  }
  return replay ? out : out.sort((a, b) => a - b);
}

/**
 * Measures `reps` uploads of a cell with loss (a fresh connection and drop
 * seed each) and compares the distribution with `simRuns` simulated ones.
 * The RTT is probed first, with no loss.
 */
export async function measureLossCell(
  lab: Lab,
  cell: LossCell,
  reps: number,
  simRuns = 200,
  seedBase = 1,
): Promise<LossCellResult> {
  lab.shape(cell.rateBitsPerSecond);
  lab.setLoss(0, 0);
  const probe = await lab.runClient(
    { payloadBytes: 1, chunkBytes: 1024, reps: 0, pauseMs: 0, probes: 11 },
    30_000,
  );
  const rttMeasuredMs = median(probe.probe!.rttMs);
  // The longest upload the simulator expects, for the client's time limit.
  const longest = simulateLossCell(cell, rttMeasuredMs, 50).at(-1)!;
  const runs: RunLine[] = [];
  const seeds = Array.from({ length: reps }, (_, rep) => seedBase + rep);
  try {
    for (const seed of seeds) {
      lab.setLoss(cell.lossRate, seed);
      const got = await lab.runClient(
        {
          payloadBytes: cell.payloadBytes,
          chunkBytes: cell.chunkBytes,
          reps: 1,
          pauseMs: 100,
          timeouts: BULK_TIMEOUTS,
          ss: true,
        },
        longest * 4 + wireMs(cell.payloadBytes, cell.rateBitsPerSecond) + 30_000,
      );
      runs.push(...got.runs);
    }
  } finally {
    lab.setLoss(0, 0);
  }
  const failed = runs.find((r) => !r.ok || r.serverBytes !== cell.payloadBytes);
  if (failed) throw new Error(`upload failed: ${JSON.stringify(failed).slice(0, 500)}`);
  // What the connections really ran (`ss -i` names the algorithm).
  const congestionControl =
    /\b(cubic|reno|bbr)\b/.exec(runs.map((r) => r.ss ?? "").join(" "))?.[1] ?? "unknown";
  return compareLossCell(
    cell,
    rttMeasuredMs,
    runs.map((r) => r.elapsedMs),
    simRuns,
    congestionControl,
    runs.map((r) => r.ss ?? ""),
    seeds,
  );
}

/**
 * Real durations of a cell against the simulator on the same drops (the
 * judged comparison) and against `simRuns` simulated uploads on its own
 * draws (for reference). `seeds`: the delayer's seed of each real upload,
 * in `real`'s order; without them, `real` is the uploads of seeds 1…n in
 * any order (`measureLossCell`'s default; the first recorded grid).
 */
export function compareLossCell(
  cell: LossCell,
  rttMeasuredMs: number,
  real: number[],
  simRuns: number,
  congestionControl: string,
  ss: string[] = [],
  seeds?: number[],
): LossCellResult {
  const pairedBySeedMs = simulateLossCell(
    cell,
    rttMeasuredMs,
    real.length,
    seeds ?? real.map((_, i) => i + 1),
    congestionControl,
  );
  const pairedMs = pairedBySeedMs.slice().sort((a, b) => a - b);
  const simMs = simulateLossCell(cell, rttMeasuredMs, simRuns, undefined, congestionControl);
  const realMs = real.slice().sort((a, b) => a - b);
  const r = spread(realMs);
  const paired = spread(pairedMs);
  const sim = spread(simMs);
  const err = (a: number, b: number): number => ((a - b) / b) * 100;
  const medianErrorPct = err(r.p50, paired.p50);
  const p95ErrorPct = err(r.p95, paired.p95);
  return {
    cell,
    congestionControl,
    rttMeasuredMs,
    realMs,
    seeds: seeds ?? real.map((_, i) => i + 1),
    ...(seeds ? { realBySeedMs: real.slice(), pairedBySeedMs } : {}),
    pairedMs,
    simMs,
    real: r,
    paired,
    sim,
    medianErrorPct,
    p95ErrorPct,
    simMedianErrorPct: err(r.p50, sim.p50),
    simP95ErrorPct: err(r.p95, sim.p95),
    pass: Math.abs(medianErrorPct) <= 10 && Math.abs(p95ErrorPct) <= 20,
    ss,
  };
}

const s = (ms: number): string => (ms / 1000).toFixed(2);

/** A markdown table of loss cells. */
export function lossTable(rows: LossCellResult[]): string {
  const out = [
    "| loss | rate | RTT (probed) | payload | cc (ss) | real p5 / p50 / p95 (s) | simulator, same drops p5 / p50 / p95 (s) | median error | p95 error | within target | simulator, 200 own seeds p5 / p50 / p95 (s) | median / p95 error against them |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  const pct = (x: number): string => `${x >= 0 ? "+" : ""}${x.toFixed(1)} %`;
  const q3 = (x: { p5: number; p50: number; p95: number }): string =>
    `${s(x.p5)} / ${s(x.p50)} / ${s(x.p95)}`;
  for (const r of rows) {
    const c = r.cell;
    out.push(
      `| ${c.lossRate * 100} % | ${c.rateBitsPerSecond / 1e6} Mbit/s | ${c.rttMs} ms (${r.rttMeasuredMs.toFixed(1)}) | ${(c.payloadBytes / 1024 / 1024).toFixed(0)} MiB | ${r.congestionControl} | ${q3(r.real)} | ${q3(r.paired)} | ${pct(r.medianErrorPct)} | ${pct(r.p95ErrorPct)} | ${r.pass ? "yes" : "**no**"} | ${q3(r.sim)} | ${pct(r.simMedianErrorPct)} / ${pct(r.simP95ErrorPct)} |`,
    );
  }
  return out.join("\n");
}
