/**
 * The wrapper's own cost per request, without a network: the inner fetch is
 * a stub that answers at once with a 64-byte streamed body, so what remains
 * is timebound's work (watchdog, timer, abort wiring, body wrapping). Measured
 * with mitata (one call at a time, many samples), and the JS heap allocated
 * per call, which is deterministic and what the garbage collector pays for.
 * Two rows rebuild timebound's main costs by hand (a timer; a re-wrapped
 * Response). Steadier than req/s on a shared machine, and the place to
 * profile (`node --cpu-prof`).
 *
 *   node_modules/.bin/node bench/fetch-overhead.ts
 *
 * @module
 */
import ky from "ky";
import { measure } from "mitata";
import { createFetch } from "../src/mod.ts";
import { ALL_LIMITS, allocations, fix, table } from "./_util.ts";

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
let heard = 0;
const withEvents = createFetch({ total: "30s", fetch: stub, events: () => void heard++ });
const kyClient = ky.create({ timeout: 10_000, retry: 0, fetch: stub });

/** The pieces of timebound's cost, rebuilt by hand: a timer armed and cleared… */
const withTimer = async (): Promise<string> => {
  const t = setTimeout(() => {}, 30_000);
  const res = await stub(URL_);
  clearTimeout(t);
  return res.text();
};
/** …and the response re-wrapped so its reads can be watched (a stream in front, a new Response). */
const rewrapped = async (): Promise<string> => {
  const res = await stub(URL_);
  const reader = res.body!.getReader();
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(c) {
        const r = await reader.read();
        if (r.done) c.close();
        else c.enqueue(r.value);
      },
    },
    { highWaterMark: 0 },
  );
  const init = { status: res.status, statusText: res.statusText, headers: res.headers };
  return new Response(body, init).text();
};

const cases: [string, () => Promise<string>][] = [
  ["stub fetch (no wrapper)", async () => (await stub(URL_)).text()],
  ["stub + setTimeout/clearTimeout", withTimer],
  ["stub + re-wrapped Response", rewrapped],
  ["timebound, total only", async () => (await withTotal(URL_)).text()],
  ["timebound, total only, events heard", async () => (await withEvents(URL_)).text()],
  ["timebound, every limit", async () => (await withAll(URL_)).text()],
  ["ky, timeout", () => kyClient(URL_).text()],
];

/** Calls for the allocation count (after as many to warm up). */
const ALLOC_CALLS = 20_000;

const results: [string, number, number][] = [];
for (const [name, fn] of cases) {
  const s = await measure(fn, { min_cpu_time: 1e9 }); // ≥ 1 s of samples each
  for (let i = 0; i < ALLOC_CALLS; i++) await fn();
  const meter = allocations();
  for (let i = 0; i < ALLOC_CALLS; i++) await fn();
  results.push([name, s.p50, meter.stop() / ALLOC_CALLS]);
}
const [, baseNs, baseBytes] = results[0]!;
console.log(`\nPer-request cost with a stub fetch (no network), Node ${process.versions.node}\n`);
console.log(
  table([
    ["client", "p50 µs", "over stub µs", "heap alloc KB", "over stub KB"],
    ...results.map(([n, ns, bytes]) => [
      n,
      fix(ns / 1000, 2),
      fix((ns - baseNs) / 1000, 2),
      fix(bytes / 1024, 2),
      fix((bytes - baseBytes) / 1024, 2),
    ]),
  ]),
);
