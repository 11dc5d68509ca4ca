/**
 * The cascade, measured: the seed's story (a dependency slows down, requests
 * pile up, the site goes down) as a load test, with and without timebound.
 *
 * For each variant, two fresh child processes on 127.0.0.1: the upstream
 * (bench/cascade-upstream.ts: 50 ms per call; after `--degrade-at` seconds,
 * 20 % of calls become black holes) and the service (bench/cascade-app.ts:
 * Hono, a cap of 100 handler slots, calling the upstream with plain `fetch`
 * or through timebound with a 1 s deadline). autocannon drives the service
 * with 200 connections for `--duration` seconds (10 s client timeout). We
 * record every response, and sample the service's heap and the upstream's
 * open sockets every 250 ms.
 *
 * Run (Node 24): `npx node bench/cascade.ts [--duration 25] [--connections 200]`
 * Loopback only; both children are stopped (by their handles) when a variant
 * ends, and killed if this process exits early.
 */
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";

interface Args {
  duration: number;
  connections: number;
  degradeAt: number;
  cap: number;
  totalMs: number;
  blackholeRate: number;
  variants: string[];
}

function parseArgs(argv: string[]): Args {
  const get = (name: string, fallback: string): string => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : fallback;
  };
  const num = (name: string, fallback: number, max: number): number => {
    const v = Number(get(name, String(fallback)));
    if (!(v > 0 && v <= max)) throw new RangeError(`--${name} must be in (0, ${max}], got ${v}`);
    return v;
  };
  return {
    // Bounded on purpose: a bench that runs away is a load test of the machine.
    duration: num("duration", 25, 120),
    connections: num("connections", 200, 1000),
    degradeAt: num("degrade-at", 5, 60),
    cap: num("cap", 100, 10_000),
    totalMs: num("total", 1000, 60_000),
    blackholeRate: num("blackhole-rate", 0.2, 1),
    variants: get("variants", "plain,timebound").split(","),
  };
}

/** One sample from a child, stamped with seconds since the load started. */
type Sample = { t: number } & Record<string, number>;

interface VariantResult {
  variant: string;
  byStatus: Map<number, number>;
  latencies: number[];
  timeouts: number;
  errors: number;
  /** Per second: answered (2xx), 5xx. */
  perSecond: { ok: number; failed: number }[];
  app: Sample[];
  upstream: Sample[];
  /** The service after the load, after a forced GC. */
  retained: Record<string, number>;
}

const children = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

const here = (name: string): string => fileURLToPath(new URL(name, import.meta.url));

/** Forks a bench child (same Node, so it runs .ts too) and waits for its "ready". */
function startChild(
  file: string,
  env: Record<string, string>,
  execArgv: string[] = [],
): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(here(file), [], {
    env: { ...process.env, ...env },
    execArgv,
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  children.add(child);
  child.once("exit", () => children.delete(child));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${file} did not start in 15 s`)), 15_000);
    child.on("message", (m: { type: string; port?: number }) => {
      if (m.type === "ready") {
        clearTimeout(timer);
        resolve({ child, port: m.port! });
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${file} exited with ${code} before it was ready`));
    });
  });
}

/** Asks a child to stop, and kills it if it has not within 3 s. */
function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 3_000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.send({ type: "stop" });
  });
}

async function runVariant(variant: string, args: Args): Promise<VariantResult> {
  const up = await startChild("cascade-upstream.ts", { SEED: "42" });
  const app = await startChild(
    "cascade-app.ts",
    {
      VARIANT: variant,
      UPSTREAM: `http://127.0.0.1:${up.port}`,
      CAP: String(args.cap),
      TOTAL_MS: String(args.totalMs),
    },
    ["--expose-gc"],
  );
  const result: VariantResult = {
    variant,
    byStatus: new Map(),
    latencies: [],
    timeouts: 0,
    errors: 0,
    perSecond: Array.from({ length: Math.ceil(args.duration) + 1 }, () => ({ ok: 0, failed: 0 })),
    app: [],
    upstream: [],
    retained: {},
  };
  const t0 = performance.now();
  const seconds = (): number => (performance.now() - t0) / 1000;
  const record = (into: Sample[]) => (m: Record<string, unknown>) => {
    if (m.type !== "sample") return;
    const { type: _type, ...values } = m;
    into.push({ ...(values as Record<string, number>), t: seconds() });
  };
  app.child.on("message", record(result.app));
  up.child.on("message", record(result.upstream));
  const degrade = setTimeout(
    () => up.child.send({ type: "degrade", blackholeRate: args.blackholeRate }),
    args.degradeAt * 1000,
  );

  app.child.send({ type: "load" });
  let instance!: autocannon.Instance;
  const finished = new Promise<autocannon.Result>((resolve, reject) => {
    instance = autocannon(
      {
        url: `http://127.0.0.1:${app.port}/quote`,
        connections: args.connections,
        duration: args.duration,
        timeout: 10,
      },
      (error, res) => (error ? reject(error) : resolve(res)),
    );
  });
  instance.on("response", (_client, status, _bytes, ms) => {
    result.byStatus.set(status, (result.byStatus.get(status) ?? 0) + 1);
    result.latencies.push(ms);
    const bin = result.perSecond[Math.min(Math.floor(seconds()), result.perSecond.length - 1)]!;
    if (status < 400) bin.ok++;
    else bin.failed++;
  });
  const done = await finished;
  clearTimeout(degrade);
  // autocannon's own count is the reference for timeouts.
  result.timeouts = done.timeouts;
  result.errors = Math.max(0, done.errors - done.timeouts);
  // What is still held once the load stops (connections closed, GC forced).
  await new Promise((r) => setTimeout(r, 500));
  const retainedAt = seconds();
  result.retained = await new Promise<Record<string, number>>((resolve) => {
    const onMessage = (m: Record<string, number> & { type: string }): void => {
      if (m.type !== "retained") return;
      app.child.off("message", onMessage);
      resolve(m);
    };
    app.child.on("message", onMessage);
    app.child.send({ type: "gc" });
  });
  // The upstream's view "after the load" is its last sample while the service still ran.
  result.upstream = result.upstream.filter((s) => s.t <= retainedAt + 0.3);
  await stopChild(app.child);
  await stopChild(up.child);
  return result;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

const MB = 1024 * 1024;
const fmt = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toFixed(digits) : "–");

function summary(r: VariantResult, args: Args) {
  const sorted = [...r.latencies].sort((a, b) => a - b);
  const count = (pred: (s: number) => boolean): number =>
    [...r.byStatus].filter(([s]) => pred(s)).reduce((n, [, c]) => n + c, 0);
  const after = r.perSecond.slice(args.degradeAt + 2, Math.floor(args.duration));
  const heap = r.app.map((s) => s.heapUsed!);
  const held = r.upstream.map((s) => s.blackholesOpen!);
  const sockets = r.upstream.map((s) => s.openSockets!);
  return {
    ok: count((s) => s >= 200 && s < 300),
    s504: count((s) => s === 504),
    s503: count((s) => s === 503),
    s500: count((s) => s === 500),
    otherFailed: count((s) => s >= 400 && ![500, 503, 504].includes(s)),
    timeouts: r.timeouts,
    errors: r.errors,
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    max: sorted.at(-1) ?? Number.NaN,
    okPerSecondDegraded: after.reduce((n, b) => n + b.ok, 0) / Math.max(1, after.length),
    socketsMax: Math.max(...sockets),
    socketsEnd: sockets.at(-1) ?? Number.NaN,
    heldMax: Math.max(...held),
    heldEnd: held.at(-1) ?? Number.NaN,
    heapMax: Math.max(...heap) / MB,
    heapRetained: (r.retained.heapUsed ?? Number.NaN) / MB,
    stuckAtEnd: r.retained.inHandler ?? Number.NaN,
    loopP99: r.retained.loopDelayP99 ?? Number.NaN,
  };
}

function printTable(results: VariantResult[], args: Args): void {
  const s = results.map((r) => summary(r, args));
  const rows: [string, (x: ReturnType<typeof summary>) => string][] = [
    ["answered 2xx", (x) => String(x.ok)],
    ["2xx per second once degraded", (x) => fmt(x.okPerSecondDegraded)],
    ["504 Gateway Timeout", (x) => String(x.s504)],
    ["503 / 500 / other ≥ 400", (x) => `${x.s503} / ${x.s500} / ${x.otherFailed}`],
    ["no answer within 10 s (client timeouts)", (x) => String(x.timeouts)],
    ["connection errors", (x) => String(x.errors)],
    [
      "latency p50 / p99 / max (ms, answered)",
      (x) => `${fmt(x.p50)} / ${fmt(x.p99)} / ${fmt(x.max)}`,
    ],
    ["requests still inside the service after the load", (x) => String(x.stuckAtEnd)],
    ["black-hole calls held open: max / after the load", (x) => `${x.heldMax} / ${x.heldEnd}`],
    ["upstream sockets open: max / after the load", (x) => `${x.socketsMax} / ${x.socketsEnd}`],
    [
      "service heap: max during load / retained after (MB, after GC)",
      (x) => `${fmt(x.heapMax, 1)} / ${fmt(x.heapRetained, 1)}`,
    ],
    ["service event-loop delay p99 over the run (ms)", (x) => fmt(x.loopP99)],
  ];
  const header = `| | ${results.map((r) => (r.variant === "plain" ? "plain `fetch`" : `timebound (total ${args.totalMs} ms)`)).join(" | ")} |`;
  console.log(header);
  console.log(`|---|${results.map(() => "---").join("|")}|`);
  for (const [label, f] of rows) console.log(`| ${label} | ${s.map(f).join(" | ")} |`);
}

function printTimeline(results: VariantResult[], args: Args): void {
  const at = (samples: Sample[], t: number, key: string): number => {
    let best: Sample | undefined;
    for (const s of samples) if (s.t <= t) best = s;
    return best?.[key] ?? Number.NaN;
  };
  const cols = results.flatMap((r) => [
    `${r.variant} 2xx/s`,
    `${r.variant} 5xx/s`,
    `${r.variant} held`,
    `${r.variant} sockets`,
    `${r.variant} heap MB`,
  ]);
  console.log(`| t (s) | ${cols.join(" | ")} |`);
  console.log(`|---|${cols.map(() => "---").join("|")}|`);
  for (let t = 1; t <= args.duration; t += 2) {
    const cells = results.flatMap((r) => {
      const bin = r.perSecond[t - 1] ?? { ok: 0, failed: 0 };
      return [
        String(bin.ok),
        String(bin.failed),
        fmt(at(r.upstream, t, "blackholesOpen")),
        fmt(at(r.upstream, t, "openSockets")),
        fmt(at(r.app, t, "heapUsed") / MB, 1),
      ];
    });
    const mark = t - 1 <= args.degradeAt && args.degradeAt < t + 1 ? " ← degrades" : "";
    console.log(`| ${t}${mark} | ${cells.join(" | ")} |`);
  }
}

const args = parseArgs(process.argv.slice(2));
console.log(
  `cascade: ${args.connections} connections, ${args.duration} s per variant, cap ${args.cap} slots, ` +
    `upstream 50 ms, ${args.blackholeRate * 100} % black holes from t=${args.degradeAt} s; Node ${process.version}\n`,
);
const results: VariantResult[] = [];
for (const variant of args.variants) {
  console.log(`running ${variant}…`);
  results.push(await runVariant(variant, args));
}
console.log("");
printTable(results, args);
console.log("");
printTimeline(results, args);
