/**
 * Plots for the `timebound` command line, as Vega-Lite specs rendered to SVG
 * headless (vega's `View` with `renderer: "none"` needs no browser and no
 * canvas). vega and vega-lite are loaded only when a plot is asked for:
 * they are optional peer dependencies of the package.
 *
 * @module
 */
import type { CapacityResult, CapacitySample, DependencyPhase } from "../capacity.ts";
import type { SweepResult } from "../sweep.ts";
import { formatSize, formatTime } from "../units.ts";

// biome-ignore lint/suspicious/noExplicitAny: Vega-Lite specs are plain JSON
type Spec = Record<string, any>;

const FONT = "Helvetica, Arial, sans-serif";
/** Readable at 100 %: 13 px labels, 14 px titles (Vega's defaults are 10–11 px). */
const CONFIG = {
  font: FONT,
  axis: { labelFontSize: 12, titleFontSize: 13, grid: true, gridOpacity: 0.5 },
  legend: { labelFontSize: 12, titleFontSize: 13 },
  header: { labelFontSize: 13, titleFontSize: 13 },
  title: { fontSize: 16, subtitleFontSize: 13, anchor: "start", offset: 12 },
  view: { stroke: "#bbb" },
};
/** Colour-blind-safe categorical palette (Okabe & Ito 2008). */
const PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"];

function limitLabel(ms: number): string {
  return ms === Infinity ? "none" : formatTime(ms);
}

/**
 * The bottom of the y axis: 10 % when no candidate is below it (the low
 * range then takes no room from the nines), else 1 %, with anything lower
 * on the bottom edge, labelled "≤ 1 %".
 */
const SUCCESS_FLOORS = [0.1, 0.01];
/** The y axis's ticks, as success probabilities. */
const SUCCESS_TICKS = [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 0.9999, 0.99999, 0.999999];

/** log10 of the odds of success: 0 at 50 %, +1 at 90.9 %, +2 at 99 %, −1 at 9.1 %. */
function logOdds(p: number): number {
  return Math.log10(p / (1 - p));
}

/**
 * Success probability against chunk size, one panel per total deadline, one
 * line per write-idle limit. The y axis is the log-odds of success: above
 * 90 % every step is one more nine (99 %, 99.9 %, 99.99 % equally spaced,
 * as on a log scale of the failure rate), and unlike a log failure scale it
 * keeps the low range readable — 10 %, 25 %, 50 %, 75 % and 90 % are evenly
 * spaced ticks, not squeezed into the bottom few pixels. Candidates with no
 * failure sit on the top edge (half a failure per run); below 1 % on the
 * bottom edge.
 */
export function successSpec(
  result: SweepResult,
  options: {
    target?: number;
    chosen?: { chunkBytes: number; writeIdleMs: number; totalMs: number };
  } = {},
): Spec {
  const floor = 0.5 / result.trials;
  const lowest = Math.min(...result.cells.map((c) => c.successRate));
  const bottomP = lowest >= SUCCESS_FLOORS[0]! ? SUCCESS_FLOORS[0]! : SUCCESS_FLOORS[1]!;
  const top = logOdds(1 - floor);
  const bottom = logOdds(bottomP);
  const y = (success: number) => logOdds(Math.min(1 - floor, Math.max(bottomP, success)));
  const idles = [...new Set(result.cells.map((c) => c.writeIdleMs))].sort((a, b) => a - b);
  const totals = [...new Set(result.cells.map((c) => c.totalMs))].sort((a, b) => a - b);
  // Lines that coincide (often: every limit loose enough gives the same
  // rate) would hide each other: nudge each writeIdle series sideways by a
  // few percent on the log axis, and give each its own dash and marker.
  const nudge = (w: number) => 2 ** ((idles.indexOf(w) - (idles.length - 1) / 2) * 0.07);
  const data = result.cells.map((c) => ({
    chunkKiB: (c.chunkBytes / 1024) * nudge(c.writeIdleMs),
    chunk: formatSize(c.chunkBytes),
    writeIdle: limitLabel(c.writeIdleMs),
    total: `total ${limitLabel(c.totalMs)}`,
    totalOrder: totals.indexOf(c.totalMs),
    y: y(c.successRate),
    success: c.successRate,
    // What screen readers say for a point (the y field is the failure share, so its own label would mislead).
    description: `${formatSize(c.chunkBytes)} chunks, writeIdle ${limitLabel(c.writeIdleMs)}, total ${limitLabel(c.totalMs)}: ${(c.successRate * 100).toFixed(2)} % succeed`,
    chosen:
      options.chosen !== undefined &&
      c.chunkBytes === options.chosen.chunkBytes &&
      c.writeIdleMs === options.chosen.writeIdleMs &&
      c.totalMs === options.chosen.totalMs,
  }));
  const chunks = [...new Set(result.cells.map((c) => c.chunkBytes / 1024))].sort((a, b) => a - b);
  const ticks = SUCCESS_TICKS.filter((t) => t >= bottomP && 1 - t >= floor).map(logOdds);
  const layers: Spec[] = [
    {
      mark: { type: "line", point: { size: 45, filled: true }, strokeWidth: 2 },
      encoding: {
        color: {
          field: "writeIdle",
          type: "nominal",
          title: "writeIdle",
          sort: idles.map(limitLabel),
          scale: { range: PALETTE },
        },
        shape: {
          field: "writeIdle",
          type: "nominal",
          title: "writeIdle",
          sort: idles.map(limitLabel),
          scale: {
            range: [
              "circle",
              "square",
              "triangle-up",
              "diamond",
              "cross",
              "triangle-down",
              "circle",
            ],
          },
        },
        strokeDash: {
          field: "writeIdle",
          type: "nominal",
          title: "writeIdle",
          sort: idles.map(limitLabel),
          scale: {
            range: [
              [1, 0],
              [6, 3],
              [2, 2],
              [8, 3, 2, 3],
              [4, 4],
              [1, 3],
              [10, 2],
            ],
          },
        },
        description: { field: "description" },
        tooltip: [
          { field: "chunk" },
          { field: "writeIdle" },
          { field: "total" },
          { field: "success", format: ".3%" },
        ],
      },
    },
    {
      transform: [{ filter: "datum.chosen" }],
      mark: { type: "point", size: 260, strokeWidth: 2.5, color: "#000", filled: false },
    },
  ];
  if (options.target !== undefined) {
    layers.push({
      data: { values: [{ y: y(options.target) }] },
      mark: { type: "rule", strokeDash: [6, 4], color: "#333", strokeWidth: 1.2 },
      encoding: { y: { field: "y", type: "quantitative" }, x: null, color: null },
    });
  }
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: "Upload success probability vs chunk size",
      subtitle: [
        `${result.trials} simulated uploads per point, seed ${result.seed}` +
          (options.target !== undefined
            ? `; dashed line: target ${(options.target * 100).toFixed(2)} %`
            : "") +
          (options.chosen ? "; ringed: recommended" : ""),
        "Vertical axis: log-odds of success. Above 90 % each step is one more nine;",
        "10 %, 25 %, 50 %, 75 % and 90 % are evenly spaced below.",
        ...(data.some((d) => d.success === 1)
          ? [`Points on the top edge had no failure (fewer than 1 in ${result.trials}).`]
          : []),
        ...(data.some((d) => d.success < bottomP)
          ? ["Points on the bottom edge: under 1 % succeed."]
          : []),
        "Series are nudged sideways so that equal ones stay visible.",
      ],
    },
    data: { values: data },
    facet: {
      field: "total",
      type: "ordinal",
      title: null,
      sort: { field: "totalOrder" },
    },
    columns: 3,
    spec: {
      width: 230,
      height: 200,
      encoding: {
        x: {
          field: "chunkKiB",
          type: "quantitative",
          title: "chunk size (KiB)",
          scale: {
            type: "log",
            base: 2,
            domain: [chunks[0]! / 1.2, chunks[chunks.length - 1]! * 1.2],
          },
          axis: { values: chunks, format: "~r", grid: true },
        },
        y: {
          field: "y",
          type: "quantitative",
          title: "success probability",
          // 10 % or ≤ 1 % at the bottom, no failure at the top; 50 % at log-odds 0.
          scale: { type: "linear", domain: [bottom, top], nice: false, zero: false },
          axis: {
            values: ticks,
            // Back from log-odds to a probability; 4 significant digits drop float noise.
            labelExpr: `${bottomP < SUCCESS_FLOORS[0]!} && datum.value <= ${bottom + 1e-9} ? '≤ 1 %' : replace(format(1 / (1 + pow(10, -datum.value)), '.4~%'), '%', ' %')`,
          },
        },
      },
      layer: layers,
    },
    resolve: { scale: { y: "shared" } },
    config: CONFIG,
  };
}

/**
 * Per interval, the p99 time in the system as the plot shows it (ms; `null`
 * when the interval saw no request): the p99 of the requests that finished
 * in it, raised to what the requests **still inside** at its end have
 * already waited when they alone put the p99 higher. The p99 of finished
 * requests alone falls when things get worse: while workers are stuck on a
 * slow dependency only the quick requests finish, and the stuck ones count
 * nowhere until they end.
 *
 * The series has no per-request ages, so the waits inside are bounded from
 * the arrival counts: the requests inside are all admitted and unfinished,
 * so the j-th youngest of them is at least as old as the j-th most recent
 * admission, and an admission counted in an interval happened by its end.
 * If the k oldest inside — k being the count at or above the p99 rank
 * (nearest rank) of finished and inside together — have waited at least
 * w, the p99 of all of them is at least w.
 */
export function p99InSystemMs(series: readonly CapacitySample[]): (number | null)[] {
  const admitted = series.map((s) => s.arrivals - s.rejected);
  return series.map((s, i) => {
    const finished = s.ok + s.failed;
    const inside = s.inFlight + s.queued;
    const p99Finished = finished > 0 && !Number.isNaN(s.p99Ms) ? s.p99Ms : null;
    // Nearest rank: the value at rank ceil(0.99 n) from below is the k-th from the top.
    const all = finished + inside;
    const k = all - Math.ceil(0.99 * all) + 1;
    if (inside === 0 || inside < k) return p99Finished;
    // The k-th oldest inside is the (inside − k + 1)-th youngest: find the
    // interval of the (inside − k + 1)-th most recent admission.
    const rank = inside - k + 1;
    let j = i;
    let counted = admitted[i]!;
    while (counted < rank && j > 0) counted += admitted[--j]!;
    const waited = s.tMs - series[j]!.tMs;
    return Math.max(p99Finished ?? 0, waited);
  });
}

/**
 * The capacity time series: goodput, p99 time in the system and requests
 * in the system, one colour per client variant, with the dependency's slow
 * phases shaded.
 */
export function capacitySpec(
  runs: { name: string; result: CapacityResult }[],
  phases: DependencyPhase[],
  title: string,
): Spec {
  const rows = runs.flatMap(({ name, result }) => {
    const p99 = p99InSystemMs(result.series);
    return result.series.map((s, i) => ({
      variant: name,
      t: s.tMs / 1000,
      goodput: s.goodputPerSecond,
      rejected: s.rejected / 1,
      // Log scale: 0 (instant fast failures, an open breaker) shows as 1 ms.
      p99: p99[i] === null ? null : Math.max(1, p99[i]!) / 1000,
      inSystem: s.inFlight + s.queued,
    }));
  });
  const endS = Math.max(...rows.map((r) => r.t));
  const base = phases[0]!;
  const shaded = phases
    .map((p, i) => ({
      from: p.fromMs / 1000,
      to: (phases[i + 1]?.fromMs ?? endS * 1000) / 1000,
      label: `dependency: ${describeLatency(p)}`,
      same:
        JSON.stringify(p.latencyMs) === JSON.stringify(base.latencyMs) &&
        (p.errorRate ?? 0) === (base.errorRate ?? 0),
    }))
    .filter((p) => !p.same);
  const names = runs.map((r) => r.name);
  const color = {
    field: "variant",
    type: "nominal",
    title: "client",
    sort: names,
    scale: { range: PALETTE },
    legend: {
      orient: "top",
      direction: "vertical",
      columns: 2,
      labelLimit: 420,
      symbolStrokeWidth: 3,
    },
  };
  const x = {
    field: "t",
    type: "quantitative",
    title: "time (s)",
    scale: { domain: [0, endS], nice: false },
  };
  const band = (showLabel: boolean): Spec => ({
    data: { values: shaded },
    layer: [
      {
        mark: { type: "rect", color: "#999", opacity: 0.15 },
        encoding: { x: { field: "from", type: "quantitative" }, x2: { field: "to" } },
      },
      ...(showLabel
        ? [
            {
              mark: {
                type: "text",
                align: "left",
                baseline: "top",
                dx: 4,
                dy: 4,
                fontSize: 12,
                color: "#555",
              },
              encoding: {
                x: { field: "from", type: "quantitative" },
                y: { value: 0 },
                text: { field: "label" },
              },
            },
          ]
        : []),
    ],
  });
  const panel = (field: string, yTitle: string, scale: Spec, showLabel: boolean): Spec => ({
    width: 720,
    height: 170,
    layer: [
      band(showLabel),
      {
        data: { values: rows },
        transform: field === "p99" ? [{ filter: "datum.p99 !== null" }] : [],
        mark: { type: "line", strokeWidth: 1.8, interpolate: "step-after" },
        encoding: { x, y: { field, type: "quantitative", title: yTitle, scale }, color },
      },
    ],
  });
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: title,
      subtitle: [
        "Shaded: the dependency's slow phase. One line per client configuration.",
        "p99: of the requests finished each second, raised to what the longest-waiting 1 % still inside",
        "have waited at least (from the arrival counts): stuck requests count before they finish.",
      ],
    },
    vconcat: [
      panel("goodput", "goodput (ok/s)", {}, true),
      panel("p99", "p99 time in system (s)", { type: "log" }, false),
      panel("inSystem", "requests in system", {}, false),
    ],
    resolve: { scale: { color: "shared" } },
    config: CONFIG,
  };
}

function describeLatency(p: DependencyPhase): string {
  const l = p.latencyMs;
  const text =
    typeof l === "number"
      ? formatTime(l)
      : l.kind === "lognormal"
        ? `~${formatTime(l.median)}`
        : l.kind === "uniform"
          ? `${formatTime(l.min)}–${formatTime(l.max)}`
          : l.kind === "exponential"
            ? `mean ${formatTime(l.mean)}`
            : "varied";
  return p.errorRate ? `${text}, ${(p.errorRate * 100).toFixed(0)} % errors` : text;
}

/** Thrown when vega or vega-lite is not installed. */
export class MissingPlotLibrary extends Error {
  override readonly name = "MissingPlotLibrary";
}

/** Renders a Vega-Lite spec to an SVG document. */
export async function renderSvg(spec: Spec): Promise<string> {
  let vl: typeof import("vega-lite");
  let vega: typeof import("vega");
  try {
    vl = await import("vega-lite");
    vega = await import("vega");
  } catch {
    throw new MissingPlotLibrary(
      "plots need the vega and vega-lite packages: npm install vega vega-lite",
    );
  }
  const compiled = vl.compile(spec as Parameters<typeof vl.compile>[0]).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  try {
    // White background: transparent SVGs are unreadable in dark viewers.
    view.background("white");
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

function escapeHtml(s: string): string {
  return s.replace(
    /[&<>"]/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!,
  );
}

/** A self-contained HTML page: the SVG inline and the text report below it (no scripts, no network). */
export function htmlPage(title: string, svg: string, report: string): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font-family:${FONT};margin:2em;color:#222}pre{font-size:13px;line-height:1.35;background:#f6f6f6;padding:1em;overflow-x:auto}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
${svg.replace(/^<\?xml[^>]*>\s*/, "")}
<pre>${escapeHtml(report)}</pre>
</body>
</html>
`;
}
