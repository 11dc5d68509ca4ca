/**
 * The simulator's loss model against the Linux TCP stack, the full grid
 * (issue 12, item 6): loss {0.1, 1, 3 %} × rate {2, 10 Mbit/s} × RTT {50,
 * 150 ms}, `--reps` real uploads per cell (default 10, each on a fresh
 * connection with its own drop seed) against 200 simulated ones (loss seeds
 * 1–200), compared as distributions: median within ±10 %, p95 within ±20 %.
 * Payload 1 MiB at 2 Mbit/s and 2 MiB at 10 Mbit/s (≥ 1.8 s on the wire
 * without loss). Drops: test/kernel/delay.ts, behind the client's
 * `tc tbf`, data segments from the client only. Congestion control in the
 * client's namespace: `--cc` (default cubic, the model's default).
 *
 * Run (root; Linux with `ip netns`, `tc tbf`, /dev/net/tun), one RTT per
 * locked run keeps each under ~10 min on a shared machine:
 *   flock /tmp/timebound-lab.lock node bench/sim-kernel-loss.ts --rtt 50
 *   flock /tmp/timebound-lab.lock node bench/sim-kernel-loss.ts --rtt 150
 * Prints a markdown table (stdout) and progress (stderr); `--json FILE`
 * also writes every duration. `--from FILE[,FILE…]` measures nothing: it
 * compares the real durations recorded in those files with the simulator
 * as it is now (no root needed), for work on the model between lab runs.
 *
 * @module
 */
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release } from "node:os";
import { Lab, labSupport } from "../test/kernel/lab.ts";
import {
  compareLossCell,
  type LossCellResult,
  lossTable,
  measureLossCell,
} from "../test/kernel/loss.ts";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const REPS = Number(arg("reps", "10"));
const CC = arg("cc", "cubic");
const RTTS = arg("rtt", "50,150").split(",").map(Number);
const RATES = arg("rate", "2,10")
  .split(",")
  .map((r) => Number(r) * 1e6);
const LOSSES = arg("loss", "0.1,1,3")
  .split(",")
  .map((l) => Number(l) / 100);
const SIM_RUNS = Number(arg("sim-runs", "200"));
const JSON_OUT = arg("json", "");
const MiB = 1024 * 1024;

const FROM = arg("from", "");
if (FROM) {
  const rows: LossCellResult[] = [];
  for (const file of FROM.split(",")) {
    for (const r of JSON.parse(readFileSync(file, "utf8")) as LossCellResult[]) {
      rows.push(
        compareLossCell(r.cell, r.rttMeasuredMs, r.realMs, SIM_RUNS, r.congestionControl, r.ss),
      );
    }
  }
  const pass = rows.filter((r) => r.pass).length;
  console.log(
    `Recorded real uploads from ${FROM} against the simulator as it is now (${SIM_RUNS} simulated per cell); ${pass}/${rows.length} cells within target (median ±10 %, p95 ±20 %).\n`,
  );
  console.log(lossTable(rows));
  process.exit(0);
}

const support = labSupport();
if (!support.ok) {
  console.log(`sim-kernel-loss: skipped: ${support.reason}`);
  process.exit(0);
}

const started = Date.now();
const log = (s: string): void =>
  console.error(`[${((Date.now() - started) / 1000).toFixed(0)} s] ${s}`);
const lab = await Lab.open();
const rows: LossCellResult[] = [];
const loads: number[] = [];
try {
  lab.routeCongestionControl(CC);
  for (const rttMs of RTTS) {
    lab.shape(10e6);
    await lab.setDelay(rttMs);
    for (const rate of RATES) {
      for (const lossRate of LOSSES) {
        loads.push(loadavg()[0]!);
        const r = await measureLossCell(
          lab,
          {
            payloadBytes: rate >= 10e6 ? 2 * MiB : MiB,
            rateBitsPerSecond: rate,
            rttMs,
            lossRate,
            chunkBytes: 16 * 1024,
          },
          REPS,
          SIM_RUNS,
        );
        rows.push(r);
        log(
          `${lossRate * 100} % ${rate / 1e6} Mbit/s RTT ${rttMs}: real ${r.realMs.map((x) => (x / 1000).toFixed(2)).join(" ")} | sim p50 ${(r.sim.p50 / 1000).toFixed(2)} p95 ${(r.sim.p95 / 1000).toFixed(2)} | err ${r.medianErrorPct.toFixed(1)} % / ${r.p95ErrorPct.toFixed(1)} %`,
        );
      }
    }
  }
} finally {
  await lab.close();
}

const pass = rows.filter((r) => r.pass).length;
console.log(
  `Machine: Linux ${release()}, ${cpus().length} vCPU; congestion control \`${CC}\`; ${REPS} real uploads per cell against ${SIM_RUNS} simulated; load average ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}; ${((Date.now() - started) / 60_000).toFixed(1)} min; ${pass}/${rows.length} cells within target (median ±10 %, p95 ±20 %).\n`,
);
console.log(lossTable(rows));
console.log(`\nDelayer (drops, lateness): ${lab.delayStats.join("; ")}`);
if (JSON_OUT) writeFileSync(JSON_OUT, JSON.stringify(rows, null, 1));
