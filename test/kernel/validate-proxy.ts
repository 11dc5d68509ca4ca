/**
 * The simulator against real proxies (issue 12, item 6): an upload from
 * Node 24's fetch through timebound's `createFetch`, through squid,
 * tinyproxy or nginx (test/kernel/proxies.ts) in the lab's proxy namespace,
 * over the proxy's `tc tbf`-shaped uplink, compared with `simulateUpload`
 * given the same path and the proxy's preset (`PROXY_PRESETS`).
 *
 * The path: client ⇄ proxy over the router's delay (RTT `LEG_RTT_MS`, the
 * veth's 10 Gbit/s), proxy ⇄ server over the delay again (the same RTT)
 * and the shaped uplink. Four scenarios:
 * - `healthy`: the server reads as fast as it comes;
 * - `tarpit`: the server reads `TARPIT_BYTES_PER_SECOND` from the start;
 * - `upstream`: at `FAIL_AT_MS` the path proxy ⇄ server becomes a black hole
 *   (half-open upstream; the client still reaches the proxy);
 * - `silent`: at `FAIL_AT_MS` the proxy stops answering the client (no ACK,
 *   no RST: everything between them is dropped).
 * Limits: `LIMITS` (writeIdle 3 s, headers 25 s, total 35 s), for every case;
 * the client's send buffer grows to `CLIENT_WMEM_BYTES` (512 KiB).
 *
 * @module
 */
import {
  PAYLOAD_PER_SKB_BYTE,
  PROXY_PRESETS,
  type ProxyPresetName,
  simulateUpload,
  type UploadParams,
  type UploadResult,
} from "../../sim/mod.ts";
import type { Limits } from "../../src/mod.ts";
import type { RunLine, Sample } from "./client.ts";
import { type Lab, median, PROXY_IP, TBF_BURST_BYTES } from "./lab.ts";
import type { RunningProxy } from "./proxies.ts";

export type Scenario = "healthy" | "tarpit" | "upstream" | "silent";
export const SCENARIOS: readonly Scenario[] = ["healthy", "tarpit", "upstream", "silent"];

/** Each leg's round trip (client ⇄ proxy, proxy ⇄ server): 100 ms end to end. */
export const LEG_RTT_MS = 50;
export const CHUNK_BYTES = 16 * 1024;
export const LIMITS: Limits = { writeIdle: 3000, headers: 25_000, total: 35_000 };
/** When the upstream black hole or the silent proxy begins, after the upload's start. */
export const FAIL_AT_MS = 2000;
/** The tarpit's read rate: far below either uplink. */
export const TARPIT_BYTES_PER_SECOND = 20_000;
/** The client's own link: the veth. */
const VETH_BITS_PER_SECOND = 10e9;
/**
 * The client's `tcp_wmem[2]`, pinned (the buffer still grows from
 * `tcp_wmem[1]`): 512 KiB, the seed's send buffer. With Linux's default
 * 4 MiB a 2.4 or 5 MB body is in the kernel (and the proxy) within a
 * second, and every failure ends in `headers`: nothing to tell apart.
 */
export const CLIENT_WMEM_BYTES = 512 * 1024;
/** Its payload capacity (the simulator counts payload, the kernel skb memory). */
const CLIENT_SEND_BUFFER_BYTES = Math.round(CLIENT_WMEM_BYTES * PAYLOAD_PER_SKB_BYTE);
/** When to read bytes acknowledged to the client and read by the server, ms after the start. */
const SAMPLE_AT_MS = [1500, 3000, 5000, 8000, 12_000];

export interface ProxyCase {
  scenario: Scenario;
  payloadBytes: number;
  rateBitsPerSecond: number;
}

export interface ProxyCaseResult {
  proxy: ProxyPresetName;
  case: ProxyCase;
  rttMs: number;
  /** Reality: "ok" or the limit that fired (or the error), and when. */
  real: string;
  realMs: number;
  /** When the failure began (measured), if any. */
  failMs?: number;
  /** The simulator, with the proxy's preset. */
  sim: string;
  simMs: number;
  /** The longest pull gap of the real upload before its end (the stall's own gap not counted). */
  realGapMs: number;
  /** Same phase, and the time within one pull gap + one end-to-end RTT. */
  phaseAgrees: boolean;
  timeAgrees: boolean;
  toleranceMs: number;
  /** Bytes acknowledged to the client minus bytes the server had read, per sample: what the proxy path held. */
  held: { atMs: number; bytes: number }[];
  bytesSent: number;
  simBytesSent: number;
  error?: string;
}

/** The simulator's view of a case through `preset` (`over` replaces what the preset sets). */
export function predictProxyCase(
  preset: ProxyPresetName,
  c: ProxyCase,
  rttMs: number,
  failMs = FAIL_AT_MS,
  over: Pick<UploadParams, "proxyBufferBytes" | "proxySendBufferBytes"> = {},
): UploadResult {
  const p = { ...PROXY_PRESETS[preset], ...over };
  return simulateUpload({
    payloadBytes: c.payloadBytes,
    chunkBytes: CHUNK_BYTES,
    clientBitsPerSecond: VETH_BITS_PER_SECOND,
    proxyBitsPerSecond: c.rateBitsPerSecond,
    proxyBurstBytes: TBF_BURST_BYTES,
    rttMs,
    upstreamRttMs: rttMs,
    sendBufferBytes: CLIENT_SEND_BUFFER_BYTES,
    ...p,
    ...(c.scenario === "tarpit" ? { serverReadBytesPerSecond: TARPIT_BYTES_PER_SECOND } : {}),
    ...(c.scenario === "upstream" ? { upstreamDropAtMs: failMs } : {}),
    ...(c.scenario === "silent" ? { dropAtMs: failMs } : {}),
    timeouts: LIMITS,
    trace: true,
  });
}

function gaps(pulls: [number, number][]): number {
  let longest = 0;
  for (let i = 1; i < pulls.length; i++)
    longest = Math.max(longest, pulls[i]![0] - pulls[i - 1]![0]);
  return longest;
}

/** Runs one case through a running proxy and compares it with the simulator. */
export async function measureProxyCase(
  lab: Lab,
  proxy: RunningProxy,
  c: ProxyCase,
  rttMs: number,
): Promise<ProxyCaseResult> {
  lab.shapeProxy(c.rateBitsPerSecond);
  const holes = lab.proxyBlackholes;
  const drop =
    c.scenario === "upstream" || c.scenario === "silent"
      ? {
          atMs: FAIL_AT_MS,
          ns: lab.router,
          ...(c.scenario === "upstream" ? holes.upstream : holes.silentProxy),
          sampleAfterMs: 100,
        }
      : undefined;
  const { runs } = await lab.runClient(
    {
      origin: proxy.origin,
      payloadBytes: c.payloadBytes,
      chunkBytes: CHUNK_BYTES,
      reps: 1,
      pauseMs: 100,
      timeouts: LIMITS,
      proxy: { host: PROXY_IP, ...(proxy.forward ? { forward: proxy.forward } : {}) },
      path: c.scenario === "tarpit" ? `/upload?readBps=${TARPIT_BYTES_PER_SECOND}` : "/upload",
      samples: SAMPLE_AT_MS,
      statsUrl: `${lab.origin}/stats`,
      ...(drop ? { drop } : {}),
    },
    60_000,
  );
  const r: RunLine = runs[0]!;
  return judge({
    proxy: proxy.name,
    case: c,
    rttMs,
    real: r.ok ? "ok" : (r.phase ?? `error: ${r.error ?? "?"}`),
    realMs: r.elapsedMs,
    ...(r.dropMs === undefined ? {} : { failMs: r.dropMs }),
    realGapMs: gaps(r.pulls),
    held: (r.samples ?? [])
      .filter((s: Sample) => Number.isFinite(s.serverBytes) && s.ackedBytes > 0)
      .map((s: Sample) => ({ atMs: s.atMs, bytes: s.ackedBytes - s.serverBytes })),
    bytesSent: r.bytesSent,
    ...(r.error && !r.phase ? { error: r.error } : {}),
  });
}

/** What reality did in a case, without the simulator's side. */
export type Measured = Omit<
  ProxyCaseResult,
  "sim" | "simMs" | "phaseAgrees" | "timeAgrees" | "toleranceMs" | "simBytesSent"
>;

/**
 * Compares a measured case with the simulator (as it is now: a stored
 * measurement can be judged again after a model change, `bench/sim-proxy.ts
 * --replay`). Time agrees within one pull gap + one end-to-end RTT (both
 * legs): the longest gap between pulls before the end, real or simulated
 * (when the last pull before a stall comes is set by the writer's wake-up
 * phase, known to one gap).
 */
export function judge(m: Measured): ProxyCaseResult {
  const sim = predictProxyCase(m.proxy, m.case, m.rttMs, m.failMs ?? FAIL_AT_MS);
  const simPhase = sim.outcome === "ok" ? "ok" : (sim.phase ?? sim.outcome);
  const simPulls = (sim.trace ?? [])
    .filter((e) => (e.event === "write" && e.pulls > 0) || e.event === "body-end")
    .map((e): [number, number] => [e.atMs, e.handedBytes]);
  const toleranceMs = Math.max(m.realGapMs, gaps(simPulls)) + 2 * m.rttMs;
  const phaseAgrees = m.real === simPhase;
  return {
    ...m,
    sim: simPhase,
    simMs: sim.elapsedMs,
    phaseAgrees,
    timeAgrees: phaseAgrees && Math.abs(m.realMs - sim.elapsedMs) <= toleranceMs,
    toleranceMs,
    simBytesSent: sim.bytesSent,
  };
}

/**
 * Pins the client's send buffer ceiling (`CLIENT_WMEM_BYTES`), and Reno in
 * the client's and the proxy's namespaces (the congestion controls a
 * namespace may pick are the host's `tcp_allowed_congestion_control`: reno
 * and bbr here; Reno's slow start is the model's, as in the kernel lab).
 */
export function prepareProxyLab(lab: Lab): void {
  lab.sysctl(lab.client, "net.ipv4.tcp_wmem", `4096 16384 ${CLIENT_WMEM_BYTES}`);
  for (const ns of [lab.client, lab.proxy]) {
    lab.sysctl(ns, "net.ipv4.tcp_congestion_control", "reno");
  }
}

/** The RTT of one leg, probed on the idle path (client ⇄ server echo: one pass through the delay each way). */
export async function probeLegRtt(lab: Lab): Promise<number> {
  const { probe } = await lab.runClient(
    { payloadBytes: 1, chunkBytes: 1024, reps: 0, pauseMs: 0, probes: 11 },
    30_000,
  );
  return median(probe!.rttMs);
}

const MB = 1e6;
const s = (ms: number): string => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : "never");

/** One markdown row per case. */
export function proxyTable(results: ProxyCaseResult[]): string {
  const head =
    "| proxy | scenario | payload | uplink | real | sim | Δ (tolerance) | agrees | held (acked − read by the server) |\n|---|---|---|---|---|---|---|---|---|";
  const rows = results.map((r) => {
    const d = r.realMs - r.simMs;
    const held = r.held.map((h) => `${(h.bytes / MB).toFixed(2)}`).join(" / ");
    return `| ${r.proxy} | ${r.case.scenario} | ${r.case.payloadBytes / MB} MB | ${r.case.rateBitsPerSecond / 1e6} Mbit/s | ${r.real} ${s(r.realMs)} | ${r.sim} ${s(r.simMs)} | ${Number.isFinite(d) ? `${d >= 0 ? "+" : ""}${(d / 1000).toFixed(2)} s` : "—"} (±${(r.toleranceMs / 1000).toFixed(2)} s) | ${r.phaseAgrees ? (r.timeAgrees ? "yes" : "phase only") : "**no**"} | ${held ? `${held} MB` : "—"} |`;
  });
  return [head, ...rows].join("\n");
}
