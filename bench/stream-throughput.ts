/**
 * Bulk transfer through the watchdog: a 256 MiB download read chunk by chunk,
 * a 256 MiB streamed upload (a ReadableStream body of 64 KiB chunks) and a
 * 256 MiB buffered upload (a Uint8Array, which timebound streams in 64 KiB
 * chunks), timebound (every limit set) against bare fetch, rounds
 * alternating, median. The server runs in another process.
 *
 *   node_modules/.bin/node bench/stream-throughput.ts [--rounds 9] [--mib 256]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { createFetch } from "../src/mod.ts";
import { ALL_LIMITS, fix, load, median, startServer, table } from "./_util.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "9" },
    mib: { type: "string", default: "256" },
  },
});
const ROUNDS = Number(values.rounds);
const BYTES = Number(values.mib) * 1024 * 1024;
const SOURCE_CHUNK = 64 * 1024;

const timebound = createFetch(ALL_LIMITS);
const fetchers: [string, typeof fetch][] = [
  ["bare fetch", fetch],
  ["timebound", timebound as typeof fetch],
];

/** A stream of `bytes` bytes in 64 KiB chunks (one buffer, handed out again and again). */
function source(bytes: number): ReadableStream<Uint8Array> {
  const chunk = new Uint8Array(SOURCE_CHUNK).fill(0x62);
  let left = bytes;
  return new ReadableStream({
    pull(c) {
      if (left <= 0) return c.close();
      const n = Math.min(left, chunk.byteLength);
      left -= n;
      c.enqueue(n === chunk.byteLength ? chunk : chunk.subarray(0, n));
    },
  });
}
const buffered = new Uint8Array(BYTES).fill(0x63);

type Transfer = (f: typeof fetch, base: string) => Promise<number>;

const transfers: [string, Transfer][] = [
  [
    "download",
    async (f, base) => {
      const res = await f(`${base}/bytes?n=${BYTES}`);
      const reader = res.body!.getReader();
      let n = 0;
      for (;;) {
        const r = await reader.read();
        if (r.done) return n;
        n += r.value.byteLength;
      }
    },
  ],
  [
    "upload (stream)",
    async (f, base) => {
      const init = { method: "POST", body: source(BYTES), duplex: "half" } as RequestInit;
      return Number(await (await f(`${base}/sink`, init)).text());
    },
  ],
  [
    "upload (Uint8Array)",
    async (f, base) =>
      Number(await (await f(`${base}/sink`, { method: "POST", body: buffered })).text()),
  ],
];

interface Result {
  mibps: number;
  /** Client CPU (user + system) per MiB, ms. */
  cpuMs: number;
}

async function once(t: Transfer, f: typeof fetch, base: string): Promise<Result> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const n = await t(f, base);
  const s = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  if (n !== BYTES) throw new Error(`moved ${n} bytes, expected ${BYTES}`);
  const mib = BYTES / 1024 / 1024;
  return { mibps: mib / s, cpuMs: (cpu.user + cpu.system) / 1000 / mib };
}

const loadAtStart = load();
const server = await startServer();
try {
  const rows: (string | number)[][] = [
    ["transfer", "client", "MiB/s median", "min", "max", "× bare (median)", "CPU ms/MiB"],
  ];
  for (const [what, t] of transfers) {
    await once(t, fetch, server.base); // warm-up
    await once(t, timebound as typeof fetch, server.base);
    const res = new Map<string, Result[]>(fetchers.map(([n]) => [n, []]));
    const ratios: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? fetchers : [...fetchers].reverse();
      const round = new Map<string, Result>();
      for (const [name, f] of order) round.set(name, await once(t, f, server.base));
      for (const [name, x] of round) res.get(name)!.push(x);
      ratios.push(round.get("timebound")!.mibps / round.get("bare fetch")!.mibps);
      console.error(
        `${what} round ${r + 1}/${ROUNDS}: ${[...round].map(([n, x]) => `${n} ${fix(x.mibps)}`).join(", ")}`,
      );
    }
    for (const [name] of fetchers) {
      const xs = res.get(name)!.map((x) => x.mibps);
      rows.push([
        what,
        name,
        fix(median(xs)),
        fix(Math.min(...xs)),
        fix(Math.max(...xs)),
        name === "timebound" ? fix(median(ratios), 3) : "1.000",
        fix(median(res.get(name)!.map((x) => x.cpuMs)), 2),
      ]);
    }
  }
  console.log(
    `\nBulk transfer: ${BYTES / 1024 / 1024} MiB × ${ROUNDS} rounds, Node ${process.versions.node}, load average ${loadAtStart} → ${load()}\n`,
  );
  console.log(table(rows));
} finally {
  await server.close();
}
