/**
 * The simulator's loss model against the Linux TCP stack, the full grid
 * (issue 12, item 6): loss {0.1, 1, 3 %} × rate {2, 10 Mbit/s} × RTT {50,
 * 150 ms}, `--reps` real uploads per cell (default 10, each on a fresh
 * connection with its own drop seed, `--seed-base` on) compared as
 * distributions with the simulator replaying each upload's drops
 * (`lostTransmissions`): median within ±10 %, p95 within ±20 %. Beside them,
 * 200 simulated uploads on the simulator's own draws (loss seeds 1–200),
 * for the spread; no yardstick for ten uploads (test/kernel/loss.ts).
 * Payload 1 MiB at 2 Mbit/s and 2 MiB at 10 Mbit/s (≥ 1.8 s on the wire
 * without loss). Drops: test/kernel/delay.ts, behind the client's
 * `tc tbf`, data segments from the client only. Congestion control in the
 * client's namespace: `--cc` (default cubic, the model's default); the
 * simulator runs what `ss` shows the connections ran (cubic, reno or bbr).
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
/** The delayer's drop seeds: `--seed-base` … + reps − 1 per cell. */
const SEED_BASE = Number(arg("seed-base", "1"));
const JSON_OUT = arg("json", "");
const MiB = 1024 * 1024;

const FROM = arg("from", "");
if (FROM) {
  const rows: LossCellResult[] = [];
  for (const file of FROM.split(",")) {
    for (const r of JSON.parse(readFileSync(file, "utf8")) as LossCellResult[]) {
      rows.push(
        compareLossCell(
          r.cell,
          r.rttMeasuredMs,
          r.realBySeedMs ?? r.realMs,
          SIM_RUNS,
          r.congestionControl,
          r.ss,
          r.realBySeedMs ? r.seeds : undefined,
        ),
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
          SEED_BASE,
        );
        rows.push(r);
        const bySeed = r.seeds!.map(
          (seed, i) =>
            `${seed}: ${(r.realBySeedMs![i]! / 1000).toFixed(2)}/${(r.pairedBySeedMs![i]! / 1000).toFixed(2)}`,
        );
        log(
          `${lossRate * 100} % ${rate / 1e6} Mbit/s RTT ${rttMs}: seed: real/simulated on its drops ${bySeed.join(" ")} | err ${r.medianErrorPct.toFixed(1)} % / ${r.p95ErrorPct.toFixed(1)} % | simulator's own seeds p50 ${(r.sim.p50 / 1000).toFixed(2)} p95 ${(r.sim.p95 / 1000).toFixed(2)}`,
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
