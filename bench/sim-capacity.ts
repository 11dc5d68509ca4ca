/**
 * Capacity-model speed: simulated requests per second of wall time for
 * `capacity()`, where every request that calls the dependency goes through
 * the real `createFetch` (watchdog, retries, breaker) on virtual time.
 *
 * Two loads, each with the four client configurations of `timebound
 * capacity` (no timeouts; total 2 s + headers 1 s; + 2 retries; + breaker):
 * - the seed's site: 40 requests/s into 20 workers for 180 s, half calling a
 *   dependency that takes 5 s from 60 s to 120 s (~7,200 requests);
 * - ten times that: 400/s into 200 workers (~72,000 requests).
 * One warm-up run per configuration, then the best of three.
 *
 * Run: node bench/sim-capacity.ts
 *
 * @module
 */
import { loadavg } from "node:os";
import { type CapacityClient, type CapacityOptions, capacity } from "../sim/mod.ts";

const ROUNDS = 3;
const clients: [string, CapacityClient][] = [
  ["no timeouts", { total: false }],
  ["total 2 s, headers 1 s", { total: "2s", headers: "1s" }],
  ["+ 2 retries", { total: "2s", headers: "1s", retry: { limit: 2 } }],
  [
    "+ breaker",
    { total: "2s", headers: "1s", retry: { limit: 2 }, breaker: { minCalls: 20, cooldown: "5s" } },
  ],
];
const loads: [string, CapacityOptions][] = [
  ["40/s, 20 workers", { arrivalsPerSecond: 40, concurrency: 20, queueLimit: 100, callShare: 0.5 }],
  [
    "400/s, 200 workers",
    { arrivalsPerSecond: 400, concurrency: 200, queueLimit: 1000, callShare: 0.5 },
  ],
];

console.log(
  `capacity: 180 s of virtual time per run; Node ${process.version}; load average ${loadavg()
    .map((x) => x.toFixed(2))
    .join(" ")}`,
);
console.log(
  "| load | client | requests | dependency calls | best wall time | requests/s | virtual s per wall s |",
);
console.log("|---|---|---|---|---|---|---|");
for (const [loadName, load] of loads) {
  for (const [clientName, client] of clients) {
    const options = { ...load, client, seed: 1 };
    let r = await capacity(options); // warm-up
    let best = Infinity;
    for (let i = 0; i < ROUNDS; i++) {
      const t0 = performance.now();
      r = await capacity(options);
      best = Math.min(best, performance.now() - t0);
    }
    const rate = Math.round((r.totals.arrivals / best) * 1000).toLocaleString("en-US");
    const speed = (r.totals.endMs / best).toFixed(0);
    console.log(
      `| ${loadName} | ${clientName} | ${r.totals.arrivals.toLocaleString("en-US")} | ${r.totals.dependencyCalls.toLocaleString("en-US")} | ${best.toFixed(0)} ms | ${rate} | ${speed} |`,
    );
  }
}
console.log(
  `load average after: ${loadavg()
    .map((x) => x.toFixed(2))
    .join(" ")}`,
);
