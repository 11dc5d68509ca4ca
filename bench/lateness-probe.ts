/**
 * Runtime-neutral probe of deadline lateness: how long after the `total`
 * deadline the error reaches the caller, on an idle loop (the server never
 * answers) and under a firehose body (the server streams as fast as it can
 * while the caller reads in a hot loop). Each case runs through timebound
 * and, as a control, through bare fetch aborted by a plain `setTimeout`:
 * what the runtime itself delivers. Web APIs only: the same bundle runs on
 * Node 20/24, Deno, Bun and workerd.
 *
 * @module
 */
import { createFetch, isTimeoutError } from "../src/mod.ts";

/** The four series, in the order each round runs them. */
export const SERIES = [
  "timebound idle",
  "control idle",
  "timebound firehose",
  "control firehose",
] as const;
/** One of {@linkcode SERIES}. */
export type Series = (typeof SERIES)[number];

/** What to measure. */
export interface ProbeInput {
  /** Base URL of `bench/_server.ts`. */
  base: string;
  rounds: number;
  /** The deadline of the idle rounds. */
  idleTotalMs: number;
  /** The deadline of the firehose rounds. */
  firehoseTotalMs: number;
}

/** One round of one series. */
export interface Round {
  /** Time the error surfaced − deadline, ms. */
  lateMs: number;
  /** Firehose: body bytes read before the deadline. */
  bytes: number;
  /** Firehose: the longest gap between two reads, ms (a stall no check can see into). */
  maxGapMs: number;
  /** An outcome other than the expected error (should never be set). */
  wrong?: string;
}

/** Samples per series. */
export type ProbeResult = Record<Series, Round[]>;

/** A hot loop that reads this long past its deadline stops on its own (a starved timer never fires). */
const GIVE_UP_MS = 2_000;

// Every other limit is set, longer than `total`, so the watchdog runs as configured in production.
const timebound = createFetch({
  total: "30s",
  headers: "20s",
  readIdle: "20s",
  writeIdle: "20s",
  minRate: { bytes: 1, per: "20s" },
});

/** The deadline of `series`. */
export const totalOf = (input: ProbeInput, series: Series): number =>
  series.endsWith("idle") ? input.idleTotalMs : input.firehoseTotalMs;

/** Runs one round of `series`: one request, its error timed against its deadline. */
export async function round(input: ProbeInput, series: Series): Promise<Round> {
  const total = totalOf(input, series);
  const url = `${input.base}/${series.endsWith("idle") ? "hold" : "firehose"}`;
  const out: Round = { lateMs: 0, bytes: 0, maxGapMs: 0 };
  const t0 = performance.now();
  const giveUpAt = t0 + total + GIVE_UP_MS;
  // The hot loop: nothing but reads, as fast as the runtime delivers them.
  const read = async (res: Response): Promise<void> => {
    const reader = res.body!.getReader();
    let last = performance.now();
    for (;;) {
      const r = await reader.read();
      if (r.done) return;
      const now = performance.now();
      out.maxGapMs = Math.max(out.maxGapMs, now - last);
      last = now;
      out.bytes += r.value.byteLength;
      if (now > giveUpAt) {
        await reader.cancel();
        throw new Error(`no deadline ${GIVE_UP_MS} ms after it passed`);
      }
    }
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    if (series.startsWith("timebound")) {
      await read(await timebound(url, { timeouts: { total } }));
    } else {
      const ac = new AbortController();
      timer = setTimeout(() => ac.abort(new Error("deadline")), total);
      await read(await fetch(url, { signal: ac.signal }));
    }
    out.wrong = "no error";
  } catch (e) {
    out.lateMs = performance.now() - (t0 + total);
    const expected = series.startsWith("control") || (isTimeoutError(e) && e.phase === "total");
    if (!expected) out.wrong = String(e);
  } finally {
    clearTimeout(timer);
  }
  return out;
}

/**
 * All rounds, the series interleaved, one request at a time, after one
 * discarded warm-up round of each (the first abort on a runtime pays for
 * lazily loaded code, whichever series happens to run first).
 */
export async function probe(input: ProbeInput): Promise<ProbeResult> {
  const out = Object.fromEntries(SERIES.map((s) => [s, []])) as unknown as ProbeResult;
  for (const series of SERIES) await round(input, series);
  for (let i = 0; i < input.rounds; i++) {
    for (const series of SERIES) out[series].push(await round(input, series));
  }
  return out;
}
