/**
 * The wrapper's own cost per request, without a network: the inner fetch is
 * a stub that answers at once with a 64-byte streamed body, so what remains
 * is timebound's work (watchdog, timer, abort wiring, body wrapping). Measured
 * with mitata (one call at a time, many samples); steadier than req/s on a
 * shared machine, and the place to profile (`node --cpu-prof`).
 *
 *   node_modules/.bin/node bench/fetch-overhead.ts
 *
 * @module
 */
import ky from "ky";
import { measure } from "mitata";
import { createFetch } from "../src/mod.ts";
import { ALL_LIMITS, fix, table } from "./_util.ts";

const BODY = new TextEncoder().encode(`${"x".repeat(63)}\n`);
const URL_ = "http://127.0.0.1:9/small";

/** A fetch that answers at once, its body a stream as a network response's is. */
const stub = (async () =>
  new Response(
    new ReadableStream({
      start(c) {
        c.enqueue(BODY);
        c.close();
      },
    }),
    { headers: { "content-type": "text/plain" } },
  )) as unknown as typeof fetch;

const withAll = createFetch({ ...ALL_LIMITS, fetch: stub });
const withTotal = createFetch({ total: "30s", fetch: stub });
const kyClient = ky.create({ timeout: 10_000, retry: 0, fetch: stub });

const cases: [string, () => Promise<string>][] = [
  ["stub fetch (no wrapper)", async () => (await stub(URL_)).text()],
  ["timebound, total only", async () => (await withTotal(URL_)).text()],
  ["timebound, every limit", async () => (await withAll(URL_)).text()],
  ["ky, timeout", () => kyClient(URL_).text()],
];

const results: [string, number, number][] = [];
for (const [name, fn] of cases) {
  const s = await measure(fn, { min_cpu_time: 1e9 }); // ≥ 1 s of samples each
  results.push([name, s.p50, s.avg]);
}
const base = results[0]![1];
console.log(`\nPer-request cost with a stub fetch (no network), Node ${process.versions.node}\n`);
console.log(
  table([
    ["client", "p50 µs", "avg µs", "over stub µs (p50)"],
    ...results.map(([n, p50, avg]) => [
      n,
      fix(p50 / 1000, 2),
      fix(avg / 1000, 2),
      fix((p50 - base) / 1000, 2),
    ]),
  ]),
);
