/**
 * Heap cost of timebound per request, against bare fetch.
 *
 * - held: 10,000 requests the server holds (no headers yet);
 *   (heapUsed after − heapUsed before) / 10,000, after `gc()`. Also bare
 *   fetch with an AbortSignal (what undici keeps for any signal, which every
 *   wrapper with a deadline passes) and ky with its timeout, for reference.
 * - completed: 100,000 small GETs (64 concurrent) read to the end; heapUsed
 *   after `gc()` compared with the baseline taken after a 10,000-request
 *   warm-up, and between the two halves (growth per request, if any).
 *
 * Each measurement runs in a fresh Node 24 child (`--expose-gc`), one at a
 * time, against the server in a third process.
 *
 *   node_modules/.bin/node bench/heap-inflight.ts [--held 10000] [--completed 100000]
 *
 * @module
 */
import { parseArgs } from "node:util";
import ky from "ky";
import { createFetch } from "../src/mod.ts";
import {
  ALL_LIMITS,
  fix,
  here,
  lastJson,
  node24,
  run,
  sleep,
  startServer,
  table,
} from "./_util.ts";

const { values } = parseArgs({
  options: {
    held: { type: "string", default: "10000" },
    completed: { type: "string", default: "100000" },
    child: { type: "string" },
    client: { type: "string" },
    base: { type: "string" },
  },
});
/** No child measurement may take longer than this. */
const CHILD_LIMIT_MS = 180_000;
const CONCURRENCY = 64;

interface HeldResult {
  before: number;
  after: number;
  perRequest: number;
  released: number;
}
interface CompletedResult {
  baseline: number;
  half: number;
  after: number;
}

// --- child side: one measurement, printed as JSON ---------------------------

declare const gc: () => void;
/** heapUsed after full collections, with turns of the loop between (finalizers, weak refs). */
async function heap(): Promise<number> {
  for (let i = 0; i < 4; i++) {
    gc();
    await sleep(10);
  }
  gc();
  return process.memoryUsage().heapUsed;
}

async function held(f: typeof fetch, base: string, n: number): Promise<HeldResult> {
  await many(f, `${base}/small`, 500);
  const before = await heap();
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) pending.push(f(`${base}/hold`).then((r) => r.text()));
  // Wait until the server holds them all: every request is then really in flight.
  const until = performance.now() + 60_000;
  while (Number(await (await f(`${base}/held`)).text()) < n) {
    if (performance.now() > until) throw new Error("server never held every request");
    await sleep(100);
  }
  const after = await heap();
  await f(`${base}/release`).then((r) => r.text());
  const bodies = await Promise.all(pending);
  return { before, after, perRequest: (after - before) / n, released: bodies.length };
}

async function many(f: typeof fetch, url: string, n: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      next++;
      await (await f(url)).text();
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

async function completed(f: typeof fetch, base: string, n: number): Promise<CompletedResult> {
  const url = `${base}/small`;
  await many(f, url, 10_000); // warm-up: JIT, connection pool, lazily built internals
  const baseline = await heap();
  await many(f, url, n / 2);
  const half = await heap();
  await many(f, url, n / 2);
  return { baseline, half, after: await heap() };
}

/** The clients measured; "bare fetch + signal" shows what passing any AbortSignal costs in undici. */
const clients: Record<string, () => typeof fetch> = {
  "bare fetch": () => fetch,
  "bare fetch + signal": () => (url, init) =>
    fetch(url, { ...init, signal: new AbortController().signal }),
  timebound: () => createFetch(ALL_LIMITS) as typeof fetch,
  "ky (timeout)": () => {
    const client = ky.create({ timeout: 60_000, retry: 0, throwHttpErrors: false });
    return ((url: string) => client(url)) as typeof fetch;
  },
};

if (values.child) {
  const f = clients[values.client!]!();
  const base = values.base!;
  const out =
    values.child === "held"
      ? await held(f, base, Number(values.held))
      : await completed(f, base, Number(values.completed));
  console.log(JSON.stringify(out));
  process.exit(0);
}

// --- parent side: run the children, print the tables -------------------------

const server = await startServer();
const child = (what: string, client: string): Promise<string> =>
  run(
    node24,
    [
      "--expose-gc",
      here("heap-inflight.ts"),
      `--child=${what}`,
      `--client=${client}`,
      `--base=${server.base}`,
      `--held=${values.held}`,
      `--completed=${values.completed}`,
    ],
    CHILD_LIMIT_MS,
  );
const kb = (bytes: number): string => fix(bytes / 1024, 2);
try {
  const h = new Map<string, HeldResult>();
  for (const c of Object.keys(clients)) h.set(c, lastJson<HeldResult>(await child("held", c)));
  const bare = h.get("bare fetch")!.perRequest;
  console.log(`\nHeap per in-flight request: ${values.held} held, Node ${process.versions.node}\n`);
  console.log(
    table([
      ["client", "heap before MiB", "heap held MiB", "KB per request", "KB over bare"],
      ...[...h].map(([c, r]) => [
        c,
        fix(r.before / 2 ** 20, 1),
        fix(r.after / 2 ** 20, 1),
        kb(r.perRequest),
        kb(r.perRequest - bare),
      ]),
    ]),
  );
  const rows: (string | number)[][] = [
    [
      "client",
      "baseline MiB",
      `after ${Number(values.completed) / 2} MiB`,
      `after ${values.completed} MiB`,
      "Δ vs baseline KB",
      "Δ second half KB",
      "Δ second half B/req",
    ],
  ];
  for (const c of ["bare fetch", "timebound"]) {
    const r = lastJson<CompletedResult>(await child("completed", c));
    rows.push([
      c,
      fix(r.baseline / 2 ** 20, 2),
      fix(r.half / 2 ** 20, 2),
      fix(r.after / 2 ** 20, 2),
      kb(r.after - r.baseline),
      kb(r.after - r.half),
      fix((r.after - r.half) / (Number(values.completed) / 2), 1),
    ]);
  }
  console.log(`\nHeap after ${values.completed} completed requests (64 concurrent)\n`);
  console.log(table(rows));
} finally {
  await server.close();
}
