// `npm test`: every step runs, even after one fails; each reports one
// PASS/FAIL line with its duration; the run exits non-zero at the end if any
// step failed. The last line is `steps: N passed, N failed`.
//
//   npm test                       all steps
//   node scripts/test.mjs lint pack   only the named steps (same names as below)
//
// Plain JavaScript so the system Node 20 runs it. As npm does for scripts,
// node_modules/.bin goes first on PATH, so `node` in a step is the Node 24
// of the devDependencies (it runs .ts); the pack check finds the system Node
// itself.
import { spawn } from "node:child_process";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const binDir = join(root, "node_modules", ".bin");
const KERNEL_TEST = "test/sim_kernel.test.ts";
const PROXY_TEST = "test/sim_proxy.test.ts";

/** Each step: a command, a bound on its run time, and how many runs it gets. */
const STEPS = [
  { name: "typecheck", cmd: ["tsc", "-p", "tsconfig.json"], timeoutMs: 5 * 60_000 },
  { name: "lint", cmd: ["biome", "check", "."], timeoutMs: 2 * 60_000 },
  {
    name: "unit",
    cmd: ["vitest", "run", "--exclude", KERNEL_TEST, "--exclude", PROXY_TEST],
    timeoutMs: 8 * 60_000,
  },
  {
    // Real uploads through tc-shaped namespaces (and a real proxy), compared
    // with the simulator: timing-sensitive on a loaded machine, so one retry
    // if it fails, and one file at a time (each shapes its own lab). It
    // prints what it measured on every run (skipped without root).
    name: "kernel",
    cmd: ["vitest", "run", "--no-file-parallelism", KERNEL_TEST, PROXY_TEST],
    // ~100 s measured (drop, stall, loss and proxy subsets): room for a loaded machine.
    timeoutMs: 5 * 60_000,
    runs: 2,
  },
  {
    name: "conformance",
    cmd: ["node", "test/conformance/run.ts"],
    timeoutMs: 8 * 60_000,
  },
  { name: "pack", cmd: ["node", "scripts/pack-check.mjs"], timeoutMs: 8 * 60_000 },
];

const env = { ...process.env };
const pathKey = Object.keys(env).find((k) => k.toUpperCase() === "PATH") ?? "PATH";
if (!(env[pathKey] ?? "").startsWith(binDir + delimiter)) {
  env[pathKey] = `${binDir}${delimiter}${env[pathKey] ?? ""}`;
}

let current;
let interrupted;
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    // The step runs in its own process group: pass the signal on, give it
    // 5 s to clean up (servers, network namespaces), then kill what is left.
    interrupted = signal;
    const pid = current?.pid;
    if (!pid) process.exit(130);
    killGroup(pid, signal);
    setTimeout(() => {
      killGroup(pid);
      process.exit(130);
    }, 5_000).unref();
  });
}

function killGroup(pid, signal = "SIGKILL") {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/** Runs one command in its own process group; resolves with its exit code (or a reason). */
function run(cmd, timeoutMs) {
  return new Promise((resolve) => {
    const child = spawn(cmd[0], cmd.slice(1), {
      cwd: root,
      env,
      stdio: "inherit",
      detached: true,
    });
    current = child;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      current = undefined;
      resolve({ ok: false, why: error.message });
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      current = undefined;
      // Whatever the step left in its group (a server, a runtime) goes with it.
      killGroup(child.pid);
      if (timedOut) resolve({ ok: false, why: `timed out after ${timeoutMs / 1000} s` });
      else if (code === 0) resolve({ ok: true });
      else resolve({ ok: false, why: signal ? `killed by ${signal}` : `exit ${code}` });
    });
  });
}

const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;

const only = process.argv.slice(2);
const unknown = only.filter((n) => !STEPS.some((s) => s.name === n));
if (unknown.length > 0) {
  console.error(
    `test: unknown step ${unknown.join(", ")}; steps: ${STEPS.map((s) => s.name).join(", ")}`,
  );
  process.exit(2);
}
const steps = only.length > 0 ? STEPS.filter((s) => only.includes(s.name)) : STEPS;

const results = [];
const started = performance.now();
for (const step of steps) {
  const runs = step.runs ?? 1;
  const t0 = performance.now();
  let outcome;
  let attempt = 0;
  while (attempt < runs) {
    attempt++;
    console.log(
      `\n=== ${step.name}: ${step.cmd.join(" ")}${runs > 1 ? ` (run ${attempt} of at most ${runs})` : ""}`,
    );
    outcome = await run(step.cmd, step.timeoutMs);
    if (outcome.ok || interrupted) break;
    if (attempt < runs) console.log(`=== ${step.name}: failed (${outcome.why}); running it again`);
  }
  const ms = performance.now() - t0;
  const note = [outcome.ok ? "" : outcome.why, attempt > 1 ? `run ${attempt} of ${runs}` : ""]
    .filter(Boolean)
    .join("; ");
  const line = `${outcome.ok ? "PASS" : "FAIL"} ${step.name} (${seconds(ms)}${note ? `; ${note}` : ""})`;
  console.log(`=== ${line}`);
  results.push(line);
  if (interrupted) break;
}

const failed = results.filter((l) => l.startsWith("FAIL")).length;
console.log(`\n${results.join("\n")}`);
if (interrupted) {
  const skipped = steps.slice(results.length).map((s) => s.name);
  console.log(
    `interrupted by ${interrupted}${skipped.length ? `; not run: ${skipped.join(", ")}` : ""}`,
  );
}
console.log(`total ${seconds(performance.now() - started)}`);
console.log(`steps: ${results.length - failed} passed, ${failed} failed`);
process.exitCode = interrupted ? 130 : failed > 0 ? 1 : 0;
