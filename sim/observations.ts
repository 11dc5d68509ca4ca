/**
 * Timeouts from data, as the seed article recommends ("Base your timeouts on
 * data", ../shared/seeds/002): take measured phase timings — what
 * `timingsOf()` collects, or curl's `-w` variables — and propose limits from
 * a high quantile times a stated margin. Quantiles come from DDSketch
 * (`@datadog/sketches-js`, relative accuracy 1 %), so millions of samples
 * fit in a few kilobytes and sketches from many hosts could be merged.
 *
 * @module
 */
import { DDSketch } from "@datadog/sketches-js";
import { describe } from "../src/duration.ts";
import type { Timings } from "../src/timings.ts";
import { checkKeys, plainObject, positiveNumber } from "../src/validate.ts";
import { nearestRank } from "./_quantile.ts";
import { roundUp2 } from "./_round.ts";
import { Observer, type QuantileSketch, type SketchesJSON, type SketchPhase } from "./observer.ts";
import { formatTime } from "./units.ts";

/**
 * curl's `-w` timing variables, in seconds since the start (as curl prints
 * them). `time_posttransfer` (curl ≥ 8.10) is when the last request byte
 * was sent; without it the upload cannot be told from the server's wait.
 */
export interface CurlTimings {
  time_namelookup?: number;
  time_connect?: number;
  time_appconnect?: number;
  time_pretransfer: number;
  time_posttransfer?: number;
  time_starttransfer: number;
  time_total: number;
}

/** Phase durations in ms, for data from elsewhere (an APM, a log). */
export interface PhaseSample {
  /** Time spent before the request could be sent (DNS, connect, TLS). */
  connectMs?: number;
  /** Time from the first to the last byte of the request body. */
  uploadMs?: number;
  /** Time from the request being handed over to the response headers. */
  headersMs: number;
  /** Time from the headers to the end of the body. */
  bodyMs?: number;
  /** The longest gap between two response reads, when measured. */
  maxReadGapMs?: number;
  /** The whole exchange. */
  totalMs: number;
}

/** One observation: a timebound `Timings` record, curl's `-w` values, or phase durations. */
export type Observation = Timings | CurlTimings | PhaseSample;

/** Options of {@linkcode fromObservations}. */
export interface FromObservationsOptions {
  /** The quantile the limits are taken from. @default 0.99 */
  quantile?: number;
  /** Each limit is the quantile times this, rounded up to two significant digits. @default 2 */
  margin?: number;
}

/** One proposed limit and the evidence for it. */
export interface ProposedLimit {
  /** The limit, in ms (two significant digits, rounded up). */
  ms: number;
  /** The quantile of the observed phase it came from, in ms. */
  quantileMs: number;
  /** The largest observed value, in ms. */
  maxMs: number;
  /** Samples that had this phase. */
  samples: number;
  /** Share of those samples that would have hit the limit (0 unless the margin is below max/quantile). */
  exceedRate: number;
  /** How the value was reached, in words. */
  how: string;
}

/** Output of {@linkcode fromObservations}. */
export interface ObservedTimeouts {
  /** Options for `createFetch`, as durations in ms; only phases the data covered. */
  timeouts: { total: number; headers?: number; readIdle?: number; writeIdle?: number };
  /** The evidence per limit. */
  limits: Partial<Record<"total" | "headers" | "readIdle" | "writeIdle", ProposedLimit>>;
  quantile: number;
  margin: number;
  samples: number;
  /** Caveats in words (too few samples for the quantile, stand-ins used). */
  notes: string[];
}

const OPTION_KEYS = new Set(["quantile", "margin"]);
/** DDSketch's guarantee: every quantile within 1 % of the true value. */
const RELATIVE_ACCURACY = 0.01;

function isCurl(o: Record<string, unknown>): boolean {
  return "time_total" in o || "time_starttransfer" in o;
}

function isTimings(o: Record<string, unknown>): boolean {
  return "start" in o && "attempts" in o;
}

function num(where: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
    throw new TypeError(
      `Invalid observation ${where}: expected a finite number >= 0, got ${describe(v)}`,
    );
  }
  return v;
}

/** One observation as phase durations (ms); `undefined` phases were not observed. */
function toPhases(o: unknown, i: number): PhaseSample {
  const obj = plainObject(`samples[${i}]`, o);
  if (isCurl(obj)) {
    const s = (k: string) =>
      obj[k] === undefined ? undefined : num(`samples[${i}].${k}`, obj[k]) * 1000;
    const pre = s("time_pretransfer");
    const post = s("time_posttransfer");
    const ttfb = s("time_starttransfer");
    const total = s("time_total");
    if (pre === undefined || ttfb === undefined || total === undefined) {
      throw new TypeError(
        `Invalid observation samples[${i}]: curl timings need time_pretransfer, time_starttransfer and time_total`,
      );
    }
    const sent = post ?? pre;
    return {
      connectMs: pre,
      uploadMs: post === undefined ? undefined : post - pre,
      headersMs: Math.max(0, ttfb - sent),
      bodyMs: Math.max(0, total - ttfb),
      totalMs: total,
    };
  }
  if (isTimings(obj)) {
    const t = obj as unknown as Timings;
    if (t.headers === undefined || t.total === undefined) {
      throw new TypeError(
        `Invalid observation samples[${i}]: Timings without headers or total (the request failed or its body was not read to the end)`,
      );
    }
    const sent = t.uploadEnd ?? 0;
    return {
      uploadMs:
        t.uploadStart !== undefined && t.uploadEnd !== undefined
          ? t.uploadEnd - t.uploadStart
          : undefined,
      headersMs: Math.max(0, t.headers - sent),
      bodyMs: t.bodyEnd === undefined ? undefined : Math.max(0, t.bodyEnd - t.headers),
      totalMs: t.total,
    };
  }
  checkKeys(
    `samples[${i}]`,
    obj,
    new Set(["connectMs", "uploadMs", "headersMs", "bodyMs", "maxReadGapMs", "totalMs"]),
  );
  const opt = (k: string) => (obj[k] === undefined ? undefined : num(`samples[${i}].${k}`, obj[k]));
  return {
    connectMs: opt("connectMs"),
    uploadMs: opt("uploadMs"),
    headersMs: num(`samples[${i}].headersMs`, obj.headersMs),
    bodyMs: opt("bodyMs"),
    maxReadGapMs: opt("maxReadGapMs"),
    totalMs: num(`samples[${i}].totalMs`, obj.totalMs),
  };
}

/**
 * Proposes `total`, `headers`, `readIdle` and `writeIdle` limits from
 * observed request timings: each is the chosen quantile of that phase
 * (nearest rank, so with fewer than 1/(1 − q) samples it is the largest)
 * times `margin`, rounded up to two significant digits. With the defaults (p99 ×
 * 2) a service whose p99 is 300 ms gets 600 ms: the seed's "plenty of
 * buffer", stated as a rule rather than a guess.
 *
 * - `total` comes from whole-request times (not a sum of phase limits:
 *   phases that are slow together would make a sum far too loose).
 * - `headers` from the wait between handing the request over and the
 *   first response byte.
 * - `readIdle` from the longest read gap when measured, else from the
 *   body's whole duration — a safe stand-in (no gap is longer than the
 *   body), but loose; a note says so.
 * - `writeIdle` likewise from the upload's duration, when uploads were seen.
 *
 * @param samples Timebound `Timings`, curl `-w` values (seconds) or {@linkcode PhaseSample}s; at least one.
 * @param options The quantile and the margin.
 * @returns Proposed limits with their evidence and caveats.
 * @throws {TypeError} For a malformed sample or option; {@link RangeError} for a quantile outside (0, 1) or a margin below 1.
 *
 * @example
 * ```ts
 * import { fromObservations } from "timebound/sim";
 * const samples = Array.from({ length: 1000 }, (_, i) => ({
 *   headersMs: 80 + (i % 100),        // 80–179 ms
 *   bodyMs: 20,
 *   totalMs: 100 + (i % 100),
 * }));
 * const { timeouts, limits } = fromObservations(samples);
 * console.assert(timeouts.headers === 360); // p99 ≈ 178 ms × 2, rounded up
 * console.assert(limits.headers.exceedRate === 0);
 * ```
 */
export function fromObservations(
  samples: Observation[],
  options: FromObservationsOptions = {},
): ObservedTimeouts {
  const { quantile, margin } = checkOptions(options);
  if (!Array.isArray(samples) || samples.length === 0) {
    throw new TypeError(
      `Invalid argument 'samples': expected a non-empty array, got ${describe(samples)}`,
    );
  }
  const phases = samples.map(toPhases);
  const pick = (f: (p: PhaseSample) => number | undefined) =>
    phases.map(f).filter((v): v is number => v !== undefined);
  const sketchOf = (values: number[]) => {
    if (values.length === 0) return undefined;
    const sketch = new DDSketch({ relativeAccuracy: RELATIVE_ACCURACY });
    // DDSketch keeps zeros apart from its log buckets; fine for 0 ms phases.
    for (const v of values) sketch.accept(v);
    // Exact share of the samples above a limit (the sketch's would be within its accuracy).
    return { sketch, exceed: (ms: number) => values.filter((v) => v > ms).length / values.length };
  };
  const gaps = pick((p) => p.maxReadGapMs);
  const uploads = pick((p) =>
    p.uploadMs !== undefined && p.uploadMs > 0 ? p.uploadMs : undefined,
  );
  return propose(
    {
      total: sketchOf(pick((p) => p.totalMs)),
      headers: sketchOf(pick((p) => p.headersMs)),
      readGap: sketchOf(gaps),
      body: sketchOf(pick((p) => p.bodyMs)),
      upload: sketchOf(uploads),
    },
    phases.length,
    quantile,
    margin,
  );
}

/**
 * Proposes limits from sketches that production kept — an {@linkcode Observer}
 * or its JSON form — for one origin, as {@linkcode fromObservations} does
 * from samples: each limit the chosen quantile (the false-timeout rate you
 * accept is 1 − quantile) times `margin`. `readIdle` comes from the longest
 * read gaps (`readGap`), or from whole-body durations where no gaps were
 * sketched; `writeIdle` from whole-upload durations (safe, loose; notes say
 * so); the share of observations a limit would have cut is read from the
 * sketch (within its 1 % accuracy).
 *
 * @param sketches An Observer, or its JSON form.
 * @param origin Whose sketches (`https://api.example`).
 * @param options The quantile and the margin.
 * @throws {TypeError} For malformed sketches or options, or an origin with no `total` observations.
 *
 * @example
 * ```ts
 * import { fromSketches, Observer } from "timebound/sim";
 * const obs = new Observer();
 * for (let i = 0; i < 1000; i++) obs.record("https://api.example/q", "headers", 80 + (i % 100));
 * for (let i = 0; i < 1000; i++) obs.record("https://api.example/q", "total", 100 + (i % 100));
 * const { timeouts } = fromSketches(obs, "https://api.example", { quantile: 0.999, margin: 1.5 });
 * console.assert(timeouts.headers === 270 && timeouts.total === 300);
 * ```
 */
export function fromSketches(
  sketches: Observer | SketchesJSON,
  origin: string,
  options: FromObservationsOptions = {},
): ObservedTimeouts {
  const { quantile, margin } = checkOptions(options);
  const obs = sketches instanceof Observer ? sketches : Observer.fromJSON(sketches);
  const of = (phase: SketchPhase) => {
    const sketch = obs.get(origin, phase);
    if (!sketch || sketch.count === 0) return undefined;
    return { sketch, exceed: (ms: number) => shareAbove(sketch, ms) };
  };
  if (!of("total")) {
    const known = obs.origins();
    throw new TypeError(
      `No observations of whole calls for ${JSON.stringify(origin)}; the sketches hold ${known.length ? known.map((k) => JSON.stringify(k)).join(", ") : "no origin"}`,
    );
  }
  return propose(
    {
      total: of("total"),
      headers: of("headers"),
      readGap: of("readGap"),
      body: of("body"),
      upload: of("upload"),
    },
    obs.count(origin, "total"),
    quantile,
    margin,
  );
}

/** The share of what `sketch` holds above `ms` (by bisection on its quantiles). */
function shareAbove(sketch: QuantileSketch, ms: number): number {
  if (sketch.max <= ms) return 0;
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 40; i++) {
    const mid = (lo + hi) / 2;
    if (sketch.getValueAtQuantile(mid) <= ms) lo = mid;
    else hi = mid;
  }
  return 1 - lo;
}

function checkOptions(options: FromObservationsOptions): { quantile: number; margin: number } {
  const o = plainObject("options", options);
  checkKeys("", o, OPTION_KEYS);
  const quantile = o.quantile === undefined ? 0.99 : (o.quantile as number);
  if (typeof quantile !== "number" || !(quantile > 0 && quantile < 1)) {
    throw new RangeError(
      `Invalid option 'quantile': expected a number in (0, 1), got ${describe(quantile)}`,
    );
  }
  const margin = o.margin === undefined ? 2 : positiveNumber("margin", o.margin);
  if (margin < 1) {
    throw new RangeError(`Invalid option 'margin': expected a number >= 1, got ${margin}`);
  }
  return { quantile, margin };
}

type Phase = { sketch: QuantileSketch; exceed: (ms: number) => number } | undefined;

/** Limits from per-phase sketches: the one rule behind fromObservations and fromSketches. */
function propose(
  phases: { total: Phase; headers: Phase; readGap?: Phase; body: Phase; upload: Phase },
  samples: number,
  quantile: number,
  margin: number,
): ObservedTimeouts {
  const notes: string[] = [];
  const pct = `p${Number((quantile * 100).toPrecision(4))}`;
  // Below ~10/(1 − q) samples, the quantile rests on a handful of points.
  const enough = Math.ceil(10 / (1 - quantile));
  if (samples < enough) {
    notes.push(
      `only ${samples} samples: ${pct} rests on the few slowest; collect ≥ ${enough} for a stable ${pct}`,
    );
  }
  const one = (p: Phase, label: string): ProposedLimit | undefined => {
    if (!p) return undefined;
    // Nearest rank: a limit from DDSketch's interpolated rank could be
    // below values observed, and trip on the very data it came from.
    const q = nearestRank(p.sketch, quantile);
    const max = p.sketch.max;
    const ms = roundUp2(q * margin);
    return {
      ms,
      quantileMs: q,
      maxMs: max,
      samples: p.sketch.count,
      exceedRate: p.exceed(ms),
      how: `${label}: ${pct} ${formatTime(q)} × ${margin} → ${formatTime(ms)} (max seen ${formatTime(max)})`,
    };
  };
  const limits: ObservedTimeouts["limits"] = {};
  limits.total = one(phases.total, "total");
  limits.headers = one(phases.headers, "headers");
  if (phases.readGap) {
    limits.readIdle = one(phases.readGap, "readIdle from the longest read gaps");
  } else {
    limits.readIdle = one(phases.body, "readIdle from whole-body durations");
    if (limits.readIdle) {
      notes.push(
        "readIdle is taken from whole-body durations (no read gaps were measured): safe, but loose for large bodies",
      );
    }
  }
  if (phases.upload) {
    limits.writeIdle = one(phases.upload, "writeIdle from whole-upload durations");
    notes.push(
      "writeIdle is taken from whole-upload durations: safe, but loose; simulate the upload (timebound recommend) for a tighter value",
    );
  }
  for (const k of Object.keys(limits) as (keyof typeof limits)[]) {
    if (limits[k] === undefined) delete limits[k];
  }
  const timeouts: ObservedTimeouts["timeouts"] = { total: limits.total!.ms };
  if (limits.headers) timeouts.headers = limits.headers.ms;
  if (limits.readIdle) timeouts.readIdle = limits.readIdle.ms;
  if (limits.writeIdle) timeouts.writeIdle = limits.writeIdle.ms;
  return { timeouts, limits, quantile, margin, samples, notes };
}
