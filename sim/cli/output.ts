/**
 * Output for the `timebound` command line: tables for people (cli-table3),
 * JSON for machines, and a progress bar on stderr (cli-progress) that
 * appears only when stderr is a terminal and the work has already taken a
 * second — short runs and pipes stay clean.
 *
 * @module
 */
import process from "node:process";
import { SingleBar } from "cli-progress";
import Table from "cli-table3";

/** Tables fit a terminal this wide where their content allows. */
export const TABLE_COLUMNS = 100;
/** A text column wrapped to fit is never narrower than this (unless its longest word is longer). */
const MIN_WRAP = 20;

/** No rule between rows: the header's rule is drawn by {@linkcode table} itself. */
const NO_ROW_RULES = { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" };

/**
 * A table with a header row; cells are strings. Right-aligns the columns
 * given. Compact, to fit a terminal: no rule between data rows, and each
 * column is as wide as its widest value, with header text wrapped at word
 * boundaries onto more lines when it is wider than that.
 */
export function table(head: string[], rows: string[][], rightAlign: number[] = []): string {
  const longestWord = (text: string) => Math.max(...text.split(" ").map((w) => w.length));
  const colWidths = head.map((h, i) => {
    const data = Math.max(0, ...rows.map((r) => (r[i] ?? "").length));
    return Math.max(data, longestWord(h)) + 2; // one space of padding each side
  });
  // Still wider than a terminal: wrap the widest text (left-aligned)
  // column, never below its longest word nor MIN_WRAP characters a line.
  const floor = head.map(
    (h, i) =>
      Math.max(
        longestWord(h),
        ...rows.map((r) => longestWord(r[i] ?? "")),
        Math.min(colWidths[i]! - 2, MIN_WRAP),
      ) + 2,
  );
  const width = () => colWidths.reduce((a, w) => a + w, 0) + colWidths.length + 1;
  while (width() > TABLE_COLUMNS) {
    const i = colWidths
      .map((w, k) => (rightAlign.includes(k) || w <= floor[k]! ? -1 : w))
      .reduce((best, w, k, all) => (w > (all[best] ?? -1) ? k : best), 0);
    if (rightAlign.includes(i) || colWidths[i]! <= floor[i]!) break;
    colWidths[i] = Math.max(floor[i]!, colWidths[i]! - (width() - TABLE_COLUMNS));
  }
  // Still too wide (many numeric columns): one space of padding, on the
  // side away from the border each column's text leans on, instead of two.
  const tight = width() > TABLE_COLUMNS;
  if (tight) for (let i = 0; i < colWidths.length; i++) colWidths[i]! -= 1;
  const options = {
    style: tight
      ? { head: [], border: [], "padding-left": 1, "padding-right": 0 }
      : { head: [], border: [] },
    colWidths,
    wordWrap: true,
    chars: NO_ROW_RULES,
    colAligns: head.map((_, i) =>
      rightAlign.includes(i) ? ("right" as const) : ("left" as const),
    ),
  };
  const t = new Table({ ...options, head });
  for (const r of rows) t.push(r);
  const lines = t.toString().split("\n");
  // Without row rules cli-table3 drops the header's rule too: put it back
  // under the header, which is as tall as its most wrapped cell.
  const headLines = new Table({ ...options, head }).toString().split("\n").length - 2;
  const top = lines[0]!;
  const rule = top.replace("┌", "├").replace("┐", "┤").replaceAll("┬", "┼");
  lines.splice(1 + headLines, 0, rule);
  return lines.join("\n");
}

/**
 * Writes `value` as JSON on stdout. `Infinity` and `NaN` become `null`
 * (JSON has neither): a limit that is off, a bound that is infinite, or a
 * quantile with no samples.
 */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * One time unit for every time in a table, so a column reads at a glance
 * (`0.15`, `3.01`, `19.00` rather than `147 ms`, `3.01 s`, `19 s`): ms when
 * every finite value is under a second, else seconds. One number of
 * decimals for the table: enough for three significant digits of the
 * largest value and two of the smallest, at most two (one for ms);
 * thousands are grouped. `∞` and `–` (no value) pass through.
 */
export interface TimeUnit {
  /** `"ms"` or `"s"`: put it in the column's header. */
  unit: "ms" | "s";
  /** A number in the unit, without it: `3.01`. */
  number(ms: number): string;
  /** A number with the unit: `3.01 s` (for key–value tables). */
  format(ms: number): string;
}

/** The {@linkcode TimeUnit} for a table holding `values` (milliseconds). */
export function timeUnit(values: readonly number[]): TimeUnit {
  const finite = values.filter((v) => Number.isFinite(v) && v >= 0);
  const max = Math.max(0, ...finite);
  const unit = max < 1000 ? "ms" : "s";
  const scale = unit === "ms" ? 1 : 1000;
  // Enough decimals for three significant digits of the largest value and
  // two of the smallest non-zero one; at most two (one for ms).
  const digits = (v: number) => (v >= 100 ? 0 : v >= 10 ? 1 : 2);
  const smallest = Math.min(Infinity, ...finite.filter((v) => v > 0)) / scale;
  const decimals = Math.min(
    unit === "ms" ? 1 : 2,
    Math.max(digits(max / scale), smallest >= 10 ? 0 : smallest >= 1 ? 1 : 2),
  );
  const number = (ms: number): string => {
    if (ms === Infinity) return "∞";
    if (!Number.isFinite(ms)) return "–";
    if (ms === 0) return "0";
    return (ms / scale).toLocaleString("en-US", {
      minimumFractionDigits: decimals,
      maximumFractionDigits: decimals,
    });
  };
  return {
    unit,
    number,
    format: (ms) => {
      const n = number(ms);
      return n === "∞" || n === "–" ? n : `${n} ${unit}`;
    },
  };
}

/**
 * One size family for the sizes in a table: binary (`KiB`, `MiB`) when
 * every value is a whole number of KiB, else decimal (`kB`, `MB`) with the
 * unit of the largest value, three significant digits of it.
 */
export function sizeUnit(values: readonly number[]): (bytes: number) => string {
  const finite = values.filter((v) => Number.isFinite(v) && v >= 0);
  const max = Math.max(0, ...finite);
  const binary = finite.every((v) => v % 1024 === 0);
  const units = binary
    ? ([
        ["GiB", 1024 ** 3],
        ["MiB", 1024 ** 2],
        ["KiB", 1024],
      ] as const)
    : ([
        ["GB", 1e9],
        ["MB", 1e6],
        ["kB", 1e3],
      ] as const);
  const [name, f] = units.find(([, f]) => max >= f) ?? ["B", 1];
  const top = max / f;
  const decimals = binary || name === "B" ? 0 : top < 10 ? 2 : top < 100 ? 1 : 0;
  return (bytes) => {
    if (!Number.isFinite(bytes)) return bytes > 0 ? "∞" : "–";
    const v = bytes / f;
    // Binary sizes that are not whole in the unit keep what they need.
    const d = binary && !Number.isInteger(v) ? 2 : decimals;
    return `${v.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d })} ${name}`;
  };
}

/**
 * A steady estimate of the time left: the mean rate since the first unit of
 * work completed (start-up, such as worker threads loading, does not count),
 * applied to what is left. Unlike an average over the last few updates it
 * does not swing when work completes in bursts (sweep's workers report in
 * batches). Shown as whole seconds, in 5 s steps past a minute; `–` until
 * 2 % of the work or one second of measured rate is in.
 */
export class Eta {
  #t0 = Number.NaN;
  #done0 = 0;
  readonly total: number;
  constructor(total: number) {
    this.total = total;
  }

  /** The estimate after `done` units at time `nowMs`. */
  update(done: number, nowMs: number): string {
    if (done <= 0) return "–";
    if (Number.isNaN(this.#t0)) {
      this.#t0 = nowMs;
      this.#done0 = done;
      return "–";
    }
    if (done >= this.total) return "0 s";
    const elapsed = nowMs - this.#t0;
    const measured = done - this.#done0;
    if (measured <= 0 || (elapsed < 1000 && measured < this.total * 0.02)) return "–";
    const left = ((this.total - done) * elapsed) / measured / 1000;
    if (left < 60) return `${Math.max(1, Math.round(left))} s`;
    const s = Math.round(left / 5) * 5;
    const m = Math.floor(s / 60);
    return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
  }
}

/** Progress reporting: call `update(done)` as work completes, `stop()` at the end. */
export interface Progress {
  update(done: number): void;
  stop(): void;
}

/** Time before a bar appears: work that ends sooner never shows one. */
const SHOW_AFTER_MS = 1000;

/**
 * A progress bar for `total` units of work, on stderr, shown only if stderr
 * is a TTY and the work is still running after a second.
 */
export function progress(label: string, total: number, unit: string): Progress {
  if (!process.stderr.isTTY) return { update() {}, stop() {} };
  let done = 0;
  let bar: SingleBar | undefined;
  const started = performance.now();
  const eta = new Eta(total);
  const timer = setTimeout(() => {
    bar = new SingleBar({
      // Our own ETA ({left}): cli-progress's averages the last 10 updates and swings.
      format: `${label} [{bar}] {percentage}% | {value}/{total} ${unit} | {rate}/s | ETA {left}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: true,
      barsize: 30,
    });
    bar.start(total, done, { rate: "–", left: eta.update(done, performance.now()) });
  }, SHOW_AFTER_MS);
  timer.unref();
  return {
    update(n: number) {
      done = n;
      const now = performance.now();
      const left = eta.update(done, now); // also before the bar shows: the rate starts at the first unit
      const s = (now - started) / 1000;
      bar?.update(done, { rate: s > 0 ? Math.round(done / s).toLocaleString("en-US") : "–", left });
    },
    stop() {
      clearTimeout(timer);
      bar?.stop();
    },
  };
}

/**
 * Prints `text` for a person: prose lines longer than {@linkcode TABLE_COLUMNS}
 * are wrapped at spaces, continuing under the line's indent plus two
 * spaces. Tables and code (a `createFetch(…)` line, meant to be copied) are
 * printed as they are.
 */
/** A word that is a unit (maybe followed by punctuation or a range): it belongs to the number before it. */
const UNIT = /^(%|ms|s|min|h|B|KiB|MiB|GiB|kB|MB|GB|Mbit|kbit)(\/s)?([),.;:–-].*)?$/;

export function say(text = ""): void {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    if (line.length <= TABLE_COLUMNS || /^[│┌├└]/.test(line) || line.includes("createFetch(")) {
      out.push(line);
      continue;
    }
    const indent = /^ */.exec(line)![0];
    // A unit stays with its number ("100 %", "5.3 s", "64 KiB"): never a line of its own.
    const words: string[] = [];
    for (const w of line.slice(indent.length).split(" ")) {
      if (words.length > 0 && UNIT.test(w)) words[words.length - 1] += ` ${w}`;
      else words.push(w);
    }
    let cur = indent;
    for (const word of words) {
      if (cur.trim() === "") cur += word;
      else if (cur.length + 1 + word.length > TABLE_COLUMNS) {
        out.push(cur);
        cur = `${indent}  ${word}`;
      } else cur += ` ${word}`;
    }
    out.push(cur);
  }
  console.log(out.join("\n"));
}

/** Formats a probability for a table: `99.95 %`, `100 %`, `0 %`. */
export function percent(p: number): string {
  if (Number.isNaN(p)) return "–";
  if (p === 1) return "100 %";
  if (p >= 0.99) return `${(Math.floor(p * 10000) / 100).toFixed(2)} %`;
  // Small shares (fault rates) keep two significant digits: 0.02 %, not 0.0 %.
  if (p > 0 && p < 0.01) return `${Number((p * 100).toPrecision(2))} %`;
  return `${(p * 100).toFixed(1)} %`;
}
