/**
 * Small GETs against a local server in another process: 64 concurrent,
 * 20,000 requests per client per round, clients alternating, median of the
 * rounds. Compares timebound (every limit set, and only total + headers) with bare fetch, ky (with its
 * timeout) and got; "bare fetch + signal" shows what undici charges for any
 * AbortSignal, which every wrapper with a deadline must pass.
 *
 *   node_modules/.bin/node bench/fetch-small.ts [--rounds 5] [--requests 20000]
 *
 * @module
 */
import { parseArgs } from "node:util";
import got from "got";
import ky from "ky";
import { createFetch } from "../src/mod.ts";
import { ALL_LIMITS, allocations, fix, load, median, startServer, table } from "./_util.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "5" },
    requests: { type: "string", default: "20000" },
    concurrency: { type: "string", default: "64" },
  },
});
const ROUNDS = Number(values.rounds);
const REQUESTS = Number(values.requests);
const CONCURRENCY = Number(values.concurrency);
/** A burst that takes longer than this is broken, not slow. */
const BURST_LIMIT_MS = 120_000;

type Get = (url: string) => Promise<string>;

const timebound = createFetch(ALL_LIMITS);
const timeboundLight = createFetch({ total: ALL_LIMITS.total, headers: ALL_LIMITS.headers });
const kyClient = ky.create({ timeout: 10_000, retry: 0 });
const gotClient = got.extend({ timeout: { request: 10_000 }, retry: { limit: 0 } });

const clients: [string, Get][] = [
  ["bare fetch", (u) => fetch(u).then((r) => r.text())],
  // What any abortable wrapper pays in undici for handing it a signal.
  [
    "bare fetch + signal",
    (u) => fetch(u, { signal: new AbortController().signal }).then((r) => r.text()),
  ],
  ["timebound", (u) => timebound(u).then((r) => r.text())],
  ["timebound (total + headers)", (u) => timeboundLight(u).then((r) => r.text())],
  ["ky", (u) => kyClient(u).text()],
  ["got", (u) => gotClient(u).text()],
];

interface Burst {
  rps: number;
  /** Client CPU (user + system) per request, µs: steadier than req/s on a shared machine. */
  cpuUs: number;
  /** JS heap allocated per request, KB: steadier still (and what the GC pays for). */
  allocKb: number;
}

/** `n` requests, `CONCURRENCY` at a time. */
async function burst(get: Get, url: string, n: number): Promise<Burst> {
  let next = 0;
  const alloc = allocations();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next < n) {
      next++;
      const body = await get(url);
      if (body.length !== 64) throw new Error(`unexpected body: ${body.length} chars`);
      if (performance.now() - t0 > BURST_LIMIT_MS) throw new Error("burst too slow");
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const allocKb = alloc.stop() / 1024 / n;
  return { rps: n / (wall / 1000), cpuUs: (cpu.user + cpu.system) / n, allocKb };
}

const loadAtStart = load();
const server = await startServer();
const url = `${server.base}/small`;
try {
  for (const [, get] of clients) await burst(get, url, 2_000); // warm-up: JIT, pools
  const runs = new Map<string, Burst[]>(clients.map(([name]) => [name, []]));
  const ratios = new Map<string, number[]>(clients.map(([name]) => [name, []]));
  for (let r = 0; r < ROUNDS; r++) {
    // Rotate the order each round so no client always runs first or last.
    const order = clients.map((_, i) => clients[(i + r) % clients.length]!);
    const round = new Map<string, Burst>();
    for (const [name, get] of order) round.set(name, await burst(get, url, REQUESTS));
    const bare = round.get("bare fetch")!.rps;
    for (const [name, b] of round) {
      runs.get(name)!.push(b);
      ratios.get(name)!.push(b.rps / bare);
    }
    const line = [...round].map(([n, b]) => `${n} ${fix(b.rps)}`).join(", ");
    console.error(`round ${r + 1}/${ROUNDS}: ${line}`);
  }
  const bareCpu = median(runs.get("bare fetch")!.map((b) => b.cpuUs));
  console.log(
    `\nSmall GETs: ${REQUESTS} requests × ${ROUNDS} rounds, ${CONCURRENCY} concurrent, Node ${process.versions.node}, load average ${loadAtStart} → ${load()}\n`,
  );
  console.log(
    table([
      [
        "client",
        "req/s median",
        "min",
        "max",
        "× bare (median)",
        "client CPU µs/req",
        "CPU × bare",
        "heap alloc KB/req",
      ],
      ...clients.map(([name]) => {
        const rps = runs.get(name)!.map((b) => b.rps);
        const cpu = median(runs.get(name)!.map((b) => b.cpuUs));
        return [
          name,
          fix(median(rps)),
          fix(Math.min(...rps)),
          fix(Math.max(...rps)),
          fix(median(ratios.get(name)!), 3),
          fix(cpu, 1),
          fix(cpu / bareCpu, 2),
          fix(median(runs.get(name)!.map((b) => b.allocKb)), 1),
        ];
      }),
    ]),
  );
} finally {
  await server.close();
}
