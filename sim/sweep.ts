/**
 * Monte Carlo over upload conditions: for every candidate chunk size ×
 * write-idle limit × total deadline, the share of uploads that succeed, how
 * long they take, and which limit ended the others. Each trial draws one
 * path (payload, bandwidths, RTT, send buffer, token bucket, a silent drop
 * or a tarpit) from seeded distributions and runs {@linkcode simulateUpload}
 * — the real watchdog on virtual time — once per candidate.
 *
 * Every candidate sees the same draws (trial i uses random stream i, common
 * random numbers), so comparisons between candidates are not blurred by
 * sampling noise, and a table depends only on its plan: the same seed gives
 * the same table, whether the trials ran on one thread or many.
 *
 * @module
 */
import { DDSketch } from "@datadog/sketches-js";
import { type Duration, describe } from "../src/duration.ts";
import type { Phase } from "../src/errors.ts";
import { type ProxyMode, SEGMENT_WIRE_BYTES, uploadTimeMs } from "../src/model.ts";
import { checkKeys, durationOption, integerOption, plainObject } from "../src/validate.ts";
import { nearestRank } from "./_quantile.ts";
import {
  checkLinkTrace,
  LINK_TRACE_PACKET_BYTES,
  type LinkTrace,
  traceBitsPerSecond,
} from "./linktrace.ts";
import { runTasks, type TaskRunner } from "./pool.ts";
import { checkDistribution, type Distribution, sample, seededRandom } from "./random.ts";
import {
  CONGESTION_CONTROLS,
  type CongestionControl,
  simulateUpload,
  type UploadParams,
} from "./upload.ts";

/** A sometimes-happening event: with `probability` per trial, at a drawn time. */
export interface Occasional {
  /** Chance per trial, in [0, 1]. */
  probability: number;
  /** When it happens, in ms from the request's start. */
  atMs: Distribution;
}

/**
 * The conditions uploads meet, as distributions (sizes in bytes, rates in
 * bits/s, times in ms). Every field but the first three may be left out.
 */
export interface UploadScenario {
  payloadBytes: Distribution;
  clientBitsPerSecond: Distribution;
  proxyBitsPerSecond: Distribution;
  /** @default "streaming" */
  proxyMode?: ProxyMode;
  /** @default 0 */
  rttMs?: Distribution;
  /** The kernel send buffer. @default 4194304 (simulateUpload's default) */
  sendBufferBytes?: Distribution;
  /** Token-bucket depth on the proxy's upstream (bursts at line rate, then the proxy's rate). @default 0 */
  proxyBurstBytes?: Distribution;
  /**
   * Bytes a streaming proxy holds before the client leg slows to its
   * upstream (`simulateUpload`'s `proxyBufferBytes`; a preset's, from
   * `PROXY_PRESETS`). @default undefined (one pipe at the narrowest rate)
   */
  proxyBufferBytes?: number;
  /** Round-trip time between proxy and server (`upstreamRttMs`). @default 0 */
  upstreamRttMs?: number;
  /** The proxy goes silent (half-open): no ACKs, no RST. */
  drop?: Occasional;
  /** The server starts reading at `readBytesPerSecond`. */
  tarpit?: Occasional & { readBytesPerSecond: Distribution };
  /**
   * The proxy's uplink follows this link trace (`linkTrace` of
   * {@linkcode UploadParams}); each trial starts at a point drawn uniformly
   * over one loop of it. `proxyBitsPerSecond` is then a steady shaper in
   * series, and may be Infinity (the trace alone).
   */
  linkTrace?: LinkTrace;
  /**
   * Segment loss on the path (`simulateUpload`'s `lossRate`), drawn per
   * trial (draws above 0.5 count as 0.5); each trial's loss draws are seeded by its own seed.
   * Streaming proxies only (over a link trace too). A trial that draws a tarpit runs loss-free (the
   * model has no loss behind a tarpit; the tarpit dominates such a trial).
   * @default 0
   */
  lossRate?: Distribution;
  /** Bursty loss: mean segments per loss burst (`simulateUpload`'s `lossBurstSegments`). @default undefined (independent loss) */
  lossBurstSegments?: number;
  /**
   * The sender's reaction to loss (`simulateUpload`'s `congestionControl`),
   * in every trial that loses segments (loss, or a trace's outages that drop).
   * @default "cubic"
   */
  congestionControl?: CongestionControl;
  /**
   * What the trace's link does with packets while it is out
   * (`simulateUpload`'s `linkTraceOff`): `"drop"` loses them (a dead radio).
   * Streaming proxies only, as loss; a trial that draws a tarpit holds them
   * (the model has no loss behind a tarpit).
   * @default "hold"
   */
  linkTraceOff?: "hold" | "drop";
}

/**
 * The seed's residential-proxy upload (../shared/seeds/000): a 2.4 MB POST
 * from a well-connected client through a residential node whose uplink is
 * lognormal around 4 Mbit/s (1 % of nodes below ~1 Mbit/s; the seed's own
 * trace moved 1.2 MB in 28 s, ~0.35 Mbit/s), Indian-node RTTs around
 * 150 ms, an autotuned send buffer of 128–512 KiB, home-router token
 * buckets that let a burst through at line rate, and rare silent drops and
 * tarpits (1 in 5,000 each). The figures illustrate; measure your own.
 *
 * @example
 * ```ts
 * import { RESIDENTIAL_UPLOAD, sweep } from "timebound/sim";
 * // The same profile with a 5 MB body:
 * const scenario = { ...RESIDENTIAL_UPLOAD, payloadBytes: 5_000_000 };
 * const r = await sweep({ scenario, chunkBytes: [65_536], writeIdle: ["5s"], total: ["60s"], trials: 20, workers: 1 });
 * console.assert(r.cells.length === 1);
 * ```
 */
export const RESIDENTIAL_UPLOAD: UploadScenario = {
  payloadBytes: 2_400_000,
  clientBitsPerSecond: 100e6,
  proxyBitsPerSecond: { kind: "lognormal", median: 4e6, sigma: 0.6, min: 250e3, max: 50e6 },
  proxyMode: "streaming",
  rttMs: { kind: "lognormal", median: 150, sigma: 0.4, min: 20, max: 1000 },
  sendBufferBytes: { kind: "choice", values: [131_072, 262_144, 524_288] },
  proxyBurstBytes: { kind: "choice", values: [0, 262_144, 1_048_576], weights: [5, 3, 2] },
  drop: { probability: 0.0002, atMs: { kind: "uniform", min: 0, max: 20_000 } },
  tarpit: {
    probability: 0.0002,
    atMs: { kind: "uniform", min: 0, max: 5000 },
    readBytesPerSecond: 2000,
  },
};

/** Progress of a sweep: simulated uploads done so far, of `total`. */
export interface SweepProgress {
  done: number;
  total: number;
}

/** Options of {@linkcode sweep}. */
export interface SweepOptions {
  /** The conditions. @default RESIDENTIAL_UPLOAD */
  scenario?: UploadScenario;
  /** Candidate chunk sizes, bytes. @default 8, 16, 32, 64, 128, 256 KiB */
  chunkBytes?: number[];
  /** Candidate write-idle limits; `false` for none. @default "1s", "2s", "5s", "10s", false */
  writeIdle?: (Duration | false)[];
  /** Candidate total deadlines; `false` for none. @default "10s", "20s", "30s", "45s", "60s", "90s" */
  total?: (Duration | false)[];
  /** A fixed headers limit for every candidate. @default false */
  headers?: Duration | false;
  /** Trials per candidate. @default 1000 */
  trials?: number;
  /** Seed of every draw. @default 1 */
  seed?: number;
  /**
   * Threads to run on, the calling thread included: a number, or `"auto"`
   * for one per core. Beyond the calling thread they are worker threads
   * (Node's worker_threads, or Web Workers) where the runtime has them;
   * elsewhere everything runs on the calling thread. `1`: the calling
   * thread only. The result does not depend on it. @default "auto"
   */
  workers?: number | "auto";
  /** Called as trials complete (at most every few hundred uploads). */
  onProgress?: (progress: SweepProgress) => void;
  /** Stops the sweep (workers are terminated); the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Why uploads in a cell failed: the limit that fired, or `hang` (no limit, waited forever). */
export type FailureCounts = Partial<Record<Phase | "hang", number>>;

/** One candidate's results. */
export interface SweepCell {
  chunkBytes: number;
  /** `Infinity`: no write-idle limit. */
  writeIdleMs: number;
  /** `Infinity`: no total deadline. */
  totalMs: number;
  trials: number;
  ok: number;
  /** ok / trials. */
  successRate: number;
  /** 95 % Wilson score interval of the success rate. */
  successLow: number;
  successHigh: number;
  /** Duration of successful uploads (DDSketch, within 1 %); NaN when none succeeded. */
  p50Ms: number;
  p99Ms: number;
  /** Mean time a request occupies, failures included (a hang counts as Infinity). */
  meanMs: number;
  failures: FailureCounts;
}

/** Output of {@linkcode sweep}. */
export interface SweepResult {
  /** Ordered by chunk size, then write-idle, then total (as given). */
  cells: SweepCell[];
  trials: number;
  seed: number;
  scenario: UploadScenario;
  headersMs: number;
  /**
   * Per trial, the closed-form time of the upload on its drawn path
   * (src/model.ts: payload / narrowest bandwidth + RTT), at quantiles
   * 0.5, 0.9, 0.99, 0.999 — what no timeout can beat.
   */
  idealMs: { p50: number; p90: number; p99: number; p999: number };
  /** Trials in which a silent drop or a tarpit was drawn. */
  dropTrials: number;
  tarpitTrials: number;
}

/** A plan, validated and in ms: what crosses to a worker. */
export interface SweepPlan {
  scenario: UploadScenario;
  chunkBytes: number[];
  writeIdleMs: number[];
  totalMs: number[];
  headersMs: number;
  trials: number;
  seed: number;
}

/** Work for one worker call: one chunk size × write-idle pair, every total, a range of trials. */
export interface SweepTask {
  chunk: number;
  writeIdle: number;
  fromTrial: number;
  toTrial: number;
}

/** What a task returns: per total, raw tallies (mergeable across trial ranges). */
export interface TaskTally {
  ok: number[];
  /** Sum of times of every trial (Infinity once one hangs). */
  timeSum: number[];
  failures: FailureCounts[];
  /** Successful durations, for the quantiles. */
  okMs: number[][];
}

const OPTION_KEYS = new Set([
  "scenario",
  "chunkBytes",
  "writeIdle",
  "total",
  "headers",
  "trials",
  "seed",
  "workers",
  "onProgress",
  "signal",
]);
const SCENARIO_KEYS = new Set([
  "payloadBytes",
  "clientBitsPerSecond",
  "proxyBitsPerSecond",
  "proxyMode",
  "rttMs",
  "sendBufferBytes",
  "proxyBurstBytes",
  "drop",
  "tarpit",
  "linkTrace",
  "proxyBufferBytes",
  "upstreamRttMs",
  "lossRate",
  "lossBurstSegments",
  "linkTraceOff",
  "congestionControl",
]);
const KIB = 1024;
const DEFAULT_CHUNKS = [8, 16, 32, 64, 128, 256].map((k) => k * KIB);
const DEFAULT_WRITE_IDLE: (Duration | false)[] = ["1s", "2s", "5s", "10s", false];
const DEFAULT_TOTAL: (Duration | false)[] = ["10s", "20s", "30s", "45s", "60s", "90s"];
/** More cells than this is a typo, not a plan (each cell is `trials` uploads). */
const MAX_CELLS = 100_000;
/** Trials per task: small enough to balance two workers and report progress often. */
const TRIALS_PER_TASK = 500;
const Z95 = 1.959964;

function checkOccasional(name: string, v: unknown, extra: string[] = []): void {
  const o = plainObject(name, v);
  checkKeys(name, o, new Set(["probability", "atMs", ...extra]));
  if (typeof o.probability !== "number" || !(o.probability >= 0 && o.probability <= 1)) {
    throw new RangeError(
      `Invalid option '${name}.probability': expected a number in [0, 1], got ${describe(o.probability)}`,
    );
  }
  checkDistribution(`${name}.atMs`, o.atMs, false);
}

/**
 * Validates an {@linkcode UploadScenario}, naming the first bad field.
 *
 * @throws {TypeError} For an unknown key or a wrong type; {@link RangeError} for a bad value.
 *
 * @example
 * ```ts
 * import { checkScenario, RESIDENTIAL_UPLOAD } from "timebound/sim";
 * checkScenario(RESIDENTIAL_UPLOAD);
 * try {
 *   checkScenario({ ...RESIDENTIAL_UPLOAD, rttMs: -5 });
 * } catch (e) {
 *   console.assert(e instanceof RangeError && e.message.startsWith("Invalid option 'scenario.rttMs'"));
 * }
 * ```
 */
export function checkScenario(scenario: unknown): UploadScenario {
  const s = plainObject("scenario", scenario);
  checkKeys("scenario", s, SCENARIO_KEYS);
  if (s.linkTrace !== undefined) checkLinkTrace("scenario.linkTrace", s.linkTrace);
  for (const k of ["payloadBytes", "clientBitsPerSecond", "proxyBitsPerSecond"]) {
    if (s[k] === undefined) throw new TypeError(`Missing option 'scenario.${k}'`);
    // Over a link trace, the proxy needs no steady rate of its own.
    if (k === "proxyBitsPerSecond" && s.linkTrace !== undefined && s[k] === Infinity) continue;
    checkDistribution(`scenario.${k}`, s[k]);
  }
  if (
    s.proxyMode !== undefined &&
    s.proxyMode !== "streaming" &&
    s.proxyMode !== "store-and-forward"
  ) {
    throw new TypeError(
      `Invalid option 'scenario.proxyMode': expected "streaming" or "store-and-forward", got ${describe(s.proxyMode)}`,
    );
  }
  if (s.rttMs !== undefined) checkDistribution("scenario.rttMs", s.rttMs, false);
  if (s.sendBufferBytes !== undefined)
    checkDistribution("scenario.sendBufferBytes", s.sendBufferBytes);
  if (s.proxyBurstBytes !== undefined)
    checkDistribution("scenario.proxyBurstBytes", s.proxyBurstBytes, false);
  if (s.drop !== undefined) checkOccasional("scenario.drop", s.drop);
  if (s.proxyBufferBytes !== undefined) {
    integerOption("scenario.proxyBufferBytes", s.proxyBufferBytes, 1, Number.MAX_SAFE_INTEGER);
    if (s.proxyMode === "store-and-forward") {
      throw new RangeError(
        `Invalid option 'scenario.proxyBufferBytes': a store-and-forward proxy holds the whole body, got ${s.proxyBufferBytes} with proxyMode "store-and-forward"`,
      );
    }
  }
  if (s.upstreamRttMs !== undefined) {
    const u = s.upstreamRttMs;
    if (typeof u !== "number" || !(u >= 0 && Number.isFinite(u))) {
      throw new RangeError(
        `Invalid option 'scenario.upstreamRttMs': expected a finite number >= 0, got ${describe(u)}`,
      );
    }
    if (u > 0 && s.proxyMode !== "store-and-forward" && s.proxyBufferBytes === undefined) {
      throw new RangeError(
        `Invalid option 'scenario.upstreamRttMs': a streaming proxy needs 'proxyBufferBytes' to have an upstream leg, got ${u}`,
      );
    }
  }
  if (s.lossRate !== undefined) {
    checkDistribution("scenario.lossRate", s.lossRate, false);
    if (s.proxyMode === "store-and-forward") {
      throw new RangeError(
        `Invalid option 'scenario.lossRate': loss is modelled through a streaming proxy, got proxyMode "store-and-forward"`,
      );
    }
    if (s.proxyBufferBytes !== undefined) {
      throw new RangeError(
        "Invalid option 'scenario.lossRate': loss is not modelled behind a proxy buffer, got both",
      );
    }
  }
  if (s.linkTraceOff !== undefined) {
    const off = s.linkTraceOff;
    if (off !== "hold" && off !== "drop") {
      const text = `Invalid option 'scenario.linkTraceOff': expected "hold" or "drop", got ${describe(off)}`;
      throw typeof off === "string" ? new RangeError(text) : new TypeError(text);
    }
    if (off === "drop") {
      const other =
        s.linkTrace === undefined
          ? "without 'linkTrace'"
          : s.proxyMode === "store-and-forward"
            ? `with proxyMode "store-and-forward"`
            : s.proxyBufferBytes !== undefined
              ? "behind a proxy buffer"
              : undefined;
      if (other) {
        throw new RangeError(
          `Invalid option 'scenario.linkTraceOff': "drop" is modelled on a streaming path's link trace, got it ${other}`,
        );
      }
    }
  }
  if (
    s.congestionControl !== undefined &&
    !CONGESTION_CONTROLS.includes(s.congestionControl as CongestionControl)
  ) {
    throw new RangeError(
      `Invalid option 'scenario.congestionControl': expected "cubic", "reno" or "bbr", got ${describe(s.congestionControl)}`,
    );
  }
  if (s.lossBurstSegments !== undefined) {
    const b = s.lossBurstSegments;
    if (typeof b !== "number" || !(b >= 1 && Number.isFinite(b))) {
      throw new RangeError(
        `Invalid option 'scenario.lossBurstSegments': expected a finite number >= 1, got ${describe(b)}`,
      );
    }
  }
  if (s.tarpit !== undefined) {
    checkOccasional("scenario.tarpit", s.tarpit, ["readBytesPerSecond"]);
    checkDistribution(
      "scenario.tarpit.readBytesPerSecond",
      (s.tarpit as Record<string, unknown>).readBytesPerSecond,
    );
  }
  return scenario as UploadScenario;
}

function limitList(name: string, v: unknown, fallback: (Duration | false)[]): number[] {
  const list = v === undefined ? fallback : v;
  if (!Array.isArray(list) || list.length === 0) {
    throw new TypeError(
      `Invalid option '${name}': expected a non-empty array of durations or false, got ${describe(list)}`,
    );
  }
  return list.map((x, i) => (x === false ? Infinity : durationOption(`${name}[${i}]`, x)));
}

/**
 * Validates sweep options into a plan (durations in ms, `Infinity` for
 * "none"). Exposed for workers and for tools that print a plan.
 *
 * @throws {TypeError} For an unknown option or a wrong type; {@link RangeError} for a bad value.
 *
 * @example
 * ```ts
 * import { planSweep } from "timebound/sim";
 * const plan = planSweep({ chunkBytes: [16384], writeIdle: ["2s", false], total: ["30s"], trials: 10 });
 * console.assert(plan.writeIdleMs[1] === Infinity && plan.totalMs[0] === 30_000);
 * ```
 */
export function planSweep(options: SweepOptions = {}): SweepPlan {
  const o = plainObject("options", options);
  checkKeys("", o, OPTION_KEYS);
  const scenario = o.scenario === undefined ? RESIDENTIAL_UPLOAD : checkScenario(o.scenario);
  const chunks = o.chunkBytes === undefined ? DEFAULT_CHUNKS : o.chunkBytes;
  if (!Array.isArray(chunks) || chunks.length === 0) {
    throw new TypeError(
      `Invalid option 'chunkBytes': expected a non-empty array of byte counts, got ${describe(chunks)}`,
    );
  }
  const chunkBytes = chunks.map((c, i) =>
    integerOption(`chunkBytes[${i}]`, c, 1, 16 * 1024 * 1024),
  );
  const writeIdleMs = limitList("writeIdle", o.writeIdle, DEFAULT_WRITE_IDLE);
  const totalMs = limitList("total", o.total, DEFAULT_TOTAL);
  const headersMs =
    o.headers === undefined || o.headers === false
      ? Infinity
      : durationOption("headers", o.headers);
  const trials = o.trials === undefined ? 1000 : integerOption("trials", o.trials, 1, 10_000_000);
  const seed = o.seed === undefined ? 1 : integerOption("seed", o.seed, 0, 2 ** 32 - 1);
  const cells = chunkBytes.length * writeIdleMs.length * totalMs.length;
  if (cells > MAX_CELLS) {
    throw new RangeError(
      `Invalid options: ${cells} candidates (chunkBytes × writeIdle × total) exceed ${MAX_CELLS}`,
    );
  }
  return { scenario, chunkBytes, writeIdleMs, totalMs, headersMs, trials, seed };
}

/** One trial's path, drawn from stream `trial` of the plan's seed. */
export interface TrialPath {
  params: Omit<UploadParams, "chunkBytes" | "timeouts">;
  dropped: boolean;
  tarpitted: boolean;
}

/**
 * Draws trial `trial`'s path. Every draw is made whether or not it is used
 * (a drop not drawn still consumes its numbers), so changing one
 * probability leaves every other trial's path unchanged.
 *
 * @example
 * ```ts
 * import { drawTrial, planSweep } from "timebound/sim";
 * const plan = planSweep({ trials: 10 });
 * const a = drawTrial(plan, 3);
 * console.assert(JSON.stringify(a) === JSON.stringify(drawTrial(plan, 3)));
 * console.assert(a.params.payloadBytes === 2_400_000);
 * ```
 */
export function drawTrial(plan: SweepPlan, trial: number): TrialPath {
  const s = plan.scenario;
  const r = seededRandom(plan.seed, trial);
  const payloadBytes = Math.max(1, Math.round(sample(s.payloadBytes, r)));
  const clientBitsPerSecond = sample(s.clientBitsPerSecond, r);
  const proxyBitsPerSecond = sample(s.proxyBitsPerSecond, r);
  const rttMs = s.rttMs === undefined ? 0 : Math.max(0, sample(s.rttMs, r));
  const buffer =
    s.sendBufferBytes === undefined
      ? undefined
      : Math.max(1024, Math.round(sample(s.sendBufferBytes, r)));
  const burst =
    s.proxyBurstBytes === undefined ? 0 : Math.max(0, Math.round(sample(s.proxyBurstBytes, r)));
  const dropCoin = r();
  const dropAt = s.drop ? Math.max(0, sample(s.drop.atMs, r)) : 0;
  const tarpitCoin = r();
  const tarpitAt = s.tarpit ? Math.max(0, sample(s.tarpit.atMs, r)) : 0;
  const tarpitRate = s.tarpit ? sample(s.tarpit.readBytesPerSecond, r) : 0;
  const dropped = s.drop !== undefined && dropCoin < s.drop.probability;
  const tarpitted = s.tarpit !== undefined && tarpitCoin < s.tarpit.probability;
  const params: TrialPath["params"] = {
    payloadBytes,
    clientBitsPerSecond,
    proxyBitsPerSecond,
    proxyMode: s.proxyMode ?? "streaming",
    rttMs,
    seed: (plan.seed + trial) >>> 0,
  };
  if (buffer !== undefined) params.sendBufferBytes = buffer;
  if (burst > 0) params.proxyBurstBytes = burst;
  if (dropped) params.dropAtMs = dropAt;
  // Fixed values, no draws: a scenario without them draws what it did before.
  if (s.proxyBufferBytes !== undefined) params.proxyBufferBytes = s.proxyBufferBytes;
  if (s.upstreamRttMs !== undefined) params.upstreamRttMs = s.upstreamRttMs;
  if (s.linkTrace) {
    // Drawn last, so a scenario without a trace draws what it always did.
    params.linkTrace = s.linkTrace;
    params.linkTraceStartMs = Math.floor(r() * s.linkTrace.opportunitiesMs.at(-1)!);
  }
  if (tarpitted) {
    params.serverReadBytesPerSecond = tarpitRate;
    params.tarpitAtMs = tarpitAt;
  }
  // Drawn last: a scenario without loss draws exactly what it did before.
  if (s.lossRate !== undefined) {
    const loss = Math.min(0.5, Math.max(0, sample(s.lossRate, r)));
    if (loss > 0 && !tarpitted) {
      params.lossRate = loss;
      if (s.lossBurstSegments !== undefined) params.lossBurstSegments = s.lossBurstSegments;
    }
  }
  if (s.linkTraceOff === "drop" && !tarpitted) params.linkTraceOff = "drop";
  if (s.congestionControl !== undefined && (params.lossRate !== undefined || params.linkTraceOff)) {
    params.congestionControl = s.congestionControl;
  }
  return { params, dropped, tarpitted };
}

/**
 * Runs one task: trials [fromTrial, toTrial) of one chunk size × write-idle
 * pair, under every total. Pure: the same plan and task give the same tally
 * on any thread.
 *
 * @example
 * ```ts
 * import { planSweep, runSweepTask } from "timebound/sim";
 * const plan = planSweep({ chunkBytes: [16384], writeIdle: ["5s"], total: ["60s"], trials: 5 });
 * const tally = runSweepTask(plan, { chunk: 0, writeIdle: 0, fromTrial: 0, toTrial: 5 });
 * console.assert(tally.ok[0] + Object.values(tally.failures[0]).reduce((a, b) => a + b, 0) === 5);
 * ```
 */
export function runSweepTask(
  plan: SweepPlan,
  task: SweepTask,
  onTrials?: (n: number) => void,
): TaskTally {
  const chunkBytes = plan.chunkBytes[task.chunk]!;
  const writeIdle = plan.writeIdleMs[task.writeIdle]!;
  const nT = plan.totalMs.length;
  const tally: TaskTally = {
    ok: new Array(nT).fill(0),
    timeSum: new Array(nT).fill(0),
    failures: Array.from({ length: nT }, () => ({})),
    okMs: Array.from({ length: nT }, () => []),
  };
  const timeouts: { total: number | false; writeIdle: number | false; headers: number | false } = {
    total: false,
    writeIdle: writeIdle === Infinity ? false : writeIdle,
    headers: plan.headersMs === Infinity ? false : plan.headersMs,
  };
  let pending = 0;
  for (let t = task.fromTrial; t < task.toTrial; t++) {
    const { params } = drawTrial(plan, t);
    for (let k = 0; k < nT; k++) {
      const total = plan.totalMs[k]!;
      timeouts.total = total === Infinity ? false : total;
      const r = simulateUpload({ ...params, chunkBytes, timeouts });
      tally.timeSum[k]! += r.elapsedMs;
      if (r.outcome === "ok") {
        tally.ok[k]!++;
        tally.okMs[k]!.push(r.elapsedMs);
      } else {
        const why = r.outcome === "hang" ? "hang" : (r.phase ?? "total");
        const f = tally.failures[k]!;
        f[why] = (f[why] ?? 0) + 1;
      }
    }
    pending += nT;
    if (onTrials && pending >= 200) {
      onTrials(pending);
      pending = 0;
    }
  }
  if (onTrials && pending > 0) onTrials(pending);
  return tally;
}

/**
 * The 95 % Wilson score interval of `k` successes in `n` trials (Wilson
 * 1927): unlike p ± 1.96·√(p(1−p)/n), it stays inside [0, 1] and is not
 * zero-width when every trial succeeded.
 *
 * @example
 * ```ts
 * import { wilson } from "timebound/sim";
 * const [lo, hi] = wilson(1000, 1000);
 * console.assert(hi === 1 && lo > 0.996 && lo < 0.997);
 * ```
 */
export function wilson(k: number, n: number): [number, number] {
  if (n === 0) return [0, 1];
  const p = k / n;
  const z2 = Z95 * Z95;
  const denom = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denom;
  const half = (Z95 * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denom;
  // Exact at the edges: rounding would otherwise leave 1000/1000 with an upper bound of 0.99999…
  return [k === 0 ? 0 : Math.max(0, centre - half), k === n ? 1 : Math.min(1, centre + half)];
}

function tasksOf(plan: SweepPlan): SweepTask[] {
  const tasks: SweepTask[] = [];
  for (let c = 0; c < plan.chunkBytes.length; c++) {
    for (let w = 0; w < plan.writeIdleMs.length; w++) {
      for (let from = 0; from < plan.trials; from += TRIALS_PER_TASK) {
        tasks.push({
          chunk: c,
          writeIdle: w,
          fromTrial: from,
          toTrial: Math.min(plan.trials, from + TRIALS_PER_TASK),
        });
      }
    }
  }
  return tasks;
}

/** Merges tallies in task order (so sums and sketches are built the same way every time). */
function assemble(plan: SweepPlan, tasks: SweepTask[], tallies: TaskTally[]): SweepCell[] {
  const nT = plan.totalMs.length;
  const cells: SweepCell[] = [];
  for (let c = 0; c < plan.chunkBytes.length; c++) {
    for (let w = 0; w < plan.writeIdleMs.length; w++) {
      const mine = tasks
        .map((t, i) => [t, tallies[i]!] as const)
        .filter(([t]) => t.chunk === c && t.writeIdle === w);
      for (let k = 0; k < nT; k++) {
        let ok = 0;
        let timeSum = 0;
        const failures: FailureCounts = {};
        const sketch = new DDSketch({ relativeAccuracy: 0.01 });
        for (const [, tally] of mine) {
          ok += tally.ok[k]!;
          timeSum += tally.timeSum[k]!;
          for (const [why, n] of Object.entries(tally.failures[k]!)) {
            failures[why as Phase] = (failures[why as Phase] ?? 0) + n;
          }
          for (const ms of tally.okMs[k]!) sketch.accept(ms);
        }
        const [lo, hi] = wilson(ok, plan.trials);
        cells.push({
          chunkBytes: plan.chunkBytes[c]!,
          writeIdleMs: plan.writeIdleMs[w]!,
          totalMs: plan.totalMs[k]!,
          trials: plan.trials,
          ok,
          successRate: ok / plan.trials,
          successLow: lo,
          successHigh: hi,
          p50Ms: nearestRank(sketch, 0.5),
          p99Ms: nearestRank(sketch, 0.99),
          meanMs: timeSum / plan.trials,
          failures,
        });
      }
    }
  }
  return cells;
}

function idealQuantiles(
  plan: SweepPlan,
): SweepResult["idealMs"] & { drops: number; tarpits: number } {
  const times: number[] = [];
  let drops = 0;
  let tarpits = 0;
  for (let t = 0; t < plan.trials; t++) {
    const { params, dropped, tarpitted } = drawTrial(plan, t);
    if (dropped) drops++;
    if (tarpitted) tarpits++;
    times.push(
      uploadTimeMs({
        payloadBytes: params.payloadBytes,
        clientBitsPerSecond: params.clientBitsPerSecond,
        // Over a trace: its average, as the wire rate that carries the same
        // payload (a trace counts 1,500-byte packets, the closed form frames).
        proxyBitsPerSecond: params.linkTrace
          ? Math.min(
              params.proxyBitsPerSecond,
              (traceBitsPerSecond(params.linkTrace) * SEGMENT_WIRE_BYTES) / LINK_TRACE_PACKET_BYTES,
            )
          : params.proxyBitsPerSecond,
        rttMs: params.rttMs ?? 0,
        proxyMode: params.proxyMode ?? "streaming",
      }),
    );
  }
  times.sort((a, b) => a - b);
  // Nearest-rank quantiles of the closed form; exact, and cheap next to the sweep.
  const q = (p: number) => times[Math.min(times.length - 1, Math.ceil(p * times.length) - 1)]!;
  return { p50: q(0.5), p90: q(0.9), p99: q(0.99), p999: q(0.999), drops, tarpits };
}

/**
 * Runs the Monte Carlo sweep: every chunk size × write-idle × total
 * candidate, `trials` simulated uploads each, on worker threads where the
 * runtime has them. Deterministic: the same options give the same cells,
 * bit for bit, with any number of workers.
 *
 * Cost: `chunkBytes × writeIdle × total × trials` simulated uploads, at
 * roughly 50–150 k uploads/s per core for a 2.4 MB payload (see
 * bench/README.md, "Planning tools").
 *
 * @param options Candidates, conditions, trials, seed, workers, progress.
 * @returns One cell per candidate, plus the ideal (closed-form) times.
 * @throws {TypeError} For an unknown option or a wrong type; {@link RangeError} for a bad value.
 *
 * @example
 * ```ts
 * import { sweep } from "timebound/sim";
 * const result = await sweep({
 *   chunkBytes: [16_384, 262_144], writeIdle: ["2s"], total: ["60s"], trials: 50, workers: 1,
 * });
 * const [small, large] = result.cells;
 * // Pull gaps grow with the chunk once it outgrows a third of the send buffer:
 * console.assert(small.successRate >= large.successRate);
 * ```
 */
export async function sweep(options: SweepOptions = {}): Promise<SweepResult> {
  const plan = planSweep(options);
  const tasks = tasksOf(plan);
  const totalUploads =
    plan.trials * plan.chunkBytes.length * plan.writeIdleMs.length * plan.totalMs.length;
  const onProgress = options.onProgress;
  if (onProgress !== undefined && typeof onProgress !== "function") {
    throw new TypeError(
      `Invalid option 'onProgress': expected a function, got ${describe(onProgress)}`,
    );
  }
  const workers = options.workers ?? "auto";
  if (workers !== "auto") integerOption("workers", workers, 1, 1024);
  let done = 0;
  const progress = (n: number) => {
    done += n;
    onProgress?.({ done, total: totalUploads });
  };
  const runner: TaskRunner<SweepPlan, SweepTask, TaskTally> = {
    moduleUrl: new URL(
      `./sweep-worker${import.meta.url.endsWith(".ts") ? ".ts" : ".js"}`,
      import.meta.url,
    ),
    local: (p, task, report) => runSweepTask(p, task, report),
  };
  const tallies = await runTasks(runner, plan, tasks, {
    workers,
    onProgress: progress,
    signal: options.signal,
  });
  const ideal = idealQuantiles(plan);
  return {
    cells: assemble(plan, tasks, tallies),
    trials: plan.trials,
    seed: plan.seed,
    scenario: plan.scenario,
    headersMs: plan.headersMs,
    idealMs: { p50: ideal.p50, p90: ideal.p90, p99: ideal.p99, p999: ideal.p999 },
    dropTrials: ideal.drops,
    tarpitTrials: ideal.tarpits,
  };
}
