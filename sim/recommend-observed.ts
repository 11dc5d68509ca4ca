/**
 * Closing the loop offline (issue 13, item 4): the planner of
 * {@linkcode recommend}, driven by what production observed instead of
 * assumed distributions. You state the false-timeout rate you accept (the
 * AWS practice: pick it, e.g. 0.1 %, and read that percentile) and a
 * margin; it says which limits follow, and how it got there.
 *
 * - Limits of a call's phases (`headers`, `readIdle` from the largest read
 *   gaps, `total`) are the sketches' (1 − rate) quantile × margin
 *   ({@linkcode fromSketches}). Simulating one call against a limit would
 *   only replay the same distribution: the share a limit cuts is the share
 *   of the sketch above it, read directly.
 * - An upload's limits depend on more than one number (chunk size, send
 *   buffer, slow start, a `writeIdle` that sees pull gaps, not durations),
 *   so it is simulated: {@linkcode sweep} draws each upload's rate from the
 *   origin's `uploadRate` sketch, the payload and the rest of the path from
 *   the scenario you give (what a client cannot observe), and
 *   {@linkcode recommendFrom} picks the shortest total, its chunk size and
 *   the tightest `writeIdle` that reach 1 − rate. Those are multiplied by the
 *   margin, and a confirming run of the final options, with the `headers`
 *   limit of the first point, reports the share they would end.
 *
 * @module
 */
import { type Duration, describe } from "../src/duration.ts";
import { checkKeys, integerOption, plainObject, positiveNumber } from "../src/validate.ts";
import { roundUp2 } from "./_round.ts";
import { fromSketches, type ObservedTimeouts } from "./observations.ts";
import { Observer, type SketchesJSON } from "./observer.ts";
import { checkDistribution, type Distribution, quantileOf } from "./random.ts";
import { type Recommendation, recommendFrom } from "./recommend.ts";
import {
  checkScenario,
  RESIDENTIAL_UPLOAD,
  type SweepProgress,
  sweep,
  type UploadScenario,
} from "./sweep.ts";
import { formatRate, formatSize, formatTime } from "./units.ts";

/**
 * The parts of an upload's path that a client's sketches cannot tell. Not
 * the link's rate, its trace or its loss: the observed upload rates already
 * include what those cost.
 */
export type UnobservedPath = Omit<
  Partial<UploadScenario>,
  | "payloadBytes"
  | "clientBitsPerSecond"
  | "proxyBitsPerSecond"
  | "linkTrace"
  | "lossRate"
  | "lossBurstSegments"
>;

/** Options of {@linkcode recommendObserved}. */
export interface RecommendObservedOptions {
  /** The share of calls a limit may end that would have succeeded, in (0, 0.5]. @default 0.001 */
  falseTimeoutRate?: number;
  /** Every limit is what the data needs at that rate, times this (≥ 1). @default 1.5 */
  margin?: number;
  /** The request body to plan uploads for (bytes). @default 2400000 (the seed's 2.4 MB POST) */
  payloadBytes?: Distribution;
  /** RTT, send buffer, bursts, drops and tarpits. @default those of RESIDENTIAL_UPLOAD */
  path?: UnobservedPath;
  /** Candidate chunk sizes. @default 16 KiB, 64 KiB */
  chunkBytes?: number[];
  /** Candidate writeIdle limits. @default "1s", "2s", "5s", "10s" */
  writeIdle?: (Duration | false)[];
  /**
   * Candidate totals. @default the closed-form time of the payload at the
   * (rate) quantile of the observed upload rates, × 1, 1.1, 1.25, 1.5, 2,
   * 3 and 5 (two significant digits)
   */
  total?: (Duration | false)[];
  /** Simulated uploads per candidate. @default ⌈3 / falseTimeoutRate⌉ (rule of three) */
  trials?: number;
  /** @default 1 */
  seed?: number;
  /** As {@linkcode sweep}'s. @default "auto" */
  workers?: number | "auto";
  onProgress?: (progress: SweepProgress) => void;
  signal?: AbortSignal;
}

/** Uploads to an origin, planned on its observed rates. */
export interface ObservedUploadPlan {
  /** The scenario simulated: the observed rates, the payload and the unobserved path. */
  scenario: UploadScenario;
  /** Uploads the rates came from. */
  samples: number;
  /** The planner's choice on the observed distribution, before the margin. */
  recommendation: Recommendation;
  /**
   * What to give uploads when the target was met: the chosen total and
   * writeIdle × margin (ms, two significant digits), the chosen chunk size,
   * and `headers`: the call limit when it costs uploads nothing more than
   * the rate, else `false`.
   */
  options?: {
    total: number | false;
    writeIdle: number | false;
    headers: number | false;
    upload: { chunkSize: number };
  };
  /** The share of simulated uploads `options` ends (the confirming run; drops and tarpits included). */
  failureRate?: number;
  /** The share the call `headers` limit alone would add to it, when there is one. */
  headersCut?: number;
}

/** Output of {@linkcode recommendObserved}. */
export interface ObservedRecommendation {
  origin: string;
  falseTimeoutRate: number;
  margin: number;
  /** Limits of a call's phases: the sketches' (1 − rate) quantile × margin. */
  calls: ObservedTimeouts;
  /** Present when the origin's `uploadRate` was sketched. */
  upload?: ObservedUploadPlan;
  /** For people. */
  summary: string;
  notes: string[];
}

const OPTION_KEYS = new Set([
  "falseTimeoutRate",
  "margin",
  "payloadBytes",
  "path",
  "chunkBytes",
  "writeIdle",
  "total",
  "trials",
  "seed",
  "workers",
  "onProgress",
  "signal",
]);
const PATH_KEYS = new Set([
  "proxyMode",
  "proxyBufferBytes",
  "upstreamRttMs",
  "rttMs",
  "sendBufferBytes",
  "proxyBurstBytes",
  "drop",
  "tarpit",
]);
/** Path keys the observed rates already account for. */
const OBSERVED_KEYS = ["linkTrace", "lossRate", "lossBurstSegments"];
const KIB = 1024;
const TOTAL_FACTORS = [1, 1.1, 1.25, 1.5, 2, 3, 5];

function pct(p: number): string {
  // 99.9 %, 0.03 %: the digits that tell a target or a small share apart.
  return `${Number((p * 100).toPrecision(p >= 0.5 ? 4 : 2))} %`;
}

function limit(ms: number): string {
  return ms === Infinity ? "none" : formatTime(ms);
}

/**
 * Plans limits for `origin` from the sketches production kept: call limits
 * at the false-timeout rate you accept × a margin, and, when uploads were
 * sketched, the upload's chunk size, `writeIdle` and `total` from a
 * simulation driven by the observed upload rates.
 *
 * @param sketches An {@linkcode Observer} or its JSON form.
 * @param origin Whose calls (`https://api.example`).
 * @param options The rate, the margin, the upload to plan and the sweep's knobs.
 * @returns The limits, the evidence and a summary.
 * @throws {TypeError} For malformed sketches or options, or an origin with no whole calls; {@link RangeError} for a bad value.
 *
 * @example
 * ```ts
 * import { Observer, recommendObserved } from "timebound/sim";
 * const obs = new Observer();
 * const up = "https://up.example/";
 * for (let i = 0; i < 500; i++) {
 *   obs.record(up, "total", 5000 + 10 * i);
 *   obs.record(up, "headers", 100 + (i % 50));
 *   obs.record(up, "uploadRate", 3e6 + 4e3 * i); // 3–5 Mbit/s
 * }
 * const r = await recommendObserved(obs, "https://up.example", {
 *   payloadBytes: 1_000_000, chunkBytes: [65_536], writeIdle: ["2s"], trials: 300, workers: 1,
 *   falseTimeoutRate: 0.01, path: { drop: undefined, tarpit: undefined },
 * });
 * console.assert(r.upload?.recommendation.met === true);
 * console.log(r.summary);
 * ```
 */
export async function recommendObserved(
  sketches: Observer | SketchesJSON,
  origin: string,
  options: RecommendObservedOptions = {},
): Promise<ObservedRecommendation> {
  const o = plainObject("options", options);
  checkKeys("", o, OPTION_KEYS);
  const rate = o.falseTimeoutRate === undefined ? 0.001 : (o.falseTimeoutRate as number);
  if (typeof rate !== "number" || !(rate > 0 && rate <= 0.5)) {
    throw new RangeError(
      `Invalid option 'falseTimeoutRate': expected a number in (0, 0.5], got ${describe(rate)}`,
    );
  }
  const margin = o.margin === undefined ? 1.5 : positiveNumber("margin", o.margin);
  if (margin < 1) {
    throw new RangeError(`Invalid option 'margin': expected a number >= 1, got ${margin}`);
  }
  const payloadBytes =
    o.payloadBytes === undefined
      ? RESIDENTIAL_UPLOAD.payloadBytes
      : checkDistribution("payloadBytes", o.payloadBytes);
  const trials =
    o.trials === undefined
      ? Math.ceil(3 / rate - 1e-9)
      : integerOption("trials", o.trials, 1, 10_000_000);
  const path = o.path === undefined ? {} : plainObject("path", o.path);
  for (const key of OBSERVED_KEYS) {
    if (key in path) {
      throw new TypeError(
        `Invalid option 'path.${key}': the observed upload rates already include what the link's ${key === "linkTrace" ? "changes" : "loss"} costs; plan a link you have not observed with recommend()`,
      );
    }
  }
  checkKeys("path", path, PATH_KEYS);
  const obs = sketches instanceof Observer ? sketches : Observer.fromJSON(sketches);
  const target = 1 - rate;
  const calls = fromSketches(obs, origin, { quantile: target, margin });
  const notes = [...calls.notes];
  const rates = obs.distribution(origin, "uploadRate");
  // An upload's writeIdle comes from the simulation, not from whole-upload durations.
  if (rates !== undefined && calls.timeouts.writeIdle !== undefined) {
    delete calls.timeouts.writeIdle;
    delete calls.limits.writeIdle;
    notes.splice(
      notes.findIndex((n) => n.startsWith("writeIdle is taken")),
      1,
    );
  }
  const callText = Object.entries(calls.timeouts)
    .map(([k, v]) => `${k} ${formatTime(v)}`)
    .join(", ");
  let summary = `${origin}: calls ${callText} (each the p${Number((target * 100).toPrecision(4))} of ${calls.samples} observed calls × ${margin}).`;
  if (rates === undefined) {
    return { origin, falseTimeoutRate: rate, margin, calls, summary, notes };
  }

  // The path: observed rates (the client link never the narrower one), the
  // payload you plan for, the rest as you say or as the seed's profile.
  const fastest = quantileOf(rates, 1);
  const scenario = checkScenario(
    Object.fromEntries(
      Object.entries({
        ...RESIDENTIAL_UPLOAD,
        ...path,
        payloadBytes,
        clientBitsPerSecond: Math.max(fastest, 1e6) * 2,
        proxyBitsPerSecond: rates,
      }).filter(([, v]) => v !== undefined),
    ),
  );
  const slowRate = quantileOf(rates, rate);
  const ideal =
    (quantileOf(payloadBytes, target) * 8000) / slowRate +
    (scenario.rttMs === undefined ? 0 : quantileOf(scenario.rttMs, target));
  const total =
    o.total === undefined ? [...new Set(TOTAL_FACTORS.map((f) => roundUp2(ideal * f)))] : o.total;
  const chunkBytes = (o.chunkBytes as number[] | undefined) ?? [16 * KIB, 64 * KIB];
  const writeIdle = (o.writeIdle as (Duration | false)[] | undefined) ?? ["1s", "2s", "5s", "10s"];
  const common = {
    scenario,
    trials,
    seed: o.seed as number | undefined,
    workers: o.workers as number | "auto" | undefined,
    signal: o.signal as AbortSignal | undefined,
  };
  const result = await sweep({
    ...common,
    chunkBytes,
    writeIdle,
    total: total as (Duration | false)[],
    onProgress: o.onProgress as RecommendObservedOptions["onProgress"],
  });
  const recommendation = recommendFrom(result, { target });
  const samples = obs.count(origin, "uploadRate");
  const upload: ObservedUploadPlan = { scenario, samples, recommendation };
  const rateText = `${formatRate(slowRate)} at p${Number((rate * 100).toPrecision(2))}, ${formatRate(quantileOf(rates, 0.5))} median, ${samples} uploads sketched`;
  const size =
    typeof payloadBytes === "number" ? formatSize(payloadBytes) : "bodies of the given sizes";
  if (!recommendation.met) {
    summary += ` Uploads of ${size} at the observed rates (${rateText}): ${recommendation.summary}`;
    return { origin, falseTimeoutRate: rate, margin, calls, upload, summary, notes };
  }

  const cell = recommendation.cell;
  const withMargin = (ms: number): number | false =>
    ms === Infinity ? false : roundUp2(ms * margin);
  const chosen = {
    total: withMargin(cell.totalMs),
    writeIdle: withMargin(cell.writeIdleMs),
    chunk: cell.chunkBytes,
  };
  // Confirm the final options, first with the call headers limit: it starts
  // once the body is in the send buffer, which still has to drain.
  const confirm = async (headers: number | false) => {
    const r = await sweep({
      ...common,
      chunkBytes: [chosen.chunk],
      writeIdle: [chosen.writeIdle],
      total: [chosen.total],
      headers,
    });
    return 1 - r.cells[0]!.successRate;
  };
  const failureNoHeaders = await confirm(false);
  let headers: number | false = false;
  let failureRate = failureNoHeaders;
  if (calls.timeouts.headers !== undefined) {
    const withHeaders = await confirm(calls.timeouts.headers);
    upload.headersCut = Math.max(0, withHeaders - failureNoHeaders);
    if (withHeaders <= rate) {
      headers = calls.timeouts.headers;
      failureRate = withHeaders;
    } else {
      notes.push(
        `the calls' headers limit (${formatTime(calls.timeouts.headers)}) would end ${pct(upload.headersCut)} more of these uploads (it starts once the body is in the send buffer, which still drains over the slow link): leave it off for uploads (headers: false)`,
      );
    }
  }
  upload.options = {
    total: chosen.total,
    writeIdle: chosen.writeIdle,
    headers,
    upload: { chunkSize: chosen.chunk },
  };
  upload.failureRate = failureRate;
  summary += ` Uploads of ${size} at the observed rates (${rateText}): the simulator reaches ${pct(target)} with chunks of ${formatSize(cell.chunkBytes)}, writeIdle ${limit(cell.writeIdleMs)}, total ${limit(cell.totalMs)}; × ${margin}: writeIdle ${chosen.writeIdle === false ? "none" : formatTime(chosen.writeIdle)}, total ${chosen.total === false ? "none" : formatTime(chosen.total)}, which end ${pct(failureRate)} of ${trials} simulated uploads (drops and tarpits included).`;
  notes.push(
    "upload rates run from the first pull to the response headers: they include a round trip and the server's think time, so the simulated uploads are slower than the path (the limits err long)",
  );
  if (!["rttMs", "sendBufferBytes", "proxyBurstBytes", "drop", "tarpit"].some((k) => k in path)) {
    notes.push(
      "RTT, send buffer, bursts, drops and tarpits are the seed's residential profile: the sketches cannot tell them (options.path, or --rtt, --send-buffer, --drop-rate)",
    );
  }
  notes.push(...recommendation.notes);
  return { origin, falseTimeoutRate: rate, margin, calls, upload, summary, notes };
}
