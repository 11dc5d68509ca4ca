/**
 * The simulator against the Linux TCP stack: measure a cell in the lab,
 * predict it with `simulateUpload` from the same parameters, compare.
 *
 * Parameters shared by both sides:
 * - payload, chunk size, limits: as given;
 * - rate: `tc tbf` on the client's egress at `rate` (wire bits, 1514-byte
 *   frames for 1448 payload bytes), bucket `TBF_BURST_BYTES`: in the
 *   simulator the proxy's upstream with the same rate and burst, the
 *   client's own link being the veth (10 Gbit/s: never the limit);
 * - RTT: the median of echo probes on the idle path, measured per cell;
 * - send buffer: for bulk uploads, the namespace's `tcp_wmem` maximum (what
 *   autotuning may grow to; it only matters if it limits the window); for
 *   stalls, `tcp_wmem` pinned and the payload it holds read from `ss` after
 *   the drop (`tb` × Send-Q / `w`: the kernel counts skb overhead, the
 *   simulator payload).
 *
 * @module
 */
import { SKB_OVERSHOOT_BYTES, simulateUpload, type UploadResult } from "../../sim/mod.ts";
import type { Limits } from "../../src/mod.ts";
import type { ProbeLine, RunLine } from "./client.ts";
import { type Lab, median, TBF_BURST_BYTES } from "./lab.ts";

/** Uploads whose body needs less than this on the wire are "short": latency and slow start weigh. */
export const SHORT_WIRE_MS = 1000;
const WIRE_PER_PAYLOAD = 1514 / 1448;

export interface Cell {
  payloadBytes: number;
  rateBitsPerSecond: number;
  /** Nominal RTT (the delay is calibrated to it; the simulator gets the measured one). */
  rttMs: number;
  chunkBytes: number;
}

export interface CellResult {
  cell: Cell;
  congestionControl: string;
  rttMeasuredMs: number;
  /** Per upload: fetch() to response headers, ms. */
  elapsedMs: number[];
  measuredMs: number;
  predictedMs: number;
  /** (median − predicted) / predicted, %. */
  errorPct: number;
  /** The largest |error| of a single upload, %. */
  worstPct: number;
  /** The server's last body byte (median) and the simulator's (headers − RTT/2). */
  serverLastMs: number;
  predictedServerLastMs: number;
  kind: "bulk" | "short";
  pass: boolean;
  /** The target, in words. */
  target: string;
  sendBufferBytes: number;
  /** tcp_info of the last upload. */
  ss?: string;
}

export function wireMs(payloadBytes: number, bitsPerSecond: number): number {
  return ((payloadBytes * WIRE_PER_PAYLOAD * 8) / bitsPerSecond) * 1000;
}

/** The simulator's view of a cell. */
export function predict(
  cell: Cell,
  rttMs: number,
  sendBufferBytes: number,
  timeouts: Limits,
  dropAtMs?: number,
): UploadResult {
  return simulateUpload({
    payloadBytes: cell.payloadBytes,
    chunkBytes: cell.chunkBytes,
    // The tbf is on the client's own egress (lab.ts): the client's link is
    // the shaped rate; the proxy's leg repeats it for the token bucket.
    clientBitsPerSecond: cell.rateBitsPerSecond,
    proxyBitsPerSecond: cell.rateBitsPerSecond,
    proxyBurstBytes: TBF_BURST_BYTES,
    rttMs,
    sendBufferBytes,
    timeouts,
    ...(dropAtMs === undefined ? {} : { dropAtMs }),
  });
}

/** Limits for bulk cells: none that a healthy upload could trip (4 MiB at 1 Mbit/s takes 37 s). */
export const BULK_TIMEOUTS: Limits = { total: "5m" };

/** Measures one cell (`reps` uploads) and compares it with the prediction. */
export async function measureCell(lab: Lab, cell: Cell, reps: number): Promise<CellResult> {
  lab.shape(cell.rateBitsPerSecond);
  const wmem = lab.readSysctl(lab.client, "net.ipv4.tcp_wmem").split(" ");
  const sendBufferBytes = Number(wmem[2]);
  const congestionControl = lab.readSysctl(lab.client, "net.ipv4.tcp_congestion_control");
  // One process per upload: each opens its own connection (warm-up, then
  // the upload on it), so every upload starts as the simulator's does, with
  // cwnd 10 and a fresh send buffer. (Within one process, undici opened yet
  // another connection for the upload after the first: one more handshake.)
  const runs: RunLine[] = [];
  let probe: ProbeLine | undefined;
  for (let rep = 0; rep < reps; rep++) {
    const got = await lab.runClient(
      {
        payloadBytes: cell.payloadBytes,
        chunkBytes: cell.chunkBytes,
        reps: 1,
        pauseMs: 100,
        probes: rep === 0 ? 11 : 0,
        timeouts: BULK_TIMEOUTS,
        ss: true,
      },
      wireMs(cell.payloadBytes, cell.rateBitsPerSecond) * 2 + 30_000,
    );
    probe ??= got.probe;
    runs.push(...got.runs);
  }
  const failed = runs.find((r) => !r.ok || r.serverBytes !== cell.payloadBytes);
  if (failed) throw new Error(`upload failed: ${JSON.stringify(failed).slice(0, 500)}`);
  const rttMeasuredMs = median(probe!.rttMs);
  const sim = predict(cell, rttMeasuredMs, sendBufferBytes, BULK_TIMEOUTS);
  if (sim.outcome !== "ok") throw new Error(`simulator: ${sim.outcome} ${sim.phase}`);
  const elapsedMs = runs.map((r) => r.elapsedMs);
  const measuredMs = median(elapsedMs);
  const predictedMs = sim.elapsedMs;
  const err = (x: number): number => ((x - predictedMs) / predictedMs) * 100;
  const errorPct = err(measuredMs);
  const worstPct = Math.max(...elapsedMs.map((x) => Math.abs(err(x))));
  const kind = wireMs(cell.payloadBytes, cell.rateBitsPerSecond) < SHORT_WIRE_MS ? "short" : "bulk";
  let pass: boolean;
  let target: string;
  if (kind === "bulk") {
    pass = Math.abs(errorPct) <= 5 && worstPct <= 10;
    target = "±5 % median, ±10 % worst";
  } else {
    const tol = Math.max(cell.rttMs, 0.15 * predictedMs);
    pass = Math.abs(measuredMs - predictedMs) <= tol;
    target = `±${tol.toFixed(0)} ms (1 RTT or 15 %)`;
  }
  return {
    cell,
    congestionControl,
    rttMeasuredMs,
    elapsedMs,
    measuredMs,
    predictedMs,
    errorPct,
    worstPct,
    serverLastMs: median(runs.map((r) => r.serverLastByteMs!)),
    predictedServerLastMs: predictedMs - rttMeasuredMs / 2,
    kind,
    pass,
    target,
    sendBufferBytes,
    ...(runs.at(-1)?.ss ? { ss: runs.at(-1)!.ss! } : {}),
  };
}

export function formatSize(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${bytes / (1024 * 1024)} MiB` : `${bytes / 1024} KiB`;
}

/** One markdown row per cell. */
export function cellTable(results: CellResult[]): string {
  const head =
    "| payload | rate | RTT (measured) | kind | measured (median) | runs | predicted | error | worst | server last byte: measured / predicted | pass |\n|---|---|---|---|---|---|---|---|---|---|---|";
  const rows = results.map((r) => {
    const c = r.cell;
    return `| ${formatSize(c.payloadBytes)} | ${c.rateBitsPerSecond / 1e6} Mbit/s | ${c.rttMs} ms (${r.rttMeasuredMs.toFixed(1)}) | ${r.kind} | ${r.measuredMs.toFixed(0)} ms | ${r.elapsedMs.map((x) => x.toFixed(0)).join(", ")} | ${r.predictedMs.toFixed(0)} ms | ${r.errorPct >= 0 ? "+" : ""}${r.errorPct.toFixed(1)} % | ${r.worstPct.toFixed(1)} % | ${r.serverLastMs.toFixed(0)} / ${r.predictedServerLastMs.toFixed(0)} ms | ${r.pass ? "yes" : `**no** (${r.target})`} |`;
  });
  return [head, ...rows].join("\n");
}

export type { RunLine };

/** A path that goes silent mid-upload, guarded by `writeIdle`. */
export interface StallCell extends Cell {
  /** `tcp_wmem` pinned to this (min 4096, default = max = this), in the kernel's units (skb truesize). */
  wmemBytes: number;
  /** When the router starts dropping everything, after the upload's start. */
  dropAtMs: number;
  writeIdleMs: number;
}

export interface StallRun {
  /** When the drop went in (ms after the start), and the kernel's payload capacity measured then. */
  dropMs: number;
  sendBufferBytes: number;
  /** Real: the phase that fired, and drop → timeout. */
  phase: string;
  detectionMs: number;
  lastPullMs: number;
  /** The simulator, same drop time and buffer. */
  simPhase: string;
  simDetectionMs: number;
  simLastPullMs: number;
  /** Pull gaps before the drop (steady state): real median, simulator. */
  gapMs: number;
  simGapMs: number;
  /** Body bytes handed to the runtime when the timeout fired: real, simulator. */
  bytesSent: number;
  simBytesSent: number;
}

export interface StallResult {
  cell: StallCell;
  rttMeasuredMs: number;
  runs: StallRun[];
  /** ±(1 RTT + 10 ms) + the send buffer's fill time (a third of it drained at the link rate: one pull gap). */
  toleranceMs: number;
  pass: boolean;
}

/** Pull bursts: a pull within 2 ms of the previous one is the same wake-up. */
function wakeTimes(pulls: [number, number][]): number[] {
  const wakes: number[] = [];
  let last = Number.NEGATIVE_INFINITY;
  for (const [t] of pulls) {
    if (t - last > 2) wakes.push(t);
    last = t;
  }
  return wakes;
}

function gaps(times: number[]): number[] {
  const g: number[] = [];
  for (let i = 1; i < times.length; i++) g.push(times[i]! - times[i - 1]!);
  return g;
}

/** tb × Send-Q / w from `ss -tmi`: the send buffer's size in payload bytes. */
export function payloadCapacity(ss: string, sendQ: number): number {
  const tb = Number(/tb(\d+)/.exec(ss)?.[1]);
  const w = Number(/,w(\d+)/.exec(ss)?.[1]);
  if (!(tb > 0 && w > 0 && sendQ > 0))
    throw new Error(`cannot read the send buffer from ss: ${ss}`);
  return Math.round((tb * sendQ) / w);
}

/** The simulator's pull gap: a third of the buffer at the payload rate. */
/**
 * The simulator's steady pull gap: a woken writer refills buffer/3 plus half
 * a TSO skb (`SKB_OVERSHOOT_BYTES`: `tcp_sendmsg` checks the buffer only
 * before it starts a new skb, so each refill overshoots), at the link rate.
 */
function gapOf(bufferBytes: number, bitsPerSecond: number): number {
  return ((bufferBytes / 3 + SKB_OVERSHOOT_BYTES) / (bitsPerSecond / 8 / WIRE_PER_PAYLOAD)) * 1000;
}

export async function measureStall(lab: Lab, cell: StallCell, reps: number): Promise<StallResult> {
  lab.shape(cell.rateBitsPerSecond);
  const saved = lab.readSysctl(lab.client, "net.ipv4.tcp_wmem");
  lab.sysctl(lab.client, "net.ipv4.tcp_wmem", `4096 ${cell.wmemBytes} ${cell.wmemBytes}`);
  const timeouts: Limits = { writeIdle: cell.writeIdleMs, total: "60s" };
  const runs: StallRun[] = [];
  let rttMeasuredMs = Number.NaN;
  try {
    for (let rep = 0; rep < reps; rep++) {
      const { probe, runs: lines } = await lab.runClient(
        {
          payloadBytes: cell.payloadBytes,
          chunkBytes: cell.chunkBytes,
          reps: 1,
          pauseMs: 100,
          probes: rep === 0 ? 11 : 0,
          timeouts,
          drop: { atMs: cell.dropAtMs, ns: lab.router, ...lab.blackhole, sampleAfterMs: 100 },
        },
        cell.dropAtMs + cell.writeIdleMs + 30_000,
      );
      if (probe) rttMeasuredMs = median(probe.rttMs);
      const r = lines[0]!;
      if (r.dropMs === undefined || r.queuedAfterDropBytes === undefined || !r.ssAfterDrop) {
        throw new Error(`no drop happened: ${JSON.stringify(r).slice(0, 400)}`);
      }
      const sendBufferBytes = payloadCapacity(r.ssAfterDrop, r.queuedAfterDropBytes);
      const sim = predict(cell, rttMeasuredMs, sendBufferBytes, timeouts, r.dropMs);
      const wakes = wakeTimes(r.pulls.filter(([t]) => t < r.dropMs!));
      // Steady state: skip the first few wakes (slow start, autotuning).
      const realGaps = gaps(wakes).slice(2);
      const simLastPull = sim.elapsedMs - cell.writeIdleMs;
      runs.push({
        dropMs: r.dropMs,
        sendBufferBytes,
        phase: r.phase ?? (r.ok ? "none (completed)" : (r.error ?? "?")),
        detectionMs: r.elapsedMs - r.dropMs,
        lastPullMs: r.pulls.at(-1)?.[0] ?? Number.NaN,
        simPhase: sim.phase ?? sim.outcome,
        simDetectionMs: sim.stallDetectionMs ?? Number.NaN,
        simLastPullMs: simLastPull,
        gapMs: realGaps.length ? median(realGaps) : Number.NaN,
        simGapMs: gapOf(sendBufferBytes, cell.rateBitsPerSecond),
        bytesSent: r.bytesSent,
        simBytesSent: sim.bytesSent,
      });
    }
  } finally {
    lab.sysctl(lab.client, "net.ipv4.tcp_wmem", saved);
  }
  const fillMs = median(runs.map((r) => r.gapMs).filter((g) => Number.isFinite(g)));
  const toleranceMs = cell.rttMs + 10 + fillMs;
  const pass = runs.every(
    (r) =>
      r.phase === "writeIdle" &&
      r.simPhase === "writeIdle" &&
      Math.abs(r.detectionMs - r.simDetectionMs) <= toleranceMs,
  );
  return { cell, rttMeasuredMs, runs, toleranceMs, pass };
}

export function stallTable(results: StallResult[]): string {
  const head =
    "| payload | rate | RTT (measured) | tcp_wmem → payload capacity | drop at | writeIdle | fired: real / sim | detection: real | sim | diff | pull gap: real / sim | tolerance | pass | handed over at the timeout: real / sim |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|";
  const rows: string[] = [];
  const signed = (x: number): string => `${x >= 0 ? "+" : ""}${x.toFixed(0)}`;
  for (const s of results) {
    const c = s.cell;
    for (const r of s.runs) {
      rows.push(
        `| ${formatSize(c.payloadBytes)} | ${c.rateBitsPerSecond / 1e6} Mbit/s | ${c.rttMs} ms (${s.rttMeasuredMs.toFixed(1)}) | ${formatSize(c.wmemBytes)} → ${(r.sendBufferBytes / 1024).toFixed(0)} KiB | ${r.dropMs.toFixed(0)} ms | ${c.writeIdleMs} ms | ${r.phase} / ${r.simPhase} | ${r.detectionMs.toFixed(0)} ms | ${r.simDetectionMs.toFixed(0)} ms | ${signed(r.detectionMs - r.simDetectionMs)} ms | ${r.gapMs.toFixed(0)} / ${r.simGapMs.toFixed(0)} ms | ±${s.toleranceMs.toFixed(0)} ms | ${s.pass ? "yes" : "**no**"} | ${(r.bytesSent / 1024).toFixed(0)} / ${(r.simBytesSent / 1024).toFixed(0)} KiB |`,
      );
    }
  }
  return [head, ...rows].join("\n");
}

/**
 * The smallest writeIdle (10 ms steps) at which the simulator lets a healthy
 * upload finish: what it would tell a user to configure, at the margin.
 */
export function smallestSafeWriteIdle(cell: Cell, rttMs: number, sendBufferBytes: number): number {
  for (let w = 10; w <= 60_000; w += 10) {
    const r = predict(cell, rttMs, sendBufferBytes, { writeIdle: w, total: "5m" });
    if (r.outcome === "ok") return w;
  }
  return Number.NaN;
}

export interface TightIdleResult {
  cell: StallCell;
  rttMeasuredMs: number;
  sendBufferBytes: number;
  /** The limit used: the simulator's smallest safe one + `marginMs`. */
  writeIdleMs: number;
  /** Real outcomes ("ok" or the phase that fired), and the simulator's. */
  real: string[];
  sim: string;
  /** The longest pull gap of the real uploads that finished (0 if none did). */
  maxGapMs: number;
}

/**
 * A healthy upload under the tightest writeIdle the simulator accepts (plus
 * a margin): does reality agree that it survives?
 */
export async function measureTightIdle(
  lab: Lab,
  cell: StallCell,
  sendBufferBytes: number,
  rttMs: number,
  marginMs: number,
  reps: number,
): Promise<TightIdleResult> {
  lab.shape(cell.rateBitsPerSecond);
  const saved = lab.readSysctl(lab.client, "net.ipv4.tcp_wmem");
  lab.sysctl(lab.client, "net.ipv4.tcp_wmem", `4096 ${cell.wmemBytes} ${cell.wmemBytes}`);
  const writeIdleMs = smallestSafeWriteIdle(cell, rttMs, sendBufferBytes) + marginMs;
  const timeouts: Limits = { writeIdle: writeIdleMs, total: "5m" };
  const real: string[] = [];
  let maxGapMs = 0;
  try {
    for (let rep = 0; rep < reps; rep++) {
      const { runs } = await lab.runClient(
        {
          payloadBytes: cell.payloadBytes,
          chunkBytes: cell.chunkBytes,
          reps: 1,
          pauseMs: 100,
          timeouts,
        },
        wireMs(cell.payloadBytes, cell.rateBitsPerSecond) * 2 + 30_000,
      );
      const r = runs[0]!;
      const longest = Math.max(0, ...gaps(wakeTimes(r.pulls)));
      real.push(
        r.ok
          ? `ok (longest gap ${longest.toFixed(0)} ms)`
          : `${r.phase ?? r.error ?? "error"} at ${(r.elapsedMs / 1000).toFixed(2)} s`,
      );
      if (r.ok) maxGapMs = Math.max(maxGapMs, longest);
    }
  } finally {
    lab.sysctl(lab.client, "net.ipv4.tcp_wmem", saved);
  }
  const show = (r: UploadResult): string => (r.outcome === "ok" ? "ok" : (r.phase ?? r.outcome));
  return {
    cell,
    rttMeasuredMs: rttMs,
    sendBufferBytes,
    writeIdleMs,
    real,
    sim: show(predict(cell, rttMs, sendBufferBytes, timeouts)),
    maxGapMs,
  };
}
