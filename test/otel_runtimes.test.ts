/**
 * timebound/otel with the real OpenTelemetry SDK on Deno, Bun and workerd
 * (issue 13, item 2; Node: test/otel.test.ts): test/otel_runtimes/checks.ts,
 * bundled once with esbuild, run by each runtime from node_modules/.bin
 * against a Node server on 127.0.0.1. Each run reports its checks; the
 * server's own record of the `traceparent` headers it received is checked
 * here too, so a run cannot pass on its own say-so.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type TestServer } from "./_server.ts";
import { workerdConfig } from "./_workerd.ts";
import type { Outcome } from "./otel_runtimes/checks.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const bin = (name: string) => join(root, "node_modules", ".bin", name);
/** A runtime that has not answered in this long is broken, not slow. */
const RUN_LIMIT_MS = 60_000;
/** The trace id of the inbound request the Hono check sends (checks.ts). */
const INBOUND_TRACE = "0af7651916cd43dd8448eb211c80319c";

const received: string[] = [];
const hits = new Map<string, number>();
let server: TestServer;
let dir: string;
beforeAll(async () => {
  server = await startServer({
    "/echo": (req, res) => {
      const tp = String(req.headers.traceparent ?? "");
      received.push(tp);
      res.end(tp);
    },
    "/flaky": (req, res) => {
      const q = new URL(req.url!, "http://x").searchParams;
      const id = q.get("id")!;
      const n = (hits.get(id) ?? 0) + 1;
      hits.set(id, n);
      if (n <= Number(q.get("k"))) res.writeHead(503, { "retry-after": "0" }).end("busy");
      else res.end("ok");
    },
    "/hang": () => {},
  });
  dir = mkdtempSync(join(tmpdir(), "timebound-otel-"));
  await build({
    entryPoints: {
      main: join(root, "test/otel_runtimes/main.ts"),
      worker: join(root, "test/otel_runtimes/worker.ts"),
    },
    outdir: dir,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    format: "esm",
    target: "es2022",
    platform: "neutral",
    mainFields: ["module", "main"],
    // The context manager imports Node's built-ins by their bare names;
    // Deno, Bun and workerd (nodejs_compat, the default since 2026-08-04) have them as node:*.
    alias: { async_hooks: "node:async_hooks", events: "node:events" },
    external: ["node:*"],
    logLevel: "warning",
  });
}, 60_000);
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs `cmd` to its end (killed past the limit) and returns its stdout. */
function run(cmd: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b));
    child.stderr.on("data", (b: Buffer) => (stderr += b));
    const timer = setTimeout(() => child.kill("SIGKILL"), RUN_LIMIT_MS);
    child.once("error", reject);
    child.once("close", () => {
      clearTimeout(timer);
      resolve({ stdout, stderr });
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

/** Serves worker.mjs with workerd, POSTs the run, stops workerd (by its PID). */
async function runWorkerd(): Promise<{ stdout: string; stderr: string }> {
  const date = /(\d{4}-\d{2}-\d{2})/.exec(
    execFileSync(bin("workerd"), ["--version"], { encoding: "utf8" }),
  )![1]!;
  const port = await freePort();
  writeFileSync(join(dir, "config.capnp"), workerdConfig(port, date));
  const child: ChildProcess = spawn(bin("workerd"), ["serve", join(dir, "config.capnp")], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stdout!.on("data", (b: Buffer) => (stderr += b));
  child.stderr!.on("data", (b: Buffer) => (stderr += b));
  const closed = new Promise<void>((r) => child.once("close", () => r()));
  const base = `http://127.0.0.1:${port}`;
  try {
    for (let i = 0; i < 100; i++) {
      if (child.exitCode !== null) break;
      const up = await fetch(`${base}/ping`).then(
        () => true,
        () => false,
      );
      if (up) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const res = await fetch(base, {
      method: "POST",
      body: JSON.stringify({ upstream: server.url, front: base }),
      signal: AbortSignal.timeout(RUN_LIMIT_MS),
    });
    return { stdout: await res.text(), stderr };
  } finally {
    child.kill("SIGKILL");
    await closed;
  }
}

const runtimes: Array<[string, () => Promise<{ stdout: string; stderr: string }>]> = [
  [
    "deno",
    () =>
      run(bin("deno"), [
        "run",
        "--no-config",
        "--no-lock",
        "--no-prompt",
        "--allow-net=127.0.0.1",
        join(dir, "main.mjs"),
        server.url,
      ]),
  ],
  ["bun", () => run(bin("bun"), ["run", join(dir, "main.mjs"), server.url])],
  ["workerd", runWorkerd],
];

describe("timebound/otel with the real SDK on other runtimes", () => {
  for (const [name, start] of runtimes) {
    it(
      `${name}: spans, error.type, resend_count, metrics, and trace context through Hono`,
      async () => {
        received.length = 0;
        const { stdout, stderr } = await start();
        let outcome: Outcome;
        try {
          outcome = JSON.parse(stdout.trim().split("\n").at(-1)!) as Outcome;
        } catch {
          throw new Error(`${name} printed no result\nstdout: ${stdout}\nstderr: ${stderr}`);
        }
        const failed = outcome.checks.filter((c) => !c.ok);
        expect(failed, `${name}: ${JSON.stringify(failed)}`).toEqual([]);
        expect(outcome.checks).toHaveLength(5);
        // Only workerd's AsyncLocalStorage lacks disable() (the checks ran regardless).
        for (const n of outcome.notes)
          expect(`${name}: ${n}`).toMatch(/^workerd: context\.disable/);
        // What the server saw: the first call's traceparent, and one in the
        // inbound request's trace, sent through the Hono middleware.
        expect(received).toHaveLength(2);
        expect(received[0]).toBe(outcome.checks[0]!.detail);
        expect(received[1]).toMatch(new RegExp(`^00-${INBOUND_TRACE}-[0-9a-f]{16}-01$`));
      },
      RUN_LIMIT_MS * 2,
    );
  }
});
