/**
 * An on/off link against the Linux TCP stack (issue 12, item 4): real
 * uploads from Node 24's fetch through timebound's `createFetch`, over the
 * kernel lab (test/kernel/lab.ts: `tc tbf` at a fixed 2 Mbit/s, RTT 100 ms),
 * whose link goes off mid-upload in the userspace delayer — held, as a
 * Mahimahi trace's link holds packets while it has no delivery
 * opportunity, and released at the link's rate when it is back — compared
 * with `simulateUpload` over the same link as a trace (`stepTrace`: on,
 * off, on). Cells and judging: test/kernel/linktrace.ts.
 *
 * Run (root; Linux with `ip netns`, `tc tbf`, /dev/net/tun), under the lab
 * lock when other labs share the machine:
 *   flock /tmp/timebound-lab.lock node_modules/.bin/node bench/sim-linktrace-kernel.ts --reps 5
 * Prints a markdown table (stdout) and each upload's summary (stderr:
 * resume, the retransmission timer's timeouts and backoff, spurious-RTO
 * undos, cwnd after the outage, from `ss -tin` every 100 ms and `nstat`).
 * `--json FILE` writes the measurements; `--from FILE` measures nothing and
 * judges recorded ones against the simulator as it is now (no root).
 *
 * @module
 */
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release } from "node:os";
import { Lab, labSupport, median } from "../test/kernel/lab.ts";
import {
  judgeOutageCell,
  measureOutageCell,
  OUTAGE_CELLS,
  OUTAGE_RATE_BITS_PER_SECOND,
  OUTAGE_RTT_MS,
  type OutageCellRecord,
  outageTable,
} from "../test/kernel/linktrace.ts";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const REPS = Number(arg("reps", "5"));
const CC = arg("cc", "reno");
const JSON_OUT = arg("json", "");
const FROM = arg("from", "");
/** `hold` (a trace's off: queued, released when back) or `drop` (a dead radio). */
const MODE = arg("mode", "hold") as "hold" | "drop";
const CELLS = arg("cells", "").split(",").filter(Boolean).map(Number);

if (FROM) {
  const recs = JSON.parse(readFileSync(FROM, "utf8")) as OutageCellRecord[];
  const judged = recs.map(judgeOutageCell);
  console.log(
    `Recorded real uploads from ${FROM} against the simulator as it is now; ${judged.filter((c) => c.pass).length}/${judged.length} cells within target.\n`,
  );
  console.log(outageTable(judged));
  process.exit(0);
}

const support = labSupport();
if (!support.ok) {
  console.log(`sim-linktrace-kernel: skipped: ${support.reason}`);
  process.exit(0);
}
const started = Date.now();
const log = (s: string): void =>
  console.error(`[${((Date.now() - started) / 1000).toFixed(0)} s] ${s}`);
const lab = await Lab.open();
const recs: OutageCellRecord[] = [];
const loads: number[] = [];
try {
  lab.sysctl(lab.client, "net.ipv4.tcp_congestion_control", CC);
  lab.shape(OUTAGE_RATE_BITS_PER_SECOND);
  const probed = await lab.setDelay(OUTAGE_RTT_MS);
  const rttMs = Math.round(median(probed) * 100) / 100;
  const wmem = lab.readSysctl(lab.client, "net.ipv4.tcp_wmem");
  const sendBufferBytes = Number(wmem.split(" ")[2]);
  log(`RTT ${rttMs} ms, tcp_wmem ${wmem}`);
  for (const [i, cell] of OUTAGE_CELLS.entries()) {
    if (CELLS.length > 0 && !CELLS.includes(i)) continue;
    loads.push(loadavg()[0]!);
    const runs = await measureOutageCell(lab, cell, REPS, rttMs, 100, log, MODE);
    recs.push({
      cell,
      mode: MODE,
      congestionControl: CC,
      rttMeasuredMs: rttMs,
      sendBufferBytes,
      runs,
    });
  }
} finally {
  await lab.close();
}
const judged = recs.map(judgeOutageCell);
console.log(
  `\nOn/off link vs the kernel (${REPS} uploads per cell, ${CC}, ${OUTAGE_RATE_BITS_PER_SECOND / 1e6} Mbit/s tbf, off = ${MODE === "hold" ? "held" : "dropped"} in the delayer, RTT ${OUTAGE_RTT_MS} ms; Linux ${release()}, ${cpus().length} cores, load ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}; ${((Date.now() - started) / 60_000).toFixed(1)} min); ${judged.filter((c) => c.pass).length}/${judged.length} cells within target:\n`,
);
console.log(outageTable(judged));
console.log(`\nDelayer: ${lab.delayStats.join("; ")}`);
if (JSON_OUT) writeFileSync(JSON_OUT, `${JSON.stringify(recs, null, 1)}\n`);
