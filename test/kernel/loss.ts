/**
 * The simulator's loss model against the Linux TCP stack: uploads over the
 * kernel lab with seeded random drops in the delayer (each data segment
 * from the client lost with probability p, behind its `tc tbf`), compared
 * as distributions with `simulateUpload` over many loss seeds for the same
 * path. Loss makes a single upload's duration a random variable, so one
 * prediction against one measurement means little: the median and p95 of
 * ≥ 10 real uploads are set against the median and p95 of the simulator's.
 *
 * @module
 */
import { simulateUpload } from "../../sim/mod.ts";
import type { RunLine } from "./client.ts";
import { type Lab, median, TBF_BURST_BYTES } from "./lab.ts";
import { BULK_TIMEOUTS, VETH_BITS_PER_SECOND, wireMs } from "./validate.ts";

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
  /** Per simulated upload (one per loss seed), ms (sorted). */
  simMs: number[];
  real: { p5: number; p50: number; p95: number };
  sim: { p5: number; p50: number; p95: number };
  /** (real − sim) / sim, %. */
  medianErrorPct: number;
  p95ErrorPct: number;
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

/** The simulator's durations for a cell, one per seed 1…`runs`. */
export function simulateLossCell(cell: LossCell, rttMs: number, runs: number): number[] {
  const out: number[] = [];
  for (let seed = 1; seed <= runs; seed++) {
    const r = simulateUpload({
      payloadBytes: cell.payloadBytes,
      chunkBytes: cell.chunkBytes,
      clientBitsPerSecond: VETH_BITS_PER_SECOND,
      proxyBitsPerSecond: cell.rateBitsPerSecond,
      proxyBurstBytes: TBF_BURST_BYTES,
      rttMs,
      sendBufferBytes: 4 * 1024 * 1024,
      timeouts: BULK_TIMEOUTS,
      lossRate: cell.lossRate,
      seed,
    });
    if (r.outcome !== "ok") throw new Error(`simulator: ${r.outcome} ${r.phase ?? ""}`);
    out.push(r.elapsedMs);
  }
  return out.sort((a, b) => a - b);
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
  try {
    for (let rep = 0; rep < reps; rep++) {
      lab.setLoss(cell.lossRate, seedBase + rep);
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
  );
}

/** Real durations of a cell against `simRuns` simulated ones. */
export function compareLossCell(
  cell: LossCell,
  rttMeasuredMs: number,
  real: number[],
  simRuns: number,
  congestionControl: string,
  ss: string[] = [],
): LossCellResult {
  const simMs = simulateLossCell(cell, rttMeasuredMs, simRuns);
  const realMs = real.slice().sort((a, b) => a - b);
  const r = spread(realMs);
  const sim = spread(simMs);
  const medianErrorPct = ((r.p50 - sim.p50) / sim.p50) * 100;
  const p95ErrorPct = ((r.p95 - sim.p95) / sim.p95) * 100;
  return {
    cell,
    congestionControl,
    rttMeasuredMs,
    realMs,
    simMs,
    real: r,
    sim,
    medianErrorPct,
    p95ErrorPct,
    pass: Math.abs(medianErrorPct) <= 10 && Math.abs(p95ErrorPct) <= 20,
    ss,
  };
}

const s = (ms: number): string => (ms / 1000).toFixed(2);

/** A markdown table of loss cells. */
export function lossTable(rows: LossCellResult[]): string {
  const out = [
    "| loss | rate | RTT (probed) | payload | cc (ss) | real p5 / p50 / p95 (s) | simulator p5 / p50 / p95 (s) | median error | p95 error | within target |",
    "|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const r of rows) {
    const c = r.cell;
    out.push(
      `| ${c.lossRate * 100} % | ${c.rateBitsPerSecond / 1e6} Mbit/s | ${c.rttMs} ms (${r.rttMeasuredMs.toFixed(1)}) | ${(c.payloadBytes / 1024 / 1024).toFixed(0)} MiB | ${r.congestionControl} | ${s(r.real.p5)} / ${s(r.real.p50)} / ${s(r.real.p95)} | ${s(r.sim.p5)} / ${s(r.sim.p50)} / ${s(r.sim.p95)} | ${r.medianErrorPct >= 0 ? "+" : ""}${r.medianErrorPct.toFixed(1)} % | ${r.p95ErrorPct >= 0 ? "+" : ""}${r.p95ErrorPct.toFixed(1)} % | ${r.pass ? "yes" : "**no**"} |`,
    );
  }
  return out.join("\n");
}
