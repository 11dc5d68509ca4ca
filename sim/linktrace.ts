/**
 * Links that change: Mahimahi's `mm-link` trace format, on/off links, and
 * the rate schedule the simulator's fluid model runs on.
 *
 * An `mm-link` trace (Mahimahi, src/frontend/link_queue.cc) is a text file
 * with one line per *delivery opportunity*: the time, in whole milliseconds
 * from the start of the trace, at which the link may deliver one packet of
 * up to 1,500 bytes (one MTU-sized IP packet: Mahimahi's 1,504-byte TUN
 * frame). The same timestamp on several lines is several packets in that
 * millisecond; 12 Mbit/s is one line per ms. Timestamps never decrease; the
 * last one is the trace's length, and the trace loops when it runs out
 * (the next loop starts at that time). An empty line, a trace with no
 * timestamps, and one that lasts 0 ms are errors there and here.
 *
 * In the simulator a trace is the capacity of the proxy's upstream — the
 * bottleneck uplink, as Mahimahi's uplink trace is (see `linkTrace` in
 * {@linkcode UploadParams}). Its staircase of opportunities becomes a
 * piecewise-linear cumulative capacity that meets it every
 * {@linkcode LINK_TRACE_GRID_MS} ms, with runs of one rate merged.
 *
 * @module
 */
import { describe } from "../src/duration.ts";
import { SEGMENT_PAYLOAD_BYTES } from "../src/model.ts";
import type { RateSchedule } from "./_rate_schedule.ts";

export type { RateSchedule } from "./_rate_schedule.ts";
/** Off this long (ms) or longer is an outage: the sender's slow start waits it out (no ACKs). */
export { OUTAGE_MIN_MS as LINK_TRACE_OUTAGE_MS } from "./_rate_schedule.ts";

/** Bytes a delivery opportunity carries: one 1,500-byte IP packet (Mahimahi's 1,504-byte TUN frame less its 4-byte header). */
export const LINK_TRACE_PACKET_BYTES = 1500;

/**
 * The grid, in ms, on which the simulator's fluid capacity meets a trace's
 * staircase: exact at every multiple of 20 ms (and at the loop's end),
 * linear in between, so it strays by less than one grid step in time (an
 * outage's edges too) and by at most the packets of one step in bytes.
 * Why a fixed grid and not the fewest pieces within a tolerance: sampling
 * on a fixed grid and interpolating is a monotone operator — a trace with
 * more opportunities gets a capacity at least as high everywhere — so "a
 * better link is never slower" holds for traces as it does for rates.
 */
export const LINK_TRACE_GRID_MS = 20;

/** The longest trace accepted, in ms (Mahimahi's traces run minutes; this is a day). */
const MAX_TRACE_MS = 86_400_000;

/**
 * A link trace: when the link may deliver a packet. Build one with
 * {@linkcode parseLinkTrace}, {@linkcode onOffTrace} or
 * {@linkcode constantTrace}, or by hand.
 */
export interface LinkTrace {
  /**
   * Delivery opportunities, whole ms from the trace's start, never
   * decreasing; each carries one 1,500-byte packet. The last is the trace's
   * length: it loops from there.
   */
  readonly opportunitiesMs: readonly number[];
  /** Where it came from (a file name), for messages and the event trace. */
  readonly name?: string;
}

/**
 * Parses an `mm-link` trace: one whole number of ms per line, never
 * decreasing, the last above 0. A final newline is fine; `\r\n` line ends
 * too.
 *
 * @param text The trace file's contents.
 * @param name Where it came from, for error messages.
 * @returns The trace.
 * @throws {SyntaxError} For a line that is not a whole number of ms, a
 * timestamp below the one before, an empty line, no timestamps, or a trace
 * that lasts 0 ms; the message names the line.
 *
 * @example
 * ```ts
 * import { parseLinkTrace } from "timebound/sim";
 * // Two packets in ms 1, one in ms 3: loops every 3 ms (12 Mbit/s on average).
 * const trace = parseLinkTrace("1\n1\n3\n", "tiny.trace");
 * console.assert(trace.opportunitiesMs.length === 3);
 * ```
 */
export function parseLinkTrace(text: string, name = "link trace"): LinkTrace {
  if (typeof text !== "string") {
    throw new TypeError(
      `Cannot parse ${name}: expected the text of a trace, got ${describe(text)}`,
    );
  }
  const lines = text.split("\n");
  // A file ends with a newline: the empty string after it is not a line.
  if (lines.length > 0 && lines.at(-1) === "") lines.pop();
  const times: number[] = [];
  let last = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.endsWith("\r") ? lines[i]!.slice(0, -1) : lines[i]!;
    const where = `${name} line ${i + 1}`;
    if (line.trim() === "") {
      throw new SyntaxError(`Invalid ${where}: empty (one timestamp in ms per line)`);
    }
    if (!/^\s*\d+\s*$/.test(line)) {
      throw new SyntaxError(
        `Invalid ${where}: expected a whole number of ms >= 0, got ${JSON.stringify(line)}`,
      );
    }
    const ms = Number(line);
    if (ms > MAX_TRACE_MS) {
      throw new SyntaxError(
        `Invalid ${where}: expected a timestamp <= ${MAX_TRACE_MS} ms (a day), got ${ms}`,
      );
    }
    if (ms < last) {
      throw new SyntaxError(
        `Invalid ${where}: timestamps must never decrease, got ${ms} after ${last}`,
      );
    }
    last = ms;
    times.push(ms);
  }
  if (times.length === 0) throw new SyntaxError(`Invalid ${name}: no timestamps (empty trace)`);
  if (last === 0) {
    throw new SyntaxError(`Invalid ${name}: the trace lasts 0 ms (its last timestamp is 0)`);
  }
  return { opportunitiesMs: times, name };
}

/**
 * Checks a trace given by hand (the same rules as {@linkcode parseLinkTrace});
 * errors name the option.
 *
 * @throws {TypeError} For a wrong shape; {@linkcode RangeError} for a bad timestamp.
 */
export function checkLinkTrace(option: string, value: unknown): LinkTrace {
  const shape = `expected a link trace ({ opportunitiesMs: number[] }, e.g. from parseLinkTrace)`;
  if (
    typeof value !== "object" ||
    value === null ||
    !Array.isArray((value as LinkTrace).opportunitiesMs)
  ) {
    throw new TypeError(`Invalid option '${option}': ${shape}, got ${describe(value)}`);
  }
  const trace = value as LinkTrace;
  const times = trace.opportunitiesMs;
  let last = 0;
  for (let i = 0; i < times.length; i++) {
    const ms = times[i];
    if (!(Number.isInteger(ms) && ms! >= 0 && ms! <= MAX_TRACE_MS && ms! >= last)) {
      throw new RangeError(
        `Invalid option '${option}': opportunitiesMs[${i}] must be a whole number of ms in [${last}, ${MAX_TRACE_MS}] (never decreasing), got ${describe(ms)}`,
      );
    }
    last = ms!;
  }
  if (times.length === 0 || last === 0) {
    throw new RangeError(
      `Invalid option '${option}': a trace needs at least one timestamp above 0 (it loops after its last), got ${times.length === 0 ? "none" : "only 0"}`,
    );
  }
  return trace;
}

/** Formats a trace as `mm-link` text: one timestamp per line. */
export function formatLinkTrace(trace: LinkTrace): string {
  return `${trace.opportunitiesMs.join("\n")}\n`;
}

/** The average rate of a trace over one loop, bits/s of 1,500-byte packets. */
export function traceBitsPerSecond(trace: LinkTrace): number {
  const times = trace.opportunitiesMs;
  return (times.length * LINK_TRACE_PACKET_BYTES * 8 * 1000) / times.at(-1)!;
}

/**
 * Opportunities at a steady rate over (fromMs, toMs]: the k-th comes in
 * the first ms by whose end the link could have sent k packets, so the
 * count by the end of any ms is the rate's, rounded down.
 */
function steady(out: number[], bitsPerSecond: number, fromMs: number, toMs: number): void {
  // k × 12,000,000 / rate: an exact integer numerator, so a whole result is exact.
  const bits = LINK_TRACE_PACKET_BYTES * 8 * 1000;
  for (let k = 1; ; k++) {
    const at = fromMs + Math.ceil((k * bits) / bitsPerSecond);
    if (at > toMs) break;
    out.push(at);
  }
}

function rateOption(name: string, value: unknown): number {
  // 12 packets per µs at the most (144 Gbit/s).
  if (typeof value !== "number" || !(value >= 1 && value <= 144e9)) {
    const E = typeof value === "number" ? RangeError : TypeError;
    throw new E(
      `Invalid option '${name}': expected bits/s in [1, 1.44e11], got ${describe(value)}`,
    );
  }
  return value;
}

function msOption(name: string, value: unknown, min: number): number {
  if (
    typeof value !== "number" ||
    !(Number.isInteger(value) && value >= min && value <= MAX_TRACE_MS)
  ) {
    const E = typeof value === "number" ? RangeError : TypeError;
    throw new E(
      `Invalid option '${name}': expected a whole number of ms in [${min}, ${MAX_TRACE_MS}], got ${describe(value)}`,
    );
  }
  return value;
}

/**
 * A steady link as a trace, `periodMs` long (it loops).
 *
 * @param bitsPerSecond The link's rate, counting 1,500-byte packets.
 * @param periodMs The trace's length. @default 1000
 * @example
 * ```ts
 * import { constantTrace, traceBitsPerSecond } from "timebound/sim";
 * const t = constantTrace(12e6);
 * console.assert(t.opportunitiesMs.length === 1000 && traceBitsPerSecond(t) === 12e6);
 * ```
 */
export function constantTrace(bitsPerSecond: number, periodMs = 1000): LinkTrace {
  rateOption("bitsPerSecond", bitsPerSecond);
  msOption("periodMs", periodMs, 1);
  const out: number[] = [];
  steady(out, bitsPerSecond, 0, periodMs);
  // The last timestamp is the loop's length: it must be an opportunity.
  if (out.at(-1) !== periodMs) out.push(periodMs);
  return { opportunitiesMs: out, name: `constant ${bitsPerSecond} bit/s` };
}

/** Options of {@linkcode onOffTrace}. */
export interface OnOffOptions {
  /** How long the link works, each time. */
  onMs: number;
  /** How long it is off (delivers nothing) after each on period. */
  offMs: number;
  /** Its rate while on, counting 1,500-byte packets. */
  bitsPerSecond: number;
}

/**
 * A link that works for `onMs`, then delivers nothing for `offMs`, over and
 * over (on first: the upload starts on a working link unless
 * `linkTraceStartMs` says otherwise). Mahimahi's `mm-onoff` switches a
 * link on and off at random; this one is regular, so a test knows when.
 *
 * @param options The periods and the rate.
 * @returns The trace, one loop long (`onMs + offMs`).
 * @throws {RangeError} For a period outside [1, 86,400,000] ms (0 for `offMs`) or a rate out of range.
 * @example
 * ```ts
 * import { onOffTrace } from "timebound/sim";
 * // Wi-Fi that drops out for 4 s every 10 s.
 * const t = onOffTrace({ onMs: 6000, offMs: 4000, bitsPerSecond: 10e6 });
 * console.assert(t.opportunitiesMs.at(-1) === 10_000);
 * ```
 */
export function onOffTrace(options: OnOffOptions): LinkTrace {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `Invalid options: expected { onMs, offMs, bitsPerSecond }, got ${describe(options)}`,
    );
  }
  const onMs = msOption("onMs", options.onMs, 1);
  const offMs = msOption("offMs", options.offMs, 0);
  const bits = rateOption("bitsPerSecond", options.bitsPerSecond);
  if (onMs + offMs > MAX_TRACE_MS) {
    throw new RangeError(
      `Invalid options 'onMs' + 'offMs': expected at most ${MAX_TRACE_MS} ms in all, got ${onMs + offMs}`,
    );
  }
  const out: number[] = [];
  steady(out, bits, 0, onMs);
  // The last timestamp is the loop's length: after an outage, one closing packet.
  if (out.at(-1) !== onMs + offMs) out.push(onMs + offMs);
  return {
    opportunitiesMs: out,
    name: `on ${onMs} ms / off ${offMs} ms at ${bits} bit/s`,
  };
}

/** One step of {@linkcode stepTrace}: a stretch at one rate. */
export interface TraceStep {
  /** How long, whole ms. */
  ms: number;
  /** The rate, counting 1,500-byte packets; 0: the link is off. */
  bitsPerSecond: number;
}

/**
 * A link whose rate steps: each step a steady stretch (0 bits/s: an
 * outage), one after the other, looping. Each step's packets are counted
 * from its own start, so a step holds its rate's packets rounded down.
 *
 * @param steps The stretches, in order (at most 1,000,000).
 * @returns The trace: as long as the steps (the last timestamp closes the loop).
 * @throws {RangeError} For a step of a fractional or negative length, a rate
 * out of range, or steps longer than a day in all.
 * @example
 * ```ts
 * import { stepTrace, traceBitsPerSecond } from "timebound/sim";
 * // 3 s at 12 Mbit/s, a 1 s outage.
 * const t = stepTrace([{ ms: 3000, bitsPerSecond: 12e6 }, { ms: 1000, bitsPerSecond: 0 }]);
 * console.assert(Math.round(traceBitsPerSecond(t)) === 9_003_000);
 * ```
 */
export function stepTrace(steps: readonly TraceStep[]): LinkTrace {
  if (!Array.isArray(steps) || steps.length === 0 || steps.length > 1_000_000) {
    throw new TypeError(
      `Invalid option 'steps': expected 1 to 1000000 steps { ms, bitsPerSecond }, got ${Array.isArray(steps) ? `${steps.length} steps` : describe(steps)}`,
    );
  }
  const out: number[] = [];
  let at = 0;
  steps.forEach((step, i) => {
    const ms = msOption(`steps[${i}].ms`, step?.ms, 1);
    const bits =
      step.bitsPerSecond === 0 ? 0 : rateOption(`steps[${i}].bitsPerSecond`, step.bitsPerSecond);
    if (at + ms > MAX_TRACE_MS) {
      throw new RangeError(
        `Invalid option 'steps': expected at most ${MAX_TRACE_MS} ms in all, got more at steps[${i}]`,
      );
    }
    if (bits > 0) steady(out, bits, at, at + ms);
    at += ms;
  });
  // The last timestamp is the loop's length: after an outage, one closing packet.
  if (out.at(-1) !== at) out.push(at);
  return { opportunitiesMs: out, name: `${steps.length} steps over ${at} ms` };
}

/**
 * Packets per ms slot over one loop: slot m (1 ≤ m ≤ P) holds the
 * opportunities at timestamp m, delivered evenly over (m − 1, m]. Those at
 * timestamp 0 belong to slot P: they come at the same instant as the
 * previous loop's last (Mahimahi starts the next loop at the last
 * timestamp); only the very first loop delivers them at t = 0 instead.
 */
function cumulative(trace: LinkTrace): Float64Array {
  const times = trace.opportunitiesMs;
  const period = times.at(-1)!;
  const sum = new Float64Array(period + 1);
  for (const ms of times) sum[ms === 0 ? period : ms]!++;
  for (let m = 1; m <= period; m++) sum[m]! += sum[m - 1]!;
  return sum;
}

const cache = new WeakMap<LinkTrace, Map<number, { starts: Float64Array; rates: Float64Array }>>();

/**
 * The trace as a rate schedule: piecewise-constant payload rates whose
 * cumulative capacity equals the trace's at every multiple of
 * {@linkcode LINK_TRACE_GRID_MS} (packets spread evenly over their ms, those
 * at 0 counted at the loop's end) and is linear in between; neighbours of
 * one rate merged (a steady stretch whose packets divide evenly into the
 * grid, an outage, are one piece). A loop delivers exactly the trace's
 * packets, so a long upload never drifts from it. Cached per trace object
 * and packet payload (a sweep builds it once per thread).
 *
 * @param trace The trace.
 * @param payloadBytesPerPacket Payload per opportunity (1,448 with TCP timestamps at MTU 1500).
 * @param offsetMs Where in the trace the run starts.
 * @returns The schedule.
 * @example
 * ```ts
 * import { onOffTrace, rateScheduleOf } from "timebound/sim";
 * const s = rateScheduleOf(onOffTrace({ onMs: 600, offMs: 400, bitsPerSecond: 12e6 }), 1500);
 * // 1,500 B/ms while on, nothing while off (then the loop's closing packet).
 * console.assert(s.bytesPerMs[0] === 1500 && s.bytesPerMs[1] === 0);
 * ```
 */
export function rateScheduleOf(
  trace: LinkTrace,
  payloadBytesPerPacket: number = SEGMENT_PAYLOAD_BYTES,
  offsetMs = 0,
): RateSchedule {
  let byPayload = cache.get(trace);
  if (!byPayload) {
    byPayload = new Map();
    cache.set(trace, byPayload);
  }
  let fit = byPayload.get(payloadBytesPerPacket);
  if (!fit) {
    fit = fitPieces(cumulative(trace), payloadBytesPerPacket);
    byPayload.set(payloadBytesPerPacket, fit);
  }
  const periodMs = trace.opportunitiesMs.at(-1)!;
  return { startsMs: fit.starts, bytesPerMs: fit.rates, periodMs, offsetMs };
}

function fitPieces(
  sum: Float64Array,
  bytes: number,
): { starts: Float64Array; rates: Float64Array } {
  const period = sum.length - 1;
  const starts: number[] = [];
  const rates: number[] = [];
  for (let a = 0; a < period; a += LINK_TRACE_GRID_MS) {
    const b = Math.min(period, a + LINK_TRACE_GRID_MS);
    const rate = ((sum[b]! - sum[a]!) / (b - a)) * bytes;
    // Runs of one rate are one piece (a steady stretch, an outage).
    if (rates.length > 0 && rates.at(-1) === rate) continue;
    starts.push(a);
    rates.push(rate);
  }
  return { starts: Float64Array.from(starts), rates: Float64Array.from(rates) };
}
