/**
 * A fixed one-way delay for every packet through a tun device, in
 * userspace: this kernel has no `netem`. Run by Deno (FFI to libc, for the
 * TUNSETIFF ioctl Node cannot make) inside the router namespace:
 *
 *   deno run --allow-ffi --allow-read --allow-env test/kernel/delay.ts <tun> <delay ms>
 *
 * Reads each IP packet from the tun device, holds it `delay` ms (FIFO: one
 * constant delay keeps the order) and writes it back, where policy routing
 * sends it on. Prints `ready` once attached; exits on SIGTERM or when stdin
 * closes (the harness went away). Counts go to stderr on exit.
 *
 * Loss (this kernel has no netem either): a stdin line `loss <p> <seed> <src>`
 * drops each TCP segment with payload coming from IPv4 address `src` with
 * probability p, from a seeded PRNG (one draw per such segment, so a seed
 * gives one sequence of drops), before it is delayed: a lossy hop behind
 * the sender's bottleneck. ACKs and empty segments pass. `loss 0` ends it.
 *
 * Outages (a link trace's "off", at exact times): a stdin line
 * `outage <start> <ms> <hold|drop> <src> <bits/s>` turns the link off for
 * `ms` from `start` (wall-clock ms since the epoch, `performance.timeOrigin
 * + performance.now()`: the client that knows when its upload began names
 * the moment, the harness only forwards it) for every packet from IPv4
 * address `src` (the uplink; the other direction passes).
 * - `hold` is Mahimahi's `mm-link` with no delivery opportunities: packets
 *   wait in the link's queue and, when it is back, leave at the link's rate
 *   (`bits/s`, counting a 14-byte Ethernet header as `tc tbf` does). The
 *   sender's `tc tbf` upstream keeps pacing at that rate throughout, and a
 *   rate-R pacer followed by this on/off server of rate R delivers exactly
 *   what one on/off link of rate R would (min-plus: the pacer never
 *   limits what the on/off server would let through).
 * - `drop` is a dead radio: every such packet is discarded while off.
 *
 * Held and passing packets of the uplink keep their order; the other
 * direction has its own queue (its release times stay monotone), so ACKs
 * are not held behind a held uplink.
 *
 * @module
 */

import { labDraws } from "./drops.ts";

// The few Deno APIs used here, typed locally: the project compiles with Node's types.
interface DenoFfi {
  args: string[];
  dlopen(
    path: string,
    symbols: Record<string, unknown>,
  ): { symbols: Record<string, (...a: unknown[]) => unknown> };
  addSignalListener(signal: string, fn: () => void): void;
  exit(code: number): never;
  stdin: { readable: ReadableStream<Uint8Array> };
}
const D: DenoFfi = (globalThis as unknown as { Deno: DenoFfi }).Deno;

const [name, delayArg] = D.args;
let delayMs = Number(delayArg);
if (!name || !(delayMs >= 0)) {
  console.error("usage: delay.ts <tun device> <one-way delay ms>");
  D.exit(2);
}

const libc = D.dlopen("libc.so.6", {
  open: { parameters: ["buffer", "i32"], result: "i32" },
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize", nonblocking: true },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  usleep: { parameters: ["u32"], result: "i32", nonblocking: true },
}).symbols;

const O_RDWR = 2;
const TUNSETIFF = 0x400454ca;
const IFF_TUN = 0x0001;
const IFF_NO_PI = 0x1000;

const fd = libc.open!(new TextEncoder().encode("/dev/net/tun\0"), O_RDWR) as number;
if (fd < 0) {
  console.error("open /dev/net/tun failed");
  D.exit(1);
}
// struct ifreq: char ifr_name[16]; short ifr_flags; (padded to 40 bytes)
const ifr = new Uint8Array(40);
ifr.set(new TextEncoder().encode(name).subarray(0, 15));
new DataView(ifr.buffer).setInt16(16, IFF_TUN | IFF_NO_PI, true);
if ((libc.ioctl!(fd, BigInt(TUNSETIFF), ifr) as number) < 0) {
  console.error(`TUNSETIFF ${name} failed (does the device exist with mode tun, no pi?)`);
  D.exit(1);
}

/** A FIFO of packets due at non-decreasing times. */
class Line {
  items: ({ due: number; packet: Uint8Array } | undefined)[] = [];
  head = 0;
  get empty(): boolean {
    return this.head >= this.items.length;
  }
  get due(): number {
    return this.items[this.head]?.due ?? Number.POSITIVE_INFINITY;
  }
  push(due: number, packet: Uint8Array): void {
    this.items.push({ due, packet });
  }
  shift(): { due: number; packet: Uint8Array } {
    const x = this.items[this.head]!;
    this.items[this.head++] = undefined;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
    return x;
  }
}
/** Uplink packets during and after an outage (held ones keep the link's order), and the rest. */
const held = new Line();
const queue = new Line();
let packets = 0;
/** The outage in force or next (performance.now() ms), and the hold's state. */
let outage:
  | { startMs: number; endMs: number; mode: "hold" | "drop"; src: number; bytesPerMs: number }
  | undefined;
/** When the link's queue of held packets has drained (performance.now() ms). */
let holdFreeMs = 0;
let heldPackets = 0;
let outageDropped = 0;
/** The IPv4 source of a packet (0 if not IPv4). */
function sourceOf(p: Uint8Array, n: number): number {
  if (n < 20 || p[0]! >> 4 !== 4) return 0;
  return ((p[12]! << 24) | (p[13]! << 16) | (p[14]! << 8) | p[15]!) >>> 0;
}
/**
 * When an uplink packet arriving `now` leaves the link: at once, unless the
 * link is off (hold: after the outage, at the link's rate behind those held
 * before it) or still draining what it held; undefined: dropped.
 */
function release(now: number, n: number): number | undefined {
  const o = outage;
  if (!o) return now;
  const off = now >= o.startMs && now < o.endMs;
  if (o.mode === "drop") {
    if (!off) return now;
    outageDropped++;
    return undefined;
  }
  if (!off && holdFreeMs <= now) return now;
  heldPackets++;
  holdFreeMs = Math.max(holdFreeMs, o.endMs) + (n + 14) / o.bytesPerMs;
  return holdFreeMs;
}
let lossRate = 0;
let lossSrc = 0;
let dropped = 0;
let lossCandidates = 0;
/** The drop draws (drops.ts: the harness replays the same ones in the simulator). */
let nextUniform = labDraws(0);
function ipv4(text: string): number {
  return text.split(".").reduce((a, b) => a * 256 + Number(b), 0);
}
/** A TCP segment with payload from the lossy source, and the draw says drop. */
function drop(p: Uint8Array, n: number): boolean {
  if (lossRate <= 0 || n < 40 || p[0]! >> 4 !== 4 || p[9] !== 6) return false;
  if (sourceOf(p, n) !== lossSrc) return false;
  const ihl = (p[0]! & 15) * 4;
  const total = (p[2]! << 8) | p[3]!;
  const tcpHeader = (p[ihl + 12]! >> 4) * 4;
  if (total - ihl - tcpHeader <= 0) return false;
  lossCandidates++;
  if (nextUniform() >= lossRate) return false;
  dropped++;
  return true;
}
let maxLateMs = 0;
const lates: number[] = [];

/**
 * The release loop. `setTimeout` is too coarse here (whole milliseconds, up
 * to 2 ms late), so the wait is a `usleep` on one of Deno's blocking threads
 * (accurate to ~0.1 ms) and the loop sleeps only while packets are queued.
 */
let sleeping = false;
async function drain(): Promise<void> {
  if (sleeping) return;
  sleeping = true;
  while (!queue.empty || !held.empty) {
    // A packet that arrives while we sleep is due `delayMs` after it came at
    // the earliest, maybe before a held one we would sleep towards: wake by then.
    const wait = Math.min(Math.min(queue.due, held.due) - performance.now(), Math.max(delayMs, 1));
    if (wait > 0.05) await libc.usleep!(Math.round(wait * 1000));
    const now = performance.now();
    for (;;) {
      const line = held.due <= queue.due ? held : queue;
      if (line.empty || line.due > now + 0.05) break;
      const { due, packet } = line.shift();
      libc.write!(fd, packet, packet.byteLength);
      packets++;
      maxLateMs = Math.max(maxLateMs, now - due);
      lates.push(now - due);
    }
  }
  sleeping = false;
}

function stop(): never {
  lates.sort((a, b) => a - b);
  const q = (f: number) => lates[Math.floor(f * (lates.length - 1))]?.toFixed(2);
  console.error(
    JSON.stringify({
      packets,
      ...(lossCandidates > 0 ? { dropped, lossCandidates } : {}),
      ...(outage ? { heldPackets, outageDropped } : {}),
      maxLateMs: Math.round(maxLateMs * 100) / 100,
      p50: q(0.5),
      p90: q(0.9),
      p99: q(0.99),
    }),
  );
  D.exit(0);
}
D.addSignalListener("SIGTERM", stop);
// The harness holds our stdin open and writes a new delay (ms, one per
// line) to calibrate; when stdin closes, the harness is gone and so are we.
(async () => {
  const r = D.stdin.readable.getReader();
  const decoder = new TextDecoder();
  let text = "";
  for (;;) {
    const { done, value } = await r.read();
    if (done) stop();
    text += decoder.decode(value, { stream: true });
    let i = text.indexOf("\n");
    while (i >= 0) {
      const line = text.slice(0, i).trim();
      const loss = /^loss\s+(\S+)(?:\s+(\d+)\s+(\S+))?$/.exec(line);
      const off = /^outage\s+(\S+)\s+(\S+)\s+(hold|drop)\s+(\S+)\s+(\S+)$/.exec(line);
      if (off) {
        const startMs = Number(off[1]) - performance.timeOrigin;
        outage = {
          startMs,
          endMs: startMs + Number(off[2]),
          mode: off[3] as "hold" | "drop",
          src: ipv4(off[4]!) >>> 0,
          bytesPerMs: Number(off[5]) / 8000,
        };
        holdFreeMs = 0;
      } else if (loss) {
        lossRate = Number(loss[1]) || 0;
        nextUniform = labDraws(Number(loss[2] ?? 0));
        if (loss[3]) lossSrc = ipv4(loss[3]) >>> 0;
      } else {
        const ms = Number(line);
        if (line !== "" && ms >= 0) delayMs = ms;
      }
      text = text.slice(i + 1);
      i = text.indexOf("\n");
    }
  }
})();

console.log("ready");
const buf = new Uint8Array(65536);
for (;;) {
  const n = Number(await libc.read!(fd, buf, buf.byteLength));
  if (n <= 0 || drop(buf, n)) continue;
  const now = performance.now();
  if (outage && sourceOf(buf, n) === outage.src) {
    const at = release(now, n);
    if (at === undefined) continue;
    held.push(at + delayMs, buf.slice(0, n));
  } else {
    queue.push(now + delayMs, buf.slice(0, n));
  }
  void drain();
}
