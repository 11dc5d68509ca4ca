/**
 * Does a larger proxy hold make a stall show later? (issue 12): one proxy
 * (tinyproxy), one uplink, one payload, its hold varied through the proxy
 * namespace's socket buffers (`net.ipv4.tcp_rmem` and `tcp_wmem` set to
 * `4096 S S`: the receive queue and the upstream send queue start at S and
 * stay there), for a half-open upstream and a tarpit (`--scenarios
 * healthy` for the pull gaps of a healthy upload). Each case also gets the
 * simulator with the hold it measured (median of the samples) as
 * `proxyBufferBytes`, draining smoothly, and with S as the proxy's
 * upstream send buffer (`proxySendBufferBytes`, S's payload capacity),
 * draining in lumps; a sawtooth between B − S/3 and B is sampled at
 * B − S/6 on average, so that B is the measured hold + S/6.
 *
 * Run (root; `apt-get install tinyproxy`), under the lab lock:
 *   flock /tmp/timebound-lab.lock node bench/sim-proxy-hold.ts   # ~5 min
 *   node bench/sim-proxy-hold.ts --holds 65536,1048576 --reps 1 --scenarios upstream
 *   --json out.jsonl: every case as a JSON line
 *   node bench/sim-proxy-hold.ts --replay bench/recorded/hold-tinyproxy-2mbit.jsonl
 *                                 (the stored cases against the model as it is now)
 *
 * @module
 */
import { appendFileSync, readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { PAYLOAD_PER_SKB_BYTE, type UploadResult } from "../sim/mod.ts";
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
const REPLAY = arg("replay", "");

const HEAD =
  "| scenario | proxy tcp_rmem = tcp_wmem | held (median) | real | pulled | longest pull gap | simulator, smooth drain | simulator, lumps of S/3 |\n|---|---|---|---|---|---|---|---|";
const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
function said(r: UploadResult | undefined): string {
  if (!r) return "—";
  const t = (r.trace ?? [])
    .filter((e) => (e.event === "write" && e.pulls > 0) || e.event === "body-end")
    .map((e) => e.atMs);
  const gap = Math.max(0, ...t.slice(1).map((x, i) => x - t[i]!));
  return `${r.outcome === "ok" ? "ok" : r.phase} ${sec(r.elapsedMs)} (gap ${sec(gap)})`;
}
/** The model's view of a case, with the hold measured: smooth, and in lumps of S/3. */
function predict(
  scenario: Scenario,
  hold: number,
  heldMedian: number,
  rtt: number,
  failMs: number | undefined,
): [UploadResult, UploadResult] | undefined {
  if (!Number.isFinite(heldMedian)) return undefined;
  const c = { scenario, payloadBytes: PAYLOAD, rateBitsPerSecond: RATE };
  const send = Math.round(hold * PAYLOAD_PER_SKB_BYTE);
  return [
    predictProxyCase("tinyproxy", c, rtt, failMs, { proxyBufferBytes: Math.round(heldMedian) }),
    predictProxyCase("tinyproxy", c, rtt, failMs, {
      proxyBufferBytes: Math.max(send, Math.round(heldMedian + send / 6)),
      proxySendBufferBytes: send,
    }),
  ];
}
interface HoldLine {
  scenario: Scenario;
  holdSysctlBytes: number;
  real: string;
  realMs: number;
  failMs?: number;
  realGapMs: number;
  bytesSent: number;
  heldMedian: number;
  rttMs?: number;
}
function row(l: HoldLine): string {
  const sims = predict(
    l.scenario,
    l.holdSysctlBytes,
    l.heldMedian,
    l.rttMs ?? LEG_RTT_MS,
    l.failMs,
  );
  return `| ${l.scenario} | ${(l.holdSysctlBytes / 1024).toFixed(0)} KiB | ${Number.isFinite(l.heldMedian) ? `${(l.heldMedian / 1e6).toFixed(2)} MB` : "—"} | ${l.real} ${sec(l.realMs)} | ${(l.bytesSent / 1e6).toFixed(2)} MB | ${sec(l.realGapMs)} | ${said(sims?.[0])} | ${said(sims?.[1])} |`;
}
if (REPLAY) {
  const lines = readFileSync(REPLAY, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as HoldLine);
  console.log(`Replayed ${REPLAY} (${lines.length} cases) against the model as it is now.\n`);
  console.log(HEAD);
  for (const l of lines) console.log(row(l));
  process.exit(0);
}

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
          const line = {
            scenario,
            holdSysctlBytes: hold,
            rep,
            real: r.real,
            realMs: r.realMs,
            ...(r.failMs === undefined ? {} : { failMs: r.failMs }),
            realGapMs: r.realGapMs,
            bytesSent: r.bytesSent,
            held: r.held,
            heldMedian: held.length ? median(held) : Number.NaN,
            rttMs: rtt,
          };
          if (JSON_OUT) appendFileSync(JSON_OUT, `${JSON.stringify(line)}\n`);
          rows.push(row(line));
          log(rows.at(-1)!);
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
console.log(HEAD);
console.log(rows.join("\n"));
