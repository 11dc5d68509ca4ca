/**
 * Does a larger proxy hold make a stall show later? (issue 12): one proxy
 * (tinyproxy), one uplink, one payload, its hold varied through the proxy
 * namespace's socket buffers (`net.ipv4.tcp_rmem` and `tcp_wmem` set to
 * `4096 S S`: the receive queue and the upstream send queue start at S and
 * stay there), for a half-open upstream and a tarpit. Each case also gets
 * the simulator with the hold it measured (median of the samples) as
 * `proxyBufferBytes`.
 *
 * Run (root; `apt-get install tinyproxy`), under the lab lock:
 *   flock /tmp/timebound-lab.lock node bench/sim-proxy-hold.ts   # ~5 min
 *   node bench/sim-proxy-hold.ts --holds 65536,1048576 --reps 1 --scenarios upstream
 *   --json out.jsonl: every case as a JSON line
 *
 * @module
 */
import { appendFileSync } from "node:fs";
import { loadavg } from "node:os";
import { Lab, labSupport, median } from "../test/kernel/lab.ts";
import { proxySupport, startProxy } from "../test/kernel/proxies.ts";
import {
  LEG_RTT_MS,
  measureProxyCase,
  predictProxyCase,
  prepareProxyLab,
  probeLegRtt,
  type Scenario,
} from "../test/kernel/validate-proxy.ts";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const HOLDS = arg("holds", "65536,262144,1048576,2097152").split(",").map(Number);
const SCENS = arg("scenarios", "upstream,tarpit").split(",") as Scenario[];
const REPS = Number(arg("reps", "3"));
const RATE = Number(arg("rate", "2000000"));
const PAYLOAD = Number(arg("payload", "5000000"));
const JSON_OUT = arg("json", "");

for (const s of [labSupport(), proxySupport("tinyproxy")]) {
  if (!s.ok) {
    console.log(`sim-proxy-hold: skipped: ${s.reason}`);
    process.exit(0);
  }
}
const started = Date.now();
const log = (s: string): void =>
  console.error(`[${((Date.now() - started) / 1000).toFixed(0)} s] ${s}`);
const lab = await Lab.open({ proxy: true });
const rows: string[] = [];
const loads: number[] = [];
try {
  prepareProxyLab(lab);
  await lab.setDelay(LEG_RTT_MS);
  const rtt = await probeLegRtt(lab);
  log(`leg RTT ${rtt.toFixed(1)} ms`);
  const proxy = await startProxy(lab, "tinyproxy");
  try {
    for (const scenario of SCENS) {
      for (const hold of HOLDS) {
        // Read at each accept: a running tinyproxy's next connection gets them.
        lab.sysctl(lab.proxy, "net.ipv4.tcp_rmem", `4096 ${hold} ${hold}`);
        lab.sysctl(lab.proxy, "net.ipv4.tcp_wmem", `4096 ${hold} ${hold}`);
        for (let rep = 0; rep < REPS; rep++) {
          loads.push(loadavg()[0]!);
          const c = { scenario, payloadBytes: PAYLOAD, rateBitsPerSecond: RATE };
          const r = await measureProxyCase(lab, proxy, c, rtt);
          const held = r.held.map((h) => h.bytes).filter((b) => b > 0);
          const heldMedian = held.length ? median(held) : Number.NaN;
          const sim = Number.isFinite(heldMedian)
            ? predictProxyCase("tinyproxy", c, rtt, r.failMs, {
                proxyBufferBytes: Math.round(heldMedian),
              })
            : undefined;
          const simText = sim
            ? `${sim.outcome === "ok" ? "ok" : sim.phase} ${(sim.elapsedMs / 1000).toFixed(2)} s`
            : "—";
          const line = {
            scenario,
            holdSysctlBytes: hold,
            rep,
            real: r.real,
            realMs: r.realMs,
            failMs: r.failMs,
            realGapMs: r.realGapMs,
            bytesSent: r.bytesSent,
            held: r.held,
            heldMedian,
            simWithHeld: simText,
            simWithHeldMs: sim?.elapsedMs,
          };
          if (JSON_OUT) appendFileSync(JSON_OUT, `${JSON.stringify(line)}\n`);
          const row = `| ${scenario} | ${(hold / 1024).toFixed(0)} KiB | ${(heldMedian / 1e6).toFixed(2)} MB | ${r.real} ${(r.realMs / 1000).toFixed(2)} s | ${(r.bytesSent / 1e6).toFixed(2)} MB | ${(r.realGapMs / 1000).toFixed(2)} s | ${simText} |`;
          rows.push(row);
          log(row);
        }
      }
    }
  } finally {
    await proxy.stop();
  }
} finally {
  await lab.close();
}
console.log(
  `tinyproxy, ${RATE / 1e6} Mbit/s, ${PAYLOAD / 1e6} MB, ${REPS} upload(s) per cell, load average ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}, ${((Date.now() - started) / 60_000).toFixed(1)} min.\n`,
);
console.log(
  "| scenario | proxy tcp_rmem = tcp_wmem | held (median) | real | pulled | longest pull gap | simulator with that hold |\n|---|---|---|---|---|---|---|",
);
console.log(rows.join("\n"));
