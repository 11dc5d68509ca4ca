/**
 * timebound's simulator against SimPy (issue 4, "Benchmarks"): the same
 * upload model (`bench/sim-simpy.py` ports sim/upload.ts, sim/_link.ts and
 * the watchdog line by line onto SimPy's event queue), the same parameters,
 * the same events; wall time of each and their ratio, and a check that both
 * give the same outcome, phase, time, bytes and event count per upload.
 *
 * Workload: bench/sim-upload.ts's — 2.4 MB uploads in 16 KiB chunks over
 * paths drawn from a fixed seed (client 10–1000 Mbit/s, proxy 0.5–50
 * Mbit/s, RTT 10–300 ms, send buffer 128 KiB–4 MiB, 5 % with a proxy that
 * goes silent; writeIdle 2 s, total 60 s).
 *
 * SimPy comes from Debian: `python3-simpy3` (SimPy 3; Debian's
 * `python3-simpy` is SimPy 2.3, whose API is another). Installed with
 * apt-get when missing and run as root; skipped with a message otherwise.
 *
 * Run: node bench/sim-simpy.ts [count]     (default 100 000; one core: taskset -c 0 …)
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { simulateUpload, type UploadResult, VirtualClock } from "../sim/mod.ts";
import { uploadPaths } from "./_upload_paths.ts";

const COUNT = Number(process.argv[2] ?? 100_000);
const PYTHON = "/usr/bin/python3";
const HERE = dirname(fileURLToPath(import.meta.url));

function hasSimpy(): boolean {
  return spawnSync(PYTHON, ["-c", "import simpy"], { stdio: "ignore" }).status === 0;
}

if (!hasSimpy()) {
  if (process.getuid?.() !== 0) {
    console.log(
      `sim-simpy: skipped: SimPy is not installed for ${PYTHON} and installing it needs root`,
    );
    process.exit(0);
  }
  console.error("sim-simpy: installing Debian's python3-simpy3 (apt-get) …");
  const apt = spawnSync(
    "sh",
    ["-c", "apt-get update -qq && apt-get install -y -qq python3-simpy3"],
    {
      stdio: ["ignore", "inherit", "inherit"],
      timeout: 600_000,
    },
  );
  if (apt.status !== 0 || !hasSimpy()) {
    console.log("sim-simpy: skipped: could not install python3-simpy3");
    process.exit(0);
  }
}

// The same paths as bench/sim-upload.ts (same seed, same draws).
const paths = uploadPaths(COUNT);

// Events per upload: the engine's own count of events run (cancelled ones
// are skipped, not run), read by wrapping VirtualClock.run in an untimed pass.
const events = new Uint32Array(COUNT);
let current = 0;
const run = VirtualClock.prototype.run;
VirtualClock.prototype.run = function (this: VirtualClock, options) {
  const n = run.call(this, options);
  events[current] = (events[current] ?? 0) + n;
  return n;
};
const results: UploadResult[] = [];
for (current = 0; current < COUNT; current++) results.push(simulateUpload(paths[current]!));
VirtualClock.prototype.run = run;

// Timed: a warm-up round, then the best of three (as bench/sim-upload.ts).
let bestMs = Number.POSITIVE_INFINITY;
for (let round = 0; round < 4; round++) {
  const t0 = performance.now();
  for (let i = 0; i < COUNT; i++) simulateUpload(paths[i]!);
  const ms = performance.now() - t0;
  if (round > 0) bestMs = Math.min(bestMs, ms);
}

const dir = mkdtempSync(join(tmpdir(), "timebound-simpy-"));
let py: { seconds: number; events: number; pops: number; simpy: string; python: string };
let pyResults: {
  outcome: string;
  phase: string | null;
  elapsedMs: number | null;
  bytesDelivered: number;
  bytesSent: number;
  events: number;
}[];
try {
  const input = join(dir, "paths.jsonl");
  const output = join(dir, "results.jsonl");
  writeFileSync(
    input,
    paths
      .map((p) =>
        JSON.stringify({ ...p, dropAtMs: Number.isFinite(p.dropAtMs) ? p.dropAtMs : null }),
      )
      .join("\n"),
  );
  const r = spawnSync(PYTHON, [join(HERE, "sim-simpy.py"), input, output], {
    encoding: "utf8",
    timeout: 3_600_000,
    maxBuffer: 1 << 20,
  });
  if (r.status !== 0) throw new Error(`sim-simpy.py failed: ${r.stderr}`);
  py = JSON.parse(r.stdout);
  pyResults = readFileSync(output, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
} finally {
  rmSync(dir, { recursive: true, force: true });
}

// Agreement, upload by upload.
let same = 0;
let maxTimeDiff = 0;
let maxByteDiff = 0;
let eventMismatch = 0;
const mismatches: string[] = [];
for (let i = 0; i < COUNT; i++) {
  const a = results[i]!;
  const b = pyResults[i]!;
  const aTime = Number.isFinite(a.elapsedMs) ? a.elapsedMs : null;
  const timeDiff =
    aTime === null || b.elapsedMs === null
      ? aTime === b.elapsedMs
        ? 0
        : Infinity
      : Math.abs(aTime - b.elapsedMs);
  const byteDiff = Math.abs(a.bytesDelivered - b.bytesDelivered);
  maxTimeDiff = Math.max(maxTimeDiff, timeDiff);
  maxByteDiff = Math.max(maxByteDiff, byteDiff);
  if (events[i] !== b.events) eventMismatch++;
  const ok =
    a.outcome === b.outcome &&
    (a.phase ?? null) === b.phase &&
    timeDiff <= 1e-6 &&
    byteDiff <= 1e-6 &&
    a.bytesSent === b.bytesSent &&
    events[i] === b.events;
  if (ok) same++;
  else if (mismatches.length < 5) {
    mismatches.push(
      `#${i}: ts ${a.outcome}/${a.phase} ${a.elapsedMs} ${a.bytesDelivered} ${a.bytesSent} ev ${events[i]} | simpy ${b.outcome}/${b.phase} ${b.elapsedMs} ${b.bytesDelivered} ${b.bytesSent} ev ${b.events}`,
    );
  }
}

const tsEvents = events.reduce((s, n) => s + n, 0);
const count = (
  xs: { outcome: string; phase?: string | null | undefined }[],
  o: string,
  p?: string,
) => xs.filter((r) => r.outcome === o && (p === undefined || r.phase === p)).length;
const pct = (n: number) => `${((100 * n) / COUNT).toFixed(1)} %`;
const summary = (xs: { outcome: string; phase?: string | null | undefined }[]) =>
  `ok ${pct(count(xs, "ok"))}, writeIdle ${pct(count(xs, "timeout", "writeIdle"))}, total ${pct(count(xs, "timeout", "total"))}, hang ${pct(count(xs, "hang"))}`;

console.log(
  `${COUNT.toLocaleString("en")} simulated 2.4 MB uploads in 16 KiB chunks (bench/sim-upload.ts's paths)`,
);
console.log(
  `timebound (Node ${process.version}): ${(bestMs / 1000).toFixed(2)} s, ${tsEvents.toLocaleString("en")} events (${((bestMs * 1e6) / tsEvents).toFixed(0)} ns per event, ${((bestMs * 1000) / COUNT).toFixed(1)} µs per upload)`,
);
console.log(
  `SimPy ${py.simpy} (Python ${py.python}): ${py.seconds.toFixed(2)} s, ${py.events.toLocaleString("en")} events (${((py.seconds * 1e9) / py.events).toFixed(0)} ns per event; ${py.pops.toLocaleString("en")} heap pops counting cancelled timeouts)`,
);
console.log(`ratio: timebound is ${((py.seconds * 1000) / bestMs).toFixed(0)}× faster`);
console.log(`outcomes, timebound: ${summary(results)}`);
console.log(`outcomes, SimPy:     ${summary(pyResults)}`);
console.log(
  `agreement: ${same.toLocaleString("en")}/${COUNT.toLocaleString("en")} uploads identical (outcome, phase, time within 1e-6 ms, bytes, events); ` +
    `largest time difference ${maxTimeDiff.toExponential(1)} ms, bytes ${maxByteDiff.toExponential(1)}; event counts differ in ${eventMismatch}`,
);
for (const m of mismatches) console.log(`  ${m}`);
if (same !== COUNT) process.exitCode = 1;
