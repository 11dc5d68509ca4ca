// examples/worker/ as a user deploys it, checked in workerd (a part of
// scripts/pack-check.mjs, which calls `checkWorker` with the fresh project
// that has the packed tarball and hono installed):
//
// - The example's src/, tsconfig.json and wrangler.toml are copied into the
//   fresh project, so `timebound/hono` and `hono` resolve to the installed
//   package, as in a user's Worker project.
// - tsc with the example's own tsconfig.json (lib ES2022 + WebWorker).
// - Bundled as wrangler bundles (esbuild: ESM, conditions workerd/worker/
//   browser); the bundle must carry no `node:` import (no nodejs_compat).
// - Served by the installed workerd with wrangler.toml's compatibility date,
//   flags and [vars], UPSTREAM pointing at a local upstream; the `internet`
//   service is redefined so the worker may reach 127.0.0.1.
// - Requests through it: a fast upstream answer comes back with
//   Server-Timing; a black-hole upstream becomes a 504 problem+json naming
//   the `headers` phase within the example's 1 s limit (plus slack).
//
// Plain JavaScript so the system Node 20 runs it. Wrangler itself is not
// installed here: its dev server is workerd, and its bundler is esbuild with
// the options below.
import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { createServer as createNetServer } from "node:net";
import { join } from "node:path";

/**
 * The few wrangler.toml keys the example uses: top-level strings and string
 * arrays, and string values under [vars]. Anything else is an error, so the
 * check never silently ignores a setting the example grows.
 */
export function parseWranglerToml(text) {
  const out = { vars: {} };
  let table = "";
  for (const [i, raw] of text.split("\n").entries()) {
    const line = raw.replace(/\s+#.*$/, "").trim();
    if (!line || line.startsWith("#")) continue;
    const header = /^\[([\w.-]+)\]$/.exec(line);
    if (header) {
      table = header[1];
      if (table !== "vars")
        throw new Error(`wrangler.toml:${i + 1}: table [${table}] not supported by this check`);
      continue;
    }
    const kv = /^([\w-]+)\s*=\s*(.+)$/.exec(line);
    if (!kv) throw new Error(`wrangler.toml:${i + 1}: cannot read ${JSON.stringify(raw)}`);
    const value = JSON.parse(kv[2]); // TOML basic strings and arrays of them are JSON here
    if (table === "vars") out.vars[kv[1]] = value;
    else out[kv[1]] = value;
  }
  for (const key of ["main", "compatibility_date"]) {
    if (typeof out[key] !== "string") throw new Error(`wrangler.toml: no ${key}`);
  }
  return out;
}

/** A workerd config serving `worker.mjs` on 127.0.0.1:`port`, as `wrangler dev` would. */
function workerdConfig(port, wrangler, vars) {
  const flags = (wrangler.compatibility_flags ?? []).map((f) => JSON.stringify(f)).join(", ");
  const bindings = Object.entries(vars)
    .map(
      ([name, text]) => `(name = ${JSON.stringify(name)}, text = ${JSON.stringify(String(text))})`,
    )
    .join(", ");
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "internet", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
);
const worker :Workerd.Worker = (
  modules = [(name = "worker.mjs", esModule = embed "worker.mjs")],
  compatibilityDate = ${JSON.stringify(wrangler.compatibility_date)},
  compatibilityFlags = [${flags}],
  bindings = [${bindings}],
);
`;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** The local upstream: /hello answers at once; /blackhole never answers. */
async function startUpstream() {
  const sockets = new Set();
  const server = createServer((req, res) => {
    if (req.url === "/hello") {
      res.setHeader("content-type", "text/plain");
      res.end("hello from upstream");
    }
    // /blackhole: accept, never answer (the socket closes when the caller aborts).
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/**
 * Runs the checks; `record(label, ms, problem, details?)` reports each one.
 * `exec(cmd, args, options)` is pack-check's bounded command runner.
 */
export async function checkWorker({ root, app, workerd, node, tsc, exec, record }) {
  const example = join(root, "examples", "worker");
  const dir = join(app, "worker");
  mkdirSync(dir, { recursive: true });
  cpSync(join(example, "src"), join(dir, "src"), { recursive: true });
  for (const f of ["tsconfig.json", "wrangler.toml"]) cpSync(join(example, f), join(dir, f));
  const wrangler = parseWranglerToml(readFileSync(join(dir, "wrangler.toml"), "utf8"));

  // Types, with the example's own tsconfig.json against the installed package.
  let t0 = performance.now();
  const types = await exec(node, [tsc, "-p", join(dir, "tsconfig.json")], { cwd: dir });
  record(
    "examples/worker: tsc with its tsconfig.json (installed timebound + hono)",
    performance.now() - t0,
    types.code === 0 ? undefined : `exit ${types.code}`,
    types.stdout + types.stderr,
  );

  // Bundle as wrangler does (esbuild, ESM, the workerd conditions).
  t0 = performance.now();
  const { build } = await import("esbuild");
  const outfile = join(dir, "worker.mjs");
  let bundleProblem;
  try {
    await build({
      entryPoints: [join(dir, wrangler.main)],
      absWorkingDir: dir,
      bundle: true,
      format: "esm",
      target: "es2022",
      platform: "neutral",
      conditions: ["workerd", "worker", "browser"],
      mainFields: ["browser", "module", "main"],
      outfile,
      logLevel: "silent",
    });
    const code = readFileSync(outfile, "utf8");
    const nodeImports = [...code.matchAll(/["'](node:[\w/]+)["']/g)].map((m) => m[1]);
    if (nodeImports.length)
      bundleProblem = `bundle imports ${[...new Set(nodeImports)].join(", ")}`;
    else if (!code.includes("timebound")) bundleProblem = "bundle does not contain timebound";
  } catch (error) {
    bundleProblem = `esbuild: ${error.message}`;
  }
  const size = existsSync(outfile) ? readFileSync(outfile).length : 0;
  record(
    `examples/worker: bundle (esbuild as wrangler: ${(size / 1024).toFixed(0)} KiB, no node: imports)`,
    performance.now() - t0,
    bundleProblem,
  );
  if (bundleProblem) return;

  // Serve it with workerd, UPSTREAM pointing at a local upstream.
  const upstream = await startUpstream();
  const port = await freePort();
  writeFileSync(
    join(dir, "config.capnp"),
    workerdConfig(port, wrangler, { ...wrangler.vars, UPSTREAM: upstream.url }),
  );
  const child = spawn(workerd, ["serve", join(dir, "config.capnp")], {
    cwd: dir,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  child.stdout.on("data", (d) => {
    log += d;
  });
  child.stderr.on("data", (d) => {
    log += d;
  });
  const exited = new Promise((r) => child.once("close", r));
  const base = `http://127.0.0.1:${port}`;
  try {
    t0 = performance.now();
    let up = false;
    for (let i = 0; i < 150 && !up && child.exitCode === null; i++) {
      up = await fetch(`${base}/`).then(
        (r) => r.ok,
        () => false,
      );
      if (!up) await new Promise((r) => setTimeout(r, 100));
    }
    record(
      `examples/worker: workerd serves it (compatibility date ${wrangler.compatibility_date})`,
      performance.now() - t0,
      up ? undefined : child.exitCode !== null ? "workerd exited" : "no answer within 15 s",
      up ? "" : log,
    );
    if (!up) return;

    // A fast upstream: 200, the upstream's body, Server-Timing.
    t0 = performance.now();
    let problem;
    let shown = "";
    try {
      const res = await fetch(`${base}/api/hello`, { signal: AbortSignal.timeout(10_000) });
      const body = await res.text();
      shown = `${res.status} ${res.headers.get("server-timing") ?? "(no server-timing)"}\n${body}`;
      const json = res.status === 200 ? JSON.parse(body) : undefined;
      if (res.status !== 200) problem = `status ${res.status}`;
      else if (json.status !== 200 || json.body !== "hello from upstream")
        problem = "the upstream's answer did not come through";
      else if (!(json.msLeft > 0 && json.msLeft <= 2000)) problem = `msLeft ${json.msLeft}`;
      else if (!/\bdeadline;dur=2000\b/.test(res.headers.get("server-timing") ?? ""))
        problem = "no Server-Timing with the 2 s deadline";
    } catch (error) {
      problem = String(error);
    }
    record(
      "examples/worker: GET /api/hello through workerd to the local upstream → 200",
      performance.now() - t0,
      problem,
      problem ? `${shown}\n${log}` : shown,
    );

    // A black-hole upstream: the `headers` limit (1 s) → 504 problem+json.
    t0 = performance.now();
    problem = undefined;
    shown = "";
    try {
      const res = await fetch(`${base}/api/blackhole`, { signal: AbortSignal.timeout(10_000) });
      const body = await res.text();
      const ms = performance.now() - t0;
      shown = `${res.status} ${res.headers.get("content-type")} after ${ms.toFixed(0)} ms\n${body}`;
      if (res.status !== 504) problem = `status ${res.status}`;
      else if (res.headers.get("content-type") !== "application/problem+json")
        problem = `content-type ${res.headers.get("content-type")}`;
      else if (JSON.parse(body).phase !== "headers") problem = "phase is not headers";
      else if (ms < 950 || ms > 3_000) problem = `answered after ${ms.toFixed(0)} ms, not ≈ 1 s`;
    } catch (error) {
      problem = String(error);
    }
    record(
      "examples/worker: GET /api/blackhole → 504 problem+json, phase headers, ≈ 1 s",
      performance.now() - t0,
      problem,
      problem ? `${shown}\n${log}` : shown,
    );
  } finally {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      // already gone
    }
    await exited;
    await upstream.close();
  }
}
