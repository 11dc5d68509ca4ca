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

/** A table with a header row; cells are strings. Right-aligns the columns given. */
export function table(head: string[], rows: string[][], rightAlign: number[] = []): string {
  const t = new Table({
    head,
    style: { head: [], border: [] },
    colAligns: head.map((_, i) => (rightAlign.includes(i) ? "right" : "left")),
  });
  for (const r of rows) t.push(r);
  return t.toString();
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
