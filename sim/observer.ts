/**
 * Observing in production (issue 13, item 3): per-origin quantile sketches
 * of each phase of the calls a timebound fetch makes, fed by its lifecycle
 * events, in bounded memory, mergeable across processes, and serialised to
 * a documented JSON format — the input of {@linkcode fromSketches} and of
 * `timebound recommend --from` (observe → plan → run).
 *
 * Sketches are DDSketch (`@datadog/sketches-js`, relative accuracy 1 %):
 * each phase of each origin costs a few kilobytes however many calls it
 * holds, and sketches made on different hosts merge exactly.
 *
 * @module
 */
import { DDSketch } from "@datadog/sketches-js";
import { describe } from "../src/duration.ts";
import type { TimeboundEvent } from "../src/events.ts";
import { checkKeys, plainObject, positiveNumber } from "../src/validate.ts";
import type { Distribution } from "./random.ts";

/** The phases sketched: durations in ms, `uploadRate` in bits/s. */
export const SKETCH_PHASES = [
  "total",
  "headers",
  "body",
  "readGap",
  "upload",
  "uploadRate",
] as const;
/**
 * One phase: `total` (calls that got a response whose body ended),
 * `headers` (handed over → headers), `body` (headers → body end), `readGap`
 * (per attempt, the longest wait on one body read: what `readIdle` limits),
 * `upload` (first → last pull of a streamed body), `uploadRate` (bits/s of
 * a body of at least {@linkcode UPLOAD_RATE_MIN_BYTES}, from its first
 * pull to the response headers: the server answers once it has read the
 * body, so kernel buffers cannot make it look faster than the path; it
 * includes one round trip and the server's think time, so it errs slow).
 */
export type SketchPhase = (typeof SKETCH_PHASES)[number];

/**
 * Bodies smaller than this are not sketched in `uploadRate`: they fit in
 * the send buffers, and one round trip and the server's think time would be
 * most of what is measured.
 */
export const UPLOAD_RATE_MIN_BYTES = 64 * 1024;

/**
 * One phase's sketch in JSON: DDSketch's logarithmic mapping, the content of
 * its protobuf form (`gamma`, index offset 0, no interpolation) written out —
 * bin `k` counts the values in (γ^(k−1), γ^k] ms — so any DDSketch
 * implementation (Go, Java, Python) can rebuild it.
 */
export interface SketchJSON {
  /** γ = (1 + α) / (1 − α) for relative accuracy α. */
  gamma: number;
  /** Observations of exactly 0 ms. */
  zeroCount: number;
  /** Count per bin key (as a string: JSON keys). */
  bins: Record<string, number>;
}

/**
 * The JSON form (version 1): per origin, per phase, a {@linkcode SketchJSON}.
 *
 * ```json
 * { "version": 1, "relativeAccuracy": 0.01,
 *   "origins": { "https://api.example": { "headers": { "gamma": 1.0202, "zeroCount": 0, "bins": { "232": 17, "233": 40 } } } } }
 * ```
 */
export interface SketchesJSON {
  version: 1;
  relativeAccuracy: number;
  origins: Record<string, Partial<Record<SketchPhase, SketchJSON>>>;
}

/**
 * What a phase's sketch offers its reader: the count, the largest value
 * (within the accuracy) and quantiles. (A DDSketch; the type is kept to
 * this so the package's types need no sketch library's own.)
 */
export interface QuantileSketch {
  readonly count: number;
  readonly max: number;
  /** The value at quantile `q` (DDSketch's rank q·(n − 1)). */
  getValueAtQuantile(q: number): number;
}

/** What this module reads of a DDSketch's internals (its logarithmic mapping and dense store). */
interface SketchInternals {
  mapping: { gamma: number; value(key: number): number };
  store: { bins: number[]; offset: number; minKey: number; maxKey: number; count: number };
  zeroCount: number;
}

/** Options of {@linkcode Observer}. */
export interface ObserverOptions {
  /** Every quantile within this relative error. @default 0.01 */
  relativeAccuracy?: number;
  /** Past this many origins, new ones are not recorded (memory stays bounded). @default 1000 */
  maxOrigins?: number;
}

/**
 * Keeps a DDSketch per origin and phase from a fetch's events. Pass
 * `observer.events` as `createFetch({ events })` (or call it from your own
 * subscriber); read `toJSON()` to ship it to the planner.
 *
 * @example
 * ```ts
 * import { Observer, fromSketches } from "timebound/sim";
 * const obs = new Observer();
 * for (let i = 0; i < 200; i++) {
 *   obs.events({ type: "call-end", url: "https://api.example/x", method: "GET", at: 0,
 *     outcome: "ok", status: 200, attempts: 1, durationMs: 100 + i, error: undefined });
 * }
 * const copy = Observer.fromJSON(JSON.parse(JSON.stringify(obs.toJSON())));
 * console.assert(copy.count("https://api.example", "total") === 200);
 * console.assert(fromSketches(copy.toJSON(), "https://api.example").timeouts.total === 600); // p99 ≈ 298 ms × 2
 * ```
 */
export class Observer {
  readonly relativeAccuracy: number;
  private readonly maxOrigins: number;
  private readonly byOrigin = new Map<string, Partial<Record<SketchPhase, DDSketch>>>();

  constructor(options: ObserverOptions = {}) {
    const o = plainObject("options", options);
    checkKeys("", o, new Set(["relativeAccuracy", "maxOrigins"]));
    this.relativeAccuracy =
      o.relativeAccuracy === undefined
        ? 0.01
        : positiveNumber("relativeAccuracy", o.relativeAccuracy);
    if (!(this.relativeAccuracy < 1)) {
      throw new RangeError(
        `Invalid option 'relativeAccuracy': expected a number in (0, 1), got ${this.relativeAccuracy}`,
      );
    }
    this.maxOrigins =
      o.maxOrigins === undefined ? 1000 : positiveNumber("maxOrigins", o.maxOrigins);
  }

  /** The subscriber to give `createFetch({ events })`: records the phases of successful exchanges. */
  readonly events = (e: TimeboundEvent): void => {
    if (e.type === "call-end") {
      if (e.outcome === "ok") this.record(e.url, "total", e.durationMs);
      return;
    }
    if (e.type !== "attempt-end" || e.outcome !== "ok" || e.headersMs === undefined) return;
    const sent = e.uploadEndMs ?? e.attemptStartMs;
    this.record(e.url, "headers", Math.max(0, e.headersMs - sent));
    if (e.bodyEndMs !== undefined) {
      this.record(e.url, "body", Math.max(0, e.bodyEndMs - e.headersMs));
      if (e.maxReadGapMs !== undefined) this.record(e.url, "readGap", e.maxReadGapMs);
    }
    if (e.uploadStartMs !== undefined && e.uploadEndMs !== undefined) {
      this.record(e.url, "upload", e.uploadEndMs - e.uploadStartMs);
      const ms = e.headersMs - e.uploadStartMs;
      if (e.bytesSent >= UPLOAD_RATE_MIN_BYTES && ms > 0) {
        this.record(e.url, "uploadRate", (e.bytesSent * 8000) / ms);
      }
    }
  };

  /** Adds one observation of `phase` (ms; bits/s for `uploadRate`) for the origin of `url`. */
  record(url: string, phase: SketchPhase, ms: number): void {
    let origin: string;
    try {
      origin = new URL(url).origin;
    } catch {
      return;
    }
    this.sketch(origin, phase, true)?.accept(ms);
  }

  private sketch(origin: string, phase: SketchPhase, create: boolean): DDSketch | undefined {
    let phases = this.byOrigin.get(origin);
    if (!phases) {
      if (!create || this.byOrigin.size >= this.maxOrigins) return undefined;
      phases = {};
      this.byOrigin.set(origin, phases);
    }
    let s = phases[phase];
    if (!s && create) {
      s = new DDSketch({ relativeAccuracy: this.relativeAccuracy });
      phases[phase] = s;
    }
    return s;
  }

  /** Origins seen. */
  origins(): string[] {
    return [...this.byOrigin.keys()];
  }

  /** Observations of `phase` for `origin`. */
  count(origin: string, phase: SketchPhase): number {
    return this.byOrigin.get(origin)?.[phase]?.count ?? 0;
  }

  /** The sketch of `phase` for `origin` (live; do not change it). */
  get(origin: string, phase: SketchPhase): QuantileSketch | undefined {
    return this.byOrigin.get(origin)?.[phase];
  }

  /**
   * What the sketch of `phase` for `origin` observed, as a distribution the
   * simulator draws from: a weighted `choice` of each bin's representative
   * value (within the relative accuracy), weighted by its count. Plain data,
   * like every {@linkcode Distribution}. `undefined` when nothing was seen.
   *
   * @example
   * ```ts
   * import { Observer, quantileOf } from "timebound/sim";
   * const obs = new Observer();
   * for (let i = 1; i <= 100; i++) obs.record("https://up.example/", "uploadRate", i * 1e5);
   * const rate = obs.distribution("https://up.example", "uploadRate")!;
   * console.assert(Math.abs(quantileOf(rate, 0.5) - 5e6) / 5e6 < 0.02);
   * ```
   */
  distribution(origin: string, phase: SketchPhase): Distribution | undefined {
    const sketch = this.byOrigin.get(origin)?.[phase];
    if (!sketch || sketch.count === 0) return undefined;
    const json = toSketchJSON(sketch);
    const { mapping } = sketch as unknown as SketchInternals;
    const values: number[] = [];
    const weights: number[] = [];
    if (json.zeroCount > 0) {
      values.push(0);
      weights.push(json.zeroCount);
    }
    for (const [k, c] of Object.entries(json.bins)) {
      values.push(mapping.value(Number(k)));
      weights.push(c);
    }
    return { kind: "choice", values, weights };
  }

  /** Adds everything `other` holds (another process's sketches, say). */
  merge(other: Observer | SketchesJSON): this {
    const from = other instanceof Observer ? other : Observer.fromJSON(other);
    if (from.relativeAccuracy !== this.relativeAccuracy) {
      throw new RangeError(
        `Cannot merge sketches of relative accuracy ${from.relativeAccuracy} into ${this.relativeAccuracy}`,
      );
    }
    for (const [origin, phases] of from.byOrigin) {
      for (const phase of SKETCH_PHASES) {
        const s = phases[phase];
        if (s) this.sketch(origin, phase, true)?.merge(s as DDSketch);
      }
    }
    return this;
  }

  /** The JSON form ({@linkcode SketchesJSON}). */
  toJSON(): SketchesJSON {
    const origins: SketchesJSON["origins"] = {};
    for (const [origin, phases] of this.byOrigin) {
      const out: SketchesJSON["origins"][string] = {};
      for (const phase of SKETCH_PHASES) {
        const s = phases[phase];
        if (s) out[phase] = toSketchJSON(s);
      }
      origins[origin] = out;
    }
    return { version: 1, relativeAccuracy: this.relativeAccuracy, origins };
  }

  /**
   * Reads the JSON form back.
   *
   * @throws {TypeError} For anything that is not version 1 of {@linkcode SketchesJSON}.
   */
  static fromJSON(json: unknown): Observer {
    const o = plainObject("sketches", json);
    if (o.version !== 1) {
      throw new TypeError(`Invalid sketches: expected version 1, got ${describe(o.version)}`);
    }
    const obs = new Observer({ relativeAccuracy: o.relativeAccuracy as number });
    const origins = plainObject("sketches.origins", o.origins);
    for (const [origin, phases] of Object.entries(origins)) {
      const p = plainObject(`sketches.origins[${JSON.stringify(origin)}]`, phases);
      for (const [phase, v] of Object.entries(p)) {
        if (!(SKETCH_PHASES as readonly string[]).includes(phase)) {
          throw new TypeError(
            `Invalid sketches: unknown phase ${JSON.stringify(phase)} (expected one of ${SKETCH_PHASES.join(", ")})`,
          );
        }
        const target = obs.sketch(origin, phase as SketchPhase, true);
        if (target) fillFromJSON(target, v, `sketches.origins[${JSON.stringify(origin)}].${phase}`);
      }
    }
    return obs;
  }
}

function toSketchJSON(sketch: DDSketch): SketchJSON {
  const s = sketch as unknown as SketchInternals;
  const bins: Record<string, number> = {};
  const st = s.store;
  if (st.count > 0) {
    for (let k = st.minKey; k <= st.maxKey; k++) {
      const c = st.bins[k - st.offset] ?? 0;
      if (c > 0) bins[String(k)] = c;
    }
  }
  return { gamma: s.mapping.gamma, zeroCount: s.zeroCount, bins };
}

/** Adds a {@linkcode SketchJSON}'s counts to `sketch`: each bin's count at its bin's representative value. */
function fillFromJSON(sketch: DDSketch, json: unknown, where: string): void {
  const o = plainObject(where, json);
  const s = sketch as unknown as SketchInternals;
  if (typeof o.gamma !== "number" || Math.abs(o.gamma - s.mapping.gamma) > 1e-9) {
    throw new TypeError(
      `Invalid sketches: ${where}.gamma is ${describe(o.gamma)}, expected ${s.mapping.gamma} (the document's relativeAccuracy)`,
    );
  }
  const count = (v: unknown, name: string): number => {
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
      throw new TypeError(`Invalid sketches: ${name} is ${describe(v)}, expected a count`);
    }
    return v;
  };
  const zeros = count(o.zeroCount ?? 0, `${where}.zeroCount`);
  if (zeros > 0) sketch.accept(0, zeros);
  for (const [key, c] of Object.entries(plainObject(`${where}.bins`, o.bins))) {
    const k = Number(key);
    if (!Number.isInteger(k)) throw new TypeError(`Invalid sketches: ${where}.bins key ${key}`);
    const n = count(c, `${where}.bins[${key}]`);
    if (n > 0) sketch.accept(s.mapping.value(k), n);
  }
}
