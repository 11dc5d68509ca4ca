#!/usr/bin/env node
/**
 * `timebound`: the simulator and the planning tools on the command line.
 *
 *   timebound sim upload     one simulated upload, optionally traced
 *   timebound sweep          Monte Carlo over chunk sizes × limits
 *   timebound recommend      the chunk size and limits that reach a target
 *   timebound budget         the worst case of a timeout configuration
 *   timebound capacity       a service under load with a slowing dependency
 *   timebound probe <url>    time real requests, propose limits from them
 *   timebound plan --from F  propose limits from sketches production kept
 *
 * Runs as `node sim/cli.ts …` on Node ≥ 22.18 (TypeScript is stripped by
 * Node itself); the package's `bin` is the build, `dist/sim/cli.js`.
 *
 * Exit status: 0 done; 1 failed while running; 2 invalid input (one line on
 * stderr naming the flag); 3 `recommend` found no candidate that reaches the
 * target (the output says which constraint binds).
 *
 * @module
 */
import { mkdirSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import module from "node:module";
import { dirname } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { Command, CommanderError, Option } from "commander";
import { formatDuration } from "../src/duration.ts";
import { DEFAULT_TOTAL_MS } from "../src/policy.ts";
import type {
  CapacityCallers,
  CapacityClient,
  CapacityResult,
  DependencyPhase,
} from "./capacity.ts";
import * as arg from "./cli/args.ts";
import { linkTraceArg, shippedTraces } from "./cli/linktrace.ts";
import { percent, printJson, progress, say, sizeUnit, table, timeUnit } from "./cli/output.ts";
import { capacitySpec, htmlPage, MissingPlotLibrary, renderSvg, successSpec } from "./cli/plot.ts";
import { floorProposal, type ProbeSample, probeOnce } from "./cli/probe.ts";
import { createFetchSnippet } from "./cli/snippet.ts";
import type { LinkTrace } from "./linktrace.ts";
import type { CurlTimings } from "./observations.ts";
import type { Observer } from "./observer.ts";
import { PROXY_PRESET_NAMES, PROXY_PRESETS, type ProxyPresetName } from "./proxies.ts";
import type { Recommendation } from "./recommend.ts";
import type { SweepOptions, SweepResult, UploadScenario } from "./sweep.ts";
import { formatRate, formatSize, formatTime } from "./units.ts";
import type { CongestionControl, UploadParams } from "./upload.ts";

// Node's on-disk compile cache (Node ≥ 22.1; recommended there for CLIs)
// halves the start-up of later runs; Deno and Bun lack it and skip this.
(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();

// The simulator and planners are imported when a command runs: Node strips
// the types of every .ts module it loads, so `--help` and usage errors
// answer in a fraction of the time when they load none of it.
const load = {
  budget: () => import("./budget.ts"),
  capacity: () => import("./capacity.ts"),
  observations: () => import("./observations.ts"),
  observer: () => import("./observer.ts"),
  recommend: () => import("./recommend.ts"),
  recommendObserved: () => import("./recommend-observed.ts"),
  sweep: () => import("./sweep.ts"),
  trace: () => import("./trace.ts"),
  upload: () => import("./upload.ts"),
};

const EXIT_RUNTIME = 1;
const EXIT_USAGE = 2;
const EXIT_TARGET_MISSED = 3;

/** An input error found after parsing (e.g. by the library's validation): exit 2. */
class UsageError extends Error {}

function limitText(v: number | false | undefined): string {
  return v === false || v === undefined || v === Infinity ? "off" : formatTime(v);
}

/** A total deadline for a table header: in seconds below ten minutes, so the columns share a unit. */
function totalHead(v: number | false): string {
  if (v === false || v === Infinity || v >= 600_000 || v < 1000) return limitText(v);
  return `${Number((v / 1000).toFixed(1))} s`;
}

function examples(lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  $ ${l}`).join("\n")}\n`;
}

async function writePlot(
  file: { svg?: string; html?: string },
  title: string,
  spec: Record<string, unknown>,
  report: string,
): Promise<string[]> {
  if (!file.svg && !file.html) return [];
  const svg = await renderSvg(spec);
  const written: string[] = [];
  const save = (path: string, text: string) => {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    written.push(path);
  };
  if (file.svg) save(file.svg, svg);
  if (file.html) save(file.html, htmlPage(title, svg, report));
  return written;
}

/**
 * An option whose default is written as a person would type it: parsed by
 * the option's own parser, and shown as typed in `--help`.
 */
function opt<T>(
  flags: string,
  description: string,
  parse: (text: string) => T,
  shown: string,
): Option {
  return new Option(flags, description).argParser(parse).default(parse(shown), shown);
}

// --- shared option sets --------------------------------------------------

interface OutputOpts {
  json?: boolean;
  svg?: string;
  html?: string;
}

function outputOptions(cmd: Command, plot: string | undefined): Command {
  cmd.option("--json", "print JSON on stdout (Infinity and 'off' are null) instead of tables");
  if (plot) {
    cmd.option("--svg <file>", `write the plot (${plot}) as SVG`);
    cmd.option("--html <file>", `write the plot and the report as a self-contained HTML page`);
  }
  return cmd;
}

interface ScenarioOpts {
  payload?: number;
  client?: number;
  proxy?: number;
  proxySpread?: number;
  rtt?: number;
  sendBuffer?: number[];
  burst?: number[];
  dropRate?: number;
  tarpitRate?: number;
  proxyMode?: "streaming" | "store-and-forward";
  proxyPreset?: ProxyPresetName;
  upstreamRtt?: number;
  linkTrace?: LinkTrace;
  linkTraceOff?: "hold" | "drop";
  loss?: number;
  lossBurst?: number;
  cc?: CongestionControl;
}

interface SweepOpts extends ScenarioOpts, OutputOpts {
  chunks: number[];
  writeIdle: (number | false)[];
  total: (number | false)[];
  headers: number | false;
  trials: number;
  seed: number;
  workers: number | "auto";
}

function sweepOptions(cmd: Command): Command {
  return cmd
    .option("--payload <size>", "request body size (default: 2.4MB)", arg.size)
    .option("--client <rate>", "client upstream bandwidth (default: 100Mbit)", arg.rate)
    .option(
      "--proxy <rate>",
      "median proxy upstream bandwidth, lognormal across uploads (default: 4Mbit)",
      arg.rate,
    )
    .option(
      "--proxy-spread <sigma>",
      "lognormal sigma of the proxy's bandwidth; 0: every upload the same (default: 0.6)",
      arg.nonNegative,
    )
    .option("--rtt <time>", "median round-trip time, lognormal σ 0.4 (default: 150ms)", arg.time)
    .option(
      "--send-buffer <sizes>",
      "kernel send buffer(s), drawn uniformly from the list (default: 128KiB,256KiB,512KiB)",
      arg.list(arg.size),
    )
    .option(
      "--burst <sizes>",
      "token-bucket depth(s) on the proxy, drawn uniformly (default: 0B,256KiB,1MiB weighted 5:3:2)",
      arg.list(arg.sizeOrZero),
    )
    .option(
      "--drop-rate <p>",
      "share of uploads whose proxy goes silent (default: 0.0002)",
      arg.probability(),
    )
    .option(
      "--tarpit-rate <p>",
      "share of uploads to a server that starts reading at 2 kB/s (default: 0.0002)",
      arg.probability(),
    )
    .addOption(
      new Option("--proxy-mode <mode>", "how the proxy forwards the body").choices([
        "streaming",
        "store-and-forward",
      ]),
    )
    .addOption(
      new Option(
        "--proxy-preset <name>",
        "a proxy measured in the lab: how much of the body it holds, how it forwards it",
      )
        .choices(PROXY_PRESET_NAMES)
        .conflicts("proxyMode"),
    )
    .option(
      "--upstream-rtt <time>",
      "round-trip time between proxy and server, with a --proxy-preset (default: 0)",
      arg.timeOrZero,
    )
    .option(
      "--link-trace <file|name>",
      `the proxy's uplink follows this Mahimahi mm-link trace, each upload starting at a random point in it (a file, or shipped: ${traceNames()}); --proxy then adds a steady shaper`,
      linkTraceArg,
    )
    .addOption(
      new Option(
        "--link-trace-off <what>",
        "what the trace's link does with packets while out: hold them (Mahimahi's queue) or drop them (a dead radio)",
      ).choices(["hold", "drop"]),
    )
    .option(
      "--loss <p>",
      "segment loss on every upload's path, e.g. 1% (CUBIC's recovery; default: none)",
      arg.probability(),
    )
    .option(
      "--loss-burst <segments>",
      "bursty loss: mean segments per loss burst (Gilbert–Elliott), with --loss",
      arg.lossBurst,
    )
    .addOption(
      new Option(
        "--cc <algorithm>",
        "the senders' reaction to loss, with --loss or --link-trace-off drop (default: cubic)",
      ).choices(["cubic", "reno", "bbr"] satisfies CongestionControl[]),
    )
    .addOption(
      opt(
        "--chunks <sizes>",
        "candidate chunk sizes",
        arg.list(arg.chunkSize),
        "8KiB,16KiB,32KiB,64KiB,128KiB,256KiB",
      ),
    )
    .addOption(
      opt(
        "--write-idle <limits>",
        "candidate writeIdle limits ('off' for none)",
        arg.list(arg.limit),
        "1s,2s,5s,10s,off",
      ),
    )
    .addOption(
      opt(
        "--total <limits>",
        "candidate total deadlines",
        arg.list(arg.limit),
        "10s,20s,30s,45s,60s,90s",
      ),
    )
    .addOption(
      opt("--headers <limit>", "a headers limit applied to every candidate", arg.limit, "off"),
    )
    .option("--trials <n>", "simulated uploads per candidate", arg.integer(1, 10_000_000), 4000)
    .option("--seed <n>", "seed of every random draw", arg.integer(0, 2 ** 32 - 1), 1)
    .addOption(
      opt(
        "--workers <n>",
        "threads in all, this one included, or 'auto' (one per core)",
        arg.workers,
        "auto",
      ),
    );
}

async function scenarioFrom(o: ScenarioOpts): Promise<UploadScenario> {
  const { RESIDENTIAL_UPLOAD } = await load.sweep();
  const s: UploadScenario = { ...RESIDENTIAL_UPLOAD };
  if (o.payload !== undefined) s.payloadBytes = o.payload;
  if (o.client !== undefined) s.clientBitsPerSecond = o.client;
  if (o.proxy !== undefined || o.proxySpread !== undefined) {
    const base = RESIDENTIAL_UPLOAD.proxyBitsPerSecond as { median: number; sigma: number };
    const median = o.proxy ?? base.median;
    const sigma = o.proxySpread ?? base.sigma;
    // Keep the default profile's clamp, scaled: 1/16 to 12.5 × the median.
    s.proxyBitsPerSecond =
      sigma === 0
        ? median
        : { kind: "lognormal", median, sigma, min: median / 16, max: median * 12.5 };
  }
  if (o.rtt !== undefined)
    s.rttMs = { kind: "lognormal", median: o.rtt, sigma: 0.4, min: o.rtt / 5, max: o.rtt * 6 };
  if (o.sendBuffer)
    s.sendBufferBytes =
      o.sendBuffer.length === 1 ? o.sendBuffer[0]! : { kind: "choice", values: o.sendBuffer };
  if (o.burst)
    s.proxyBurstBytes = o.burst.length === 1 ? o.burst[0]! : { kind: "choice", values: o.burst };
  if (o.dropRate !== undefined) s.drop = { ...RESIDENTIAL_UPLOAD.drop!, probability: o.dropRate };
  if (o.tarpitRate !== undefined)
    s.tarpit = { ...RESIDENTIAL_UPLOAD.tarpit!, probability: o.tarpitRate };
  if (o.proxyMode) s.proxyMode = o.proxyMode;
  if (o.proxyPreset) Object.assign(s, PROXY_PRESETS[o.proxyPreset]);
  if (o.upstreamRtt !== undefined) {
    if (!o.proxyPreset && s.proxyMode !== "store-and-forward") {
      throw new UsageError("option '--upstream-rtt' needs --proxy-preset");
    }
    s.upstreamRttMs = o.upstreamRtt;
  }
  if (o.linkTraceOff !== undefined && !o.linkTrace) {
    throw new UsageError("--link-trace-off needs --link-trace");
  }
  if (o.linkTrace) {
    s.linkTrace = o.linkTrace;
    // The trace is the uplink; a steady rate on top only when asked for.
    if (o.proxy === undefined && o.proxySpread === undefined) s.proxyBitsPerSecond = Infinity;
    if (o.linkTraceOff === "drop") s.linkTraceOff = "drop";
  }
  if (o.loss !== undefined && o.loss > 0) {
    s.lossRate = o.loss;
    if (o.lossBurst !== undefined) s.lossBurstSegments = o.lossBurst;
  }
  if (o.cc !== undefined) {
    if (s.lossRate === undefined && s.linkTraceOff !== "drop") {
      throw new UsageError("option '--cc' needs --loss or --link-trace-off drop");
    }
    s.congestionControl = o.cc;
  }
  return s;
}

/** The shipped traces' names, for --help. */
function traceNames(): string {
  return shippedTraces().join(", ") || "none found";
}

/** A trace in a report: its name and average rate, not its thousands of lines. */
function traceSummary(t: LinkTrace): { name: string; opportunities: number; periodMs: number } {
  return {
    name: t.name ?? "link trace",
    opportunities: t.opportunitiesMs.length,
    periodMs: t.opportunitiesMs.at(-1)!,
  };
}

function traceText(t: LinkTrace): string {
  const s = traceSummary(t);
  const bits = (s.opportunities * 1500 * 8 * 1000) / s.periodMs;
  return `link trace ${s.name} (${formatRate(bits)} on average, ${formatTime(s.periodMs)} loop)`;
}

async function sweepOptionsFrom(o: SweepOpts): Promise<SweepOptions> {
  return {
    scenario: await scenarioFrom(o),
    chunkBytes: o.chunks,
    writeIdle: o.writeIdle,
    total: o.total,
    headers: o.headers,
    trials: o.trials,
    seed: o.seed,
    workers: o.workers,
  };
}

function describeScenario(s: UploadScenario): string {
  const proxy = s.proxyBitsPerSecond;
  const p =
    typeof proxy === "number"
      ? formatRate(proxy)
      : proxy.kind === "lognormal"
        ? `~${formatRate(proxy.median)} (lognormal σ ${proxy.sigma})`
        : "varied";
  const size = typeof s.payloadBytes === "number" ? formatSize(s.payloadBytes) : "varied";
  const drop = s.drop ? `, drops ${percent(s.drop.probability)}` : "";
  const tarpit = s.tarpit ? `, tarpits ${percent(s.tarpit.probability)}` : "";
  const uplink = !s.linkTrace
    ? `at ${p}`
    : proxy === Infinity
      ? `over ${traceText(s.linkTrace)}`
      : `over ${traceText(s.linkTrace)}, shaped to ${p}`;
  const holds =
    s.proxyBufferBytes === undefined ? "" : ` holding up to ${formatSize(s.proxyBufferBytes)}`;
  const loss =
    typeof s.lossRate === "number" && s.lossRate > 0
      ? `, ${percent(s.lossRate)} ${s.lossBurstSegments ? `bursty segment loss (bursts of ${s.lossBurstSegments})` : "segment loss"}`
      : "";
  const cc = s.congestionControl
    ? ` (${s.congestionControl === "bbr" ? "BBR" : s.congestionControl === "reno" ? "Reno" : "CUBIC"})`
    : "";
  return `${size} through a ${s.proxyMode ?? "streaming"} proxy${holds} ${uplink}${drop}${tarpit}${loss}${cc}`;
}

/** Runs a sweep with a progress bar on stderr. */
async function runSweep(options: SweepOptions): Promise<SweepResult> {
  const cells =
    (options.chunkBytes?.length ?? 1) *
    (options.writeIdle?.length ?? 1) *
    (options.total?.length ?? 1);
  const bar = progress("simulating", cells * (options.trials ?? 1000), "uploads");
  try {
    const { sweep } = await load.sweep();
    return await sweep({ ...options, onProgress: (p) => bar.update(p.done) });
  } finally {
    bar.stop();
  }
}

function sweepTable(result: SweepResult): string {
  const totals = [...new Set(result.cells.map((c) => c.totalMs))];
  const rows: string[][] = [];
  const longest = Math.max(...totals);
  const keys = new Map<string, string[]>();
  const times = timeUnit(
    result.cells.filter((c) => c.totalMs === longest).flatMap((c) => [c.p50Ms, c.p99Ms]),
  );
  for (const c of result.cells) {
    const key = `${c.chunkBytes}|${c.writeIdleMs}`;
    let row = keys.get(key);
    if (!row) {
      row = [formatSize(c.chunkBytes), limitText(c.writeIdleMs)];
      keys.set(key, row);
      rows.push(row);
    }
    row.push(percent(c.successRate));
    if (c.totalMs === longest) {
      row.push(`${times.number(c.p50Ms)} / ${times.number(c.p99Ms)}`);
      const f = Object.entries(c.failures).map(([k, n]) => `${k} ${n}`);
      row.push(f.join(", ") || "–");
    }
  }
  // Move the p50/p99 and failure columns (pushed mid-row for the longest total) to the end.
  const idx = 2 + totals.indexOf(longest) + 1;
  for (const r of rows) {
    const extra = r.splice(idx, 2);
    r.push(...extra);
  }
  // Totals in one unit across the header (seconds up to ten minutes): "90 s", not "1 min 30 s".
  const head = [
    "chunk",
    "writeIdle",
    ...totals.map((t) => `total ${totalHead(t)}`),
    `p50 / p99 ok at ${totalHead(longest)} (${times.unit})`,
    `failures at ${totalHead(longest)}`,
  ];
  return table(head, rows, [...totals.map((_, i) => i + 2), totals.length + 2]);
}

// --- commands --------------------------------------------------------------

function simCommand(): Command {
  const sim = new Command("sim").description("simulate one request on virtual time");
  const upload = new Command("upload")
    .description("simulate one upload under the real watchdog and report what happened")
    .addOption(opt("--payload <size>", "request body size", arg.size, "2.4MB"))
    .addOption(opt("--chunk <size>", "bytes per pull of the body", arg.chunkSize, "64KiB"))
    .addOption(opt("--client <rate>", "client upstream bandwidth", arg.rate, "100Mbit"))
    .addOption(opt("--proxy <rate>", "proxy upstream bandwidth", arg.rate, "2Mbit"))
    .addOption(
      new Option("--proxy-mode <mode>", "how the proxy forwards the body")
        .choices(["streaming", "store-and-forward"])
        .default("streaming"),
    )
    .addOption(opt("--rtt <time>", "round-trip time", arg.timeOrZero, "150ms"))
    .addOption(
      opt("--send-buffer <size>", "kernel send buffer (the most it grows to)", arg.size, "512KiB"),
    )
    .option("--fixed-send-buffer", "the send buffer is all there from the start (SO_SNDBUF set)")
    .addOption(
      opt("--burst <size>", "token-bucket depth on the proxy's upstream", arg.sizeOrZero, "0B"),
    )
    .option("--proxy-buffer <size>", "bytes a streaming proxy holds, e.g. 1MB", arg.size)
    .addOption(
      new Option(
        "--proxy-preset <name>",
        "a measured proxy: its mode and buffer (sim/README.md, 'Proxy presets')",
      )
        .choices(PROXY_PRESET_NAMES)
        .conflicts(["proxyMode", "proxyBuffer"]),
    )
    .option(
      "--upstream-rtt <time>",
      "round-trip time proxy↔server (with --proxy-buffer)",
      arg.timeOrZero,
    )
    .option(
      "--upstream-drop-at <time>",
      "when the path proxy→server becomes a black hole (the proxy still accepts)",
      arg.timeOrZero,
    )
    .option("--server-read <rate>", "server read rate (a tarpit), e.g. 16kB/s", arg.rate)
    .addOption(
      opt("--tarpit-at <time>", "when the server starts reading slowly", arg.timeOrZero, "0s"),
    )
    .option("--drop-at <time>", "when the proxy goes silent (no ACKs, no RST)", arg.timeOrZero)
    .option(
      "--link-trace <file|name>",
      `the proxy's uplink follows this Mahimahi mm-link trace (a file, or shipped: ${traceNames()}); --proxy, if given, adds a steady shaper`,
      linkTraceArg,
    )
    .option(
      "--link-trace-start <time>",
      "where in the trace the upload starts (default: 0s)",
      arg.timeOrZero,
    )
    .addOption(
      new Option(
        "--link-trace-off <what>",
        "what the trace's link does with packets while out: hold them (Mahimahi's queue) or drop them (a dead radio: the retransmission timer finds the link again)",
      ).choices(["hold", "drop"]),
    )
    .option(
      "--loss <p>",
      "segment loss on the path, e.g. 1% (random, per segment)",
      arg.probability(),
    )
    .option(
      "--loss-burst <segments>",
      "bursty loss (Gilbert–Elliott): mean segments per loss burst, with --loss",
      arg.lossBurst,
    )
    .addOption(
      new Option("--cc <algorithm>", "the sender's reaction to loss")
        .choices(["cubic", "reno", "bbr"] satisfies CongestionControl[])
        .default("cubic"),
    )
    .option(
      "--seed <n>",
      "seed of the loss draws (and timer lateness)",
      arg.integer(0, 2 ** 32 - 1),
    )
    .addOption(opt("--total <limit>", "total deadline ('off' for none)", arg.limit, "30s"))
    .addOption(opt("--write-idle <limit>", "longest gap between pulls", arg.limit, "off"))
    .addOption(opt("--headers <limit>", "wait for headers after the body", arg.limit, "off"))
    .addOption(opt("--min-rate <bytes/window>", "rate floor, e.g. 16KB/5s", arg.minRate, "off"))
    .option("--trace", "print every event, like a socket trace");
  outputOptions(upload, undefined);
  upload.addHelpText(
    "after",
    examples([
      "timebound sim upload --payload 2.4MB --proxy 2Mbit --total 30s",
      "timebound sim upload --payload 2.4MB --proxy 2Mbit --chunk 16KiB --write-idle 3s --drop-at 4s --trace",
      "timebound sim upload --proxy-mode store-and-forward --client 10Mbit --proxy 5Mbit --json",
      "timebound sim upload --payload 5MB --chunk 16KiB --write-idle 3s --proxy-buffer 1MB --upstream-drop-at 2s",
      "timebound sim upload --payload 10MB --chunk 16KiB --write-idle 2s --total 120s --link-trace wifi-onoff --trace",
      "timebound sim upload --link-trace ./my-uplink.trace --link-trace-start 12s --write-idle 3s",
      "timebound sim upload --payload 2.4MB --chunk 16KiB --write-idle 3s --link-trace wifi-onoff --link-trace-start 9s --link-trace-off drop --trace",
      "timebound sim upload --payload 5MB --chunk 16KiB --write-idle 3s --proxy-preset tinyproxy --upstream-rtt 50ms",
      "timebound sim upload --payload 2.4MB --proxy 2Mbit --chunk 16KiB --write-idle 3s --loss 1% --seed 7 --trace",
      "timebound sim upload --payload 2.4MB --proxy 2Mbit --loss 2% --loss-burst 4 --seed 7",
    ]),
  );
  upload.action(async (o) => {
    const params: UploadParams = {
      payloadBytes: o.payload,
      chunkBytes: o.chunk,
      clientBitsPerSecond: o.client,
      proxyBitsPerSecond: o.proxy,
      proxyMode: o.proxyMode,
      rttMs: o.rtt,
      sendBufferBytes: o.sendBuffer,
      timeouts: { total: o.total, writeIdle: o.writeIdle, headers: o.headers, minRate: o.minRate },
      trace: Boolean(o.trace),
    };
    if (o.burst > 0) params.proxyBurstBytes = o.burst;
    if (o.serverRead !== undefined) {
      params.serverReadBytesPerSecond = o.serverRead / 8;
      params.tarpitAtMs = o.tarpitAt;
    }
    if (o.dropAt !== undefined) params.dropAtMs = o.dropAt;
    if (o.fixedSendBuffer) params.sendBufferGrowth = false;
    if (o.proxyBuffer !== undefined) params.proxyBufferBytes = o.proxyBuffer;
    if (o.upstreamRtt !== undefined) params.upstreamRttMs = o.upstreamRtt;
    if (o.upstreamDropAt !== undefined) params.upstreamDropAtMs = o.upstreamDropAt;
    if (o.linkTraceStart !== undefined && !o.linkTrace) {
      throw new UsageError("--link-trace-start needs --link-trace");
    }
    if (o.linkTraceOff !== undefined && !o.linkTrace) {
      throw new UsageError("--link-trace-off needs --link-trace");
    }
    if (o.linkTrace) {
      params.linkTrace = o.linkTrace;
      if (o.linkTraceStart !== undefined) params.linkTraceStartMs = o.linkTraceStart;
      if (o.linkTraceOff !== undefined) params.linkTraceOff = o.linkTraceOff;
      // The trace is the uplink: --proxy's default does not shape it.
      if (upload.getOptionValueSource("proxy") === "default") {
        params.proxyBitsPerSecond = Number.POSITIVE_INFINITY;
      }
    }
    if (o.proxyPreset !== undefined)
      Object.assign(params, PROXY_PRESETS[o.proxyPreset as ProxyPresetName]);
    if (o.loss !== undefined && o.loss > 0) {
      params.lossRate = o.loss;
      if (o.lossBurst !== undefined) params.lossBurstSegments = o.lossBurst;
      params.congestionControl = o.cc;
    }
    if (params.linkTraceOff === "drop") params.congestionControl = o.cc;
    if (o.seed !== undefined) params.seed = o.seed;
    const { simulateUpload } = await load.upload();
    const r = simulateUpload(params);
    if (o.json) {
      const shown = params.linkTrace
        ? { ...params, linkTrace: traceSummary(params.linkTrace) }
        : params;
      printJson({ command: "sim upload", params: shown, result: r });
      return;
    }
    if (o.trace && r.trace) say(`${(await load.trace()).formatTrace(r.trace)}\n`);
    const time = timeUnit([r.elapsedMs, r.uploadEndMs ?? Number.NaN, r.stallDetectionMs ?? 0]);
    const size = sizeUnit([r.bytesSent, Math.round(r.bytesDelivered)]);
    const rows = [
      ["outcome", r.outcome + (r.phase ? ` (${r.phase})` : "")],
      ["elapsed", time.format(r.elapsedMs)],
      ["body in the kernel at", r.uploadEndMs === undefined ? "–" : time.format(r.uploadEndMs)],
      ["bytes handed to the runtime", size(r.bytesSent)],
      ["bytes the server read", size(Math.round(r.bytesDelivered))],
    ];
    if (r.stallDetectionMs !== undefined)
      rows.push(["stall detected after", time.format(r.stallDetectionMs)]);
    if (r.loss) {
      rows.push([
        "segments sent (retransmitted)",
        `${r.loss.transmissions} (${r.loss.retransmissions})`,
      ]);
      rows.push(["retransmission timeouts", String(r.loss.timeouts)]);
    }
    const lossText =
      params.lossRate === undefined
        ? ""
        : `, ${percent(params.lossRate)} ${params.lossBurstSegments ? `bursty loss (bursts of ${params.lossBurstSegments})` : "loss"} (${o.cc}, seed ${params.seed ?? 0})`;
    const traced = !params.linkTrace
      ? formatRate(o.proxy)
      : params.proxyBitsPerSecond === Number.POSITIVE_INFINITY
        ? traceText(params.linkTrace)
        : `${traceText(params.linkTrace)} shaped to ${formatRate(o.proxy)}`;
    const uplink =
      params.linkTraceOff === "drop" ? `${traced} (outages drop, ${o.cc} sender)` : traced;
    say(
      `${formatSize(o.payload)} in ${formatSize(o.chunk)} chunks, ${formatRate(o.client)} client, ${uplink} ${o.proxyPreset ?? params.proxyMode} proxy, RTT ${formatTime(o.rtt)}${lossText}; total ${limitText(o.total)}, writeIdle ${limitText(o.writeIdle)}, headers ${limitText(o.headers)}`,
    );
    say(table(["", "result"], rows));
    if (r.outcome === "hang") {
      say("No limit ended the stall: a real request would wait forever. Set total or writeIdle.");
    }
  });
  sim.addCommand(upload);
  sim.addHelpText("after", examples(["timebound sim upload --help"]));
  return sim;
}

function sweepCommand(): Command {
  const cmd = sweepOptions(
    new Command("sweep").description(
      "Monte Carlo over chunk sizes × writeIdle × total: success probability, p50/p99 time and why uploads failed",
    ),
  );
  outputOptions(cmd, "success probability vs chunk size");
  cmd.addHelpText(
    "after",
    examples([
      "timebound sweep",
      "timebound sweep --payload 5MB --proxy 2Mbit --trials 2000 --svg sweep.svg",
      "timebound sweep --chunks 16KiB,64KiB --write-idle 2s,5s,off --total 30s,60s --json",
    ]) +
      "\nDefaults are the seed's residential-proxy upload: 2.4 MB, proxy uplink ~4 Mbit/s (lognormal σ 0.6),\nRTT ~150 ms, send buffer 128–512 KiB, token-bucket bursts, 1 in 5,000 silent drops and tarpits.\n",
  );
  cmd.action(async (o: SweepOpts) => {
    const options = await sweepOptionsFrom(o);
    const result = await runSweep(options);
    const report = `Sweep: ${describeScenario(options.scenario!)}; ${result.trials} trials per candidate, seed ${result.seed}\n${sweepTable(result)}`;
    const plots = await writePlot(o, "timebound sweep", successSpec(result), report);
    if (o.json) {
      printJson({ command: "sweep", ...result, plots });
      return;
    }
    say(report);
    for (const p of plots) say(`Plot written to ${p}`);
  });
  return cmd;
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? "" : "s"}`;

/**
 * ✔ only when the target is met with confidence: the chosen candidate's
 * 95 % interval lies at or above the target. A point estimate that meets it
 * while the interval reaches below is "?" (not shown yet); a miss is ✘.
 */
export function recommendMark(r: Pick<Recommendation, "met" | "confident">): string {
  if (!r.met) return "✘";
  return r.confident ? "✔" : "?";
}

function recommendReport(r: Recommendation, scenario: UploadScenario): string {
  const s = r.sweep;
  const lines: string[] = [];
  lines.push(`Recommendation for ${describeScenario(scenario)}`);
  lines.push(
    `target ${percent(r.target)}; ${s.trials} simulated uploads per candidate, seed ${s.seed}\n`,
  );
  lines.push(`${recommendMark(r)} ${r.summary}`);
  if (r.met && r.options) {
    lines.push(`\n  ${createFetchSnippet(r.options)}\n`);
  } else {
    lines.push("");
  }
  // Success by chunk × writeIdle at the chosen (or closest) total.
  const total = r.cell.totalMs;
  const at = s.cells.filter((c) => c.totalMs === total);
  const idles = [...new Set(at.map((c) => c.writeIdleMs))];
  const chunks = [...new Set(at.map((c) => c.chunkBytes))];
  const rows = chunks.map((chunk) => [
    formatSize(chunk),
    ...idles.map((w) => {
      const c = at.find((x) => x.chunkBytes === chunk && x.writeIdleMs === w)!;
      const mark = c === r.cell ? " ◀" : "";
      return `${percent(c.successRate)}${mark}`;
    }),
  ]);
  lines.push(`Success by chunk size and writeIdle, at total ${limitText(total)}:`);
  lines.push(
    table(
      ["chunk", ...idles.map((w) => `writeIdle ${limitText(w)}`)],
      rows,
      idles.map((_, i) => i + 1),
    ),
  );
  const c = r.cell;
  const why =
    Object.entries(c.failures)
      .map(([k, n]) => `${k} ${n}`)
      .join(", ") || "none";
  lines.push(
    `\nThe ${r.met ? "chosen" : "closest"} candidate: ${c.ok}/${c.trials} ok; failures by phase: ${why}; mean time per request ${formatTime(c.meanMs)}.`,
  );
  lines.push(
    `Closed form (payload / narrowest bandwidth + RTT) over the drawn paths: p50 ${formatTime(s.idealMs.p50)}, p99 ${formatTime(s.idealMs.p99)}, p99.9 ${formatTime(s.idealMs.p999)}.`,
  );
  lines.push(
    `Drawn faults: ${plural(s.dropTrials, "silent drop")}, ${plural(s.tarpitTrials, "tarpit")} in ${s.trials} trials.`,
  );
  for (const n of r.notes) lines.push(`Note: ${n}`);
  return lines.join("\n");
}

function recommendCommand(): Command {
  const cmd = sweepOptions(
    new Command("recommend").description(
      "the chunk size, writeIdle and total that reach a success target with the shortest total deadline",
    ),
  )
    .option("--target <p>", "success probability to reach", arg.probability(true), 0.999)
    .option(
      "--from <file>",
      "plan from what production observed: sketches JSON (Observer.toJSON()); upload rates come from the data",
    )
    .option("--origin <origin>", "with --from: the origin to plan for (default: every origin)")
    .option(
      "--false-timeout-rate <p>",
      "with --from: the share of calls a limit may end that would have succeeded (default: 1 − target)",
      arg.probability(true),
    )
    .option(
      "--margin <x>",
      "with --from: every limit is what the data needs × this",
      arg.positive,
      1.5,
    );
  outputOptions(cmd, "success probability vs chunk size, the choice ringed");
  cmd.addHelpText(
    "after",
    examples([
      "timebound recommend",
      "timebound recommend --target 99.9% --payload 2.4MB --proxy 2Mbit --svg out/recommend.svg",
      "timebound recommend --target 0.99 --total 20s,30s --json",
      "timebound recommend --from examples/observed/sketches.json --false-timeout-rate 0.1% --margin 1.5",
    ]) +
      "\nExit status 3 when no candidate reaches the target; the report says which constraint binds\n(the total deadline, writeIdle, headers, or faults no limit can fix).\n",
  );
  cmd.action(async (o: SweepOpts & RecommendFromOpts & { target: number }) => {
    if (o.from !== undefined) return recommendFromData(cmd, o);
    for (const flag of ["origin", "falseTimeoutRate", "margin"]) {
      if (cmd.getOptionValueSource(flag) === "cli") {
        throw new UsageError(`${cliFlag(flag)} needs --from`);
      }
    }
    const options = await sweepOptionsFrom(o);
    const bar = progress(
      "simulating",
      o.chunks.length * o.writeIdle.length * o.total.length * o.trials,
      "uploads",
    );
    let r: Recommendation;
    try {
      const { recommend } = await load.recommend();
      r = await recommend({ ...options, target: o.target, onProgress: (p) => bar.update(p.done) });
    } finally {
      bar.stop();
    }
    const report = recommendReport(r, options.scenario!);
    const chosen = r.met ? r.cell : undefined;
    const plots = await writePlot(
      o,
      "timebound recommend",
      successSpec(r.sweep, { target: r.target, chosen }),
      report,
    );
    if (o.json) {
      const { sweep: s, ...rest } = r;
      printJson({ command: "recommend", ...rest, sweep: s, plots });
    } else {
      say(report);
      for (const p of plots) say(`Plot written to ${p}`);
    }
    if (!r.met) process.exitCode = EXIT_TARGET_MISSED;
  });
  return cmd;
}

/** `--from <file>` of plan and recommend: the sketches, and the origins to plan (`--origin`, or all). */
async function readSketches(
  file: string,
  origin: string | undefined,
): Promise<{ observer: Observer; origins: string[] }> {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new UsageError(`cannot read --from ${JSON.stringify(file)}: ${(e as Error).message}`);
  }
  const { Observer: Sketches } = await load.observer();
  let observer: Observer;
  try {
    observer = Sketches.fromJSON(json);
  } catch (e) {
    throw new UsageError(`--from ${JSON.stringify(file)}: ${(e as Error).message}`);
  }
  const origins = origin ? [String(origin)] : observer.origins();
  if (origins.length === 0) throw new UsageError(`--from ${JSON.stringify(file)} holds no origin`);
  return { observer, origins };
}

interface RecommendFromOpts {
  from?: string;
  origin?: string;
  falseTimeoutRate?: number;
  margin: number;
}

/** `--falseTimeoutRate` → `--false-timeout-rate`. */
function cliFlag(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** `recommend --from`: the planner on observed distributions (sim/recommend-observed.ts). */
async function recommendFromData(
  cmd: Command,
  o: SweepOpts & RecommendFromOpts & { target: number },
): Promise<void> {
  const given = (key: string) => cmd.getOptionValueSource(key) === "cli";
  const lossy = "upload rates come from the data, and already include what loss costs";
  const why: Record<string, string> = {
    headers: "the headers limit comes from the data",
    linkTrace: "upload rates come from the data, and already include what the link's changes cost",
    loss: lossy,
    lossBurst: lossy,
    cc: lossy,
  };
  for (const key of [
    "client",
    "proxy",
    "proxySpread",
    "headers",
    "linkTrace",
    "loss",
    "lossBurst",
    "cc",
  ]) {
    if (given(key)) {
      throw new UsageError(
        `${cliFlag(key)} cannot go with --from: ${why[key] ?? "upload rates come from the data"}`,
      );
    }
  }
  if (o.margin < 1)
    throw new UsageError(
      `option '--margin <x>' argument '${o.margin}' is invalid. expected a number >= 1`,
    );
  const rate = o.falseTimeoutRate ?? 1 - o.target;
  if (!(rate <= 0.5))
    throw new UsageError(
      `option '--false-timeout-rate <p>' argument '${rate}' is invalid. expected at most 50%`,
    );
  const { observer, origins } = await readSketches(o.from!, o.origin);
  const { recommendObserved } = await load.recommendObserved();
  // What the sketches cannot tell: only what was asked for on the command line.
  const s = await scenarioFrom(o);
  const path: Record<string, unknown> = {};
  const flagOf = {
    rttMs: "rtt",
    sendBufferBytes: "sendBuffer",
    proxyBurstBytes: "burst",
    drop: "dropRate",
    tarpit: "tarpitRate",
    proxyMode: "proxyMode",
  } as const;
  for (const [key, flag] of Object.entries(flagOf))
    if (given(flag)) path[key] = s[key as keyof typeof s];
  // A preset is the proxy's mode and hold; --upstream-rtt its far leg.
  if (given("proxyPreset")) {
    for (const key of Object.keys(PROXY_PRESETS[o.proxyPreset!]))
      path[key] = s[key as keyof typeof s];
  }
  if (given("upstreamRtt")) path.upstreamRttMs = s.upstreamRttMs;
  const options = {
    falseTimeoutRate: rate,
    margin: o.margin,
    ...(given("payload") ? { payloadBytes: o.payload } : {}),
    ...(Object.keys(path).length > 0 ? { path } : {}),
    ...(given("chunks") ? { chunkBytes: o.chunks } : {}),
    ...(given("writeIdle") ? { writeIdle: o.writeIdle } : {}),
    ...(given("total") ? { total: o.total } : {}),
    ...(given("trials") ? { trials: o.trials } : {}),
    seed: o.seed,
    workers: o.workers,
  };
  const withUploads = origins.filter((origin) => observer.count(origin, "uploadRate") > 0);
  if ((o.svg || o.html) && withUploads.length !== 1) {
    throw new UsageError(
      `--svg and --html plot one origin's simulated uploads, and ${withUploads.length === 0 ? "no origin planned has uploads sketched" : `${withUploads.length} have: pick one with --origin`}`,
    );
  }
  const results = [];
  for (const origin of origins) {
    try {
      results.push(await recommendObserved(observer, origin, options));
    } catch (e) {
      if (e instanceof TypeError || e instanceof RangeError) throw new UsageError(e.message);
      throw e;
    }
  }
  const report: string[] = [];
  for (const r of results) {
    const q = `p${Number(((1 - r.falseTimeoutRate) * 100).toPrecision(4))}`;
    report.push(
      `${r.origin}: false-timeout rate ${percent(r.falseTimeoutRate)} → ${q}, margin ${r.margin}`,
    );
    report.push(`  Calls (${r.calls.samples} observed):`);
    for (const l of Object.values(r.calls.limits)) {
      const cut =
        l!.exceedRate > 0 ? `; would have cut ${(l!.exceedRate * 100).toPrecision(2)} %` : "";
      report.push(`    ${l!.how}${cut}`);
    }
    report.push(`    ${createFetchSnippet(r.calls.timeouts)}`);
    const u = r.upload;
    if (u) {
      report.push(`  Uploads (rates of ${u.samples} observed, simulated):`);
      report.push(`    ${u.recommendation.summary}`);
      if (u.options) {
        report.push(
          `    × ${r.margin}: ends ${percent(u.failureRate!)} of ${u.recommendation.sweep.trials} simulated uploads (drops and tarpits included)`,
        );
        report.push(`    ${createFetchSnippet(u.options)}`);
      }
    }
    for (const n of r.notes) report.push(`  Note: ${n}`);
    report.push("");
  }
  const plotted = results.find((r) => r.upload)?.upload?.recommendation;
  const plots = plotted
    ? await writePlot(
        o,
        "timebound recommend --from",
        successSpec(plotted.sweep, {
          target: plotted.target,
          chosen: plotted.met ? plotted.cell : undefined,
        }),
        report.join("\n"),
      )
    : [];
  if (o.json) {
    printJson({
      command: "recommend",
      from: o.from,
      recommendations: results.map((r) => {
        if (!r.upload) return r;
        const { sweep: _sweep, ...choice } = r.upload.recommendation;
        return { ...r, upload: { ...r.upload, recommendation: choice } };
      }),
      plots,
    });
  } else {
    for (const line of report) say(line);
    for (const p of plots) say(`Plot written to ${p}`);
  }
  if (results.some((r) => r.upload && !r.upload.recommendation.met)) {
    process.exitCode = EXIT_TARGET_MISSED;
  }
}

function budgetCommand(): Command {
  const cmd = new Command("budget")
    .description(
      "worst-case duration of a timeout configuration, phase by phase, under timebound, got-, ky- and requests-style semantics",
    )
    .addOption(
      opt(
        "--total <limit>",
        "total deadline ('off' for none; the default is createFetch's own)",
        arg.limit,
        formatDuration(DEFAULT_TOTAL_MS),
      ),
    )
    .option("--headers <limit>", "headers limit", arg.limit)
    .option("--read-idle <limit>", "read-idle limit (per read)", arg.limit)
    .option("--write-idle <limit>", "write-idle limit (per pull)", arg.limit)
    .option("--connect <limit>", "connect limit (got and requests have one)", arg.limit)
    .option("--min-rate <bytes/window>", "rate floor, e.g. 16KB/5s", arg.minRate)
    .option("--retries <n>", "retries after the first attempt", arg.integer(0, 100), 0)
    .addOption(opt("--payload <size>", "request body size", arg.sizeOrZero, "0B"))
    .addOption(opt("--chunk <size>", "upload chunk size", arg.chunkSize, "64KiB"))
    .option(
      "--response-size <size>",
      "response body size (unknown if absent: unbounded)",
      arg.sizeOrZero,
    )
    .addOption(opt("--dns <time>", "resolver timeout", arg.time, "20s"))
    .option("--syn-retries <n>", "net.ipv4.tcp_syn_retries", arg.integer(0, 30), 6);
  outputOptions(cmd, undefined);
  cmd.addHelpText(
    "after",
    examples([
      "timebound budget --read-idle 5s --connect 5s --response-size 10KiB   # requests.get(url, timeout=5)",
      "timebound budget --total 5s --retries 2",
      "timebound budget --write-idle 5s --payload 2.4MB --chunk 64KiB --min-rate 16KB/5s --json",
    ]) +
      "\nThe last row is the bound: ∞ unless a total deadline, or limits on every phase, cap it.\nWithout --total, createFetch's default total applies, as it does in the library; --total off for none.\n",
  );
  cmd.action(async (o) => {
    const config = {
      total: o.total,
      headers: o.headers,
      readIdle: o.readIdle,
      writeIdle: o.writeIdle,
      connect: o.connect,
      minRate: o.minRate,
      retries: o.retries,
      payloadBytes: o.payload,
      chunkBytes: o.chunk,
      responseBytes: o.responseSize,
      dnsMs: o.dns,
      synRetries: o.synRetries,
    };
    const { budget } = await load.budget();
    const r = budget(config);
    if (o.json) {
      printJson({ command: "budget", config, ...r });
      return;
    }
    const phases = r.columns[0]!.rows.map((row) => row.phase);
    const names: Record<string, string> = {
      dns: "DNS",
      connect: "connect",
      upload: "upload",
      headers: "headers",
      body: "response body",
      retries: "retries",
    };
    const time = timeUnit(r.columns.flatMap((c) => [...c.rows.map((row) => row.ms), c.boundMs]));
    const rows = phases.map((p, i) => [
      names[p]!,
      ...r.columns.map((c) => time.number(c.rows[i]!.ms)),
    ]);
    rows.push(["bound", ...r.columns.map((c) => time.number(c.boundMs))]);
    const heads = [`phase (${time.unit})`, "timebound", "got-style", "ky-style", "requests-style"];
    say(
      `Worst case of total ${limitText(o.total)}, headers ${limitText(o.headers)}, readIdle ${limitText(o.readIdle)}, writeIdle ${limitText(o.writeIdle)}, connect ${limitText(o.connect)}, ${o.retries} retries; body ${formatSize(o.payload)}, response ${o.responseSize === undefined ? "of unknown size" : formatSize(o.responseSize)}`,
    );
    say(table(heads, rows, [1, 2, 3, 4]));
    for (const c of r.columns) {
      say(`\n${heads[r.columns.indexOf(c) + 1]}: ${c.mapping}`);
      for (const row of c.rows) if (row.ms !== 0) say(`  ${names[row.phase]}: ${row.how}`);
      say(
        `  bound: ${c.boundMs === Infinity ? "∞ — nothing caps it" : `${formatTime(c.boundMs)}, capped by ${c.cappedBy}`}`,
      );
    }
  });
  return cmd;
}

interface CapacityOpts extends OutputOpts {
  rate: number;
  concurrency: number;
  queue: number;
  duration: number;
  latency: number;
  slow: number;
  slowFrom: number;
  slowUntil: number | false;
  errorRate: number;
  callShare: number;
  local: number;
  variants: string[];
  total: number;
  headers: number | false;
  learnFloor: number;
  learnCeiling: number;
  learnWindow: number;
  retries: number;
  breakerMinCalls: number;
  cooldown: number;
  sample: number;
  seed: number;
  series?: boolean;
  verbose?: boolean;
  patience: number | false;
  callerRetries: number;
  callerJitter: boolean;
  keepAbandoned?: boolean;
  propagateDeadline?: boolean;
}

const VARIANTS = ["none", "timeouts", "retries", "breaker"];
/** Variants that may be asked for but are not run by default. */
const MORE_VARIANTS = ["learned"];

function variantClient(name: string, o: CapacityOpts): CapacityClient {
  const limits = { total: o.total, headers: o.headers };
  switch (name) {
    case "none":
      return { total: false };
    case "timeouts":
      return limits;
    case "retries":
      return { ...limits, retry: { limit: o.retries } };
    case "learned":
      return {
        total: o.total,
        headers: {
          learn: { floor: o.learnFloor, ceiling: o.learnCeiling, window: o.learnWindow },
        },
      };
    default:
      return {
        ...limits,
        retry: { limit: o.retries },
        breaker: {
          failureRatio: 0.5,
          minCalls: o.breakerMinCalls,
          window: "10s",
          cooldown: o.cooldown,
        },
      };
  }
}

function variantLabel(name: string, o: CapacityOpts): string {
  const lim = `total ${limitText(o.total)}${o.headers === false ? "" : `, headers ${limitText(o.headers)}`}`;
  switch (name) {
    case "none":
      return "no timeouts";
    case "timeouts":
      return lim;
    case "retries":
      return `${lim}, ${o.retries} retries`;
    case "learned":
      return `total ${limitText(o.total)}, headers learned (${limitText(o.learnFloor)}–${limitText(o.learnCeiling)})`;
    default:
      return `${lim}, ${o.retries} retries, breaker`;
  }
}

function capacityCommand(): Command {
  const cmd = new Command("capacity")
    .description(
      "a service with N workers under Poisson load calling a dependency that slows down: queue, rejections, goodput and latency over time, with and without timeouts, retries and a breaker",
    )
    .option("--rate <n>", "arrivals per second (Poisson)", arg.positive, 40)
    .option("--concurrency <n>", "requests served at once", arg.integer(1, 1_000_000), 20)
    .option(
      "--queue <n>",
      "requests that may wait; more are rejected",
      arg.integer(0, 10_000_000),
      100,
    )
    .addOption(
      opt("--duration <time>", "arrivals stop after this; the run then drains", arg.time, "180s"),
    )
    .addOption(
      opt("--latency <time>", "the dependency's usual latency (median)", arg.time, "200ms"),
    )
    .addOption(opt("--slow <time>", "its latency while slow (median)", arg.time, "5s"))
    .addOption(opt("--slow-from <time>", "when it slows down", arg.timeOrZero, "60s"))
    .addOption(opt("--slow-until <limit>", "when it recovers ('off': never)", arg.limit, "120s"))
    .option("--error-rate <p>", "share of calls answered 503 while slow", arg.probability(), 0)
    .option(
      "--call-share <p>",
      "share of requests that call the dependency (the rest are local pages)",
      arg.probability(),
      0.5,
    )
    .addOption(
      opt(
        "--local <time>",
        "service time of the requests that do not call it",
        arg.timeOrZero,
        "20ms",
      ),
    )
    .addOption(
      opt(
        "--variants <list>",
        "client configurations to compare",
        (t: string) => {
          const v = t.split(",").map((s) => s.trim());
          const all = [...VARIANTS, ...MORE_VARIANTS];
          const bad = v.find((x) => !all.includes(x));
          if (bad !== undefined || v.length === 0) {
            throw new arg.InvalidArgument(
              `expected a list of ${all.join(", ")}, got ${JSON.stringify(t)}`,
            );
          }
          return v;
        },
        VARIANTS.join(","),
      ),
    )
    .addOption(opt("--total <time>", "total deadline of the timeout variants", arg.time, "2s"))
    .addOption(
      opt(
        "--headers <limit>",
        "headers limit of the timeout variants (retried when it fires)",
        arg.limit,
        "1s",
      ),
    )
    .addOption(
      opt(
        "--learn-floor <time>",
        "floor of the learned headers limit (variant learned)",
        arg.time,
        "100ms",
      ),
    )
    .addOption(
      opt("--learn-ceiling <time>", "ceiling of the learned headers limit", arg.time, "1s"),
    )
    .addOption(
      opt("--learn-window <time>", "how far back the learned limit looks", arg.time, "30s"),
    )
    .option(
      "--retries <n>",
      "retries in the retry variants (budget: 20 % of requests)",
      arg.integer(0, 100),
      2,
    )
    .option(
      "--breaker-min-calls <n>",
      "calls in the window before the breaker may open",
      arg.integer(1, 1_000_000),
      20,
    )
    .addOption(opt("--cooldown <time>", "how long an open breaker fails fast", arg.time, "5s"))
    .addOption(opt("--sample <time>", "time-series interval", arg.time, "1s"))
    .addOption(
      opt(
        "--patience <limit>",
        "the service's callers give up after this long ('off': they wait forever)",
        arg.limit,
        "off",
      ),
    )
    .option(
      "--caller-retries <n>",
      "with --patience: a caller retries a failure or a give-up this many times (backoff 100 ms doubling to 5 s)",
      arg.integer(0, 100),
      0,
    )
    .option("--no-caller-jitter", "with --patience: callers retry without jitter, in waves")
    .option(
      "--keep-abandoned",
      "with --patience: the service does not notice a caller who left while queued",
    )
    .option(
      "--propagate-deadline",
      "with --patience: the service passes each caller's remaining patience to its dependency call (timebound's callerBudget; not the 'none' variant, plain fetch has no deadline)",
    )
    .option("--seed <n>", "seed of arrivals, latencies and jitter", arg.integer(0, 2 ** 32 - 1), 1)
    .option("--series", "also print the time series (every 10th interval)")
    .option("--verbose", "also print the self-checks (Little's law: L = λW)");
  outputOptions(cmd, "the time series");
  cmd.addHelpText(
    "after",
    examples([
      "timebound capacity",
      "timebound capacity --rate 40 --concurrency 20 --slow 5s --slow-from 60s --slow-until 120s --svg capacity.svg",
      "timebound capacity --variants none,breaker --error-rate 0.5 --json",
      "timebound capacity --variants none,breaker --patience 2s --caller-retries 3 --no-caller-jitter --propagate-deadline",
      "timebound capacity --variants timeouts,learned --total 10s --headers 5s --svg learned.svg",
    ]) +
      "\nDefaults are the seed's site: half the requests call a translation service whose 200 ms calls\ntake 5 s from t = 60 s to t = 120 s; the other half are pages served in 20 ms by the same workers.\n",
  );
  cmd.action(async (o: CapacityOpts) => {
    if (o.slowUntil !== false && o.slowUntil <= o.slowFrom) {
      throw new UsageError(
        `option '--slow-until' must be after --slow-from (${formatTime(o.slowFrom)})`,
      );
    }
    const lat = (median: number) => ({ kind: "lognormal" as const, median, sigma: 0.25 });
    const phases: DependencyPhase[] = [{ fromMs: 0, latencyMs: lat(o.latency) }];
    if (o.slowFrom === 0) phases.length = 0;
    phases.push({ fromMs: o.slowFrom, latencyMs: lat(o.slow), errorRate: o.errorRate });
    if (o.slowUntil !== false) phases.push({ fromMs: o.slowUntil, latencyMs: lat(o.latency) });
    const withCallers = o.patience !== false;
    if (!withCallers) {
      const needs = [
        ["--caller-retries", o.callerRetries !== 0],
        ["--no-caller-jitter", !o.callerJitter],
        ["--keep-abandoned", o.keepAbandoned],
        ["--propagate-deadline", o.propagateDeadline],
      ].find(([, set]) => set);
      if (needs) throw new UsageError(`option '${needs[0]}' needs --patience`);
    }
    const callersFor = (v: string): CapacityCallers | undefined =>
      o.patience === false
        ? undefined
        : {
            patienceMs: o.patience,
            retries: o.callerRetries,
            jitter: o.callerJitter,
            dropAbandoned: !o.keepAbandoned,
            propagateDeadline: v !== "none" && o.propagateDeadline === true,
          };
    const { capacity } = await load.capacity();
    const runs: { name: string; key: string; result: CapacityResult }[] = [];
    const bar = progress("simulating", o.variants.length, "configurations");
    try {
      for (const v of o.variants) {
        const result = await capacity({
          arrivalsPerSecond: o.rate,
          concurrency: o.concurrency,
          queueLimit: o.queue,
          duration: o.duration,
          dependency: phases,
          client: variantClient(v, o),
          callShare: o.callShare,
          localMs: o.local,
          sampleEvery: o.sample,
          seed: o.seed,
          callers: callersFor(v),
        });
        runs.push({ name: variantLabel(v, o), key: v, result });
        bar.update(runs.length);
      }
    } finally {
      bar.stop();
    }
    const slowEnd = o.slowUntil === false ? o.duration : o.slowUntil;
    const slowGoodput = (r: CapacityResult) => {
      const s = r.series.filter((x) => x.tMs > o.slowFrom && x.tMs <= slowEnd);
      return s.length ? s.reduce((a, x) => a + x.goodputPerSecond, 0) / s.length : Number.NaN;
    };
    const latency = timeUnit(runs.flatMap(({ result: r }) => [r.totals.p50Ms, r.totals.p99Ms]));
    const rows = runs.map(({ name, result: r }) => [
      name,
      percent(r.totals.ok / r.totals.arrivals),
      percent(r.totals.rejected / r.totals.arrivals),
      String(r.totals.timeouts),
      String(r.totals.circuitOpen),
      // No interval inside the slow phase (a run shorter than its start): nothing to say.
      Number.isNaN(slowGoodput(r)) ? "–" : slowGoodput(r).toFixed(1),
      latency.number(r.totals.p50Ms),
      latency.number(r.totals.p99Ms),
      String(r.totals.maxQueued),
      String(r.totals.dependencyCalls),
      // The self-check (Little's law) only with --verbose.
      ...(o.verbose
        ? [
            `${r.littlesLaw.L.toFixed(2)} = ${((r.littlesLaw.lambdaPerSecond * r.littlesLaw.meanTimeInSystemMs) / 1000).toFixed(2)}`,
          ]
        : []),
    ]);
    const lines = [
      `Capacity: ${o.rate}/s arrivals (${percent(o.callShare)} call the dependency, the rest take ${formatTime(o.local)}), ${o.concurrency} workers, queue ${o.queue}; dependency ${formatTime(o.latency)}, ${formatTime(o.slow)} from ${formatTime(o.slowFrom)}${o.slowUntil === false ? "" : ` to ${formatTime(o.slowUntil)}`}${o.errorRate ? ` with ${percent(o.errorRate)} errors` : ""}; seed ${o.seed}`,
      ...(o.patience === false
        ? []
        : [
            `Callers give up after ${formatTime(o.patience)}${o.callerRetries ? ` and retry ${o.callerRetries} times${o.callerJitter ? " with jitter" : " in waves (no jitter)"}` : ""}; the service ${o.keepAbandoned ? "keeps" : "drops"} requests of callers gone while queued${o.propagateDeadline ? "; timebound variants propagate each caller's remaining patience" : ""}.`,
          ]),
      table(
        [
          "client",
          "ok",
          "rejected",
          "timeouts",
          "circuit open",
          "ok/s while slow",
          `p50 (${latency.unit})`,
          `p99 (${latency.unit})`,
          "max queued",
          "dependency calls",
          ...(o.verbose ? ["Little: L = λW"] : []),
        ],
        rows,
        withCallers
          ? [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]
          : [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
      ),
      `Times are time in the system (queue + service).${o.verbose ? " Little's law: time-average requests in the system vs admitted arrival rate × mean time in system." : ""}`,
    ];
    if (withCallers) {
      lines.push(
        "\nThe service's callers:",
        table(
          ["client", "callers served", "gave up", "their retries", "worker time for callers gone"],
          runs.map(({ name, result: r }) => [
            name,
            String(r.totals.callersServed ?? 0),
            String(r.totals.abandoned ?? 0),
            String(r.totals.callerRetries ?? 0),
            formatTime(r.totals.wastedWorkerMs ?? 0),
          ]),
          [1, 2, 3, 4],
        ),
        "Callers served: callers who got an answer before they gave up, across their tries.",
      );
    }
    if (o.series) {
      for (const { name, result } of runs) {
        lines.push(`\n${name}:`);
        const every = result.series.filter((_, i) => (i + 1) % 10 === 0);
        const t = timeUnit(every.flatMap((s) => [s.tMs, s.p99Ms]));
        lines.push(
          table(
            [
              `t (${t.unit})`,
              "in flight",
              "queued",
              "rejected",
              "ok/s",
              `p99 (${t.unit})`,
              "breaker",
            ],
            every.map((s) => [
              t.number(s.tMs),
              String(s.inFlight),
              String(s.queued),
              String(s.rejected),
              s.goodputPerSecond.toFixed(0),
              t.number(s.p99Ms),
              s.breaker ?? "–",
            ]),
            [0, 1, 2, 3, 4, 5],
          ),
        );
      }
    }
    const report = lines.join("\n");
    const plots = await writePlot(
      o,
      "timebound capacity",
      capacitySpec(
        runs,
        phases,
        `${o.rate}/s into ${o.concurrency} workers; the dependency slows from ${formatTime(o.latency)} to ${formatTime(o.slow)}`,
      ),
      report,
    );
    if (o.json) {
      printJson({
        command: "capacity",
        dependency: phases,
        runs: runs.map(({ name, key, result }) => ({
          variant: key,
          label: name,
          client: variantClient(key, o),
          callers: callersFor(key) ?? null,
          ...result,
        })),
        plots,
      });
      return;
    }
    say(report);
    for (const p of plots) say(`Plot written to ${p}`);
  });
  return cmd;
}

function probeCommand(): Command {
  const cmd = new Command("probe")
    .description(
      "send a request N times on fresh connections, print curl-like phase timings and propose limits from them",
    )
    .argument("<url>", "http:// or https:// URL", (t: string) => {
      let u: URL;
      try {
        u = new URL(t);
      } catch {
        throw new arg.InvalidArgument(`expected an absolute http(s) URL, got ${JSON.stringify(t)}`);
      }
      if (u.protocol !== "http:" && u.protocol !== "https:") {
        throw new arg.InvalidArgument(`expected an http or https URL, got ${JSON.stringify(t)}`);
      }
      return u;
    })
    .option("-n, --count <n>", "requests to send", arg.integer(1, 100_000), 10)
    .option("-X, --method <method>", "request method", "GET")
    .addOption(opt("--data-size <size>", "send a body of this many bytes", arg.sizeOrZero, "0B"))
    .option("-H, --header <header...>", "extra header, 'Name: value'")
    .addOption(opt("--timeout <time>", "give up on one request after this long", arg.time, "30s"))
    .addOption(opt("--interval <time>", "pause between requests", arg.timeOrZero, "0s"))
    .option("--quantile <q>", "quantile the limits come from", arg.probability(true), 0.99)
    .option("--margin <x>", "limits are the quantile times this", arg.positive, 2);
  outputOptions(cmd, undefined);
  cmd.addHelpText(
    "after",
    examples([
      "timebound probe https://api.example.com/health -n 50",
      "timebound probe http://127.0.0.1:8787/upload -X POST --data-size 2.4MB -n 5",
      "timebound probe https://api.example.com/ -n 200 --quantile 0.999 --margin 1.5 --json",
    ]) +
      "\nTimings are curl's -w variables (time_namelookup … time_total), in seconds in --json.\n",
  );
  cmd.action(async (url: URL, o) => {
    if (o.margin < 1)
      throw new UsageError(
        `option '--margin <x>' argument '${o.margin}' is invalid. expected a number >= 1`,
      );
    const headers: Record<string, string> = {};
    for (const h of (o.header as string[] | undefined) ?? []) {
      const i = h.indexOf(":");
      if (i <= 0)
        throw new UsageError(
          `option '-H, --header <header...>' argument '${h}' is invalid. expected 'Name: value'`,
        );
      headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
    }
    const samples: ProbeSample[] = [];
    const bar = progress("probing", o.count, "requests");
    try {
      for (let i = 0; i < o.count; i++) {
        const sample = await probeOnce(url, {
          method: String(o.method).toUpperCase(),
          bodyBytes: o.dataSize,
          timeoutMs: o.timeout,
          headers,
        });
        samples.push(sample);
        bar.update(i + 1);
        // A name that does not resolve: nothing was sent, there is nothing
        // to time, and the next probes would only repeat it.
        if (i === 0 && sample.stage === "dns") break;
        if (o.interval > 0 && i + 1 < o.count) await new Promise((r) => setTimeout(r, o.interval));
      }
    } finally {
      bar.stop();
    }
    if (samples[0]?.stage === "dns") {
      process.stderr.write(
        `timebound probe: error: cannot resolve ${JSON.stringify(url.hostname)} (${samples[0].error}); nothing was sent\n`,
      );
      process.exitCode = EXIT_RUNTIME;
      return;
    }
    const good = samples.filter(
      (s) => s.error === undefined && s.status !== undefined && s.status < 500,
    );
    const { fromObservations } = await load.observations();
    // Only complete exchanges count, and every proposal is floored (see PROBE_FLOOR_MS).
    const proposal =
      good.length > 0
        ? floorProposal(
            fromObservations(good as CurlTimings[], { quantile: o.quantile, margin: o.margin }),
          )
        : undefined;
    if (o.json) {
      printJson({ command: "probe", url: url.href, samples, proposal: proposal ?? null });
    } else {
      const fields = [
        "time_namelookup",
        "time_connect",
        "time_appconnect",
        "time_posttransfer",
        "time_starttransfer",
        "time_total",
      ] as const;
      const time = timeUnit(
        samples.flatMap((s) => fields.map((f) => (s[f] === undefined ? Number.NaN : s[f]! * 1000))),
      );
      const size = sizeUnit(samples.map((s) => s.bytes));
      const ms = (s: number | undefined) => (s === undefined ? "–" : time.number(s * 1000));
      const u = ` (${time.unit})`;
      say(
        table(
          [
            "#",
            "status",
            `dns${u}`,
            `connect${u}`,
            `tls${u}`,
            `sent${u}`,
            `first byte${u}`,
            `total${u}`,
            "bytes",
          ],
          samples.map((s, i) => [
            String(i + 1),
            s.error ? `error: ${s.error}` : String(s.status),
            ms(s.time_namelookup),
            ms(s.time_connect),
            ms(s.time_appconnect),
            ms(s.time_posttransfer),
            ms(s.time_starttransfer),
            ms(s.time_total),
            size(s.bytes),
          ]),
          [0, 2, 3, 4, 5, 6, 7, 8],
        ),
      );
      if (proposal) {
        const t = proposal.timeouts;
        const q = `p${Number((proposal.quantile * 100).toPrecision(4))}`;
        say(
          `\nProposed limits (${good.length} good samples; ${q} × ${proposal.margin}, rounded up):`,
        );
        for (const l of Object.values(proposal.limits)) say(`  ${l!.how}`);
        say(`\n  ${createFetchSnippet(t)}`);
        for (const n of proposal.notes) say(`Note: ${n}`);
      } else {
        say("\nNo successful request: nothing to propose limits from.");
      }
    }
    if (good.length === 0) process.exitCode = EXIT_RUNTIME;
  });
  return cmd;
}

function planCommand(): Command {
  const cmd = new Command("plan")
    .description(
      "propose limits from what production observed: the sketches an Observer (timebound/sim) exported as JSON",
    )
    .requiredOption(
      "--from <file>",
      "sketches JSON (Observer.toJSON()), e.g. merged from several hosts",
    )
    .option("--origin <origin>", "the origin to plan for (default: every origin in the file)")
    .option(
      "--quantile <q>",
      "quantile the limits come from: 1 − the false-timeout rate you accept",
      arg.probability(true),
      0.999,
    )
    .option("--margin <x>", "limits are the quantile times this", arg.positive, 1.5);
  outputOptions(cmd, undefined);
  cmd.addHelpText(
    "after",
    examples([
      "timebound plan --from sketches.json",
      "timebound plan --from sketches.json --origin https://api.example --quantile 99.9% --margin 2 --json",
    ]),
  );
  cmd.action(async (o) => {
    if (o.margin < 1)
      throw new UsageError(
        `option '--margin <x>' argument '${o.margin}' is invalid. expected a number >= 1`,
      );
    const { observer, origins } = await readSketches(o.from, o.origin);
    const { fromSketches } = await load.observations();
    const plans = origins.map((origin) => {
      try {
        return {
          origin,
          plan: fromSketches(observer, origin, { quantile: o.quantile, margin: o.margin }),
        };
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
    });
    if (o.json) {
      printJson({ command: "plan", plans });
      return;
    }
    for (const { origin, plan } of plans) {
      const q = `p${Number((plan.quantile * 100).toPrecision(4))}`;
      say(`${origin} (${plan.samples} calls; ${q} × ${plan.margin}, rounded up):`);
      for (const l of Object.values(plan.limits)) {
        const cut =
          l!.exceedRate > 0 ? `; would have cut ${(l!.exceedRate * 100).toPrecision(2)} %` : "";
        say(`  ${l!.how}${cut}`);
      }
      say(`\n  ${createFetchSnippet(plan.timeouts)}`);
      for (const n of plan.notes) say(`Note: ${n}`);
      say("");
    }
  });
  return cmd;
}

// --- program -------------------------------------------------------------

/** This package's version: the nearest package.json named "timebound" above this file (sim/ or dist/sim/). */
function packageVersion(): string {
  for (let dir = new URL(".", import.meta.url); ; ) {
    try {
      const pkg = JSON.parse(readFileSync(new URL("package.json", dir), "utf8"));
      if (pkg.name === "timebound") return String(pkg.version);
    } catch {
      // no package.json here: look one level up
    }
    const up = new URL("..", dir);
    if (up.href === dir.href) return "unknown";
    dir = up;
  }
}

export function program(): Command {
  const p = new Command("timebound")
    .description(
      "Plan timeouts before you ship: simulate uploads, sweep chunk sizes and limits, bound the worst case, model capacity",
    )
    .version(packageVersion(), "-V, --version", "print the version");
  p.addCommand(simCommand());
  p.addCommand(sweepCommand());
  p.addCommand(recommendCommand());
  p.addCommand(budgetCommand());
  p.addCommand(capacityCommand());
  p.addCommand(probeCommand());
  p.addCommand(planCommand());
  p.addHelpText(
    "after",
    examples([
      "timebound recommend --payload 2.4MB --proxy 2Mbit --svg recommend.svg",
      "timebound budget --read-idle 5s --connect 5s --response-size 10KiB",
      "timebound capacity --svg capacity.svg",
      "timebound <command> --help",
    ]) +
      "\nExit status: 0 ok, 1 runtime failure, 2 invalid input, 3 recommend: target not reachable.\n",
  );
  // Commands added with addCommand() inherit no settings: configure each.
  const configure = (c: Command, path: string) => {
    c.exitOverride();
    c.showSuggestionAfterError(true);
    c.configureOutput({
      // One line per error; commander's message already names the flag.
      outputError: (text, write) => write(`${path}: ${text.trim().replace(/\n+/g, " ")}\n`),
    });
    for (const sub of c.commands) configure(sub, `${path} ${sub.name()}`);
  };
  configure(p, "timebound");
  return p;
}

/** The library's option validation (sim/ and src/) phrases its messages like this. */
function isValidationError(error: unknown): boolean {
  return (
    (error instanceof TypeError || error instanceof RangeError) &&
    /^(Invalid option|Unknown option|Missing option|Invalid argument|Invalid options|Cannot parse)/.test(
      error.message,
    )
  );
}

export async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv, { from: "user" });
    return Number(process.exitCode ?? 0);
  } catch (error) {
    if (error instanceof CommanderError) {
      if (
        error.code === "commander.helpDisplayed" ||
        error.code === "commander.version" ||
        error.code === "commander.help"
      ) {
        return 0;
      }
      // An invalid argument, an unknown option, a missing value: already printed.
      return error.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    if (error instanceof UsageError || isValidationError(error)) {
      process.stderr.write(`timebound: error: ${(error as Error).message.replace(/\n+/g, " ")}\n`);
      return EXIT_USAGE;
    }
    if (error instanceof MissingPlotLibrary) {
      process.stderr.write(`timebound: error: ${error.message}\n`);
      return EXIT_RUNTIME;
    }
    process.stderr.write(
      `timebound: failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    return EXIT_RUNTIME;
  }
}

/** Whether this module is the program being run (directly, or through the package's bin symlink). */
function isMain(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isMain()) {
  process.exitCode = await main(process.argv.slice(2));
}
