/**
 * Events per second of the simulator's event queue (`sim/engine.ts`) in steady
 * state: with N events pending, each step pops the earliest and pushes one
 * new event, so the queue stays at N. Each case goes through the public API
 * only (`setTimer`, `clearTimer`, `step`, `run`), handle and argument checks
 * included: what a model pays per event. At 1 k pending the queue is a
 * ladder with a few events per bucket (above 256 it always is); at 100 k its
 * rung spreads over megabytes and the cost is mostly cache misses.
 *
 * - `push+pop`: an outside loop calls `setTimer` then `step` (what a model
 *   driving the clock by hand pays).
 * - `run loop`: each event re-arms itself from inside `run()` (what a
 *   self-scheduling model pays).
 * - `re-arm`: like `push+pop`, but every step also clears a far guard timer
 *   and sets a new one (the watchdog's pattern): twice the scheduling per
 *   event, and cancelled entries pile up, up to as many as live ones, until
 *   the queue compacts.
 *
 * Run: taskset -c 0 node bench/sim-engine.ts (one core: the best of five
 * rounds is what the code can do, the median what the machine gave; the
 * load average is printed with them).
 *
 * @module
 */

import { loadavg } from "node:os";
import { VirtualClock } from "../sim/mod.ts";

const PENDING = [1_000, 100_000];
/** Events per timed round: long enough (0.1–0.5 s) to swamp timer noise. */
const EVENTS = 1_000_000;
const ROUNDS = 5;

// Deterministic delays (xorshift32), precomputed so the PRNG is not timed.
const DELAYS = new Float64Array(1 << 16);
let x = 2463534242;
for (let i = 0; i < DELAYS.length; i++) {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  DELAYS[i] = ((x >>> 0) / 2 ** 32) * 1000;
}
const MASK = DELAYS.length - 1;
const noop = () => {};

function fill(clock: VirtualClock, pending: number): void {
  for (let i = 0; i < pending; i++) clock.setTimer(noop, DELAYS[i & MASK]!);
}

function pushPop(pending: number): number {
  const clock = new VirtualClock();
  fill(clock, pending);
  const t0 = performance.now();
  for (let i = 0; i < EVENTS; i++) {
    clock.setTimer(noop, DELAYS[i & MASK]!);
    clock.step();
  }
  return performance.now() - t0;
}

function runLoop(pending: number): number {
  const clock = new VirtualClock();
  let i = 0;
  // Each event re-arms itself until EVENTS have been set; then the queue drains.
  const rearm = () => {
    if (i < EVENTS) clock.setTimer(rearm, DELAYS[i++ & MASK]!);
  };
  for (let k = 0; k < pending; k++) clock.setTimer(rearm, DELAYS[k & MASK]!);
  const t0 = performance.now();
  const ran = clock.run();
  // Scale to EVENTS so every case reports the same unit.
  return ((performance.now() - t0) * EVENTS) / ran;
}

function rearm(pending: number): number {
  const clock = new VirtualClock();
  fill(clock, pending);
  let armed = clock.setTimer(noop, 1e9);
  const t0 = performance.now();
  for (let i = 0; i < EVENTS; i++) {
    clock.clearTimer(armed);
    armed = clock.setTimer(noop, 1e9 + DELAYS[i & MASK]!);
    clock.setTimer(noop, DELAYS[(i + 7) & MASK]!);
    clock.step();
  }
  return performance.now() - t0;
}

const cases = { "push+pop": pushPop, "run loop": runLoop, "re-arm": rearm };
const lines = [
  `sim/engine.ts VirtualClock: M events/s, ${ROUNDS} rounds of ${EVENTS.toLocaleString("en")} events; Node ${process.version}; load average ${loadavg()
    .map((x) => x.toFixed(2))
    .join(" ")}`,
  // Best shows what the code can do; median shows what a busy machine gave.
  "case       pending    best  median",
];
for (const [name, fn] of Object.entries(cases)) {
  for (const pending of PENDING) {
    fn(pending); // warm-up: let the JIT settle before timing
    const rates: number[] = [];
    for (let r = 0; r < ROUNDS; r++) rates.push(EVENTS / fn(pending) / 1000);
    rates.sort((a, b) => b - a);
    const best = rates[0]!.toFixed(1).padStart(6);
    const median = rates[ROUNDS >> 1]!.toFixed(1).padStart(8);
    lines.push(`${name.padEnd(8)} ${pending.toLocaleString("en").padStart(9)} ${best}${median}`);
  }
}
lines.push(
  `load average after: ${loadavg()
    .map((x) => x.toFixed(2))
    .join(" ")}`,
);
console.log(lines.join("\n"));
