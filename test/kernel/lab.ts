/**
 * A three-namespace network for checking the simulator against the Linux
 * TCP stack: client ⇄ router ⇄ server over veth pairs (MTU 1500).
 *
 * - Rate: `tc tbf` on the client's egress, where the queue of a slow uplink
 *   sits (one bottleneck, in front of the sender's own kernel).
 * - Delay: this kernel has no `netem`, so the router sends every packet, both
 *   ways, through a tun device served by `delay.ts` (Deno: it needs an ioctl
 *   Node cannot make), which holds each packet a fixed time. The client's TCP
 *   sees the real RTT: slow start, ACK clocking and the send buffer's drain
 *   all run on it, as they would over a long path.
 * - Silence: blackhole rules in the router drop everything arriving from
 *   either side (no ACK, no RST, no ICMP): a half-open path.
 *
 * Only namespaces this lab creates are touched; every process it starts is
 * killed by PID; `close()` (also run at process exit) deletes the
 * namespaces. Names carry the PID, so concurrent labs do not collide, and
 * leftovers of a lab whose process died are removed on the next start.
 *
 * @module
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ClientJob, OutageLine, ProbeLine, RunLine } from "./client.ts";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, "..", "..");
const DENO = join(ROOT, "node_modules", ".bin", "deno");
const NODE24 = join(ROOT, "node_modules", ".bin", "node");
const PREFIX = "tbk";

export const CLIENT_IP = "10.77.1.1";
export const SERVER_IP = "10.77.2.2";
/** The proxy namespace (`Lab.open({ proxy: true })`): its client side and its upstream side. */
export const PROXY_IP = "10.77.3.2";
export const PROXY_UPSTREAM_IP = "10.77.4.2";
/** tbf's bucket: three full frames (the smallest that passes GSO segments smoothly). */
export const TBF_BURST_BYTES = 3 * 1514;

export function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function run(args: string[], input?: string): { ok: boolean; out: string; err: string } {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: "utf8", input, timeout: 10_000 });
  return {
    ok: r.status === 0,
    out: r.stdout ?? "",
    err: (r.stderr ?? "") + (r.error?.message ?? ""),
  };
}

function must(args: string[], input?: string): string {
  const r = run(args, input);
  if (!r.ok) throw new Error(`${args.join(" ")}: ${r.err.trim() || "failed"}`);
  return r.out;
}

/** `tc tbf` at `bitsPerSecond` on `dev`'s egress in `ns`; a 32 MB queue: it never drops. */
function tbf(ns: string, dev: string, bitsPerSecond: number): void {
  must([
    "tc",
    "-n",
    ns,
    "qdisc",
    "replace",
    "dev",
    dev,
    "root",
    "tbf",
    "rate",
    `${bitsPerSecond}bit`,
    "burst",
    `${TBF_BURST_BYTES}`,
    "limit",
    `${32 * 1024 * 1024}`,
  ]);
}

/**
 * Whether this machine can run the lab, and if not, why: root, `ip netns`,
 * `tc tbf`, `ss`, /dev/net/tun, Node 24 and Deno from node_modules.
 */
export function labSupport(): { ok: true } | { ok: false; reason: string } {
  if (process.platform !== "linux") return { ok: false, reason: "Linux only" };
  if (process.getuid?.() !== 0)
    return { ok: false, reason: "needs root (network namespaces and tc)" };
  for (const tool of ["ip", "tc", "ss"]) {
    if (!run(["sh", "-c", `command -v ${tool}`]).ok)
      return { ok: false, reason: `\`${tool}\` not found` };
  }
  if (!existsSync("/dev/net/tun"))
    return { ok: false, reason: "no /dev/net/tun (needed for the delay)" };
  if (!existsSync(DENO)) return { ok: false, reason: `no Deno at ${DENO} (npm ci)` };
  if (!existsSync(NODE24)) return { ok: false, reason: `no Node 24 at ${NODE24} (npm ci)` };
  const probe = `${PREFIX}-probe-${process.pid}`;
  const add = run(["ip", "netns", "add", probe]);
  if (!add.ok) return { ok: false, reason: `\`ip netns\` unavailable: ${add.err.trim()}` };
  try {
    const tbf = run([
      "tc",
      "-n",
      probe,
      "qdisc",
      "add",
      "dev",
      "lo",
      "root",
      "tbf",
      "rate",
      "1mbit",
      "burst",
      "4542",
      "limit",
      "100000",
    ]);
    if (!tbf.ok) return { ok: false, reason: `\`tc tbf\` unavailable: ${tbf.err.trim()}` };
  } finally {
    run(["ip", "netns", "del", probe]);
  }
  return { ok: true };
}

/** Deletes namespaces of labs whose process is gone. */
function sweepLeftovers(): void {
  let names: string[] = [];
  try {
    names = readdirSync("/var/run/netns");
  } catch {
    return;
  }
  for (const name of names) {
    const m = new RegExp(`^${PREFIX}-(?:probe-)?(\\d+)-?[crsp]?$`).exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid) continue;
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
    if (!alive) run(["ip", "netns", "del", name]);
  }
}

/** A line-reading child process (server, delayer, client, proxy). */
export interface Proc {
  child: ChildProcess;
  lines: string[];
  stderr: string;
  /** Called with each stdout line as it arrives. */
  onLine?: (line: string) => void;
}

function start(args: string[]): Proc {
  const child = spawn(args[0]!, args.slice(1), { stdio: ["pipe", "pipe", "pipe"] });
  const p: Proc = { child, lines: [], stderr: "" };
  let buf = "";
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (d: string) => {
    buf += d;
    let i = buf.indexOf("\n");
    while (i >= 0) {
      p.lines.push(buf.slice(0, i));
      p.onLine?.(buf.slice(0, i));
      buf = buf.slice(i + 1);
      i = buf.indexOf("\n");
    }
  });
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (d: string) => {
    if (p.stderr.length < 100_000) p.stderr += d;
  });
  child.on("error", (e) => {
    p.stderr += String(e);
  });
  return p;
}

async function firstLine(p: Proc, what: string, timeoutMs: number): Promise<string> {
  const until = Date.now() + timeoutMs;
  while (p.lines.length === 0) {
    if (p.child.exitCode !== null || Date.now() > until) {
      throw new Error(`${what} did not start: ${p.stderr.trim() || `exit ${p.child.exitCode}`}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return p.lines[0]!;
}

function stop(p: Proc | undefined): void {
  if (!p || p.child.exitCode !== null || p.child.pid === undefined) return;
  try {
    process.kill(p.child.pid, "SIGTERM");
  } catch {}
}

async function waitExit(p: Proc, timeoutMs: number): Promise<void> {
  if (p.child.exitCode !== null) return;
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => {
      if (p.child.pid !== undefined && p.child.exitCode === null) {
        try {
          process.kill(p.child.pid, "SIGKILL");
        } catch {}
      }
      resolve();
    }, timeoutMs);
    p.child.once("exit", () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/** The client, router and server namespaces, their shaping and their processes. */
export class Lab {
  readonly client = `${PREFIX}-${process.pid}-c`;
  readonly router = `${PREFIX}-${process.pid}-r`;
  readonly server = `${PREFIX}-${process.pid}-s`;
  /**
   * With `proxy: true`, a fourth namespace between client and server, with
   * two legs of its own through the router (and so through the delayer):
   * client ⇄ router ⇄ proxy (`p0`, `PROXY_IP`) and proxy (`p1`,
   * `PROXY_UPSTREAM_IP`) ⇄ router ⇄ server. Its uplink is `p1`'s egress,
   * shaped by `shapeProxy()`: the queue of a residential proxy's modem.
   */
  readonly proxy = `${PREFIX}-${process.pid}-p`;
  #withProxy = false;
  #server: Proc | undefined;
  #delay: Proc | undefined;
  #clients = new Set<Proc>();
  #closed = false;
  #onExit = (): void => this.#teardown();
  /** Ctrl-C or a kill: clean up, then die of the signal as we would have. */
  #onSignal = (signal: NodeJS.Signals): void => {
    this.#teardown();
    process.kill(process.pid, signal);
  };
  /** `{ port, echoPort }` of the running server. */
  ports = { port: 0, echoPort: 0 };
  /**
   * Other work on the machine (a shared, 2-core VM) makes a userspace delay
   * late and the client's pulls irregular. The delayer runs SCHED_FIFO (it
   * sleeps between packets, so it takes little), client and server at nice
   * −10; set `LAB_PRIORITY=0` to run them as ordinary processes.
   */
  readonly #rt = process.env.LAB_PRIORITY === "0" ? [] : ["chrt", "-f", "20"];
  readonly #nice = process.env.LAB_PRIORITY === "0" ? [] : ["nice", "-n", "-10"];
  /** One-way delay now in force, ms. */
  oneWayMs = 0;

  /** Creates the namespaces and the links, and starts the server. */
  static async open(options: { proxy?: boolean } = {}): Promise<Lab> {
    sweepLeftovers();
    const lab = new Lab();
    lab.#withProxy = options.proxy === true;
    process.once("exit", lab.#onExit);
    process.once("SIGINT", lab.#onSignal);
    process.once("SIGTERM", lab.#onSignal);
    try {
      lab.#build();
      await lab.#startServer();
    } catch (e) {
      await lab.close();
      throw e;
    }
    return lab;
  }

  #build(): void {
    const { client: c, router: r, server: s } = this;
    for (const ns of this.#namespaces()) must(["ip", "netns", "add", ns]);
    must(["ip", "link", "add", "c0", "netns", c, "type", "veth", "peer", "name", "r0", "netns", r]);
    must(["ip", "link", "add", "s0", "netns", s, "type", "veth", "peer", "name", "r1", "netns", r]);
    const batch = (ns: string, lines: string[]): void => {
      must(["ip", "-n", ns, "-batch", "-"], `${lines.join("\n")}\n`);
    };
    batch(c, [
      `addr add ${CLIENT_IP}/24 dev c0`,
      "link set c0 up",
      "link set lo up",
      "route add default via 10.77.1.2",
    ]);
    batch(r, [
      "addr add 10.77.1.2/24 dev r0",
      "addr add 10.77.2.1/24 dev r1",
      "link set r0 up",
      "link set r1 up",
      "link set lo up",
      "tuntap add dev tbd0 mode tun",
      "link set tbd0 up",
      "route add default dev tbd0 table 100",
    ]);
    batch(s, [
      `addr add ${SERVER_IP}/24 dev s0`,
      "link set s0 up",
      "link set lo up",
      "route add default via 10.77.2.1",
    ]);
    if (this.#withProxy) this.#buildProxy();
    this.sysctl(r, "net.ipv4.ip_forward", "1");
    for (const dev of [
      "all",
      "default",
      "r0",
      "r1",
      "tbd0",
      ...(this.#withProxy ? ["r2", "r3"] : []),
    ]) {
      this.sysctl(r, `net.ipv4.conf.${dev}.rp_filter`, "0");
    }
    // No cached ssthresh or RTT from an earlier connection: every upload starts cold.
    for (const ns of [c, s]) this.sysctl(ns, "net.ipv4.tcp_no_metrics_save", "1");
  }

  #namespaces(): string[] {
    return [this.client, this.router, this.server, ...(this.#withProxy ? [this.proxy] : [])];
  }

  #buildProxy(): void {
    const { router: r, proxy: p } = this;
    must(["ip", "link", "add", "p0", "netns", p, "type", "veth", "peer", "name", "r2", "netns", r]);
    must(["ip", "link", "add", "p1", "netns", p, "type", "veth", "peer", "name", "r3", "netns", r]);
    must(
      ["ip", "-n", r, "-batch", "-"],
      "addr add 10.77.3.1/24 dev r2\naddr add 10.77.4.1/24 dev r3\nlink set r2 up\nlink set r3 up\n",
    );
    must(
      ["ip", "-n", p, "-batch", "-"],
      [
        `addr add ${PROXY_IP}/24 dev p0`,
        `addr add ${PROXY_UPSTREAM_IP}/24 dev p1`,
        "link set p0 up",
        "link set p1 up",
        "link set lo up",
        "route add 10.77.1.0/24 via 10.77.3.1 dev p0",
        "route add 10.77.2.0/24 via 10.77.4.1 dev p1",
        "",
      ].join("\n"),
    );
    // Every upload's upstream connection starts cold too.
    this.sysctl(p, "net.ipv4.tcp_no_metrics_save", "1");
  }

  /** `tc tbf` at `bitsPerSecond` on the proxy's uplink (`p1`, towards the server). */
  shapeProxy(bitsPerSecond: number): void {
    tbf(this.proxy, "p1", bitsPerSecond);
  }

  /**
   * `ip -batch` lines for the proxy lab's two failures: the proxy goes
   * silent to the client (everything between them dropped: no ACK, no RST),
   * or the path between proxy and server becomes a black hole (the client
   * still reaches both).
   */
  get proxyBlackholes(): Record<"silentProxy" | "upstream", { add: string[]; del: string[] }> {
    return {
      silentProxy: {
        add: [
          "rule add pref 10 iif r0 to 10.77.3.0/24 blackhole",
          "rule add pref 11 iif r2 blackhole",
        ],
        del: ["rule del pref 10", "rule del pref 11"],
      },
      upstream: {
        add: [
          "rule add pref 10 iif r3 blackhole",
          "rule add pref 11 iif r1 to 10.77.4.0/24 blackhole",
        ],
        del: ["rule del pref 10", "rule del pref 11"],
      },
    };
  }

  /** Runs a long-lived process inside the proxy namespace; killed by PID on `close()`. */
  async startInProxy(args: string[], ready: () => boolean, what: string): Promise<Proc> {
    const p = start(["ip", "netns", "exec", this.proxy, ...this.#nice, ...args]);
    this.#extra.add(p);
    const until = Date.now() + 15_000;
    while (!ready()) {
      if (p.child.exitCode !== null || Date.now() > until) {
        stop(p);
        throw new Error(`${what} did not start: ${p.stderr.trim() || `exit ${p.child.exitCode}`}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return p;
  }

  /** Stops a process started by `startInProxy`, by its PID. */
  async stopInProxy(p: Proc): Promise<void> {
    stop(p);
    await waitExit(p, 5000);
    this.#extra.delete(p);
  }

  #extra = new Set<Proc>();

  sysctl(ns: string, key: string, value: string): void {
    must(["ip", "netns", "exec", ns, "sysctl", "-qw", `${key}=${value}`]);
  }

  readSysctl(ns: string, key: string): string {
    return must(["ip", "netns", "exec", ns, "sysctl", "-n", key]).trim().replace(/\s+/g, " ");
  }

  /** `tc tbf` at `bitsPerSecond` on the client's egress; the queue never drops. */
  shape(bitsPerSecond: number): void {
    tbf(this.client, "c0", bitsPerSecond);
  }

  /**
   * Holds every packet `rttMs / 2` each way; 0 forwards in the kernel.
   * The delayer adds ~1 ms of its own per round trip (sleep overshoot,
   * thread hand-offs), so the set delay is trimmed until the median of idle
   * echo probes is within 0.25 ms of `rttMs` (at most three probes rounds).
   * Returns the probed RTTs of the last round.
   */
  async setDelay(rttMs: number): Promise<number[]> {
    if (this.#delay) {
      must(
        ["ip", "-n", this.router, "-batch", "-"],
        `rule del pref 100\nrule del pref 101\n${this.#withProxy ? "rule del pref 102\nrule del pref 103\n" : ""}`,
      );
      stop(this.#delay);
      await waitExit(this.#delay, 3000);
      this.delayStats.push(this.#delay.stderr.trim());
      this.#delay = undefined;
    }
    if (rttMs === 0) {
      this.oneWayMs = 0;
      return (
        await this.runClient(
          { payloadBytes: 1, chunkBytes: 1024, reps: 0, pauseMs: 0, probes: 15 },
          30_000,
        )
      ).probe!.rttMs;
    }
    let oneWay = rttMs / 2;
    const p = start([
      "ip",
      "netns",
      "exec",
      this.router,
      ...this.#rt,
      DENO,
      "run",
      "--quiet",
      "--allow-ffi",
      "--allow-read",
      "--allow-env",
      join(HERE, "delay.ts"),
      "tbd0",
      String(oneWay),
    ]);
    this.#delay = p;
    await firstLine(p, "the delay (delay.ts)", 15_000);
    must(
      ["ip", "-n", this.router, "-batch", "-"],
      `rule add pref 100 iif r0 lookup 100\nrule add pref 101 iif r1 lookup 100\n${
        this.#withProxy
          ? "rule add pref 102 iif r2 lookup 100\nrule add pref 103 iif r3 lookup 100\n"
          : ""
      }`,
    );
    let rtts: number[] = [];
    for (let round = 0; round < 3; round++) {
      rtts = (
        await this.runClient(
          { payloadBytes: 1, chunkBytes: 1024, reps: 0, pauseMs: 0, probes: 15 },
          30_000,
        )
      ).probe!.rttMs;
      const excess = median(rtts) - rttMs;
      if (Math.abs(excess) <= 0.25) break;
      oneWay = Math.max(0, oneWay - excess / 2);
      p.child.stdin!.write(`${oneWay}\n`);
    }
    this.oneWayMs = oneWay;
    return rtts;
  }

  /**
   * Pins the client's congestion control on its route to the server
   * (`ip route … congctl`): a namespace may set its default only to the
   * algorithms in the host's `tcp_allowed_congestion_control` (reno, bbr
   * here), a route may name any loaded one, such as cubic.
   */
  routeCongestionControl(cc: string): void {
    must([
      "ip",
      "-n",
      this.client,
      "route",
      "replace",
      "default",
      "via",
      "10.77.1.2",
      "congctl",
      cc,
    ]);
  }

  /**
   * Drops each TCP segment with payload that the client sends with
   * probability `rate`, in the delayer (after the client's `tc tbf`), from
   * a PRNG seeded with `seed`; `rate` 0 ends it. ACKs and the server's
   * segments pass. Needs the delayer: `setDelay` with an RTT > 0 first.
   */
  setLoss(rate: number, seed: number): void {
    if (!this.#delay) throw new Error("setLoss needs the delayer: setDelay(rttMs > 0) first");
    this.#delay.child.stdin!.write(`loss ${rate} ${seed} ${CLIENT_IP}\n`);
  }

  /** The delayer's own account of its lateness (after `setDelay(0)` or `close()`). */
  delayStats: string[] = [];

  /** Lines for `ip -batch` that make the router drop everything, and undo it. */
  get blackhole(): { add: string[]; del: string[] } {
    return {
      add: ["rule add pref 10 iif r0 blackhole", "rule add pref 11 iif r1 blackhole"],
      del: ["rule del pref 10", "rule del pref 11"],
    };
  }

  async #startServer(): Promise<void> {
    const p = start([
      "ip",
      "netns",
      "exec",
      this.server,
      ...this.#nice,
      NODE24,
      join(HERE, "server.ts"),
      SERVER_IP,
    ]);
    this.#server = p;
    this.ports = JSON.parse(await firstLine(p, "the server (server.ts)", 15_000));
  }

  get origin(): string {
    return `http://${SERVER_IP}:${this.ports.port}`;
  }

  /** Runs `client.ts` (Node 24) in the client namespace; resolves with its lines. */
  async runClient(
    job: Omit<ClientJob, "origin" | "echo"> & { probes?: number; origin?: string },
    timeoutMs: number,
  ): Promise<{ probe?: ProbeLine; runs: RunLine[] }> {
    const { probes, origin, ...rest } = job;
    const full: ClientJob = {
      ...rest,
      origin: origin ?? this.origin,
      ...(probes ? { echo: { host: SERVER_IP, port: this.ports.echoPort, count: probes } } : {}),
    };
    const p = start([
      "ip",
      "netns",
      "exec",
      this.client,
      ...this.#nice,
      NODE24,
      join(HERE, "client.ts"),
      JSON.stringify(full),
    ]);
    this.#clients.add(p);
    if (job.outage) {
      const delay = this.#delay;
      if (!delay) throw new Error("an outage needs the delayer: setDelay(rttMs > 0) first");
      // The client names the moment (it knows when its upload began); the delayer keeps it.
      p.onLine = (text) => {
        if (!text.startsWith('{"kind":"outage"')) return;
        const o = JSON.parse(text) as OutageLine;
        delay.child.stdin!.write(
          `outage ${o.startWallMs.toFixed(3)} ${o.ms} ${o.mode} ${CLIENT_IP} ${o.bitsPerSecond}\n`,
        );
      };
    }
    try {
      await waitExit(p, timeoutMs);
    } finally {
      this.#clients.delete(p);
      // A connection the client left behind (an aborted upload closes
      // normally: its queued bytes would keep the shaped link busy into the
      // next upload) is reset.
      run(["ip", "netns", "exec", this.client, "ss", "-K", "-tn", "dst", SERVER_IP]);
      if (this.#withProxy)
        run(["ip", "netns", "exec", this.client, "ss", "-K", "-tn", "dst", PROXY_IP]);
    }
    if (p.child.exitCode !== 0) {
      throw new Error(
        `client.ts failed (exit ${p.child.exitCode ?? "killed"}): ${p.stderr.trim()}`,
      );
    }
    const lines = p.lines.map((l) => JSON.parse(l) as ProbeLine | RunLine | OutageLine);
    const probe = lines.find((l): l is ProbeLine => l.kind === "probe");
    return {
      ...(probe ? { probe } : {}),
      runs: lines.filter((l): l is RunLine => l.kind === "run"),
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    for (const p of this.#clients) stop(p);
    for (const p of this.#extra) stop(p);
    for (const p of this.#extra) await waitExit(p, 5000);
    stop(this.#delay);
    stop(this.#server);
    for (const p of [...this.#clients, this.#delay, this.#server]) if (p) await waitExit(p, 3000);
    if (this.#delay?.stderr) this.delayStats.push(this.#delay.stderr.trim());
    this.#teardown();
  }

  #teardown(): void {
    if (this.#closed) return;
    this.#closed = true;
    process.removeListener("exit", this.#onExit);
    process.removeListener("SIGINT", this.#onSignal);
    process.removeListener("SIGTERM", this.#onSignal);
    // Synchronous: this also runs from the 'exit' event. Kill stragglers by PID first.
    for (const p of [...this.#clients, ...this.#extra, this.#delay, this.#server]) {
      if (p?.child.pid !== undefined && p.child.exitCode === null) {
        try {
          process.kill(p.child.pid, "SIGKILL");
        } catch {}
      }
    }
    for (const ns of this.#namespaces()) run(["ip", "netns", "del", ns]);
  }
}
