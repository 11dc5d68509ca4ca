/**
 * Sweep throughput: simulated uploads per second of wall time for
 * `sweep()` on the calling thread and on 2 worker threads.
 *
 * The plan is `timebound recommend`'s default: the seed's residential-proxy
 * profile (2.4 MB, proxy uplink ~4 Mbit/s lognormal σ 0.6, RTT ~150 ms,
 * send buffer 128–512 KiB, token-bucket bursts, rare drops and tarpits),
 * 6 chunk sizes × 5 writeIdle × 6 totals = 180 candidates, here with 1,000
 * trials each: 180,000 simulated uploads per run. One warm-up run, then the
 * best and the median of three are reported, with the cores the process
 * actually got (its CPU time over wall time). The machine is shared: the
 * load average is printed with the results.
 *
 * Run: node bench/sim-sweep.ts [trials]
 *
 * @module
 */
import { loadavg } from "node:os";
import { cpuUsage } from "node:process";
import { sweep } from "../sim/mod.ts";

const TRIALS = Number(process.argv[2] ?? 1000);
const ROUNDS = 3;

interface Run {
  ms: number;
  uploads: number;
  /** CPU time of the whole process (every thread) over wall time: the cores it got. */
  cores: number;
}

async function once(workers: number): Promise<Run> {
  const c0 = cpuUsage();
  const t0 = performance.now();
  const r = await sweep({ trials: TRIALS, workers, seed: 1 });
  const ms = performance.now() - t0;
  const cpu = cpuUsage(c0);
  return { ms, uploads: r.cells.length * r.trials, cores: (cpu.user + cpu.system) / 1000 / ms };
}

console.log(
  `sweep: ${TRIALS} trials × 180 candidates; Node ${process.version}; load average ${loadavg()
    .map((x) => x.toFixed(2))
    .join(" ")}`,
);
console.log(
  "| threads | simulated uploads | best wall time | uploads/s (best) | uploads/s (median) | cores used (best run) |",
);
console.log("|---|---|---|---|---|---|");
for (const workers of [1, 2]) {
  await once(workers); // warm-up: JIT, and worker start-up paths
  const runs: Run[] = [];
  for (let i = 0; i < ROUNDS; i++) runs.push(await once(workers));
  runs.sort((a, b) => a.ms - b.ms);
  const best = runs[0]!;
  const median = runs[Math.floor(ROUNDS / 2)]!;
  const rate = (r: Run) => Math.round((r.uploads / r.ms) * 1000).toLocaleString("en-US");
  console.log(
    `| ${workers} | ${best.uploads.toLocaleString("en-US")} | ${(best.ms / 1000).toFixed(2)} s | ${rate(best)} | ${rate(median)} | ${best.cores.toFixed(2)} |`,
  );
}
console.log(
  `load average after: ${loadavg()
    .map((x) => x.toFixed(2))
    .join(" ")}`,
);
