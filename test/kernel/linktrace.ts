/**
 * An on/off link against the Linux TCP stack (issue 12, item 4): real
 * uploads over the kernel lab, whose link goes off mid-upload *in the
 * delayer* (test/kernel/delay.ts `outage … hold`, at an exact moment the
 * client names), compared with `simulateUpload` over the same link as a
 * trace (`stepTrace`: on, off, on).
 *
 * The semantics are a trace's: Mahimahi's `mm-link` queues packets while
 * there is no delivery opportunity and sends them when there is one, so
 * "off" holds the sender's packets (none lost) and, when the link is back,
 * releases them at the link's rate. The rate itself stays `tc tbf`, fixed
 * for the whole upload (an earlier version switched the tbf to 8 kbit/s
 * and back, and the tbf kept its last packets ~2 s after the switch).
 *
 * @module
 */
import { simulateUpload, stepTrace, type UploadResult } from "../../sim/mod.ts";
import type { Limits } from "../../src/mod.ts";
import type { RunLine, TcpSample } from "./client.ts";
import { type Lab, median } from "./lab.ts";

/** The link: 2 Mbit/s `tc tbf`, RTT 100 ms, 16 KiB chunks (Reno, whose slow start is the model's). */
export const OUTAGE_RATE_BITS_PER_SECOND = 2e6;
export const OUTAGE_RTT_MS = 100;
export const OUTAGE_CHUNK_BYTES = 16 * 1024;
/** `tc tbf` counts 1,514-byte frames; a trace counts 1,500-byte packets of the same payload. */
const TRACE_PER_TBF = 1500 / 1514;

export interface OutageCell {
  name: string;
  payloadBytes: number;
  /** When the link goes off, ms after the upload's start, and for how long (0: no outage). */
  offAtMs: number;
  offMs: number;
  timeouts: Limits;
}

export const OUTAGE_CELLS: readonly OutageCell[] = [
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
  {
    // The fluid model's send buffer holds this body whole before the
    // outage; Linux's, smaller, leaves the writer waiting through it.
    name: "2.4 MB, 2.5 s outage at 3 s, writeIdle 2 s",
    payloadBytes: 2_400_000,
    offAtMs: 3000,
    offMs: 2500,
    timeouts: { writeIdle: "2s", total: "60s" },
  },
];

/** What one real upload did, as recorded. */
export interface OutageRun {
  /** "ok" or the phase that fired. */
  phase: string;
  ms: number;
  /** First pull after the link came back, ms after it came back (undefined: none). */
  resumeMs?: number;
  /** Longest pull gap before the outage (the writer's steady rhythm), ms. */
  gapMs: number;
  /** The retransmission timer while off: timeouts (nstat), the highest backoff and RTO sampled. */
  timeouts?: number;
  spuriousRtos?: number;
  lossUndos?: number;
  maxBackoff?: number;
  maxRtoMs?: number;
  /** cwnd one RTT after the link came back (the first sample then), and the RTO at the outage's start. */
  cwndAfter?: number;
  rtoAtOffMs?: number;
  /** The largest cwnd sampled before the outage (or in the whole upload): where slow start stopped. */
  cwndMax?: number;
}

export interface OutageCellRecord {
  cell: OutageCell;
  /** How the link was off: held (a trace's off; the default) or dropped (a dead radio). */
  mode?: "hold" | "drop";
  congestionControl: string;
  rttMeasuredMs: number;
  sendBufferBytes: number;
  runs: OutageRun[];
}

/** The simulator's answer for a cell on the probed path. */
export function predictOutage(
  cell: OutageCell,
  rttMs: number,
  sendBufferBytes: number,
  mode: "hold" | "drop" = "hold",
): UploadResult {
  const on = OUTAGE_RATE_BITS_PER_SECOND * TRACE_PER_TBF;
  const linkTrace =
    cell.offMs === 0
      ? stepTrace([{ ms: 600_000, bitsPerSecond: on }])
      : stepTrace([
          { ms: cell.offAtMs, bitsPerSecond: on },
          { ms: cell.offMs, bitsPerSecond: 0 },
          { ms: 600_000, bitsPerSecond: on },
        ]);
  return simulateUpload({
    payloadBytes: cell.payloadBytes,
    chunkBytes: OUTAGE_CHUNK_BYTES,
    // The tbf is on the client's own egress: its rate is the client's link.
    clientBitsPerSecond: on,
    proxyBitsPerSecond: Number.POSITIVE_INFINITY,
    linkTrace,
    rttMs,
    sendBufferBytes,
    timeouts: cell.timeouts,
    ...(mode === "drop"
      ? { linkTraceOff: "drop" as const, congestionControl: "reno" as const }
      : {}),
    trace: true,
  });
}

/** Pull times of a simulated upload. */
function simPulls(r: UploadResult): number[] {
  return (r.trace ?? [])
    .filter((e) => (e.event === "write" && e.pulls > 0) || e.event === "body-end")
    .map((e) => e.atMs);
}

function longestGap(times: number[]): number {
  let g = 0;
  for (let i = 1; i < times.length; i++) g = Math.max(g, times[i]! - times[i - 1]!);
  return g;
}

/** What to keep of one real upload. */
export function summarizeRun(cell: OutageCell, rttMs: number, r: RunLine): OutageRun {
  const pulls = r.pulls.map(([t]) => t);
  const backAt = cell.offAtMs + cell.offMs;
  const resume = cell.offMs > 0 ? pulls.find((t) => t > backAt) : undefined;
  const tcp: TcpSample[] = r.tcp ?? [];
  const during = tcp.filter((s) => s.atMs >= cell.offAtMs && s.atMs <= backAt + 2 * rttMs);
  const c = r.counters ?? {};
  const rtoAtOff = tcp.filter((s) => s.atMs <= cell.offAtMs).at(-1)?.rtoMs;
  const cwndAfter = tcp.find((s) => s.atMs >= backAt + rttMs)?.cwnd;
  const before = tcp.filter((s) => cell.offMs === 0 || s.atMs < cell.offAtMs);
  const cwnds = before.map((s) => s.cwnd ?? 0);
  return {
    phase: r.ok ? "ok" : (r.phase ?? r.error ?? "?"),
    ms: Math.round(r.elapsedMs * 10) / 10,
    ...(resume !== undefined ? { resumeMs: Math.round(resume - backAt) } : {}),
    gapMs: Math.round(
      longestGap(pulls.filter((t) => t <= (cell.offMs > 0 ? cell.offAtMs : Infinity))),
    ),
    ...(r.counters
      ? {
          timeouts: c.TcpExtTCPTimeouts ?? 0,
          spuriousRtos: c.TcpExtTCPSpuriousRTOs ?? 0,
          lossUndos:
            (c.TcpExtTCPLossUndo ?? 0) + (c.TcpExtTCPFullUndo ?? 0) + (c.TcpExtTCPPartialUndo ?? 0),
        }
      : {}),
    ...(during.length > 0
      ? {
          maxBackoff: Math.max(...during.map((s) => s.backoff ?? 0)),
          maxRtoMs: Math.max(...during.map((s) => s.rtoMs ?? 0)),
        }
      : {}),
    ...(cwndAfter !== undefined ? { cwndAfter } : {}),
    ...(rtoAtOff !== undefined ? { rtoAtOffMs: rtoAtOff } : {}),
    ...(cwnds.length > 0 ? { cwndMax: Math.max(...cwnds) } : {}),
  };
}

/** One real upload against the model's answer for it. */
export interface OutageRunJudged extends OutageRun {
  sim: string;
  simMs: number;
  simResumeMs?: number;
  phaseAgrees: boolean;
  /** Timeouts: within one pull gap + RTT. ok: judged per cell, by the median. */
  toleranceMs: number;
  timeAgrees: boolean;
}

export interface OutageCellJudged extends OutageCellRecord {
  judged: OutageRunJudged[];
  /** Median over the runs of (sim − real) / real, %. */
  medianErrorPct: number;
  /** Every run in the predicted phase; timeouts each within tolerance, ok cells' median within ±10 %. */
  pass: boolean;
}

/** Judges recorded real uploads against the model as it is now (no root). */
export function judgeOutageCell(rec: OutageCellRecord): OutageCellJudged {
  const sim = predictOutage(rec.cell, rec.rttMeasuredMs, rec.sendBufferBytes, rec.mode);
  const simPhase = sim.outcome === "ok" ? "ok" : (sim.phase ?? sim.outcome);
  const pulls = simPulls(sim);
  const backAt = rec.cell.offAtMs + rec.cell.offMs;
  const simResume = rec.cell.offMs > 0 ? pulls.find((t) => t > backAt) : undefined;
  const simGap = longestGap(
    pulls.filter((t) => t <= (rec.cell.offMs > 0 ? rec.cell.offAtMs : Infinity)),
  );
  const judged = rec.runs.map((run): OutageRunJudged => {
    const toleranceMs = Math.max(run.gapMs, simGap) + rec.rttMeasuredMs;
    const phaseAgrees = run.phase === simPhase;
    return {
      ...run,
      sim: simPhase,
      simMs: sim.elapsedMs,
      ...(simResume !== undefined ? { simResumeMs: Math.round(simResume - backAt) } : {}),
      phaseAgrees,
      toleranceMs,
      timeAgrees:
        phaseAgrees &&
        (simPhase === "ok"
          ? Math.abs(sim.elapsedMs - run.ms) <= 0.1 * run.ms
          : Math.abs(sim.elapsedMs - run.ms) <= toleranceMs),
    };
  });
  const errs = judged.map((j) => ((j.simMs - j.ms) / j.ms) * 100);
  const medianErrorPct = median(errs);
  const allInPhase = judged.every((j) => j.phaseAgrees);
  const pass =
    allInPhase &&
    (simPhase === "ok" ? Math.abs(medianErrorPct) <= 10 : judged.every((j) => j.timeAgrees));
  return { ...rec, judged, medianErrorPct, pass };
}

/** Measures one cell: `reps` uploads, each with its outage in the delayer. */
export async function measureOutageCell(
  lab: Lab,
  cell: OutageCell,
  reps: number,
  rttMs: number,
  ssEveryMs: number,
  log: (s: string) => void,
  mode: "hold" | "drop" = "hold",
): Promise<OutageRun[]> {
  const runs: OutageRun[] = [];
  for (let rep = 0; rep < reps; rep++) {
    const { runs: lines } = await lab.runClient(
      {
        payloadBytes: cell.payloadBytes,
        chunkBytes: OUTAGE_CHUNK_BYTES,
        reps: 1,
        pauseMs: 100,
        timeouts: cell.timeouts,
        ssEveryMs,
        ...(cell.offMs > 0
          ? {
              outage: {
                atMs: cell.offAtMs,
                ms: cell.offMs,
                mode,
                bitsPerSecond: OUTAGE_RATE_BITS_PER_SECOND,
              },
            }
          : {}),
      },
      120_000,
    );
    const run = summarizeRun(cell, rttMs, lines[0]!);
    runs.push(run);
    log(`${cell.name}: ${JSON.stringify(run)}`);
  }
  return runs;
}

const sec = (ms: number): string => (ms / 1000).toFixed(2);

function q(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
}

/** The README's table. */
export function outageTable(cells: OutageCellJudged[]): string {
  const phases = (xs: string[]) =>
    [...new Set(xs)].map((p) => `${p} ${xs.filter((x) => x === p).length}`).join(", ");
  const rows = cells.map((c) => {
    const ms = c.runs.map((r) => r.ms);
    const errs = c.judged.map((j) => ((j.simMs - j.ms) / j.ms) * 100);
    const resumes = c.runs.flatMap((r) => (r.resumeMs === undefined ? [] : [r.resumeMs]));
    const sim = c.judged[0]!;
    const sign = (x: number) => `${x >= 0 ? "+" : ""}${x.toFixed(1)}`;
    return `| ${c.cell.name} | ${phases(c.runs.map((r) => r.phase))} | ${sec(q(ms, 0.05))} / ${sec(median(ms))} / ${sec(q(ms, 0.95))} | ${resumes.length ? `${Math.min(...resumes)}–${Math.max(...resumes)}` : "—"} | ${sim.sim} ${sec(sim.simMs)} | ${sim.simResumeMs ?? "—"} | ${sign(c.medianErrorPct)} % (${sign(Math.min(...errs))} … ${sign(Math.max(...errs))}) | ${c.pass ? "yes" : "**no**"} |`;
  });
  return [
    "| cell | real outcome | real p5 / p50 / p95 (s) | real resume (ms) | sim | sim resume (ms) | sim − real, median (min … max) | within target |",
    "|---|---|--:|--:|---|--:|--:|---|",
    ...rows,
  ].join("\n");
}
