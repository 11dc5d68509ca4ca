/**
 * The simulator against the Linux TCP stack, the full grid (issue 4,
 * "Validation against reality"): real uploads from Node 24's fetch through
 * timebound's `createFetch`, over a `tc tbf`-shaped path with a userspace
 * delay, compared with `simulateUpload` for the same parameters.
 *
 * Grid: payload {256 KiB, 1 MiB, 4 MiB} × rate {1, 2, 10 Mbit/s} × RTT {0,
 * 50 ms}, `--reps` uploads per cell (median), per congestion control
 * (`--cc`, default `reno,bbr`: Reno's slow start is the model's; BBR is
 * this machine's default). Then stalls: the router goes silent mid-upload,
 * `writeIdle` must catch it, in reality and in the simulator; and a healthy
 * upload under the tightest `writeIdle` the simulator accepts.
 *
 * Run (root; Linux with `ip netns`, `tc tbf`, /dev/net/tun):
 *   node bench/sim-kernel.ts                  # ~18 min (Reno, then BBR); prints markdown
 *   node bench/sim-kernel.ts --reps 1 --cc reno --quick   # one RTT, smaller payloads
 *
 * The test lab (namespaces, shaping, the delayer) is test/kernel/lab.ts; the
 * comparisons are test/kernel/validate.ts.
 *
 * @module
 */
import { cpus, loadavg, release } from "node:os";
import { Lab, labSupport } from "../test/kernel/lab.ts";
import {
  type CellResult,
  cellTable,
  formatSize,
  measureCell,
  measureStall,
  measureTightIdle,
  type StallCell,
  type StallResult,
  stallTable,
  type TightIdleResult,
} from "../test/kernel/validate.ts";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const REPS = Number(arg("reps", "3"));
const CCS = arg("cc", "reno,bbr").split(",");
const QUICK = process.argv.includes("--quick");
const PAYLOADS = QUICK ? [256 * 1024, 1024 * 1024] : [256 * 1024, 1024 * 1024, 4 * 1024 * 1024];
const RATES = [1e6, 2e6, 10e6];
const RTTS = QUICK ? [50] : [0, 50];
const CHUNK = 16 * 1024;

const support = labSupport();
if (!support.ok) {
  console.log(`sim-kernel: skipped: ${support.reason}`);
  process.exit(0);
}

const started = Date.now();
const log = (s: string): void =>
  console.error(`[${((Date.now() - started) / 1000).toFixed(0)} s] ${s}`);
const lab = await Lab.open();
const bulk = new Map<string, CellResult[]>();
const stalls = new Map<string, StallResult[]>();
const tight = new Map<string, TightIdleResult[]>();
const loads: number[] = [];
let wmem = "";
let defaultCc = "";
try {
  wmem = lab.readSysctl(lab.client, "net.ipv4.tcp_wmem");
  defaultCc = lab.readSysctl(lab.client, "net.ipv4.tcp_congestion_control");
  for (const cc of CCS) {
    lab.sysctl(lab.client, "net.ipv4.tcp_congestion_control", cc);
    const rows: CellResult[] = [];
    bulk.set(cc, rows);
    for (const rttMs of RTTS) {
      lab.shape(10e6);
      await lab.setDelay(rttMs);
      for (const rate of RATES) {
        for (const payload of PAYLOADS) {
          loads.push(loadavg()[0]!);
          const r = await measureCell(
            lab,
            { payloadBytes: payload, rateBitsPerSecond: rate, rttMs, chunkBytes: CHUNK },
            REPS,
          );
          rows.push(r);
          log(
            `${cc} ${formatSize(payload)} ${rate / 1e6} Mbit/s RTT ${rttMs}: measured ${r.measuredMs.toFixed(0)} predicted ${r.predictedMs.toFixed(0)} (${r.errorPct.toFixed(1)} %)`,
          );
        }
      }
      const stallCells: StallCell[] = [
        {
          payloadBytes: 4 * 1024 * 1024,
          rateBitsPerSecond: 2e6,
          rttMs,
          chunkBytes: CHUNK,
          wmemBytes: 256 * 1024,
          dropAtMs: 3000,
          writeIdleMs: 1000,
        },
        {
          payloadBytes: 4 * 1024 * 1024,
          rateBitsPerSecond: 10e6,
          rttMs,
          chunkBytes: CHUNK,
          wmemBytes: 256 * 1024,
          dropAtMs: 2000,
          writeIdleMs: 500,
        },
      ];
      for (const cell of stallCells) {
        const s = await measureStall(lab, cell, REPS);
        (stalls.get(cc) ?? stalls.set(cc, []).get(cc)!).push(s);
        log(
          `${cc} stall ${cell.rateBitsPerSecond / 1e6} Mbit/s RTT ${rttMs}: ${s.runs.map((r) => `${r.detectionMs.toFixed(0)}/${r.simDetectionMs.toFixed(0)}`).join(" ")}`,
        );
        // The tightest writeIdle the simulator accepts for this path, + 20 ms.
        const buffer = s.runs.reduce((a, r) => a + r.sendBufferBytes, 0) / s.runs.length;
        const t = await measureTightIdle(
          lab,
          { ...cell, payloadBytes: 2 * 1024 * 1024 },
          Math.round(buffer),
          s.rttMeasuredMs,
          20,
          REPS,
        );
        (tight.get(cc) ?? tight.set(cc, []).get(cc)!).push(t);
        log(`${cc} tight writeIdle ${t.writeIdleMs} ms: real ${t.real.join(",")} sim ${t.sim}`);
      }
    }
  }
} finally {
  await lab.close();
}

const out: string[] = [];
out.push(
  `Machine: Linux ${release()}, ${cpus().length} vCPU, Node ${process.version} harness, client Node 24 (node_modules/.bin/node); ` +
    `namespace defaults: tcp_wmem \`${wmem}\`, congestion control \`${defaultCc}\`; ` +
    `load average during the run ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} (a shared machine); ${REPS} uploads per cell; ${((Date.now() - started) / 60_000).toFixed(0)} min.`,
);
for (const cc of CCS) {
  const rows = bulk.get(cc) ?? [];
  const pass = rows.filter((r) => r.pass).length;
  out.push(
    `\n### Bulk and short uploads, congestion control \`${cc}\` (${pass}/${rows.length} within target)\n`,
  );
  out.push(cellTable(rows));
  out.push(`\n### Stalls, \`${cc}\`\n`);
  out.push(stallTable(stalls.get(cc) ?? []));
  out.push(
    `\n### A healthy 2 MiB upload under the tightest writeIdle the simulator accepts (+20 ms), \`${cc}\`\n`,
  );
  out.push(
    "| rate | RTT | payload capacity | writeIdle | real | simulator |\n|---|---|---|---|---|---|",
  );
  for (const t of tight.get(cc) ?? []) {
    out.push(
      `| ${t.cell.rateBitsPerSecond / 1e6} Mbit/s | ${t.cell.rttMs} ms (${t.rttMeasuredMs.toFixed(1)}) | ${(t.sendBufferBytes / 1024).toFixed(0)} KiB | ${t.writeIdleMs} ms | ${t.real.join(", ")} | ${t.sim} |`,
    );
  }
}
out.push(`\nDelay accuracy (delay.ts, per packet, ms late): ${lab.delayStats.join("; ")}`);
console.log(out.join("\n"));
