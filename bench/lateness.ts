/**
 * Deadline lateness on every runtime: bundles `lateness-probe.ts` once
 * (esbuild), runs it on Node 24, Node 20, Deno, Bun and workerd, one at a
 * time, against `bench/_server.ts` in its own process, and prints p50/p99/max
 * of (time the TimeoutError surfaced − deadline).
 *
 *   node_modules/.bin/node bench/lateness.ts [--rounds 100] [--runtimes node24,deno]
 *
 * @module
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { build } from "esbuild";
import { workerdConfig } from "../test/_workerd.ts";
import {
  bin,
  fix,
  here,
  kill,
  lastJson,
  load,
  median,
  node24,
  quantile,
  run,
  sleep,
  start,
  startServer,
  table,
} from "./_util.ts";
import {
  type ProbeInput,
  type ProbeResult,
  type Round,
  SERIES,
  totalOf,
} from "./lateness-probe.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "100" },
    runtimes: { type: "string", default: "node24,node20,deno,bun,workerd" },
  },
});
/** One runtime's whole probe must finish within this. */
const RUNTIME_LIMIT_MS = 120_000;
const NODE20 = "/usr/bin/node";

interface Runtime {
  name: string;
  version: () => string;
  run: (dir: string, input: ProbeInput) => Promise<ProbeResult>;
}

/** "v24.21.0", "deno 2.9.6", "1.4.5", "workerd 2026-11-17". */
const firstLine = (cmd: string): string =>
  execFileSync(cmd, ["--version"], { encoding: "utf8" })
    .split(/\n| \(/)[0]!
    .trim();
const cli = (name: string, cmd: string, args: (main: string) => string[]): Runtime => ({
  name,
  version: () => firstLine(cmd),
  run: async (dir, input) =>
    lastJson<ProbeResult>(
      await run(cmd, [...args(join(dir, "main.mjs")), JSON.stringify(input)], RUNTIME_LIMIT_MS),
    ),
});

const runtimes: Runtime[] = [
  cli("node24", node24, (m) => [m]),
  cli("node20", NODE20, (m) => [m]),
  cli("deno", bin("deno"), (m) => ["run", "--no-config", "--no-lock", "--allow-net=127.0.0.1", m]),
  cli("bun", bin("bun"), (m) => ["run", m]),
  { name: "workerd", version: () => firstLine(bin("workerd")), run: runWorkerd },
];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => (a && typeof a === "object" ? resolve(a.port) : reject(new Error("no port"))));
    });
  });
}

/**
 * The probe in workerd, one request per round, timed from here (see
 * `lateness-worker.ts`); `internet` is redefined so the worker may reach 127.0.0.1.
 */
async function runWorkerd(dir: string, input: ProbeInput): Promise<ProbeResult> {
  const date = /(\d{4}-\d{2}-\d{2})/.exec(firstLine(bin("workerd")))?.[1] ?? "2025-01-01";
  const port = await freePort();
  writeFileSync(join(dir, "config.capnp"), workerdConfig(port, date));
  const child = start(bin("workerd"), ["serve", join(dir, "config.capnp")]);
  child.stdin!.end();
  let log = "";
  child.stdout!.on("data", (b: Buffer) => (log += b));
  child.stderr!.on("data", (b: Buffer) => (log += b));
  const base = `http://127.0.0.1:${port}`;
  try {
    for (let i = 0; ; i++) {
      try {
        if ((await fetch(`${base}/ping`)).ok) break;
      } catch {
        if (i > 100 || child.exitCode !== null) throw new Error(`workerd did not start\n${log}`);
        await sleep(100);
      }
    }
    const out = Object.fromEntries(SERIES.map((x) => [x, []])) as unknown as ProbeResult;
    const post = async (path: string, body: unknown): Promise<[number, Round]> => {
      const t0 = performance.now();
      const init = {
        method: "POST",
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      };
      const res = await fetch(`${base}${path}`, init);
      const text = await res.text();
      const ms = performance.now() - t0;
      if (!res.ok) throw new Error(`workerd: ${res.status} ${text}\n${log}`);
      return [ms, path === "/round" ? (JSON.parse(text) as Round) : ({} as Round)];
    };
    const rtt: number[] = [];
    for (let i = 0; i < 50; i++) rtt.push((await post("/noop", {}))[0]);
    const overhead = median(rtt);
    for (const series of SERIES) await post("/round", { input, series }); // warm-up, discarded
    for (let i = 0; i < input.rounds; i++) {
      for (const series of SERIES) {
        const [ms, r] = await post("/round", { input, series });
        out[series].push({ ...r, lateMs: ms - overhead - totalOf(input, series) });
      }
    }
    return out;
  } finally {
    kill(child);
  }
}

const wanted = values.runtimes.split(",");
const dir = mkdtempSync(join(tmpdir(), "timebound-lateness-"));
const server = await startServer();
try {
  await build({
    entryPoints: { main: here("lateness-main.ts"), worker: here("lateness-worker.ts") },
    outdir: dir,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    logLevel: "warning",
  });
  const input: ProbeInput = {
    base: server.base,
    rounds: Number(values.rounds),
    idleTotalMs: 50,
    firehoseTotalMs: 100,
  };
  const rows: (string | number)[][] = [
    ["runtime", "series", "p50 ms", "p99 ms", "max ms", "min ms", "read gap p99 ms"],
  ];
  const notes: string[] = [];
  for (const rt of runtimes.filter((r) => wanted.includes(r.name))) {
    const loadBefore = load();
    const r = await rt.run(dir, input);
    const q = (xs: number[], p: number) => fix(quantile(xs, p), 1);
    for (const series of SERIES) {
      const late = r[series].map((x) => x.lateMs);
      const gaps = r[series].map((x) => x.maxGapMs);
      const gap = series.endsWith("firehose") ? q(gaps, 0.99) : "";
      rows.push([rt.name, series, q(late, 0.5), q(late, 0.99), q(late, 1), q(late, 0), gap]);
      const wrong = r[series].filter((x) => x.wrong).map((x) => x.wrong);
      if (wrong.length) notes.push(`${rt.name} ${series}: ${wrong.length} unexpected: ${wrong[0]}`);
    }
    const fire = [...r["timebound firehose"], ...r["control firehose"]];
    const bytes = fire.reduce((a, x) => a + x.bytes, 0);
    const mibps = bytes / 2 ** 20 / ((fire.length * input.firehoseTotalMs) / 1000);
    notes.push(
      `${rt.name} ${rt.version()}: firehose read ${fix(mibps)} MiB/s; load average ${loadBefore} → ${load()}`,
    );
    console.error(`${rt.name}: done`);
  }
  console.log(
    `\nDeadline lateness (error surfaced − deadline), ${input.rounds} rounds per series: idle deadline ${input.idleTotalMs} ms, firehose deadline ${input.firehoseTotalMs} ms; control = bare fetch + setTimeout abort\n`,
  );
  console.log(table(rows));
  console.log(`\n${notes.join("\n")}`);
} finally {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}
