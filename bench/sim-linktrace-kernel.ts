/**
 * An on/off link against the Linux TCP stack (issue 12, item 4): real
 * uploads from Node 24's fetch through timebound's `createFetch`, over the
 * kernel lab's `tc tbf` path (test/kernel/lab.ts), whose rate drops to
 * 8 kbit/s (one packet in 1.5 s: off, its queue kept) for a while mid-upload
 * with `tc qdisc change` and comes back — compared with `simulateUpload`
 * over the same link as a trace (`stepTrace`: on, 8 kbit/s, on).
 *
 * Cells (Reno, whose slow start is the model's; 2 Mbit/s, RTT 100 ms, 16 KiB
 * chunks, the namespace's default `tcp_wmem`): a 2.4 MB upload without and
 * with a 2.5 s outage at 3 s (time to the response); a 5 MB upload with a
 * 3 s outage at 2 s under `writeIdle` 2 s (fires inside the outage?) and
 * 4 s (rides it out?).
 *
 * Run (root; Linux with `ip netns`, `tc tbf`, /dev/net/tun), under the lab
 * lock when other labs share the machine:
 *   flock /tmp/timebound-lab.lock node_modules/.bin/node bench/sim-linktrace-kernel.ts --reps 5
 *
 * @module
 */
import { cpus, loadavg, release } from "node:os";
import { simulateUpload, stepTrace, type UploadResult } from "../sim/mod.ts";
import type { Limits } from "../src/mod.ts";
import { Lab, labSupport, median, TBF_BURST_BYTES } from "../test/kernel/lab.ts";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const REPS = Number(arg("reps", "5"));
const RATE = 2e6;
const OFF_RATE = 8000;
const RTT = 100;
const CHUNK = 16 * 1024;
/** The veth between client and router: the client's own link. */
const VETH_BITS_PER_SECOND = 10e9;
/** `tc tbf` counts 1,514-byte frames; a trace counts 1,500-byte packets of the same payload. */
const TRACE_PER_TBF = 1500 / 1514;

interface OutageCell {
  name: string;
  payloadBytes: number;
  /** When the rate drops, ms after the upload's start, and for how long (0: no outage). */
  offAtMs: number;
  offMs: number;
  timeouts: Limits;
}

const CELLS: OutageCell[] = [
  {
    name: "2.4 MB, no outage",
    payloadBytes: 2_400_000,
    offAtMs: 0,
    offMs: 0,
    timeouts: { total: "60s" },
  },
  {
    name: "2.4 MB, 2.5 s outage at 3 s",
    payloadBytes: 2_400_000,
    offAtMs: 3000,
    offMs: 2500,
    timeouts: { total: "60s" },
  },
  {
    name: "5 MB, 3 s outage at 2 s, writeIdle 2 s",
    payloadBytes: 5_000_000,
    offAtMs: 2000,
    offMs: 3000,
    timeouts: { writeIdle: "2s", total: "60s" },
  },
  {
    name: "5 MB, 3 s outage at 2 s, writeIdle 4 s",
    payloadBytes: 5_000_000,
    offAtMs: 2000,
    offMs: 3000,
    timeouts: { writeIdle: "4s", total: "60s" },
  },
];

const tbf = (bits: number): string =>
  `qdisc change dev c0 root tbf rate ${bits}bit burst ${TBF_BURST_BYTES} limit ${32 * 1024 * 1024}`;

function predict(
  cell: OutageCell,
  rttMs: number,
  sendBufferBytes: number,
  offAtMs: number,
): UploadResult {
  const on = RATE * TRACE_PER_TBF;
  const linkTrace =
    cell.offMs === 0
      ? stepTrace([{ ms: 600_000, bitsPerSecond: on }])
      : stepTrace([
          { ms: Math.round(offAtMs), bitsPerSecond: on },
          { ms: cell.offMs, bitsPerSecond: OFF_RATE * TRACE_PER_TBF },
          { ms: 600_000, bitsPerSecond: on },
        ]);
  return simulateUpload({
    payloadBytes: cell.payloadBytes,
    chunkBytes: CHUNK,
    clientBitsPerSecond: VETH_BITS_PER_SECOND,
    proxyBitsPerSecond: Number.POSITIVE_INFINITY,
    linkTrace,
    rttMs,
    sendBufferBytes,
    timeouts: cell.timeouts,
  });
}

const q = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
};
const sec = (ms: number): string => (ms / 1000).toFixed(2);

const support = labSupport();
if (!support.ok) {
  console.log(`sim-linktrace-kernel: skipped: ${support.reason}`);
  process.exit(0);
}
const started = Date.now();
const log = (s: string): void =>
  console.error(`[${((Date.now() - started) / 1000).toFixed(0)} s] ${s}`);
const lab = await Lab.open();
const rows: string[] = [];
try {
  lab.sysctl(lab.client, "net.ipv4.tcp_congestion_control", "reno");
  const probed = await lab.setDelay(RTT);
  const rttMs = median(probed);
  const wmem = lab.readSysctl(lab.client, "net.ipv4.tcp_wmem");
  const sendBufferBytes = Number(wmem.split(" ")[2]);
  log(`RTT ${rttMs.toFixed(1)} ms, tcp_wmem ${wmem}`);
  for (const cell of CELLS) {
    lab.shape(RATE);
    const real: { ms: number; phase: string; offAtMs: number }[] = [];
    const sims: UploadResult[] = [];
    for (let rep = 0; rep < REPS; rep++) {
      const job = {
        payloadBytes: cell.payloadBytes,
        chunkBytes: CHUNK,
        reps: 1,
        pauseMs: 100,
        timeouts: cell.timeouts,
        ...(cell.offMs === 0
          ? {}
          : {
              tcAt: [
                { atMs: cell.offAtMs, lines: [tbf(OFF_RATE)] },
                { atMs: cell.offAtMs + cell.offMs, lines: [tbf(RATE)] },
              ],
              tcAfter: [tbf(RATE)],
            }),
      };
      const { runs } = await lab.runClient(job, 120_000);
      const r = runs[0]!;
      // The model's outage starts when `tc` was told, as the real one did.
      const offAt = r.tcMs?.[0] ?? cell.offAtMs;
      real.push({
        ms: r.elapsedMs,
        phase: r.ok ? "ok" : (r.phase ?? r.error ?? "?"),
        offAtMs: offAt,
      });
      sims.push(predict(cell, rttMs, sendBufferBytes, offAt));
      log(
        `${cell.name}: real ${r.ok ? "ok" : r.phase} ${sec(r.elapsedMs)} s (tc at ${r.tcMs?.map((t) => t.toFixed(0)).join(", ") ?? "–"} ms), sim ${sims.at(-1)!.phase ?? sims.at(-1)!.outcome} ${sec(sims.at(-1)!.elapsedMs)} s`,
      );
    }
    const realMs = real.map((r) => r.ms);
    const simMs = sims.map((s) => s.elapsedMs);
    const errs = real.map((r, i) => ((simMs[i]! - r.ms) / r.ms) * 100);
    const phases = (xs: string[]) =>
      [...new Set(xs)].map((p) => `${p} ${xs.filter((x) => x === p).length}`).join(", ");
    rows.push(
      `| ${cell.name} | ${phases(real.map((r) => r.phase))} | ${sec(q(realMs, 0.05))} / ${sec(median(realMs))} / ${sec(q(realMs, 0.95))} | ${phases(sims.map((s) => s.phase ?? s.outcome))} | ${sec(median(simMs))} | ${median(errs) >= 0 ? "+" : ""}${median(errs).toFixed(1)} % (${Math.min(...errs).toFixed(1)} … ${Math.max(...errs).toFixed(1)}) |`,
    );
  }
} finally {
  await lab.close();
}
console.log(
  `\nOn/off link vs the kernel (${REPS} uploads per cell, Reno, ${RATE / 1e6} Mbit/s tbf, off = ${OFF_RATE / 1000} kbit/s, RTT ${RTT} ms; ${release()}, ${cpus().length} cores, load ${loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")}):\n`,
);
console.log(
  "| cell | real outcome | real p5 / p50 / p95 (s) | sim outcome | sim p50 (s) | sim − real, median (min … max) |",
);
console.log("|---|---|--:|---|--:|--:|");
for (const r of rows) console.log(r);
