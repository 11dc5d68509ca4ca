// `node_modules/.bin/node scripts/make-traces.mjs` (Node >= 22.18: it loads
// sim/*.ts): writes the link traces shipped in sim/traces/, in Mahimahi's
// mm-link format, from fixed seeds. Same seeds, same files, byte for byte
// (test/sim_linktrace.test.ts checks the committed files against
// `traces()`). What each models and why those numbers: sim/traces/README.md.
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { constantTrace, formatLinkTrace, stepTrace } from "../sim/linktrace.ts";
import { seededRandom } from "../sim/random.ts";

/** Seed of every random draw below: change it and the traces change. */
export const SEED = 12;

/** A lognormal draw with median `median` and log-σ `sigma`, from two uniforms (Box–Muller). */
function lognormal(r, median, sigma) {
  const u = 1 - r();
  const v = r();
  return median * Math.exp(sigma * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v));
}

/** A whole number of ms, uniform in [lo, hi]. */
function uniformMs(r, lo, hi) {
  return lo + Math.floor(r() * (hi - lo + 1));
}

/**
 * The residential uplink: the seed's "upload at 2 Mbps" as a median that
 * other traffic in the home moves around (a video call, a photo backup):
 * steps of 1–5 s, each at a rate drawn lognormal around 2 Mbit/s (σ 0.35:
 * most steps within 1.4–2.8 Mbit/s), kept within 0.5 Mbit/s and the seed's
 * 10 Mbit/s upload limit. 30 s, then it loops.
 */
function residential() {
  const r = seededRandom(SEED, 1);
  const steps = [];
  let at = 0;
  while (at < 30_000) {
    const ms = Math.min(uniformMs(r, 1000, 5000), 30_000 - at);
    const bits = Math.min(10e6, Math.max(0.5e6, lognormal(r, 2e6, 0.35)));
    steps.push({ ms, bitsPerSecond: Math.round(bits / 1000) * 1000 });
    at += ms;
  }
  return stepTrace(steps);
}

/**
 * Wi-Fi that drops out: 5 Mbit/s while associated, for 4–12 s at a time,
 * then nothing for 1–5 s (a roam between access points, interference):
 * outages on both sides of the 2–3 s `writeIdle` limits this project
 * recommends, the stall the watchdog must tell from a dead proxy. 30 s,
 * then it loops; it starts on.
 */
function wifi() {
  const r = seededRandom(SEED, 2);
  const steps = [];
  let at = 0;
  while (at < 30_000) {
    const on = Math.min(uniformMs(r, 4000, 12_000), 30_000 - at);
    steps.push({ ms: on, bitsPerSecond: 5e6 });
    at += on;
    if (at >= 30_000) break;
    const off = Math.min(uniformMs(r, 1000, 5000), 30_000 - at);
    steps.push({ ms: off, bitsPerSecond: 0 });
    at += off;
  }
  return stepTrace(steps);
}

/** The shipped traces, by name (file `sim/traces/<name>.trace`), as mm-link text. */
export function traces() {
  return {
    // The seed's 2 Mbit/s uplink, steady: one packet every 6 ms, 1,000 per 6 s loop.
    "steady-2mbit": formatLinkTrace(constantTrace(2e6, 6000)),
    "residential-uplink": formatLinkTrace(residential()),
    "wifi-onoff": formatLinkTrace(wifi()),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const [name, text] of Object.entries(traces())) {
    const file = new URL(`../sim/traces/${name}.trace`, import.meta.url);
    writeFileSync(file, text);
    console.log(`${fileURLToPath(file)}: ${text.split("\n").length - 1} opportunities`);
  }
}
