/**
 * The client end of the kernel validation, run inside the client namespace
 * by `lab.ts` with the runtime under test (Node 24):
 * `node test/kernel/client.ts '<ClientJob as JSON>'`.
 *
 * Probes the RTT over a TCP echo, then runs `reps` uploads through
 * timebound's own `createFetch`, each on a warm keep-alive connection (a tiny
 * POST first, so the TCP handshake is not in the measurement: the simulator
 * does not model it). Prints one JSON line per probe and per upload. With
 * `drop`, the path goes silent mid-upload: a pre-started
 * `ip -n <router> -batch -` reads blackhole rules at `drop.atMs`, which
 * silently discard everything entering the router (no ACK, no RST), and
 * removes them after the upload.
 *
 * @module
 */
import { type ChildProcess, execFile, spawn, spawnSync } from "node:child_process";
import { connect } from "node:net";
import { ProxyAgent } from "undici";
import { createFetch, isTimeoutError, type Limits, timingsOf } from "../../src/mod.ts";

/** What the harness asks for. */
export interface ClientJob {
  /** `http://host:port` of `server.ts`. */
  origin: string;
  echo?: { host: string; port: number; count: number };
  payloadBytes: number;
  chunkBytes: number;
  reps: number;
  /** Idle time between the warm-up request and the upload. */
  pauseMs: number;
  timeouts?: Limits;
  drop?: {
    /** After the upload's start. */
    atMs: number;
    /** The router namespace. */
    ns: string;
    add: string[];
    del: string[];
    /** When to read the send queue (`ss`), after the drop: the buffer is full and stuck by then. */
    sampleAfterMs: number;
  };
  /** Read the connection's tcp_info with `ss` after each upload. */
  ss?: boolean;
  /**
   * The link changes during the upload (a link trace in the lab): at `atMs`
   * after the upload's start, a pre-started `tc -batch -` in this (the
   * client's) namespace runs `lines`, e.g. a `qdisc change` of the tbf rate.
   */
  tcAt?: { atMs: number; lines: string[] }[];
  /**
   * The link goes off during the upload, in the delayer (test/kernel/delay.ts):
   * at the upload's start the client prints an `outage` line naming the
   * wall-clock moment (`atMs` after its start), which the harness forwards
   * to the delayer; `hold` keeps the client's packets queued and releases
   * them at `bitsPerSecond` when it is back, `drop` discards them.
   */
  outage?: { atMs: number; ms: number; mode: "hold" | "drop"; bitsPerSecond: number };
  /** Sample the connection's tcp_info (`ss -tin`) every this many ms during the upload. */
  ssEveryMs?: number;
  /** `tc -batch` lines run after each upload, before the next (undo `tcAt`). */
  tcAfter?: string[];
  /**
   * Through a proxy (the proxy lab): `forward` is a forward proxy's URL
   * (requests go to it in absolute form, plain HTTP: undici's ProxyAgent
   * without a CONNECT tunnel); without it, `origin` is the proxy (a
   * reverse proxy). `host` is the proxy's address, for `ss`.
   */
  proxy?: { forward?: string; host: string };
  /** The upload's path and query. @default "/upload" */
  path?: string;
  /**
   * Moments (ms after the upload's start) to record the bytes the client's
   * kernel has had acknowledged (`ss`: bytes_acked) and the bytes the
   * server has read (`statsUrl`, fetched directly, not through the proxy).
   */
  samples?: number[];
  statsUrl?: string;
}

/** One sample: bytes acknowledged to the client, bytes the server has read. */
export interface Sample {
  atMs: number;
  ackedBytes: number;
  serverBytes: number;
}

/** One probe line. */
export interface ProbeLine {
  kind: "probe";
  rttMs: number[];
}

/** Asks the harness to have the delayer turn the link off at `startWallMs` (wall-clock ms). */
export interface OutageLine {
  kind: "outage";
  startWallMs: number;
  ms: number;
  mode: "hold" | "drop";
  bitsPerSecond: number;
}

/** tcp_info fields of one `ss -tin` sample (those present), at `atMs`. */
export interface TcpSample {
  atMs: number;
  rtoMs?: number;
  backoff?: number;
  cwnd?: number;
  ssthresh?: number;
  unacked?: number;
  /** Retransmitted segments in flight / in total. */
  retrans?: string;
  bytesAcked?: number;
  rttMs?: number;
  lost?: number;
}

/** One upload line. Times in ms from the upload's start (the `fetch` call). */
export interface RunLine {
  kind: "run";
  ok: boolean;
  /** Response headers (ok), or the error (timeout). */
  elapsedMs: number;
  phase?: string;
  error?: string;
  bytesSent: number;
  /** Pull times and the bytes handed over by then. */
  pulls: [number, number][];
  /** The server's view (ok only): first and last body byte. */
  serverFirstByteMs?: number;
  serverLastByteMs?: number;
  serverBytes?: number;
  /** When the blackhole went in: written to `ip` at `dropMs`, `ip` exited at `dropDoneMs`. */
  dropMs?: number;
  dropDoneMs?: number;
  /** Send-Q (payload bytes queued in the kernel) `drop.sampleAfterMs` after the drop. */
  queuedAfterDropBytes?: number;
  /** `ss -tmi` of the connection at that moment. */
  ssAfterDrop?: string;
  /** `ss -tmi` of the connection when the headers arrived. */
  ss?: string;
  /** When each `tcAt` change was written to its `tc` (ms from the upload's start). */
  tcMs?: number[];
  samples?: Sample[];
  /** The response's status (a proxy may answer 502/504 itself). */
  status?: number;
  /** `ssEveryMs` samples of the upload's connection. */
  tcp?: TcpSample[];
  /** Growth of the namespace's TCP counters (`nstat`) over the upload, those that moved. */
  counters?: Record<string, number>;
}

const hr = (): number => Number(process.hrtime.bigint()) / 1e6;
const out = (line: ProbeLine | RunLine | OutageLine): void => {
  process.stdout.write(`${JSON.stringify(line)}\n`);
};
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function probe(host: string, port: number, count: number): Promise<number[]> {
  const socket = connect({ host, port, noDelay: true });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const rtts: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const t = hr();
      socket.write("p");
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("echo probe: no answer in 2 s")), 2000);
        socket.once("data", () => {
          clearTimeout(timer);
          resolve();
        });
      });
      rtts.push(hr() - t);
      await sleep(10);
    }
  } finally {
    socket.destroy();
  }
  return rtts;
}

/** Send-Q and `ss -tmi` of this process's connection (local `port`). */
function ss(port: number): { sendQ: number; text: string } {
  const r = spawnSync("ss", ["-tmiHn", "sport", "=", `:${port}`], {
    encoding: "utf8",
    timeout: 2000,
  });
  const lines = (r.stdout ?? "").split("\n");
  for (let i = 0; i < lines.length; i++) {
    // "<State> <Recv-Q> <Send-Q> <local> <peer>", then an indented info line.
    const m = /^(\S+)\s+(\d+)\s+(\d+)\s+\S+\s+\S+/.exec(lines[i]!);
    if (m)
      return { sendQ: Number(m[3]), text: `${lines[i]!.trim()} ${lines[i + 1]?.trim() ?? ""}` };
  }
  return { sendQ: -1, text: "" };
}

/**
 * bytes_acked of this namespace's busiest connection to `host` (the
 * upload's). Asynchronous: a synchronous `ss` would hold up the upload's
 * own pulls while it runs.
 */
function ackedTo(host: string): Promise<number> {
  return new Promise((resolve) => {
    execFile("ss", ["-tiHn", "dst", host], { encoding: "utf8", timeout: 2000 }, (_e, stdout) => {
      let best = 0;
      for (const m of (stdout ?? "").matchAll(/bytes_acked:(\d+)/g))
        best = Math.max(best, Number(m[1]));
      resolve(best);
    });
  });
}

async function sample(host: string, statsUrl: string, atMs: number): Promise<Sample> {
  const ackedBytes = await ackedTo(host);
  let serverBytes = Number.NaN;
  try {
    const r = await fetch(statsUrl, { signal: AbortSignal.timeout(2000) });
    serverBytes = ((await r.json()) as { bytes: number }).bytes;
  } catch {}
  return { atMs, ackedBytes, serverBytes };
}

const TCP_FIELDS: [RegExp, keyof TcpSample, (x: string) => number | string][] = [
  [/\brto:([\d.]+)/, "rtoMs", Number],
  [/\bbackoff:(\d+)/, "backoff", Number],
  [/\bcwnd:(\d+)/, "cwnd", Number],
  [/\bssthresh:(\d+)/, "ssthresh", Number],
  [/\bunacked:(\d+)/, "unacked", Number],
  [/\bretrans:([\d/]+)/, "retrans", String],
  [/\bbytes_acked:(\d+)/, "bytesAcked", Number],
  [/\brtt:([\d.]+)/, "rttMs", Number],
  [/\blost:(\d+)/, "lost", Number],
];

/** tcp_info of this process's connection (local `port`), asynchronously (not to hold up the upload). */
function tcpSample(port: number, atMs: number): Promise<TcpSample> {
  return new Promise((resolve) => {
    execFile(
      "ss",
      ["-tinH", "sport", "=", `:${port}`],
      { encoding: "utf8", timeout: 2000 },
      (_e, stdout) => {
        const x: TcpSample = { atMs };
        for (const [re, key, parse] of TCP_FIELDS) {
          const m = re.exec(stdout ?? "");
          if (m) (x as unknown as Record<string, unknown>)[key] = parse(m[1]!);
        }
        resolve(x);
      },
    );
  });
}

/** The namespace's TCP counters (`nstat`, absolute, history untouched). */
function counters(): Record<string, number> {
  const r = spawnSync("nstat", ["-asz"], { encoding: "utf8", timeout: 2000 });
  const c: Record<string, number> = {};
  for (const m of (r.stdout ?? "").matchAll(/^(Tcp\S*)\s+(\d+)/gm)) c[m[1]!] = Number(m[2]);
  return c;
}

function ipBatch(ns: string): ChildProcess {
  const p = spawn("ip", ["-n", ns, "-force", "-batch", "-"], { stdio: ["pipe", "ignore", "pipe"] });
  p.on("error", () => {});
  return p;
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? "") as ClientJob;
  if (job.echo)
    out({ kind: "probe", rttMs: await probe(job.echo.host, job.echo.port, job.echo.count) });
  const body = new Uint8Array(job.payloadBytes).fill(0x61);
  const dispatcher = job.proxy?.forward
    ? new ProxyAgent({ uri: job.proxy.forward, proxyTunnel: false })
    : undefined;
  const tbFetch = createFetch({
    ...(job.timeouts ?? {}),
    upload: { chunkSize: job.chunkBytes },
    retry: false,
    ...(dispatcher
      ? {
          fetch: ((input: RequestInfo | URL, init?: RequestInit) =>
            fetch(input, { ...init, dispatcher } as RequestInit)) as typeof fetch,
        }
      : {}),
  });
  for (let rep = 0; rep < job.reps; rep++) {
    // The server answers with our port: the connection the upload will reuse.
    const warm = await tbFetch(`${job.origin}/warm`, { method: "POST", body: "x" });
    const port = Number(await warm.text());
    await sleep(job.pauseMs);
    const drop = job.drop;
    const batch = drop ? ipBatch(drop.ns) : undefined;
    const pulls: [number, number][] = [];
    const line: RunLine = { kind: "run", ok: false, elapsedMs: Number.NaN, bytesSent: 0, pulls };
    let dropTimer: ReturnType<typeof setTimeout> | undefined;
    let sampleTimer: ReturnType<typeof setTimeout> | undefined;
    // One `tc` per change, started before the upload so a change costs a write.
    const tcs = (job.tcAt ?? []).map((change) => {
      const p = spawn("tc", ["-force", "-batch", "-"], { stdio: ["pipe", "ignore", "pipe"] });
      p.on("error", () => {});
      return { change, p };
    });
    const tcTimers: ReturnType<typeof setTimeout>[] = [];
    const before = job.outage || job.ssEveryMs ? counters() : undefined;
    const t0 = hr();
    if (job.outage) {
      const { atMs, ...o } = job.outage;
      out({ kind: "outage", startWallMs: performance.timeOrigin + performance.now() + atMs, ...o });
    }
    const tcpSamples: Promise<TcpSample>[] = [];
    const ssTimer = job.ssEveryMs
      ? setInterval(() => tcpSamples.push(tcpSample(port, hr() - t0)), job.ssEveryMs)
      : undefined;
    if (tcs.length > 0) line.tcMs = [];
    for (const { change, p } of tcs) {
      tcTimers.push(
        setTimeout(() => {
          line.tcMs!.push(hr() - t0);
          p.stdin!.end(`${change.lines.join("\n")}\n`);
        }, change.atMs),
      );
    }
    const samplers: ReturnType<typeof setTimeout>[] = [];
    const pending: Promise<void>[] = [];
    if (job.samples && job.statsUrl && job.proxy) {
      const { host } = job.proxy;
      const statsUrl = job.statsUrl;
      line.samples = [];
      for (const at of job.samples) {
        samplers.push(
          setTimeout(() => {
            pending.push(
              sample(host, statsUrl, hr() - t0).then((x) => {
                line.samples!.push(x);
              }),
            );
          }, at),
        );
      }
    }
    if (drop && batch) {
      dropTimer = setTimeout(() => {
        line.dropMs = hr() - t0;
        batch.once("exit", () => {
          line.dropDoneMs = hr() - t0;
        });
        batch.stdin!.end(`${drop.add.join("\n")}\n`);
        sampleTimer = setTimeout(() => {
          const x = ss(port);
          line.queuedAfterDropBytes = x.sendQ;
          line.ssAfterDrop = x.text;
        }, drop.sampleAfterMs);
      }, drop.atMs);
    }
    try {
      const res = await tbFetch(`${job.origin}${job.path ?? "/upload"}`, {
        method: "POST",
        body,
        onUploadProgress: (p) => pulls.push([hr() - t0, p.bytesSent]),
      });
      line.elapsedMs = hr() - t0;
      if (job.ss && !job.proxy) line.ss = ss(port).text;
      line.status = res.status;
      if (res.status !== 200) throw new Error(`HTTP ${res.status} from the proxy`);
      const got = (await res.json()) as {
        bytes: number;
        firstByteAt: number;
        lastByteAt: number;
        remotePort: number;
      };
      if (!job.proxy && got.remotePort !== port)
        line.error = `upload on another connection (${got.remotePort}, warm-up ${port})`;
      line.ok = true;
      line.bytesSent = timingsOf(res)?.bytesSent ?? Number.NaN;
      line.serverBytes = got.bytes;
      line.serverFirstByteMs = got.firstByteAt - t0;
      line.serverLastByteMs = got.lastByteAt - t0;
    } catch (e) {
      line.elapsedMs = hr() - t0;
      if (isTimeoutError(e)) {
        line.phase = e.phase;
        line.bytesSent = e.bytesSent;
      }
      const cause = e instanceof Error && e.cause instanceof Error ? ` (${e.cause.message})` : "";
      line.error = e instanceof Error ? `${e.name}: ${e.message}${cause}` : String(e);
    }
    clearTimeout(dropTimer);
    clearInterval(ssTimer);
    if (ssTimer) line.tcp = await Promise.all(tcpSamples);
    if (before) {
      const after = counters();
      line.counters = {};
      for (const [k, v] of Object.entries(after))
        if (v !== (before[k] ?? 0)) line.counters[k] = v - (before[k] ?? 0);
    }
    for (const t of tcTimers) clearTimeout(t);
    for (const { p } of tcs) if (p.exitCode === null) p.stdin?.end();
    if (job.tcAfter) {
      spawnSync("tc", ["-force", "-batch", "-"], {
        input: `${job.tcAfter.join("\n")}\n`,
        timeout: 5000,
      });
    }
    for (const t of samplers) clearTimeout(t);
    await Promise.all(pending);
    if (drop) {
      // Let the sample land, then undo the drop for the next upload.
      const wait =
        (line.dropMs ?? Number.POSITIVE_INFINITY) + drop.sampleAfterMs + 50 - (hr() - t0);
      if (wait > 0 && wait < 60_000) await sleep(wait);
      clearTimeout(sampleTimer);
      if (line.dropMs === undefined) batch?.stdin?.end();
      spawnSync("ip", ["-n", drop.ns, "-force", "-batch", "-"], {
        input: `${drop.del.join("\n")}\n`,
        timeout: 5000,
      });
    }
    out(line);
  }
}

await main();
// undici keeps the warm connection open: leave without waiting for it.
process.exit(0);
