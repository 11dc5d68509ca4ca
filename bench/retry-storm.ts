/**
 * Retry storm (issue 6): a dependency fails 50 % of calls for a while; 100
 * clients each send a call every 100 ms whatever happened to the last one
 * (open loop: callers do not slow down when the dependency does). How many
 * requests reach the dependency with no retries, with naive retries (3
 * each), and with timebound's budgeted retries — and how many calls succeed.
 *
 *   node bench/retry-storm.ts [--seconds 30] [--clients 100]
 *
 * Loopback only; every loop ends after --seconds.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { createFetch, type RetryOptions } from "../src/mod.ts";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "30" },
    clients: { type: "string", default: "100" },
  },
});
const SECONDS = Number(values.seconds);
const CLIENTS = Number(values.clients);
/** Each dependency call takes this long, so calls overlap as they would over a network. */
const SERVICE_MS = 20;
/** Each client sends one call per interval. */
const INTERVAL_MS = 100;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let reached = 0;
const server = createServer((_req, res) => {
  reached++;
  const fail = Math.random() < 0.5;
  setTimeout(() => res.writeHead(fail ? 503 : 200).end(fail ? "busy" : "ok"), SERVICE_MS);
});
await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;

const variants: Array<[string, RetryOptions | false]> = [
  ["no retries", false],
  ["naive: 3 retries, no budget", { limit: 3, budget: false, backoff: { base: 10, cap: 100 } }],
  ["timebound: 3 retries, budget 20 %", { limit: 3, backoff: { base: 10, cap: 100 } }],
];

interface Row {
  variant: string;
  calls: number;
  ok: number;
  reached: number;
}
const rows: Row[] = [];
for (const [variant, retry] of variants) {
  const f = createFetch({ total: "2s", retry });
  reached = 0;
  let calls = 0;
  let ok = 0;
  const one = async () => {
    calls++;
    try {
      const res = await f(url);
      await res.arrayBuffer();
      if (res.ok) ok++;
    } catch {
      // counted as not ok
    }
  };
  const inflight: Promise<void>[] = [];
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, i) => {
      await sleep((i * INTERVAL_MS) / CLIENTS); // spread the clients over one interval
      for (let t = 0; t < (SECONDS * 1000) / INTERVAL_MS; t++) {
        inflight.push(one());
        await sleep(INTERVAL_MS);
      }
    }),
  );
  await Promise.all(inflight);
  rows.push({ variant, calls, ok, reached });
}
server.close();

const pad = (s: string | number, n: number) => String(s).padStart(n);
console.log(
  `\n${CLIENTS} clients × 1 call per ${INTERVAL_MS} ms, dependency failing 50 % for ${SECONDS} s (Node ${process.versions.node})\n`,
);
console.log(
  `| variant | client calls | succeeded | requests reaching the dependency | load per call |`,
);
console.log(`|---|---:|---:|---:|---:|`);
for (const r of rows) {
  console.log(
    `| ${r.variant} | ${pad(r.calls, 7)} | ${pad(((100 * r.ok) / r.calls).toFixed(1), 5)} % | ${pad(r.reached, 7)} | ${(r.reached / r.calls).toFixed(2)}× |`,
  );
}
