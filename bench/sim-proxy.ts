/**
 * The simulator against real proxies, the full grid (issue 12, item 6):
 * uploads from Node 24's fetch through timebound's `createFetch`, through
 * squid 5.7, tinyproxy 1.11 and nginx 1.22 (streaming and buffered) from
 * Debian, in the kernel lab's proxy namespace, over the proxy's `tc
 * tbf`-shaped uplink with 50 ms RTT each side of the proxy; compared with
 * `simulateUpload` given the same path and the proxy's preset
 * (`PROXY_PRESETS`). Limits for every case: writeIdle 3 s, headers 25 s,
 * total 35 s.
 *
 * Grid: scenario {healthy, tarpit, upstream black hole, silent proxy} ×
 * payload × uplink, per proxy.
 *
 * Run (root; `apt-get install squid tinyproxy nginx`; Linux with `ip
 * netns`, `tc tbf`, /dev/net/tun), under the lab lock when other labs share
 * the machine:
 *   node bench/sim-proxy.ts --rates 2Mbit                     # one uplink of the grid, ~9 min (both: ~18)
 *   node bench/sim-proxy.ts --proxies squid,nginx-buffered --payloads 2.4MB --rates 2Mbit
 *   node bench/sim-proxy.ts --json out.jsonl                  # also every case as a JSON line
 *   node bench/sim-proxy.ts --replay out.jsonl                # judge stored cases against the model as it is now
 *                                                              (with --json, write the judged cases there)
 *
 * @module
 */
import { appendFileSync, readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { Lab, labSupport } from "../test/kernel/lab.ts";
import { PROXY_NAMES, type ProxyName, proxySupport, startProxy } from "../test/kernel/proxies.ts";
import {
  judge,
  LEG_RTT_MS,
  measureProxyCase,
  type ProxyCaseResult,
  prepareProxyLab,
  probeLegRtt,
  proxyTable,
  SCENARIOS,
  type Scenario,
} from "../test/kernel/validate-proxy.ts";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const num = (s: string): number => {
  const m = /^([\d.]+)\s*(MB|Mbit|kB)?$/.exec(s.trim());
  if (!m) throw new Error(`not a size or rate: ${s}`);
  const k = m[2] === "MB" || m[2] === "Mbit" ? 1e6 : m[2] === "kB" ? 1e3 : 1;
  return Number(m[1]) * k;
};
const PROXIES = arg("proxies", PROXY_NAMES.join(",")).split(",") as ProxyName[];
const SCENS = arg("scenarios", SCENARIOS.join(",")).split(",") as Scenario[];
const PAYLOADS = arg("payloads", "2.4MB,5MB").split(",").map(num);
const RATES = arg("rates", "2Mbit,5Mbit").split(",").map(num);
const REPS = Number(arg("reps", "1"));
const JSON_OUT = arg("json", "");

const REPLAY = arg("replay", "");
if (REPLAY) {
  // Judge stored measurements again against the simulator as it is now.
  const results = readFileSync(REPLAY, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => judge(JSON.parse(l) as ProxyCaseResult));
  if (JSON_OUT) for (const r of results) appendFileSync(JSON_OUT, `${JSON.stringify(r)}\n`);
  const phase = results.filter((r) => r.phaseAgrees).length;
  const time = results.filter((r) => r.timeAgrees).length;
  console.log(
    `Replayed ${REPLAY}: phase agrees in ${phase} of ${results.length} cases; time within one pull gap + RTT in ${time}.\n`,
  );
  console.log(proxyTable(results));
  process.exit(0);
}

const support = labSupport();
if (!support.ok) {
  console.log(`sim-proxy: skipped: ${support.reason}`);
  process.exit(0);
}
for (const p of PROXIES) {
  const s = proxySupport(p);
  if (!s.ok) {
    console.log(`sim-proxy: skipped: ${s.reason}`);
    process.exit(0);
  }
}

const started = Date.now();
const log = (s: string): void =>
  console.error(`[${((Date.now() - started) / 1000).toFixed(0)} s] ${s}`);
const lab = await Lab.open({ proxy: true });
const results: ProxyCaseResult[] = [];
const loads: number[] = [];
let rtt = Number.NaN;
try {
  prepareProxyLab(lab);
  await lab.setDelay(LEG_RTT_MS);
  rtt = await probeLegRtt(lab);
  log(`leg RTT ${rtt.toFixed(1)} ms`);
  for (const name of PROXIES) {
    const proxy = await startProxy(lab, name);
    try {
      for (const rate of RATES) {
        for (const payload of PAYLOADS) {
          for (const scenario of SCENS) {
            for (let rep = 0; rep < REPS; rep++) {
              loads.push(loadavg()[0]!);
              const r = await measureProxyCase(
                lab,
                proxy,
                { scenario, payloadBytes: payload, rateBitsPerSecond: rate },
                rtt,
              );
              results.push(r);
              if (JSON_OUT) appendFileSync(JSON_OUT, `${JSON.stringify(r)}\n`);
              log(
                `${name} ${scenario} ${payload / 1e6} MB ${rate / 1e6} Mbit/s: real ${r.real} ${(r.realMs / 1000).toFixed(2)} s, sim ${r.sim} ${(r.simMs / 1000).toFixed(2)} s, held ${r.held.map((h) => (h.bytes / 1e6).toFixed(2)).join("/")} MB`,
              );
            }
          }
        }
      }
    } finally {
      await proxy.stop();
    }
  }
} finally {
  await lab.close();
}

const phase = results.filter((r) => r.phaseAgrees).length;
const time = results.filter((r) => r.timeAgrees).length;
console.log(
  `Leg RTT ${rtt.toFixed(1)} ms (both legs), load average ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}, ${REPS} upload(s) per case, ${((Date.now() - started) / 60_000).toFixed(0)} min. ` +
    `Phase agrees in ${phase} of ${results.length} cases; time within one pull gap + RTT in ${time}.\n`,
);
console.log(proxyTable(results));
