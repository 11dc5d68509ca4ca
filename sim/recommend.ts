/**
 * From a sweep to a decision: the chunk size and limits that reach a
 * success target with the shortest total deadline, or a plain statement of
 * why none does and which constraint binds.
 *
 * @module
 */
import { describe } from "../src/duration.ts";
import { integerOption } from "../src/validate.ts";
import { type SweepCell, type SweepOptions, type SweepResult, sweep } from "./sweep.ts";
import { formatSize, formatTime } from "./units.ts";

/** What keeps the target out of reach. */
export type BindingConstraint =
  /** Even the longest candidate total is shorter than the slow paths need. */
  | "total"
  /** Pull gaps on slow paths outlast even the loosest candidate write-idle limit. */
  | "writeIdle"
  /** The fixed headers limit ends uploads that were still on their way. */
  | "headers"
  /** Silent drops and tarpits alone fail more than the target allows: no limit saves those uploads. */
  | "faults";

/** Options of {@linkcode recommend}: a sweep's, plus the target. */
export interface RecommendOptions extends SweepOptions {
  /** The success probability to reach, in (0, 1). @default 0.999 */
  target?: number;
}

/** Output of {@linkcode recommend} and {@linkcode recommendFrom}. */
export interface Recommendation {
  /** Whether some candidate reached the target. */
  met: boolean;
  /**
   * Whether the chosen candidate's 95 % interval lies wholly at or above the
   * target (its lower bound meets it): the simulation shows the target is
   * met, not only that the point estimate is. `false` when not met.
   */
  confident: boolean;
  target: number;
  /** The chosen candidate when met; else the one with the highest success rate. */
  cell: SweepCell;
  /** Ready for `createFetch` when met: `{ total, writeIdle, upload: { chunkSize } }` (ms; writeIdle `false` when none). */
  options?: { total: number | false; writeIdle: number | false; upload: { chunkSize: number } };
  /** When not met: what binds. */
  binding?: BindingConstraint;
  /** One or two sentences, for people. */
  summary: string;
  /** Caveats: too few trials to resolve the target, ties. */
  notes: string[];
  /** The sweep it was chosen from. */
  sweep: SweepResult;
}

function checkTarget(target: unknown): number {
  if (typeof target !== "number" || !(target > 0 && target < 1)) {
    throw new RangeError(
      `Invalid option 'target': expected a number in (0, 1), got ${describe(target)}`,
    );
  }
  return target;
}

function pct(p: number): string {
  if (p === 1) return "100 %";
  // Small shares keep two significant digits: 0.15 %, not 0.1 %.
  if (p > 0 && p < 0.01) return `${Number((p * 100).toPrecision(2))} %`;
  const digits = p >= 0.999 ? 2 : 1;
  return `${(p * 100).toFixed(digits)} %`;
}

function limitText(ms: number): string {
  return ms === Infinity ? "none" : formatTime(ms);
}

/**
 * Chooses from a finished sweep, among candidates whose success rate is at
 * least `target`:
 * 1. the shortest total deadline any of them has;
 * 2. at that total, the chunk size whose success holds up best across the
 *    write-idle candidates (robust when links are slower than planned),
 *    the larger on a tie (fewer pulls);
 * 3. for that total and chunk, the tightest write-idle limit that still
 *    meets the target: it notices a proxy gone silent soonest. When none qualifies, says which constraint binds.
 *
 * @param result A {@linkcode sweep} result.
 * @param options The target. @default { target: 0.999 }
 * @returns The choice, or the diagnosis.
 * @throws {RangeError} If `target` is not in (0, 1).
 *
 * @example
 * ```ts
 * import { recommendFrom, sweep } from "timebound/sim";
 * const result = await sweep({ writeIdle: ["5s"], total: ["5s", "60s"], chunkBytes: [65_536], trials: 50, workers: 1 });
 * const r = recommendFrom(result, { target: 0.9 });
 * console.assert(r.met && r.cell.totalMs === 60_000);
 * const tooShort = await sweep({ writeIdle: ["5s"], total: ["2s"], chunkBytes: [65_536], trials: 50, workers: 1 });
 * const none = recommendFrom(tooShort, { target: 0.9 });
 * console.assert(!none.met && none.binding === "total");
 * console.log(none.summary); // "No chunk size helps: the longest total deadline tried (2 s) is shorter than…"
 * ```
 */
export function recommendFrom(
  result: SweepResult,
  options: { target?: number } = {},
): Recommendation {
  const target = checkTarget(options.target ?? 0.999);
  const cells = result.cells;
  const notes: string[] = [];
  const n = result.trials;
  // With no failure in n trials, the 95 % upper bound on the failure rate is
  // about 3/n ("rule of three", Hanley & Lippman-Hand 1983).
  if (3 / n > 1 - target) {
    notes.push(
      `${n} trials cannot show ${pct(target)} reliably: 0 failures in ${n} only bound failures below ${pct(3 / n)} (rule of three); use ≥ ${Math.ceil(3 / (1 - target) - 1e-6)} trials`,
    );
  }
  const qualifying = cells.filter((c) => c.successRate >= target);
  if (qualifying.length > 0) {
    // 1. The shortest total that some candidate meets the target with.
    const T = Math.min(...qualifying.map((c) => c.totalMs));
    // 2. At that total, the chunk size whose success holds up best across
    //    the write-idle candidates (smaller chunks keep pull gaps short when
    //    the link is slower than planned); ties go to the larger chunk
    //    (fewer pulls, less per-chunk overhead).
    const atT = cells.filter((c) => c.totalMs === T);
    const chunks = [...new Set(qualifying.filter((c) => c.totalMs === T).map((c) => c.chunkBytes))];
    const robustness = (chunk: number) => {
      const mine = atT.filter((c) => c.chunkBytes === chunk);
      return mine.reduce((s, c) => s + c.ok, 0) / mine.length;
    };
    const chunk = chunks.reduce((a, b) => {
      const ra = robustness(a);
      const rb = robustness(b);
      if (ra !== rb) return ra > rb ? a : b;
      return Math.max(a, b);
    });
    // 3. The tightest write-idle limit that still meets the target there:
    //    it notices a proxy that went silent soonest.
    const best = qualifying
      .filter((c) => c.totalMs === T && c.chunkBytes === chunk)
      .reduce((a, b) => (b.writeIdleMs < a.writeIdleMs ? b : a));
    const shorter = cells.filter((c) => c.totalMs < T);
    if (shorter.length > 0) {
      const T2 = Math.max(...shorter.map((c) => c.totalMs));
      const top = Math.max(...shorter.filter((c) => c.totalMs === T2).map((c) => c.successRate));
      notes.push(`the next shorter total, ${limitText(T2)}, reaches at best ${pct(top)}`);
    }
    if (best.successLow < target) {
      notes.push(
        `the 95 % interval of the chosen candidate (${pct(best.successLow)}–${pct(best.successHigh)}) reaches below the target: more trials would tell whether it truly meets ${pct(target)}`,
      );
    }
    const sameProfile = chunks.filter((c) => c !== chunk && robustness(c) === robustness(chunk));
    if (sameProfile.length > 0) {
      notes.push(
        `chunks of ${sameProfile.map(formatSize).join(", ")} do exactly as well here (the send buffer, not the chunk, sets the pull gaps); ${formatSize(chunk)} is the largest of them`,
      );
    }
    const summary = `Chunks of ${formatSize(best.chunkBytes)}, writeIdle ${limitText(best.writeIdleMs)}, total ${limitText(best.totalMs)}: ${pct(best.successRate)} of uploads succeed (95 % CI ${pct(best.successLow)}–${pct(best.successHigh)}); successful ones take ${formatTime(best.p50Ms)} (p50) and ${formatTime(best.p99Ms)} (p99).`;
    return {
      met: true,
      confident: best.successLow >= target,
      target,
      cell: best,
      options: {
        total: best.totalMs === Infinity ? false : best.totalMs,
        writeIdle: best.writeIdleMs === Infinity ? false : best.writeIdleMs,
        upload: { chunkSize: best.chunkBytes },
      },
      summary,
      notes,
      sweep: result,
    };
  }

  // Not met: the candidate that comes closest (ties: shorter total).
  const closest = cells.reduce((a, b) =>
    b.successRate > a.successRate || (b.successRate === a.successRate && b.totalMs < a.totalMs)
      ? b
      : a,
  );
  const failures = closest.failures;
  const count = (k: keyof typeof failures) => failures[k] ?? 0;
  const faults = result.dropTrials + result.tarpitTrials;
  const maxTotal = Math.max(...cells.map((c) => c.totalMs));
  const maxIdle = Math.max(...cells.map((c) => c.writeIdleMs));
  let binding: BindingConstraint;
  let summary: string;
  const failed = n - closest.ok;
  const plural = (k: number, word: string) => `${k} ${word}${k === 1 ? "" : "s"}`;
  // Faults explain the miss when they alone exceed the failure budget and
  // could account for every failure of the best candidate (a drop after the
  // upload finished fails nothing, so drawn faults only bound the harm).
  if (1 - faults / n < target && failed <= faults) {
    binding = "faults";
    summary = `No chunk size or timeout reaches ${pct(target)}: silent drops and tarpits were drawn for ${pct(faults / n)} of uploads (${plural(result.dropTrials, "drop")}, ${plural(result.tarpitTrials, "tarpit")} in ${n} trials), more than the target allows, and no limit makes an upload whose proxy went silent succeed. Retry them (with an Idempotency-Key) or route large bodies around the proxy.`;
  } else {
    const byTotal = count("total") + count("hang");
    const byIdle = count("writeIdle") + count("minRate");
    const byHeaders = count("headers");
    const worst = Math.max(byTotal, byIdle, byHeaders);
    const quantileIdeal = idealAt(result, target);
    if (worst === byTotal) {
      binding = "total";
      summary = `No chunk size helps: the longest total deadline tried (${limitText(maxTotal)}) is shorter than the slowest ${pct(1 - target)} of uploads need — the closed form (payload / narrowest bandwidth + RTT) is ${formatTime(quantileIdeal)} at the ${pct(target)} quantile of the drawn paths. Allow a total of at least that, or send less per request.`;
    } else if (worst === byIdle) {
      binding = "writeIdle";
      summary = `The write-idle limit binds: on slow paths the runtime waits longer than ${limitText(maxIdle)} between pulls (a full send buffer wakes its writer only after draining a third of it). Allow a longer writeIdle, use smaller chunks, or shrink the send buffer.`;
    } else {
      binding = "headers";
      summary = `The headers limit (${limitText(result.headersMs)}) binds: it starts once the body is in the kernel's send buffer, and the buffer still has to drain over the slow link. Raise it, or leave it off and let total and writeIdle guard the upload.`;
    }
    summary += ` Best found: ${pct(closest.successRate)} with chunks of ${formatSize(closest.chunkBytes)}, writeIdle ${limitText(closest.writeIdleMs)}, total ${limitText(closest.totalMs)}.`;
  }
  return {
    met: false,
    confident: false,
    target,
    cell: closest,
    binding,
    summary,
    notes,
    sweep: result,
  };
}

/** The closed-form upload time at quantile `q`, interpolated from the sweep's recorded quantiles. */
function idealAt(result: SweepResult, q: number): number {
  const pts: [number, number][] = [
    [0.5, result.idealMs.p50],
    [0.9, result.idealMs.p90],
    [0.99, result.idealMs.p99],
    [0.999, result.idealMs.p999],
  ];
  let best = pts[0]![1];
  for (const [p, v] of pts) if (q >= p) best = v;
  return best;
}

/**
 * Runs a {@linkcode sweep} and picks from it with
 * {@linkcode recommendFrom}: the chunk size and limits that reach `target`
 * with the least total deadline, or why nothing does.
 *
 * @param options The sweep's options and the target.
 * @returns The choice or the diagnosis, with the sweep.
 * @throws {TypeError} For an unknown option or a wrong type; {@link RangeError} for a bad value.
 *
 * @example
 * ```ts
 * import { recommend } from "timebound/sim";
 * const r = await recommend({ target: 0.95, trials: 40, chunkBytes: [65_536], writeIdle: ["5s", false], total: ["20s", "60s"], workers: 1 });
 * console.assert(r.met === true && r.options.upload.chunkSize === 65_536);
 * console.log(r.summary);
 * ```
 */
export async function recommend(options: RecommendOptions = {}): Promise<Recommendation> {
  const { target, ...rest } = options;
  const t = checkTarget(target ?? 0.999);
  if (rest.trials !== undefined) integerOption("trials", rest.trials, 1, 10_000_000);
  return recommendFrom(await sweep(rest), { target: t });
}
