/**
 * Abandoned responses (issue 9, item 10): 5,000 GETs of 512 KiB whose
 * bodies the caller never reads, 50 at a time, through bare fetch and
 * through `createFetch` (every limit set, `total` 30 s: far longer than the
 * run, so only the collector can release what the caller dropped). Each
 * client runs in its own process; peak RSS is sampled every 20 ms. Target:
 * the wrapper's peak within 1.2× of bare fetch's.
 *
 *   node_modules/.bin/node bench/abandoned.ts [--requests 5000] [--rounds 3] [--clone]
 *
 * `--clone`: half the responses are cloned before both are dropped (bare
 * undici frees such a pair when it is collected; the wrapper must too).
 *
 * @module
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createFetch } from "../src/mod.ts";
import { ALL_LIMITS, median, startServer, table } from "./_util.ts";

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "5000" },
    rounds: { type: "string", default: "3" },
    child: { type: "string" },
    url: { type: "string" },
    clone: { type: "boolean", default: false },
  },
});
const REQUESTS = Number(values.requests);
const CONCURRENCY = 50;
const BYTES = 512 * 1024;

if (values.child) {
  // One client: drop every response unread, report the peak RSS.
  const f = values.child === "bare" ? fetch : createFetch(ALL_LIMITS);
  let peak = process.memoryUsage.rss();
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 20);
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < REQUESTS) {
        const res = await f(`${values.url}/bytes?n=${BYTES}`);
        if (res.status !== 200) throw new Error(`status ${res.status}`);
        // --clone: half the responses are cloned before being dropped (both dropped).
        if (values.clone && next % 2 === 0) res.clone();
      }
    }),
  );
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage.rss());
  console.log(JSON.stringify({ peakMb: peak / 2 ** 20, ms: performance.now() - t0 }));
  process.exit(0); // what the wrapper still holds until `total` is not this bench's question
}

function runChild(kind: string, url: string): Promise<{ peakMb: number; ms: number }> {
  const self = fileURLToPath(import.meta.url);
  const args = [self, "--child", kind, "--url", url, "--requests", String(REQUESTS)];
  if (values.clone) args.push("--clone");
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (b: Buffer) => {
      out += b.toString("utf8");
    });
    const t = setTimeout(() => child.kill("SIGKILL"), 300_000);
    child.on("close", (code) => {
      clearTimeout(t);
      if (code !== 0) reject(new Error(`${kind} client exited ${code}`));
      else resolve(JSON.parse(out.trim().split("\n").pop()!));
    });
  });
}

const server = await startServer();
try {
  const rows: Record<string, number[]> = { bare: [], timebound: [] };
  const times: Record<string, number[]> = { bare: [], timebound: [] };
  for (let r = 0; r < Number(values.rounds); r++) {
    for (const kind of ["bare", "timebound"]) {
      const { peakMb, ms } = await runChild(kind, server.base);
      rows[kind]!.push(peakMb);
      times[kind]!.push(ms);
    }
  }
  const bare = median(rows.bare!);
  console.log(
    table([
      ["client", "peak RSS (MB, median)", "runs", "× bare", "time (ms)"],
      ...Object.keys(rows).map((k) => [
        k,
        median(rows[k]!).toFixed(0),
        rows[k]!.map((x) => x.toFixed(0)).join(" "),
        (median(rows[k]!) / bare).toFixed(2),
        median(times[k]!).toFixed(0),
      ]),
    ]),
  );
} finally {
  await server.close();
}
