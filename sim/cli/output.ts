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
const MIN_WRAP = 24;

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
  const options = {
    style: { head: [], border: [] },
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
  const timer = setTimeout(() => {
    bar = new SingleBar({
      format: `${label} [{bar}] {percentage}% | {value}/{total} ${unit} | {rate}/s | ETA {eta_formatted}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: true,
      barsize: 30,
    });
    bar.start(total, done, { rate: "–" });
  }, SHOW_AFTER_MS);
  timer.unref();
  return {
    update(n: number) {
      done = n;
      const s = (performance.now() - started) / 1000;
      bar?.update(done, { rate: s > 0 ? Math.round(done / s).toLocaleString("en-US") : "–" });
    },
    stop() {
      clearTimeout(timer);
      bar?.stop();
    },
  };
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
