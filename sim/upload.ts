/**
 * One simulated upload: a request body streamed in chunks through the
 * kernel's send buffer, over a client link and a proxy, into a server that
 * may read slowly or vanish, guarded by the very same
 * {@linkcode Watchdog} that `createFetch` uses, on virtual time.
 *
 * The model, and why (each piece cites what it copies):
 * - The runtime pulls one chunk of `chunkBytes` at a time and copies it into
 *   a send buffer of `sendBufferBytes`; partial writes go in as far as they
 *   fit (a non-blocking `write()`), and the next pull comes once the whole
 *   chunk is in the kernel (Node's `drain`; src/body.ts's `pull`). A pull is
 *   the watchdog's progress: `writeStart()` on the first, `writePull()` on
 *   the others, `wrote(bytes)` per chunk, `writeEnd()` on the pull that
 *   finds the body done.
 * - A full buffer wakes its writer only once the queue has drained to 2/3
 *   of it: Linux's `tcp_poll` reports the socket writable when
 *   `sk_stream_wspace` (free space) ≥ `sk_stream_min_wspace` (half of what
 *   is queued, `sk_wmem_queued >> 1`; include/net/sock.h). So pull gaps are
 *   1/3 of the buffer's drain time, whatever the chunk size below that.
 * - The buffer holds bytes until they are acknowledged: it drains as the ACKs
 *   of what was sent come back, one RTT after sending.
 * - The buffer grows (issue 12): Linux sizes it at connection setup to
 *   2 × 10 segments of skb memory and, on ACKs, to 2 × cwnd segments
 *   (`tcp_sndbuf_expand`: 4,352 B of skb per segment, 98 % of it payload in
 *   a queue of TSO skbs), up to `tcp_wmem[2]` (`sendBufferBytes`). With no
 *   loss cwnd = IW + acked, so the buffer is 5.9 × (IW + acked) until the
 *   ceiling, or until slow start stops: where the bottleneck's queue is the
 *   sender's own (the client's link the narrowest), TCP small queues keep what is
 *   out at the pipe + 2 skbs and cwnd stops at twice that
 *   (`growthWindowCap`); the kernel lab's cwnd stopped at 44–48 segments
 *   where this gives 41. 85 kB at first, and always ≥ 3.9 × cwnd ahead of
 *   what is in flight, so growth moves the pulls, never the bytes on the
 *   wire.
 * - Sending is a piecewise-linear fluid (sim/_link.ts) at
 *   min(client, proxy upstream, server read rate), payload rates being
 *   1448/1514 of the wire rates when `wireOverhead` is on (`tc tbf` counts
 *   Ethernet frames); slow start from RFC 6928's 10 segments, doubling per
 *   RTT up to the bandwidth-delay product; in-flight data capped by the
 *   receive window and by the 2/3 of the send buffer the writer keeps
 *   queued (a buffer below 1.5 × the bandwidth-delay product limits
 *   throughput); a token bucket (rate + burst, as residential modems and
 *   `tc tbf` shape) on the proxy's upstream.
 * - `dropAtMs`: the proxy goes silent (half-open: no ACKs, no RST). Bytes
 *   that reach it later are lost; ACKs it sent before still arrive. The
 *   sender's retransmissions free nothing, so the writer blocks for good.
 * - Streaming proxy: one pipe at the narrowest rate (time ≈ S / min(Bc, Bp)).
 *   Store-and-forward proxy (nginx's default `proxy_request_buffering on`:
 *   the whole body is read before the upstream request starts): the client
 *   leg runs at Bc and is acknowledged by the proxy, then the proxy sends at
 *   Bp over a warm upstream connection (time ≈ S/Bc + S/Bp). The proxy sits
 *   at the server's end of the RTT.
 * - The server answers once it has read the whole body; headers reach the
 *   client half an RTT later. The response body is not modelled: the
 *   exchange ends with the headers.
 * - The watchdog decides every timeout. It is driven synchronously (no
 *   promise per event), so 100 k uploads run in seconds.
 *
 * @module
 */
import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus";
import type { Clock } from "../src/clock.ts";
import { describe } from "../src/duration.ts";
import type { Phase } from "../src/errors.ts";
import {
  goodputBitsPerSecond,
  INITIAL_WINDOW_SEGMENTS,
  type ProxyMode,
  SEGMENT_PAYLOAD_BYTES,
} from "../src/model.ts";
import {
  DEFAULT_CHUNK_SIZE,
  DEFAULT_LIMITS,
  type Limits,
  type ResolvedLimits,
  resolveLimits,
} from "../src/policy.ts";
import { checkKeys, integerOption, plainObject, positiveNumber } from "../src/validate.ts";
import { Watchdog } from "../src/watchdog.ts";
import {
  buildSendCurve,
  curveOf,
  LIMIT_ACKS,
  LIMIT_NONE,
  LIMIT_PEAK,
  LIMIT_PROXY_BUFFER,
  LIMIT_SCHEDULE,
  LIMIT_SHAPER,
  LIMIT_TARPIT,
  LIMIT_WINDOW,
  type LinkSpec,
  lineFrom,
  lowerEnvelope,
  type Points,
  pointsOf,
  type SendCurve,
  shifted,
} from "./_link.ts";
import { buildLossyCurve, type LossEvent, type LossSpec } from "./_loss.ts";
import { outagesOf, type RateSchedule, ScheduleCursor } from "./_rate_schedule.ts";
import { servedThrough } from "./_served.ts";
import { VirtualClock } from "./engine.ts";
import {
  checkLinkTrace,
  LINK_TRACE_PACKET_BYTES,
  type LinkTrace,
  rateScheduleOf,
} from "./linktrace.ts";
import { formatBytes, type UploadTraceEntry } from "./trace.ts";

export {
  goodputBitsPerSecond,
  INITIAL_WINDOW_SEGMENTS,
  SEGMENT_PAYLOAD_BYTES,
  SEGMENT_WIRE_BYTES,
} from "../src/model.ts";

/** Parameters of {@linkcode simulateUpload}. Sizes in bytes, link rates in bits/s, times in ms. */
export interface UploadParams {
  /** Request body size. */
  payloadBytes: number;
  /** Bytes per pull of the body stream (`upload.chunkSize` of `createFetch`). @default 65536 */
  chunkBytes?: number;
  /**
   * The client host's own link, on the wire. Where it is the narrowest (its
   * queue is the sender's qdisc, e.g. a `tc` shaper on the host), Linux's
   * slow start, and the send buffer's growth, stop early; a slower link
   * beyond the host (a modem, a proxy) goes in `proxyBitsPerSecond` or
   * `linkTrace`.
   */
  clientBitsPerSecond: number;
  /**
   * The proxy's upstream bandwidth, on the wire (the client's when there is
   * no proxy). With `linkTrace`, a shaper in series with the trace (the
   * token bucket's sustained rate); Infinity there: the trace alone.
   */
  proxyBitsPerSecond: number;
  /** How the proxy forwards the body. @default "streaming" */
  proxyMode?: ProxyMode;
  /** Round-trip time between client and server (the proxy sits at the server's end). @default 0 */
  rttMs?: number;
  /**
   * The kernel send buffer's payload capacity: with `sendBufferGrowth`, the
   * ceiling it grows towards (`tcp_wmem[2]`); without, its size from the
   * start (SO_SNDBUF set by hand).
   * @default 4194304 (Linux's `tcp_wmem` maximum)
   */
  sendBufferBytes?: number;
  /**
   * The send buffer grows with the congestion window, as Linux autotunes it
   * (`tcp_sndbuf_expand`): from 2 × 10 segments' worth of skbs at
   * connection setup, to 2 × cwnd × 4,352 bytes of skb memory, up to
   * `sendBufferBytes`. `false`: the whole `sendBufferBytes` from t = 0 (a
   * socket with SO_SNDBUF set, or this simulator before issue 12).
   * @default true
   */
  sendBufferGrowth?: boolean;
  /** The receiver's window: the most bytes in flight. @default Infinity (never the limit) */
  receiveWindowBytes?: number;
  /** How fast the server reads the body, in bytes/s: a tarpit when low. @default Infinity */
  serverReadBytesPerSecond?: number;
  /** When the server starts reading at `serverReadBytesPerSecond`. @default 0 */
  tarpitAtMs?: number;
  /** When the proxy goes silent: no ACKs, no RST, nothing delivered after. @default Infinity (never) */
  dropAtMs?: number;
  /**
   * Bytes a streaming proxy holds (its receive queue, its own buffer and its
   * upstream send queue) before the client leg slows to the proxy's
   * upstream. Set, the path has two legs: client→proxy (`rttMs`) and
   * proxy→server (`upstreamRttMs`). Unset: one pipe at the narrowest rate,
   * the proxy at the server's end of `rttMs`. Streaming proxies measured
   * through a shaped 2–5 Mbit/s uplink held 0.8–2.7 MB (issue 12).
   * @default undefined (no proxy buffer)
   */
  proxyBufferBytes?: number;
  /**
   * The part of `proxyBufferBytes` that is the proxy's upstream send buffer
   * (its socket to the server). Set, the proxy drains the client in lumps:
   * its writer blocks when that socket is full and wakes when the queue is
   * down to 2/3 of it (Linux's `tcp_poll` rule, as for the client's send
   * buffer), then reads a third of it from the client at once; so once the
   * proxy is full the client's ACKs, and its pulls, come in lumps of a third
   * of this buffer, not smoothly at the uplink's pace. tinyproxy with a
   * 2 MiB upstream send buffer at 2 Mbit/s: pull gaps of 2.8 s (sim/README.md,
   * "A larger proxy buffer and the moment a stall shows"). At least 4096,
   * at most `proxyBufferBytes`.
   * @default undefined (a smooth drain)
   */
  proxySendBufferBytes?: number;
  /** Round-trip time between the proxy and the server (with `proxyBufferBytes`, or a store-and-forward proxy). @default 0 */
  upstreamRttMs?: number;
  /**
   * When the path between proxy and server becomes a black hole: the proxy
   * still accepts (and acknowledges) the client's bytes, until its buffer
   * is full (streaming) or the whole body is in (store-and-forward); the
   * server gets nothing more. Unlike `dropAtMs`, the client sees progress.
   * @default Infinity (never)
   */
  upstreamDropAtMs?: number;
  /** Token bucket on the proxy's upstream: bytes that may pass above its rate. @default 0 */
  proxyBurstBytes?: number;
  /** The rate while the bucket has tokens, on the wire. @default Infinity (the other links set it) */
  proxyPeakBitsPerSecond?: number;
  /**
   * The proxy's upstream — the bottleneck uplink — as a link that changes:
   * a Mahimahi `mm-link` trace (one delivery opportunity of a 1,500-byte
   * packet per line, looping; see `parseLinkTrace`, `onOffTrace`). The
   * leg's curve (slow start, window, token bucket, tarpit, as on a steady
   * link) is served by the trace through a queue in front of it, so a burst
   * drains what a lull queued; `proxyBitsPerSecond` and the token bucket
   * shape in series; an outage (off for 100 ms or more) pauses slow start.
   * With loss, the segment-level sender runs through the trace instead.
   * @default undefined (a steady link)
   */
  linkTrace?: LinkTrace;
  /** Where in `linkTrace` the request starts, ms (a sweep draws it at random). @default 0 */
  linkTraceStartMs?: number;
  /**
   * What `linkTrace`'s link does with packets while it is out (off for
   * 100 ms or more): `"hold"` keeps them queued and sends them when it is
   * back, as Mahimahi's `mm-link` does (a link that buffers); `"drop"`
   * loses what it holds and what reaches it (a dead radio), so the sender
   * finds the link again only by its retransmission timer, backed off
   * through the outage. `"drop"` runs the segment-level sender (as loss
   * does), on the paths loss is modelled on.
   * @default "hold"
   */
  linkTraceOff?: "hold" | "drop";
  /** TCP slow start from 10 segments (RFC 6928). @default true */
  slowStart?: boolean;
  /** Links carry 1448 payload bytes per 1514 wire bytes (`tc tbf`'s count at MTU 1500). @default true */
  wireOverhead?: boolean;
  /** The limits, as `createFetch` takes them. @default {} (total 30 s, as createFetch) */
  timeouts?: Limits;
  /** Each watchdog timer fires late by up to this much (uniform, from `seed`). @default 0 */
  timerLatenessMs?: number;
  /**
   * Random loss on the client's path: each transmitted segment (first
   * sending or retransmission) is lost with this probability, independently
   * (Bernoulli), in [0, 0.5]. The sender recovers as Linux does: RACK
   * (a later segment acknowledged; "3 duplicate ACKs") and fast retransmit
   * with a cwnd cut to β·cwnd, a tail loss probe, or a retransmission
   * timeout (SRTT + max(4·RTTVAR, 200 ms), doubling) back to cwnd 1. Lost
   * bytes stay in the send buffer until acknowledged, so pull gaps
   * lengthen. Draws come from `seed` (common random numbers: a higher rate
   * loses a superset of the same segments). With `lossBurstSegments`, the
   * long-run loss rate of a bursty (Gilbert–Elliott) path. Loss is modelled
   * on a streaming path without `proxyBufferBytes` or a tarpit; with
   * `linkTrace`, segments leave once the trace has served them (none while
   * it is off), so ACKs, RTT samples and the retransmission timer see it.
   * @default 0 (no loss: the fluid model, unchanged)
   */
  lossRate?: number;
  /**
   * Bursty loss: the mean number of consecutive segments lost in a burst
   * (≥ 1). With `lossRate` L, a Gilbert–Elliott path whose bad state loses
   * every segment and lasts this long on average (bad → good 1/b per
   * segment, good → bad chosen so that the long-run loss is L).
   * @default undefined (independent loss)
   */
  lossBurstSegments?: number;
  /**
   * A general Gilbert–Elliott loss model instead of `lossRate`: per
   * transmitted segment the path moves good → bad with `goodToBad`, bad →
   * good with `badToGood` (both in (0, 1]), then loses the segment with
   * `lossInGood` (default 0) or `lossInBad` (default 1). Its long-run loss
   * rate must be ≤ 0.5.
   * @default undefined
   */
  gilbertElliott?: GilbertElliott;
  /**
   * A recorded loss pattern instead of `lossRate`: exactly these
   * transmissions are lost, by their index on the wire (0-based, in the
   * order the sender puts data segments out: first sendings,
   * retransmissions and tail probes alike), no others — ns-3's
   * ListErrorModel. Replays a capture's or a lab's drops, so a real upload
   * and the model can be compared on the same losses (the kernel lab's loss
   * grid does). Integers >= 0, at most 1,000,000 of them; empty: no loss.
   * @default undefined
   */
  lostTransmissions?: readonly number[];
  /**
   * The sender's reaction to loss (it does not change a loss-free run):
   * `cubic` (Linux's default: β = 0.7, cubic window growth), `reno`
   * (β = 0.5, one segment per RTT) or `bbr` (BBR v1 as Linux runs it:
   * paced at its bandwidth estimate, cwnd 2 × BDP, no multiplicative
   * decrease on loss, so at 1–3 % random loss it keeps the link busy where
   * CUBIC backs off).
   * @default "cubic"
   */
  congestionControl?: CongestionControl;
  /** Seeds the pseudo-random timer lateness and, in an independent stream, the loss draws. @default 0 */
  seed?: number;
  /** Record an event trace (`result.trace`; print it with `formatTrace`). @default false */
  trace?: boolean;
}

/** A two-state (Gilbert–Elliott) loss model, per transmitted segment. */
export interface GilbertElliott {
  goodToBad: number;
  badToGood: number;
  /** @default 0 */
  lossInGood?: number;
  /** @default 1 */
  lossInBad?: number;
}

/** What {@linkcode simulateUpload} found. */
export interface UploadResult {
  /**
   * `ok`: headers arrived in time. `timeout`: the watchdog fired (`phase`
   * says which limit). `hang`: the upload stalled and no limit was set to end
   * it: a real request would wait forever (`elapsedMs` is Infinity).
   */
  outcome: "ok" | "timeout" | "hang";
  /** The limit that fired. */
  phase?: Phase;
  /** From the request's start to the headers, the timeout, or Infinity for a hang. */
  elapsedMs: number;
  /** Body bytes the server had read by then. */
  bytesDelivered: number;
  /** Body bytes the runtime had pulled by then (the watchdog's `bytesSent`). */
  bytesSent: number;
  /** When the whole body was in the kernel send buffer (`writeEnd`: `headers` starts), if it got there. */
  uploadEndMs?: number;
  /**
   * From the stall to the timeout, when the request had stalled by then: the
   * drop, if it kept the response from ever coming; else the tarpit's onset.
   */
  stallDetectionMs?: number;
  /** Events, with `trace: true`. */
  trace?: UploadTraceEntry[];
  /**
   * With loss: segments put on the wire (first sendings and
   * retransmissions), how many were retransmissions, and how many
   * retransmission timeouts fired, over the whole upload (not cut at the
   * timeout).
   */
  loss?: { transmissions: number; retransmissions: number; timeouts: number };
}

/**
 * The mean overshoot of a refill past the send buffer's limit: half an skb
 * of 45 full segments (65,160 bytes with TSO at MTU 1500).
 */
export const SKB_OVERSHOOT_BYTES = (45 * SEGMENT_PAYLOAD_BYTES) / 2;
const DEFAULT_SEND_BUFFER = 4 * 1024 * 1024;
/**
 * The skb memory Linux budgets per segment when it grows a send buffer
 * (`tcp_sndbuf_expand`, net/ipv4/tcp_input.c): the worst case of one skb per
 * frame, its head kmalloc'ed in a power-of-two area. At MTU 1500:
 * roundup_pow_of_two(1460 MSS clamp + MAX_TCP_HEADER 320 + skb_shared_info
 * 320) + sk_buff 256 = 4096 + 256.
 */
export const SNDBUF_PER_SEGMENT_BYTES = 4352;
/**
 * Payload per byte of skb memory in a queue of full TSO skbs: the kernel lab
 * read 251 KiB of payload in a 256 KiB `tcp_wmem` (bench/README.md, stalls,
 * RTT 0), a 2 % overhead.
 */
export const PAYLOAD_PER_SKB_BYTE = 251 / 256;
/**
 * Payload capacity per byte of congestion window: `tcp_sndbuf_expand` sets
 * sk_sndbuf = 2 × cwnd (segments) × 4,352 (Cubic's 1.7 rounded up to 2:
 * room to refill the window during fast recovery), and that much skb memory
 * holds 98 % of it as payload: 2 × 4352 / 1448 × 0.98 ≈ 5.9.
 */
const GROWTH_PER_WINDOW_BYTE =
  ((2 * SNDBUF_PER_SEGMENT_BYTES) / SEGMENT_PAYLOAD_BYTES) * PAYLOAD_PER_SKB_BYTE;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;
/** The largest send buffer Linux allows (`sk_sndbuf` is an int). */
const MAX_BUFFER = 2 ** 31 - 1;
/** Linux will not go below about 4.6 kB (SOCK_MIN_SNDBUF); below 1 KiB the 2/3 wake is meaningless. */
const MIN_BUFFER = 1024;
/**
 * The smallest proxy upstream send buffer: Linux's `tcp_wmem[0]`, and a
 * bound on the lumps (a third of it each) a body is drained in.
 */
const MIN_PROXY_SEND_BUFFER = 4096;
const MAX_CHUNK = 16 * 1024 * 1024;
const INFINITY = Number.POSITIVE_INFINITY;

const PARAM_KEYS = new Set([
  "payloadBytes",
  "chunkBytes",
  "clientBitsPerSecond",
  "proxyBitsPerSecond",
  "proxyMode",
  "rttMs",
  "sendBufferBytes",
  "sendBufferGrowth",
  "receiveWindowBytes",
  "serverReadBytesPerSecond",
  "tarpitAtMs",
  "dropAtMs",
  "proxyBufferBytes",
  "proxySendBufferBytes",
  "upstreamRttMs",
  "upstreamDropAtMs",
  "proxyBurstBytes",
  "proxyPeakBitsPerSecond",
  "linkTrace",
  "linkTraceStartMs",
  "linkTraceOff",
  "slowStart",
  "wireOverhead",
  "timeouts",
  "timerLatenessMs",
  "seed",
  "trace",
  "lossRate",
  "lossBurstSegments",
  "gilbertElliott",
  "lostTransmissions",
  "congestionControl",
]);

function nonNegative(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number") {
    throw new TypeError(
      `Invalid option '${name}': expected a finite number >= 0, got ${describe(value)}`,
    );
  }
  if (!(value >= 0 && Number.isFinite(value))) {
    throw new RangeError(
      `Invalid option '${name}': expected a finite number >= 0, got ${describe(value)}`,
    );
  }
  return value;
}

/** A number in (0, ∞], Infinity meaning "not a limit"; or, with `zero`, in [0, ∞]. */
function positiveOrOff(name: string, value: unknown, zero = false): number {
  if (value === undefined) return INFINITY;
  const range = zero ? "a number >= 0, or Infinity (never)" : "a number > 0, or Infinity (off)";
  if (typeof value !== "number") {
    throw new TypeError(`Invalid option '${name}': expected ${range}, got ${describe(value)}`);
  }
  if (!(zero ? value >= 0 : value > 0)) {
    throw new RangeError(`Invalid option '${name}': expected ${range}, got ${describe(value)}`);
  }
  return value;
}

function integerOrOff(name: string, value: unknown, min: number): number {
  if (value === undefined || value === INFINITY) return INFINITY;
  if (typeof value !== "number") {
    throw new TypeError(
      `Invalid option '${name}': expected an integer >= ${min}, or Infinity (off), got ${describe(value)}`,
    );
  }
  if (!(Number.isSafeInteger(value) && value >= min)) {
    throw new RangeError(
      `Invalid option '${name}': expected an integer >= ${min}, or Infinity (off), got ${describe(value)}`,
    );
  }
  return value;
}

function flag(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") {
    throw new TypeError(`Invalid option '${name}': expected true or false, got ${describe(value)}`);
  }
  return value;
}

/** A number in [min, max]. */
function inRange(name: string, value: unknown, min: number, max: number, openMin = false): number {
  const range = `a number in ${openMin ? "(" : "["}${min}, ${max}]`;
  if (typeof value !== "number") {
    throw new TypeError(`Invalid option '${name}': expected ${range}, got ${describe(value)}`);
  }
  if (!(value <= max && (openMin ? value > min : value >= min))) {
    throw new RangeError(`Invalid option '${name}': expected ${range}, got ${describe(value)}`);
  }
  return value;
}

const GE_KEYS = new Set(["goodToBad", "badToGood", "lossInGood", "lossInBad"]);
/** Above this long-run loss rate TCP barely moves: a run would take hours of virtual time. */
const MAX_LOSS = 0.5;

/** The senders' reactions to loss the model has (`congestionControl`). */
export const CONGESTION_CONTROLS = ["cubic", "reno", "bbr"] as const;
/** One of {@linkcode CONGESTION_CONTROLS}. */
export type CongestionControl = (typeof CONGESTION_CONTROLS)[number];

/** The most transmissions `lostTransmissions` may name. */
const MAX_LOST_LIST = 1_000_000;

/** The loss model of the options, or undefined for a loss-free path. */
function lossOption(o: Record<string, unknown>): LossSpec | undefined {
  if (o.lostTransmissions !== undefined) {
    for (const key of ["lossRate", "lossBurstSegments", "gilbertElliott"] as const) {
      if (o[key] !== undefined) {
        throw new RangeError(
          `Invalid option '${key}': give either 'lostTransmissions' or '${key}', not both`,
        );
      }
    }
    const list = o.lostTransmissions;
    const range = `an array of at most ${MAX_LOST_LIST} integers >= 0`;
    if (!Array.isArray(list)) {
      throw new TypeError(
        `Invalid option 'lostTransmissions': expected ${range}, got ${describe(list)}`,
      );
    }
    if (list.length > MAX_LOST_LIST) {
      throw new RangeError(
        `Invalid option 'lostTransmissions': expected ${range}, got ${list.length} entries`,
      );
    }
    for (const [i, x] of list.entries()) {
      if (!(typeof x === "number" && Number.isSafeInteger(x) && x >= 0)) {
        throw new RangeError(
          `Invalid option 'lostTransmissions[${i}]': expected an integer >= 0, got ${describe(x)}`,
        );
      }
    }
    const lost = [...new Set(list as number[])].sort((a, b) => a - b);
    return lost.length > 0 ? { kind: "list", lost } : undefined;
  }
  if (o.gilbertElliott !== undefined) {
    for (const key of ["lossRate", "lossBurstSegments"] as const) {
      if (o[key] !== undefined) {
        throw new RangeError(
          `Invalid option '${key}': give either 'gilbertElliott' or 'lossRate' (with 'lossBurstSegments'), not both`,
        );
      }
    }
    const g = plainObject("gilbertElliott", o.gilbertElliott);
    checkKeys("gilbertElliott", g, GE_KEYS);
    const goodToBad = inRange("gilbertElliott.goodToBad", g.goodToBad, 0, 1, true);
    const badToGood = inRange("gilbertElliott.badToGood", g.badToGood, 0, 1, true);
    const lossInGood =
      g.lossInGood === undefined ? 0 : inRange("gilbertElliott.lossInGood", g.lossInGood, 0, 1);
    const lossInBad =
      g.lossInBad === undefined ? 1 : inRange("gilbertElliott.lossInBad", g.lossInBad, 0, 1);
    const longRun = (badToGood * lossInGood + goodToBad * lossInBad) / (goodToBad + badToGood);
    if (longRun > MAX_LOSS) {
      throw new RangeError(
        `Invalid option 'gilbertElliott': expected a long-run loss rate <= ${MAX_LOSS}, got ${longRun.toPrecision(3)}`,
      );
    }
    return { kind: "gilbert-elliott", goodToBad, badToGood, lossInGood, lossInBad };
  }
  const rate = o.lossRate === undefined ? 0 : inRange("lossRate", o.lossRate, 0, MAX_LOSS);
  if (o.lossBurstSegments === undefined) {
    return rate > 0 ? { kind: "bernoulli", rate } : undefined;
  }
  const burst = o.lossBurstSegments;
  if (typeof burst !== "number") {
    throw new TypeError(
      `Invalid option 'lossBurstSegments': expected a finite number >= 1, got ${describe(burst)}`,
    );
  }
  if (!(burst >= 1 && Number.isFinite(burst))) {
    throw new RangeError(
      `Invalid option 'lossBurstSegments': expected a finite number >= 1, got ${describe(burst)}`,
    );
  }
  if (rate === 0) return undefined;
  // Bad lasts `burst` segments on average and loses them all; good → bad
  // so that the bad state's share of time is the loss rate.
  const badToGood = 1 / burst;
  return {
    kind: "gilbert-elliott",
    goodToBad: Math.min(1, (badToGood * rate) / (1 - rate)),
    badToGood,
    lossInGood: 0,
    lossInBad: 1,
  };
}

function proxyModeOption(value: unknown): ProxyMode {
  if (value === undefined) return "streaming";
  if (value === "streaming" || value === "store-and-forward") return value;
  const text = `Invalid option 'proxyMode': expected "streaming" or "store-and-forward", got ${describe(value)}`;
  throw typeof value === "string" ? new RangeError(text) : new TypeError(text);
}

/**
 * The most rate-schedule pieces an upload may walk: a long upload over a
 * short, busy trace walks every piece of every loop (the curves cost 32
 * bytes a point). 2 M is hours over a trace of a few hundred pieces.
 */
const MAX_SCHEDULE_PIECES = 2_000_000;

/** Fails at construction when an upload would walk more than MAX_SCHEDULE_PIECES of a trace. */
function checkTraceWork(schedule: RateSchedule, payload: number): void {
  const { startsMs, bytesPerMs, periodMs } = schedule;
  let perLoop = 0;
  for (let i = 0; i < startsMs.length; i++) {
    const end = i + 1 < startsMs.length ? startsMs[i + 1]! : periodMs;
    perLoop += bytesPerMs[i]! * (end - startsMs[i]!);
  }
  // At the trace's own pace (other limits only make it longer: the
  // estimate is a floor).
  const pieces = Math.ceil(payload / perLoop) * startsMs.length;
  if (pieces > MAX_SCHEDULE_PIECES) {
    throw new RangeError(
      `Invalid option 'linkTrace': ${payload} bytes over this trace walk at least ${pieces} of its rate pieces (${startsMs.length} a loop), more than ${MAX_SCHEDULE_PIECES}; use a longer or steadier trace`,
    );
  }
}

/** Everything the run needs, validated, in bytes, bytes/ms and ms. */
interface Resolved {
  payload: number;
  chunk: number;
  /** Client link, payload bytes/ms. */
  client: number;
  /** Proxy upstream, payload bytes/ms. */
  proxy: number;
  proxyPeak: number;
  /** Bucket depth in payload bytes. */
  burst: number;
  mode: ProxyMode;
  rtt: number;
  buffer: number;
  growth: boolean;
  rwnd: number;
  /** Server read rate, bytes/ms. */
  serverRate: number;
  tarpitAt: number;
  dropAt: number;
  /** Bytes the streaming proxy holds; NaN: no proxy buffer (one pipe). */
  proxyBuffer: number;
  /** Its upstream send buffer; NaN: a smooth drain. */
  proxySendBuffer: number;
  upRtt: number;
  upDropAt: number;
  /** The proxy upstream's capacity over time (a link trace), if any. */
  schedule: RateSchedule | undefined;
  slowStart: boolean;
  limits: ResolvedLimits;
  lateness: number;
  seed: number;
  trace: boolean;
  /** The loss model; undefined: a loss-free path (the fluid model). */
  loss: LossSpec | undefined;
  /** The link trace's outages lose packets (`linkTraceOff: "drop"`). */
  dropWhileOff: boolean;
  cubic: boolean;
  bbr: boolean;
}

function resolve(params: unknown): Resolved {
  const o = plainObject("params", params);
  checkKeys("", o, PARAM_KEYS);
  const payload = integerOption("payloadBytes", o.payloadBytes, 1, MAX_SAFE);
  const chunk =
    o.chunkBytes === undefined
      ? DEFAULT_CHUNK_SIZE
      : integerOption("chunkBytes", o.chunkBytes, 1, MAX_CHUNK);
  const clientBits = positiveNumber("clientBitsPerSecond", o.clientBitsPerSecond);
  const linkTrace =
    o.linkTrace === undefined ? undefined : checkLinkTrace("linkTrace", o.linkTrace);
  // With a trace the trace is the link; a steady rate on top is optional.
  const proxyBits =
    linkTrace && o.proxyBitsPerSecond === INFINITY
      ? INFINITY
      : positiveNumber("proxyBitsPerSecond", o.proxyBitsPerSecond);
  if (o.linkTraceStartMs !== undefined && !linkTrace) {
    throw new RangeError(
      `Invalid option 'linkTraceStartMs': it needs 'linkTrace', got ${describe(o.linkTraceStartMs)}`,
    );
  }
  const traceStart = nonNegative("linkTraceStartMs", o.linkTraceStartMs, 0);
  const mode = proxyModeOption(o.proxyMode);
  const rtt = nonNegative("rttMs", o.rttMs, 0);
  const buffer =
    o.sendBufferBytes === undefined
      ? DEFAULT_SEND_BUFFER
      : integerOption("sendBufferBytes", o.sendBufferBytes, MIN_BUFFER, MAX_BUFFER);
  const growth = flag("sendBufferGrowth", o.sendBufferGrowth, true);
  const rwnd = integerOrOff("receiveWindowBytes", o.receiveWindowBytes, 1);
  const serverRead = positiveOrOff("serverReadBytesPerSecond", o.serverReadBytesPerSecond);
  const tarpitAt = nonNegative("tarpitAtMs", o.tarpitAtMs, 0);
  const dropAt = positiveOrOff("dropAtMs", o.dropAtMs, true);
  const proxyBuffer =
    o.proxyBufferBytes === undefined
      ? Number.NaN
      : integerOption("proxyBufferBytes", o.proxyBufferBytes, 1, MAX_SAFE);
  const proxySendBuffer =
    o.proxySendBufferBytes === undefined
      ? Number.NaN
      : integerOption(
          "proxySendBufferBytes",
          o.proxySendBufferBytes,
          MIN_PROXY_SEND_BUFFER,
          MAX_SAFE,
        );
  if (!Number.isNaN(proxySendBuffer) && !(proxySendBuffer <= proxyBuffer)) {
    throw new RangeError(
      Number.isNaN(proxyBuffer)
        ? `Invalid option 'proxySendBufferBytes': it is part of a streaming proxy's 'proxyBufferBytes', which is not set, got ${proxySendBuffer}`
        : `Invalid option 'proxySendBufferBytes': expected at most 'proxyBufferBytes' (${proxyBuffer}), of which it is part, got ${proxySendBuffer}`,
    );
  }
  const upRtt = nonNegative("upstreamRttMs", o.upstreamRttMs, 0);
  const upDropAt = positiveOrOff("upstreamDropAtMs", o.upstreamDropAtMs, true);
  if (mode === "streaming" && Number.isNaN(proxyBuffer)) {
    for (const key of ["upstreamRttMs", "upstreamDropAtMs"] as const) {
      if (o[key] !== undefined && o[key] !== 0 && o[key] !== INFINITY) {
        throw new RangeError(
          `Invalid option '${key}': a streaming proxy needs 'proxyBufferBytes' to have an upstream leg, got ${describe(o[key])}`,
        );
      }
    }
  }
  if (mode === "store-and-forward" && !Number.isNaN(proxyBuffer)) {
    throw new RangeError(
      `Invalid option 'proxyBufferBytes': a store-and-forward proxy holds the whole body, got ${proxyBuffer} with proxyMode "store-and-forward"`,
    );
  }
  const burstWire =
    o.proxyBurstBytes === undefined
      ? 0
      : integerOption("proxyBurstBytes", o.proxyBurstBytes, 0, MAX_SAFE);
  const peakBits = positiveOrOff("proxyPeakBitsPerSecond", o.proxyPeakBitsPerSecond);
  const slowStart = flag("slowStart", o.slowStart, true);
  const overhead = flag("wireOverhead", o.wireOverhead, true);
  const limits = resolveLimits(o.timeouts ?? {}, DEFAULT_LIMITS, "timeouts");
  const lateness = nonNegative("timerLatenessMs", o.timerLatenessMs, 0);
  const seed = o.seed === undefined ? 0 : integerOption("seed", o.seed, 0, 2 ** 32 - 1);
  const trace = flag("trace", o.trace, false);
  const traceOff = o.linkTraceOff ?? "hold";
  if (traceOff !== "hold" && traceOff !== "drop") {
    const text = `Invalid option 'linkTraceOff': expected "hold" or "drop", got ${describe(traceOff)}`;
    throw typeof traceOff === "string" ? new RangeError(text) : new TypeError(text);
  }
  const dropWhileOff = traceOff === "drop";
  if (dropWhileOff && linkTrace === undefined) {
    throw new RangeError(
      `Invalid option 'linkTraceOff': "drop" is what a link trace's outages do, got it without 'linkTrace'`,
    );
  }
  // A dead radio's losses run through the segment-level sender, with or without random loss.
  const loss = lossOption(o) ?? (dropWhileOff ? NO_RANDOM_LOSS : undefined);
  const cc = o.congestionControl ?? "cubic";
  if (!CONGESTION_CONTROLS.includes(cc as CongestionControl)) {
    const text = `Invalid option 'congestionControl': expected "cubic", "reno" or "bbr", got ${describe(cc)}`;
    throw typeof cc === "string" ? new RangeError(text) : new TypeError(text);
  }
  if (loss) {
    const other =
      mode !== "streaming"
        ? ["proxyMode", mode]
        : !Number.isNaN(proxyBuffer)
          ? ["proxyBufferBytes", proxyBuffer]
          : serverRead !== INFINITY
            ? ["serverReadBytesPerSecond", serverRead]
            : undefined;
    if (other) {
      throw new RangeError(
        `Invalid option '${other[0]}': loss is modelled on a streaming path without a proxy buffer or a tarpit, got ${describe(other[1])} with ${loss === NO_RANDOM_LOSS ? `linkTraceOff "drop"` : "loss"}`,
      );
    }
  }

  // Wire bits/s to payload bytes/ms.
  const toPayload = (bits: number): number =>
    (overhead ? goodputBitsPerSecond(bits) : bits) / 8 / 1000;
  // A trace's packet carries a full segment's payload (1,448 B with TCP
  // timestamps in a 1,500-byte packet), or 1,500 payload bytes without overhead.
  const schedule = linkTrace
    ? rateScheduleOf(
        linkTrace,
        overhead ? SEGMENT_PAYLOAD_BYTES : LINK_TRACE_PACKET_BYTES,
        traceStart,
      )
    : undefined;
  if (schedule) checkTraceWork(schedule, payload);
  return {
    payload,
    chunk,
    client: toPayload(clientBits),
    proxy: toPayload(proxyBits),
    proxyPeak: toPayload(peakBits),
    burst: overhead ? goodputBitsPerSecond(burstWire) : burstWire,
    mode,
    rtt,
    buffer,
    // A connection without slow start is warm: its buffer grew long ago.
    growth: growth && slowStart,
    rwnd,
    serverRate: serverRead / 1000,
    tarpitAt: serverRead === INFINITY ? INFINITY : tarpitAt,
    dropAt,
    proxyBuffer,
    proxySendBuffer,
    upRtt,
    upDropAt,
    schedule,
    slowStart,
    limits,
    lateness,
    seed,
    trace,
    loss,
    dropWhileOff,
    cubic: cc === "cubic",
    bbr: cc === "bbr",
  };
}

/**
 * The largest congestion window (payload bytes) a loss-free sender's buffer
 * grows with. Where the bottleneck is the sender's own link — the client's
 * link (`clientBitsPerSecond`) is the narrowest, within 5 % (framing), so
 * the queue is the sender's own qdisc, as `tc tbf` on the client's egress
 * in the kernel lab — TCP small queues (`tcp_small_queue_check`) keep that
 * queue to two skbs, so what is out stays the pipe plus two skbs, and slow
 * start grows cwnd only while it is under twice what is out
 * (`tcp_is_cwnd_limited`): it stops at 2 × (rate × RTT + 2 skbs), and the
 * buffer (`tcp_sndbuf_expand`) with it. An skb holds 1 ms of the pacing
 * rate (2 × cwnd per RTT in slow start, about 4 × the rate there;
 * `tcp_tso_autosize`), 2 to 45 segments. Where the queue is beyond the
 * sender — a slower proxy upstream or link trace (a modem's, a proxy's
 * queue), or a proxy that holds bytes — what is out grows with cwnd and
 * nothing stops it: no cap. A store-and-forward proxy's client leg runs at
 * the client's link: capped at its rate.
 */
function growthWindowCap(p: {
  mode: ProxyMode;
  proxyBuffer: number;
  client: number;
  proxy: number;
  schedule: RateSchedule | undefined;
  rtt: number;
}): number {
  const streaming = p.mode === "streaming";
  if (streaming && !Number.isNaN(p.proxyBuffer)) return INFINITY;
  const rate = p.client;
  if (!(rate < INFINITY)) return INFINITY;
  if (streaming) {
    const beyond = Math.min(p.proxy, p.schedule ? onRate(p.schedule) : INFINITY);
    if (rate > LOCAL_BOTTLENECK_SLACK * beyond) return INFINITY;
  }
  const pacedPerMs = (4 * rate) / SEGMENT_PAYLOAD_BYTES;
  const skb = Math.max(2, Math.min(45, Math.floor(pacedPerMs)));
  const queued = Math.max(2 * skb, pacedPerMs) * SEGMENT_PAYLOAD_BYTES;
  return Math.max(INITIAL_WINDOW_BYTES, 2 * (rate * p.rtt + queued));
}

/** The client's link counts as the bottleneck up to this factor above the rest (framing differs). */
const LOCAL_BOTTLENECK_SLACK = 1.05;

/** A trace's mean capacity while it is on (payload bytes/ms). */
function onRate(schedule: RateSchedule): number {
  const { startsMs, bytesPerMs, periodMs } = schedule;
  let bytes = 0;
  let ms = 0;
  for (let k = 0; k < startsMs.length; k++) {
    const len = (k + 1 < startsMs.length ? startsMs[k + 1]! : periodMs) - startsMs[k]!;
    if (bytesPerMs[k]! > 0) {
      bytes += bytesPerMs[k]! * len;
      ms += len;
    }
  }
  return ms > 0 ? bytes / ms : INFINITY;
}

/**
 * Simulates one upload under the real watchdog and reports what it did: the
 * outcome, the limit that fired, when, how many bytes reached the server,
 * how long a stall took to detect, and (with `trace: true`) every event.
 * Same parameters, same result and trace, on every run and runtime.
 *
 * @param params The upload, the path and the limits.
 * @returns What happened.
 * @throws {TypeError} For an unknown key or a wrong type (the message names the parameter).
 * @throws {RangeError} For a value out of range (the message names the parameter and the range).
 *
 * @example
 * ```ts
 * import { simulateUpload } from "timebound/sim";
 * // The seed's story: 2.4 MB through a residential proxy with a 2 Mbit/s uplink.
 * const path = {
 *   payloadBytes: 2_400_000, clientBitsPerSecond: 100e6, proxyBitsPerSecond: 2e6,
 *   rttMs: 150, sendBufferBytes: 512 * 1024,
 * };
 * // Ten seconds for the whole body: the body alone needs 10 s on the wire.
 * const whole = simulateUpload({ ...path, chunkBytes: 2_400_000, timeouts: { total: "10s" } });
 * console.assert(whole.outcome === "timeout" && whole.phase === "total");
 * // Streamed in 16 KiB chunks under an idle write limit: it finishes.
 * const chunked = simulateUpload({ ...path, chunkBytes: 16_384, timeouts: { writeIdle: "3s", total: "60s" } });
 * console.assert(chunked.outcome === "ok" && chunked.elapsedMs > 10_000);
 * // 1 % of the segments lost: slower, and the same seed gives the same run.
 * const lossy = { ...path, chunkBytes: 16_384, lossRate: 0.01, seed: 7, timeouts: { total: "90s" } };
 * const once = simulateUpload(lossy);
 * console.assert(once.outcome === "ok" && once.elapsedMs > chunked.elapsedMs);
 * console.assert(simulateUpload(lossy).elapsedMs === once.elapsedMs && once.loss!.retransmissions > 0);
 * ```
 */
export function simulateUpload(params: UploadParams): UploadResult {
  return new UploadRun(resolve(params)).run();
}

const INITIAL_WINDOW_BYTES = INITIAL_WINDOW_SEGMENTS * SEGMENT_PAYLOAD_BYTES;
/**
 * What a tarpit's kernel holds for it behind a proxy when
 * `receiveWindowBytes` is not given: Linux's `tcp_rmem[1]`, 128 KiB. The
 * receive buffer grows past it only as fast as the application reads
 * (`tcp_rcv_space_adjust`, net/ipv4/tcp_input.c, sizes it to what was
 * copied to the reader per RTT), and a tarpit reads next to nothing. With
 * `tcp_rmem[2]` (6 MiB) here, the model let a 5 MB body vanish into the
 * server and predicted `headers` or `total`; the proxy lab's tarpit took
 * 0.0–0.3 MB beyond what the proxy held, and `writeIdle` fired at 3.6–5.5 s.
 */
const SERVER_WINDOW_BYTES = 128 * 1024;
const OUTCOME_NONE = 0;
const OUTCOME_OK = 1;
const OUTCOME_TIMEOUT = 2;

/**
 * The last lossy curve built, by its spec: a sweep runs each trial's path
 * once per total deadline, and the sender's curve depends on the path and
 * the seed alone (not on chunks or limits). Curves are read-only once built.
 */
let lastLossKey = "";
/** Identities of schedules' arrays, for the cache key (a trace's pieces are shared). */
const scheduleIds = new WeakMap<Float64Array, number>();
let scheduleCount = 0;
function scheduleId(a: Float64Array): number {
  let id = scheduleIds.get(a);
  if (id === undefined) {
    id = scheduleCount++;
    scheduleIds.set(a, id);
  }
  return id;
}
let lastLossy: ReturnType<typeof buildLossyCurve> | undefined;
function lossyCurve(
  spec: Parameters<typeof buildLossyCurve>[0],
): ReturnType<typeof buildLossyCurve> {
  const sc = spec.schedule;
  const key = JSON.stringify(
    {
      ...spec,
      schedule: sc && [
        scheduleId(sc.startsMs),
        scheduleId(sc.bytesPerMs),
        sc.periodMs,
        sc.offsetMs,
      ],
    },
    (_, v) => (v === INFINITY ? "Infinity" : v),
  );
  if (key !== lastLossKey || !lastLossy) {
    lastLossy = buildLossyCurve(spec);
    lastLossKey = key;
  }
  return lastLossy;
}

/** `linkTraceOff: "drop"` without random loss: the segment-level sender, nothing lost but in outages. */
const NO_RANDOM_LOSS: LossSpec = { kind: "bernoulli", rate: 0 };

function describeLoss(loss: LossSpec): string {
  const pct = (x: number) => `${Number((x * 100).toPrecision(3))} %`;
  if (loss === NO_RANDOM_LOSS) return "no random loss";
  if (loss.kind === "bernoulli") return `${pct(loss.rate)} random loss`;
  if (loss.kind === "list")
    return `a replayed loss pattern (${loss.lost.length} transmissions lost)`;
  const longRun =
    (loss.badToGood * loss.lossInGood + loss.goodToBad * loss.lossInBad) /
    (loss.goodToBad + loss.badToGood);
  return `${pct(longRun)} bursty loss, bursts of ${Number((1 / loss.badToGood).toPrecision(3))} segments on average`;
}

function mbit(bytesPerMs: number): string {
  return `${((bytesPerMs * 8) / 1000).toPrecision(3)} Mbit/s`;
}

/** One upload: the writer against the ACK curve, the watchdog on the clock. */
class UploadRun {
  private readonly p: Resolved;
  private readonly clock = new VirtualClock();
  private readonly wd: Watchdog;
  /** X(t) of the client's leg. */
  private readonly sent: SendCurve;
  /** The proxy's sending curve in store-and-forward mode. */
  private readonly forward: SendCurve | undefined;
  /** What the server has read, with a proxy buffer. */
  private readonly served: SendCurve | undefined;
  private readonly headersAt: number;
  /** Queue length at which the writer wakes once the buffer is at its ceiling: 2/3 of it. */
  private readonly wakeQueue: number;
  private readonly trace: UploadTraceEntry[] | undefined;
  /** With loss: the sender's recovery events, and its counts. */
  private lossEvents: LossEvent[] | undefined;
  /** With loss: the largest cwnd by bytes acknowledged (the send buffer grows with it). */
  private windowSteps: { ackedAt: number[]; cwndAt: number[] } | undefined;
  /** The largest cwnd (payload bytes) the loss-free buffer grows with: {@linkcode growthWindowCap}. */
  private readonly windowGrowthCap: number;
  private lossStats: UploadResult["loss"];

  private written = 0;
  private held = 0;
  private handed = 0;
  private chunks = 0;
  private bodyEnded = false;
  private uploadEndMs = Number.NaN;
  private wakeHandle: unknown;
  private headersHandle: unknown;
  private outcome = OUTCOME_NONE;
  private phase: Phase | undefined;
  private endedAt = INFINITY;
  private filling = false;
  private timeoutNote = "";

  private readonly onStart = (): void => {
    this.fill(0, this.bufferAt(0));
  };
  private readonly onWake = (): void => {
    this.wakeHandle = undefined;
    if (this.outcome !== OUTCOME_NONE) return;
    const now = this.clock.now();
    this.record(now, "wake", 0, `queue drained to 2/3 of the buffer: writable`);
    // A woken writer refills the third that drained, and then some: Linux's
    // tcp_sendmsg checks the buffer limit only before it starts a new skb,
    // and first tops up the current one (up to 45 segments with TSO). So
    // each refill overshoots by 0 to one skb; the model takes half of one.
    // Measured under tc on this kernel: without it, pull gaps came out
    // 30–46 % short (bench/README.md, "Kernel validation").
    const acked = this.wakeAcked;
    this.fill(now, this.bufferAt(acked) - (this.written - acked) + SKB_OVERSHOOT_BYTES);
  };
  /** Acknowledged bytes at the pending wake-up. */
  private wakeAcked = 0;
  private readonly onHeaders = (): void => {
    this.headersHandle = undefined;
    if (this.outcome !== OUTCOME_NONE) return;
    const wd = this.wd;
    wd.headersReceived();
    // headersReceived() checks the clock too: a limit due at this very
    // instant may have fired from inside it.
    if (this.outcome !== OUTCOME_NONE) return;
    wd.end();
    this.outcome = OUTCOME_OK;
    this.endedAt = this.clock.now();
    this.record(this.endedAt, "headers", 0, "response headers arrived: done");
  };

  constructor(p: Resolved) {
    this.p = p;
    this.trace = p.trace ? [] : undefined;
    this.wakeQueue = (2 * p.buffer) / 3;
    this.windowGrowthCap = growthWindowCap(p);
    const streaming = p.mode === "streaming";
    // Bytes that reach the proxy after it goes silent are lost; it sits at
    // the far end of the RTT, so that is what was sent before drop − RTT/2.
    const cut = p.dropAt - p.rtt / 2;
    if (streaming && !Number.isNaN(p.proxyBuffer)) {
      const legs = this.proxyLegs();
      this.sent = legs.client;
      this.served = legs.served;
      this.headersAt = legs.served.endMs + p.upRtt / 2 + p.rtt / 2;
      this.wd = this.watchdog();
      return;
    }
    const link: LinkSpec = {
      startMs: 0,
      bytes: p.payload,
      rate: p.client,
      shaperRate: streaming ? p.proxy : INFINITY,
      shaperPeak: streaming ? p.proxyPeak : INFINITY,
      burstBytes: streaming ? p.burst : 0,
      tarpitAtMs: streaming ? p.tarpitAt : INFINITY,
      tarpitRate: p.serverRate,
      rttMs: p.rtt,
      slowStart: p.slowStart,
      initialWindow: INITIAL_WINDOW_SEGMENTS * SEGMENT_PAYLOAD_BYTES,
      // The writer refills at 2/3 of the buffer, so at least that much is
      // queued: capping in-flight there keeps the link from waiting on it.
      windowCap: Math.min(p.rwnd, Math.floor(this.wakeQueue)),
      cutAtMs: cut,
      pauses: streaming ? this.outages() : undefined,
    };
    if (p.loss) {
      const lossy = lossyCurve({
        bytes: p.payload,
        rate: link.rate,
        shaperRate: link.shaperRate,
        shaperPeak: link.shaperPeak,
        burstBytes: link.burstBytes,
        rttMs: p.rtt,
        slowStart: p.slowStart,
        initialWindow: link.initialWindow,
        windowCap: link.windowCap,
        schedule: streaming ? p.schedule : undefined,
        dropWhileOff: p.dropWhileOff,
        cutAtMs: cut,
        loss: p.loss,
        beta: p.cubic ? 0.7 : 0.5,
        cubic: p.cubic,
        bbr: p.bbr,
        seed: p.seed,
      });
      this.sent = lossy.curve;
      this.lossEvents = lossy.events;
      this.windowSteps = { ackedAt: lossy.ackedAt, cwndAt: lossy.cwndAt };
      this.lossStats = {
        transmissions: lossy.transmissions,
        retransmissions: lossy.retransmissions,
        timeouts: lossy.timeouts,
      };
    } else {
      this.sent = this.traced(buildSendCurve(link), streaming, cut);
    }
    if (streaming) {
      this.headersAt = this.sent.endMs + p.rtt;
    } else {
      // nginx reads the whole body first, then sends it upstream over a
      // warm connection (no slow start, no window limit on that leg).
      // The upstream leg's RTT (0 unless set) puts the server further away.
      const arrived = this.sent.endMs + p.rtt / 2;
      if (arrived < p.dropAt) {
        this.forward = buildSendCurve({
          startMs: arrived,
          bytes: p.payload,
          rate: INFINITY,
          shaperRate: p.proxy,
          shaperPeak: p.proxyPeak,
          burstBytes: p.burst,
          tarpitAtMs: p.tarpitAt - p.upRtt / 2,
          tarpitRate: p.serverRate,
          rttMs: 0,
          slowStart: false,
          initialWindow: INFINITY,
          windowCap: INFINITY,
          // A black hole upstream: what the proxy sends after it is lost.
          cutAtMs: Math.min(p.dropAt, p.upDropAt - p.upRtt / 2),
          pauses: this.outages(),
        });
        this.forward = this.traced(
          this.forward,
          true,
          Math.min(p.dropAt, p.upDropAt - p.upRtt / 2),
        );
        this.headersAt = this.forward.endMs + p.upRtt + p.rtt / 2;
      } else {
        this.headersAt = INFINITY;
      }
    }

    this.wd = this.watchdog();
  }

  /**
   * The link trace's outages, for the leg whose link it is: no ACKs come
   * back then, so its slow start waits (sim/_rate_schedule.ts).
   */
  private outages(): RateSchedule | undefined {
    return this.p.schedule ? outagesOf(this.p.schedule) : undefined;
  }

  /**
   * The proxy's upstream leg through the link trace, if there is one (it
   * is that leg's link): the leg's curve served by the trace's capacity,
   * with a queue in front (sim/_served.ts).
   */
  private traced(curve: SendCurve, upstream: boolean, cutAtMs: number): SendCurve {
    const schedule = this.p.schedule;
    return schedule && upstream ? servedThrough(curve, schedule, cutAtMs) : curve;
  }

  private watchdog(): Watchdog {
    const p = this.p;
    let clock: Clock = this.clock;
    if (p.lateness > 0) {
      const vc = this.clock;
      const rng = xoroshiro128plus(p.seed);
      const late = p.lateness / 2 ** 32;
      clock = {
        now: () => vc.now(),
        setTimer: (fn, ms) => vc.setTimer(fn, ms + (rng.next() >>> 0) * late),
        clearTimer: (h) => vc.clearTimer(h),
      };
    }
    return new Watchdog({
      clock,
      limits: p.limits,
      onExpire: (e) => {
        this.outcome = OUTCOME_TIMEOUT;
        this.phase = e.phase;
        this.endedAt = this.clock.now();
        this.clock.clearTimer(this.wakeHandle);
        this.clock.clearTimer(this.headersHandle);
        if (this.trace) {
          this.timeoutNote = `${e.phase} (${e.limitMs} ms) fired: ${formatBytes(e.bytesSent)} pulled`;
          // Fired by a pull's own check: noted after that write.
          if (!this.filling) this.noteTimeout();
        }
      },
    });
  }

  /**
   * The two legs of a path through a streaming proxy that holds bytes
   * (fluid, as min-plus bounds on X(t), every curve piecewise-linear):
   * - the proxy's upstream could send U(t): from the first byte's arrival
   *   (RTT/2), at its uplink (token bucket and all), on a warm connection;
   *   cut by a black hole upstream, or by the proxy's own silence;
   * - a tarpit bounds it: the proxy sends at most the server's receive
   *   window beyond what the server has read (known upstream RTT/2 later);
   * - the client leg X(t) is its own curve (slow start, send buffer), but
   *   never more than the proxy's buffer beyond what the proxy had sent
   *   half an RTT before: X(t) ≤ U(t − RTT/2) + proxyBufferBytes. (U is
   *   what the proxy could send with data: when that bound binds, its
   *   buffer is full, so it has data.);
   * - the proxy sends min(U, what has arrived), and the server reads
   *   min(that, upstream RTT/2 later; the tarpit's pace).
   * A proxy buffer below the client leg's bandwidth-delay product makes U
   * optimistic (the proxy would starve); real ones hold 0.1–2.7 MB.
   */
  private proxyLegs(): { client: SendCurve; served: SendCurve } {
    const p = this.p;
    const half = p.rtt / 2;
    const upHalf = p.upRtt / 2;
    const clientLeg = buildSendCurve({
      startMs: 0,
      bytes: p.payload,
      rate: p.client,
      shaperRate: INFINITY,
      shaperPeak: INFINITY,
      burstBytes: 0,
      tarpitAtMs: INFINITY,
      tarpitRate: p.serverRate,
      rttMs: p.rtt,
      slowStart: p.slowStart,
      initialWindow: INITIAL_WINDOW_BYTES,
      windowCap: Math.floor(this.wakeQueue),
      cutAtMs: p.dropAt - half,
    });
    const upstream0 = buildSendCurve({
      startMs: half,
      bytes: p.payload,
      // The proxy's buffered bytes leave no faster than the client's link
      // brought them: keeps U continuous (a token burst is not a jump).
      rate: p.client,
      shaperRate: p.proxy,
      shaperPeak: p.proxyPeak,
      burstBytes: p.burst,
      tarpitAtMs: INFINITY,
      tarpitRate: p.serverRate,
      rttMs: p.upRtt,
      slowStart: false,
      initialWindow: INFINITY,
      windowCap: INFINITY,
      cutAtMs: Math.min(p.dropAt, p.upDropAt - upHalf),
      pauses: this.outages(),
    });
    const upstream = this.traced(upstream0, true, Math.min(p.dropAt, p.upDropAt - upHalf));
    const up = [pointsOf(upstream)];
    let reads: ReturnType<typeof lineFrom> | undefined;
    if (p.tarpitAt !== INFINITY) {
      // What the server had read at the onset: all that reached it.
      const sentBy = p.tarpitAt - upHalf;
      const atOnset = Math.min(upstream.valueAt(sentBy), clientLeg.valueAt(sentBy - half));
      reads = lineFrom(p.tarpitAt, atOnset, p.serverRate, LIMIT_TARPIT);
      // Linux's tcp_rmem[1] when no receive window is given (a slow reader never grows it).
      const window = p.rwnd === INFINITY ? SERVER_WINDOW_BYTES : p.rwnd;
      const from = p.tarpitAt + upHalf;
      up.push(
        lineFrom(
          from,
          Math.max(atOnset + window, upstream.valueAt(from)),
          p.serverRate,
          LIMIT_TARPIT,
        ),
      );
    }
    const u = up.length === 1 ? up[0]! : lowerEnvelope(up);
    const client = curveOf(
      lowerEnvelope([
        pointsOf(clientLeg),
        shifted(this.proxyHolds(u), half, 0, p.proxyBuffer, LIMIT_PROXY_BUFFER),
      ]),
      p.payload,
    );
    const forwarded = lowerEnvelope([u, shifted(pointsOf(client), half, 0, 0)]);
    const atServer = shifted(forwarded, upHalf, 0, 0);
    const served = curveOf(reads ? lowerEnvelope([atServer, reads]) : atServer, p.payload);
    return { client, served };
  }

  /**
   * The most the proxy has taken from the client by each moment of its own
   * clock: what it could send upstream (`u`) plus its buffer; or, with an
   * upstream send buffer S, what its writer has put into that socket plus
   * the rest of its buffer. The writer tops the socket up to S and blocks;
   * it wakes when the queue is down to 2/3 of S (once `u` reaches what it
   * wrote − 2/3·S) and takes S/3 more, which the client sends at its link's
   * rate: a staircase, so the proxy holds B − S/3 … B.
   */
  private proxyHolds(u: Points): Points {
    const p = this.p;
    const b = p.proxyBuffer;
    const s = p.proxySendBuffer;
    if (Number.isNaN(s)) return shifted(u, 0, b, b);
    const upstream = curveOf(u, p.payload);
    const out: Points = { ts: [u.ts[0]!], xs: [b], infos: [LIMIT_PROXY_BUFFER], before: b };
    let written = s;
    while (written < p.payload) {
      let at = upstream.timeOf(written - (2 * s) / 3);
      if (at === INFINITY) break;
      if (at <= out.ts.at(-1)!) at = out.ts.at(-1)! + 1e-9;
      const next = Math.min(written + s / 3, p.payload);
      out.ts.push(at, at + Math.max(1e-9, (next - written) / p.client));
      out.xs.push(written - s + b, next - s + b);
      out.infos.push(LIMIT_PROXY_BUFFER, LIMIT_PROXY_BUFFER);
      written = next;
    }
    return out;
  }

  run(): UploadResult {
    const clock = this.clock;
    clock.schedule(0, this.onStart);
    // Notes first: at equal times they describe the state before the headers.
    if (this.trace) this.scheduleNotes();
    if (this.headersAt !== INFINITY)
      this.headersHandle = clock.schedule(this.headersAt, this.onHeaders);
    // The engine's default bound on events (10 M) stops a runaway model:
    // a 2.4 MB upload takes a few dozen.
    clock.run();
    const p = this.p;
    const result: UploadResult = {
      outcome:
        this.outcome === OUTCOME_OK ? "ok" : this.outcome === OUTCOME_TIMEOUT ? "timeout" : "hang",
      elapsedMs: this.endedAt,
      bytesDelivered: this.delivered(this.endedAt),
      bytesSent: this.wd.bytesSent,
    };
    if (this.phase !== undefined) result.phase = this.phase;
    if (this.bodyEnded) result.uploadEndMs = this.uploadEndMs;
    if (this.outcome === OUTCOME_NONE) {
      this.record(INFINITY, "hang", 0, "stalled with no limit set: a real request waits forever");
    }
    if (this.outcome === OUTCOME_TIMEOUT) {
      // The stall: the drop, if it kept the response from ever coming and
      // came before the timeout (nothing moves after it, whatever else
      // happened); else the tarpit's onset, if the server reads slower than
      // the links carry.
      const links = p.mode === "streaming" ? Math.min(p.client, p.proxy) : p.proxy;
      let stallAt = INFINITY;
      const dropAt = Math.min(p.dropAt, p.upDropAt);
      if (dropAt <= this.endedAt && this.headersAt === INFINITY) stallAt = dropAt;
      else if (p.serverRate < links && p.tarpitAt <= this.endedAt) stallAt = p.tarpitAt;
      if (stallAt !== INFINITY) result.stallDetectionMs = this.endedAt - stallAt;
    }
    if (this.lossStats) result.loss = this.lossStats;
    if (this.trace) result.trace = this.trace;
    return result;
  }

  /** Bytes acknowledged (gone from the send buffer) at `t`. */
  private acked(t: number): number {
    // Exactly, not (end + RTT) − RTT in floating point.
    if (this.outcome === OUTCOME_OK) return this.p.payload;
    return this.sent.valueAt(t - this.p.rtt);
  }

  /** Bytes the server has read at `t`. */
  private delivered(t: number): number {
    if (this.outcome === OUTCOME_OK) return this.p.payload;
    if (this.served) return this.served.valueAt(t);
    if (this.forward) return this.forward.valueAt(t - this.p.upRtt / 2);
    if (this.p.mode !== "streaming") return 0;
    return this.sent.valueAt(t - this.p.rtt / 2);
  }

  /**
   * The runtime at a writable socket: it copies what it holds into the
   * buffer's `free` bytes, pulling the next chunk each time the last one is
   * all in, until the buffer is full or the body is done. All at one
   * instant, in one event, whatever the number of chunks.
   */
  private fill(now: number, freeBytes: number): void {
    const p = this.p;
    const wd = this.wd;
    let free = Math.floor(freeBytes + 1e-9);
    let pulls = 0;
    let copied = 0;
    const first = this.chunks + 1;
    this.filling = true;
    for (;;) {
      if (this.held === 0) {
        if (this.handed === p.payload) {
          // The runtime pulls once more and finds the end of the body.
          wd.writePull();
          if (this.outcome !== OUTCOME_NONE) break;
          wd.writeEnd();
          this.bodyEnded = true;
          this.uploadEndMs = now;
          break;
        }
        if (this.chunks === 0) wd.writeStart();
        else wd.writePull();
        if (this.outcome !== OUTCOME_NONE) break;
        const piece = Math.min(p.chunk, p.payload - this.handed);
        this.handed += piece;
        this.held = piece;
        this.chunks++;
        pulls++;
        wd.wrote(piece);
        if (this.outcome !== OUTCOME_NONE) break;
      }
      if (free === 0) break;
      const k = Math.min(this.held, free);
      this.written += k;
      this.held -= k;
      free -= k;
      copied += k;
    }
    this.filling = false;
    if (this.trace) {
      this.noteWrite(now, first, pulls, copied);
      if (this.outcome === OUTCOME_TIMEOUT) this.noteTimeout();
    }
    if (this.outcome !== OUTCOME_NONE || this.bodyEnded) return;
    // Blocked with part of a chunk: Linux wakes the writer when the queue is
    // down to 2/3 of the buffer, i.e. once ACKs reach written − 2/3·buffer.
    // A growing buffer (2/3 of it is g·(IW + acked)) is there sooner:
    // written − a ≤ (2/3)·g·(IW + a) once a ≥ (written − (2/3)·g·IW) / (1 + (2/3)·g).
    let target = this.written - this.wakeQueue;
    if (p.growth && this.windowSteps) {
      target = this.lossyWakeTarget();
    } else if (p.growth) {
      // With cwnd capped at W (the sender's own queue is the bottleneck),
      // the buffer stops at g·W: the queue must also be down to (2/3)·g·W.
      const g = (2 / 3) * GROWTH_PER_WINDOW_BYTE;
      target = Math.max(
        target,
        (this.written - g * INITIAL_WINDOW_BYTES) / (1 + g),
        this.written - g * this.windowGrowthCap,
      );
    }
    this.wakeAcked = Math.max(0, target);
    const wakeAt = this.sent.timeOf(target) + p.rtt;
    if (wakeAt !== INFINITY) this.wakeHandle = this.clock.schedule(wakeAt, this.onWake);
  }

  /**
   * The send buffer's payload capacity once `acked` bytes are acknowledged:
   * Linux grows it on ACKs to 2 × cwnd segments of skb memory, and in slow
   * start (no loss here) cwnd = IW + acked. From 85 kB at connection setup
   * (`tcp_init_buffer_space` expands the 16 KiB `tcp_wmem[1]` at once).
   */
  private bufferAt(acked: number): number {
    const p = this.p;
    if (!p.growth) return p.buffer;
    const steps = this.windowSteps;
    if (steps) {
      // With loss, cwnd is no longer IW + acked: the largest cwnd at which
      // the window was not full after sending (tcp_should_expand_sndbuf).
      let k = steps.ackedAt.length - 1;
      while (k > 0 && steps.ackedAt[k]! > acked) k--;
      const window = Math.max(INITIAL_WINDOW_BYTES, steps.cwndAt[k]! * SEGMENT_PAYLOAD_BYTES);
      return Math.min(p.buffer, GROWTH_PER_WINDOW_BYTE * window);
    }
    const window = Math.min(INITIAL_WINDOW_BYTES + acked, this.windowGrowthCap);
    return Math.min(p.buffer, GROWTH_PER_WINDOW_BYTE * window);
  }

  /**
   * With loss: the fewest acknowledged bytes at which the queue
   * (written − acked) is down to 2/3 of the buffer then (a step function
   * of acked), or the ceiling's wake point.
   */
  private lossyWakeTarget(): number {
    const { ackedAt, cwndAt } = this.windowSteps!;
    const written = this.written;
    for (let k = 0; k < ackedAt.length; k++) {
      const window = Math.max(INITIAL_WINDOW_BYTES, cwndAt[k]! * SEGMENT_PAYLOAD_BYTES);
      const buffer = Math.min(this.p.buffer, GROWTH_PER_WINDOW_BYTE * window);
      const a = Math.max(ackedAt[k]!, written - (2 / 3) * buffer);
      if (k === ackedAt.length - 1 || a < ackedAt[k + 1]!) return a;
    }
    return written;
  }

  // --- trace --------------------------------------------------------------

  private record(atMs: number, event: UploadTraceEntry["event"], pulls: number, detail: string) {
    if (!this.trace) return;
    const acked = this.acked(atMs);
    this.trace.push({
      atMs,
      event,
      pulls,
      handedBytes: this.handed,
      queuedBytes: this.written - acked,
      ackedBytes: acked,
      deliveredBytes: this.delivered(atMs),
      detail,
    });
  }

  private noteTimeout(): void {
    this.record(this.endedAt, "timeout", 0, this.timeoutNote);
  }

  private noteWrite(now: number, first: number, pulls: number, copied: number): void {
    if (pulls === 0 && copied === 0 && !this.bodyEnded) return;
    const last = this.chunks;
    const chunks =
      pulls === 0 ? "" : pulls === 1 ? `pulled chunk ${last}` : `pulled chunks ${first}–${last}`;
    const into = `${formatBytes(copied)} into the send buffer`;
    this.record(
      now,
      "write",
      pulls,
      chunks ? `${chunks}, ${into}` : `rest of chunk ${last}: ${into}`,
    );
    if (this.outcome !== OUTCOME_NONE) return;
    if (this.bodyEnded) {
      this.record(now, "body-end", 0, "whole body in the kernel: writeEnd, headers limit starts");
    } else {
      this.record(
        now,
        "block",
        0,
        `send buffer full (${formatBytes(this.bufferAt(this.acked(now)))}): ${formatBytes(this.held)} of chunk ${last} wait`,
      );
    }
  }

  /**
   * The link trace's outages, as `link` events: when the link goes off and
   * comes back, from the schedule itself (whichever leg it limits), up to
   * the last moment anything can still happen.
   */
  private noteOutages(
    note: (at: number, event: UploadTraceEntry["event"], detail: string) => void,
  ): void {
    const cursor = new ScheduleCursor(this.p.schedule!);
    // The last moment a byte moves (a curve's last point may lie far
    // beyond, where a bound runs out), or the headers; never past `total`.
    let horizon = this.sent.timeOf(this.sent.lastX);
    for (const c of [this.forward, this.served]) {
      if (c) horizon = Math.max(horizon, c.timeOf(c.lastX));
    }
    if (this.headersAt !== INFINITY) horizon = Math.max(horizon, this.headersAt);
    horizon = Math.min(horizon, this.p.limits.total);
    if (horizon === INFINITY) return;
    let t = 0;
    let wasOff = false;
    // Bounded by the pieces up to the horizon (checkTraceWork bounds those).
    while (t <= horizon) {
      cursor.at(t);
      const off = cursor.rate === 0;
      if (off && !wasOff) {
        const secs = ((cursor.endMs - t) / 1000).toFixed(3);
        note(
          t,
          "link",
          this.p.dropWhileOff
            ? `the link is off (link trace): what it holds and what reaches it is lost for ${secs} s`
            : `the link is off (link trace): nothing gets through for ${secs} s`,
        );
      } else if (!off && wasOff) {
        note(t, "link", `the link is back (link trace) at ${mbit(cursor.rate)} of payload`);
      }
      wasOff = off;
      t = cursor.endMs;
    }
  }

  /** Trace-only events: rate changes, the drop, the tarpit, forwarding. */
  private scheduleNotes(): void {
    const p = this.p;
    const note = (at: number, event: UploadTraceEntry["event"], detail: string) => {
      if (at === INFINITY || at < 0) return;
      this.clock.schedule(at, () => {
        if (this.outcome === OUTCOME_NONE) this.record(at, event, 0, detail);
      });
    };
    const describeCurve = (curve: SendCurve, who: string) => {
      let traceNoted = false;
      let lumpsNoted = false;
      for (let i = 0; i < curve.n; i++) {
        const info = curve.infoAt(i);
        const limit = info % 16;
        const round = Math.floor(info / 16);
        const rate = mbit(curve.rateAt(i));
        let text: string;
        // A link trace changes the rate every grid step: say once that it
        // sets the pace; the `link` notes say when it is off.
        if (limit === LIMIT_SCHEDULE) {
          if (traceNoted || curve.rateAt(i) === 0) continue;
          traceNoted = true;
        }
        // A proxy draining the client in lumps: say so once, not per lump.
        const lumps = limit === LIMIT_PROXY_BUFFER && !Number.isNaN(p.proxySendBuffer);
        if (lumps) {
          if (lumpsNoted) continue;
          lumpsNoted = true;
        }
        if (limit === LIMIT_NONE) {
          // A cut curve ends where later bytes reach a silent proxy: the
          // `drop` note says that.
          if (curve.xAt(i) < p.payload) continue;
          text = `${who === "proxy" ? "proxy" : "client"}: all ${formatBytes(p.payload)} sent`;
        } else if (limit === LIMIT_ACKS) {
          text = `slow start round ${round} sent, waiting for ACKs`;
        } else {
          const why =
            limit === LIMIT_PEAK
              ? "the proxy's token bucket lets a burst through"
              : limit === LIMIT_SHAPER
                ? p.burst > 0
                  ? "the proxy's token bucket is empty: its sustained rate"
                  : "the proxy's upstream"
                : limit === LIMIT_TARPIT
                  ? "the server reads slowly"
                  : limit === LIMIT_SCHEDULE
                    ? "the link trace sets the pace from here (its rate varies; outages are noted)"
                    : limit === LIMIT_PROXY_BUFFER
                      ? Number.isNaN(p.proxySendBuffer)
                        ? "the proxy's buffer is full: the client leg goes at the pace the proxy forwards"
                        : `the proxy's buffer is full: it takes the client's bytes in lumps of ${formatBytes(p.proxySendBuffer / 3)} as its upstream send buffer drains`
                      : limit === LIMIT_WINDOW
                        ? "window-limited (receive window or send buffer per RTT)"
                        : who === "proxy"
                          ? "the server reads as fast as it comes"
                          : "the client's link";
          const ss = round > 0 ? ` (slow start round ${round})` : "";
          text = `${who === "proxy" ? "proxy sends" : "sending"} at ${rate} of payload: ${why}${ss}`;
        }
        note(curve.timeAt(i), "send", text);
      }
    };
    if (this.lossEvents) {
      // Segment by segment, the curve has a point per ACK: the recovery
      // events say what matters.
      note(
        0,
        "send",
        `lossy path (${describeLoss(p.loss!)}), ${p.bbr ? "BBR" : p.cubic ? "CUBIC" : "Reno"} sender`,
      );
      if (this.sent.endMs !== INFINITY) {
        note(
          this.sent.endMs,
          "send",
          `client: all ${formatBytes(p.payload)} through, the last retransmission included`,
        );
      }
      for (const e of this.lossEvents) note(e.atMs, e.kind, e.detail);
    } else {
      describeCurve(this.sent, "client");
    }
    if (this.forward) {
      note(this.forward.timeAt(0), "forward", "proxy has the whole body, sends it upstream");
      describeCurve(this.forward, "proxy");
    }
    if (p.dropAt !== INFINITY) note(p.dropAt, "drop", "the proxy goes silent: no ACKs, no RST");
    if (p.upDropAt !== INFINITY) {
      note(
        p.upDropAt,
        "drop",
        p.mode === "streaming"
          ? "black hole between proxy and server: the proxy keeps accepting until its buffer is full"
          : "black hole between proxy and server: the proxy takes the body but cannot deliver it",
      );
    }
    if (p.schedule) this.noteOutages(note);
    if (p.tarpitAt !== INFINITY) {
      note(p.tarpitAt, "tarpit", `the server reads at ${formatBytes(p.serverRate * 1000)}/s`);
    }
  }
}
