/**
 * Closed forms shared by the fetch wrapper (`chunkSize: "auto"`) and the
 * simulator, which checks itself against them: with no loss, no tarpit and
 * no slow start, an upload takes payload / narrowest bandwidth plus latency.
 *
 * @module
 */

/** Smallest automatic chunk: below this, per-chunk overhead dominates. */
export const CHUNK_MIN_BYTES = 8 * 1024;
/** Largest automatic chunk: larger chunks only delay stall detection. */
export const CHUNK_MAX_BYTES = 64 * 1024;
/**
 * A chunk should cross the narrowest link in a quarter of the write-idle
 * limit ("well inside"), leaving room for jitter and a send buffer that is
 * briefly full.
 */
export const CHUNK_IDLE_FRACTION = 0.25;

/** How a proxy between client and server forwards the request body. */
export type ProxyMode = "streaming" | "store-and-forward";

/** Inputs of {@linkcode uploadTimeMs}. */
export interface UploadTimeInput {
  /** Request body size in bytes. */
  payloadBytes: number;
  /** The client's upstream bandwidth. */
  clientBitsPerSecond: number;
  /** The proxy's upstream bandwidth (use the client's when there is no proxy). */
  proxyBitsPerSecond: number;
  /** Round-trip time; one RTT is added for the final acknowledgement. @default 0 */
  rttMs?: number;
  /**
   * `"streaming"`: the proxy forwards as bytes arrive, so the narrower link
   * sets the pace. `"store-and-forward"`: the proxy buffers the whole body
   * first (nginx's default `proxy_request_buffering on`), so the two links
   * add up. @default "streaming"
   */
  proxyMode?: ProxyMode;
}

/**
 * Time to upload a payload: `S / min(Bc, Bp) + RTT` when streaming,
 * `S / Bc + S / Bp + RTT` through a store-and-forward proxy.
 *
 * @returns Milliseconds.
 *
 * @example
 * ```ts
 * import { uploadTimeMs } from "timebound";
 * // 2.4 MB over a 2 Mbit/s residential uplink: about 9.6 s.
 * const ms = uploadTimeMs({ payloadBytes: 2_400_000, clientBitsPerSecond: 100e6, proxyBitsPerSecond: 2e6 });
 * console.assert(Math.round(ms) === 9600);
 * ```
 */
export function uploadTimeMs(input: UploadTimeInput): number {
  const bits = input.payloadBytes * 8;
  const rtt = input.rttMs ?? 0;
  if (input.proxyMode === "store-and-forward") {
    return (bits / input.clientBitsPerSecond + bits / input.proxyBitsPerSecond) * 1000 + rtt;
  }
  return (bits / Math.min(input.clientBitsPerSecond, input.proxyBitsPerSecond)) * 1000 + rtt;
}

/**
 * The largest chunk that `bitsPerSecond` moves within a quarter of
 * `writeIdleMs`, rounded down to a whole KiB and clamped to 8–64 KiB. With no
 * write-idle limit (`Infinity`) it is the maximum.
 *
 * @returns Bytes.
 *
 * @example
 * ```ts
 * import { chunkSizeFor } from "timebound";
 * console.assert(chunkSizeFor(2e6, 1000) === 61 * 1024); // 2 Mbit/s × 250 ms = 62.5 kB
 * console.assert(chunkSizeFor(256e3, 1000) === 8 * 1024); // clamped up
 * ```
 */
export function chunkSizeFor(bitsPerSecond: number, writeIdleMs: number): number {
  const bytes = ((bitsPerSecond / 8) * writeIdleMs * CHUNK_IDLE_FRACTION) / 1000;
  const kib = Math.floor(bytes / 1024) * 1024;
  return Math.min(
    CHUNK_MAX_BYTES,
    Math.max(CHUNK_MIN_BYTES, Number.isFinite(kib) ? kib : CHUNK_MAX_BYTES),
  );
}

/**
 * TCP payload in one full-sized segment at an MTU of 1500: 1500 − 20 (IPv4
 * header) − 20 (TCP header) − 12 (the timestamp option Linux sends by
 * default, RFC 7323). The MSS the simulator uses.
 */
export const SEGMENT_PAYLOAD_BYTES = 1448;

/**
 * What one full-sized segment costs on an Ethernet link as `tc tbf` counts
 * it: the 1500-byte IP packet plus the 14-byte Ethernet header. Shapers and
 * ISPs quote rates in these wire bits, so payload moves at 1448/1514 of the
 * quoted rate (about 4.4 % less).
 */
export const SEGMENT_WIRE_BYTES = 1514;

/**
 * TCP's initial congestion window in segments (RFC 6928): min(10·MSS,
 * max(2·MSS, 14600 bytes)), which is 10 segments for an MSS of 1448.
 */
export const INITIAL_WINDOW_SEGMENTS = 10;

/**
 * Payload bits per second that a link quoted in wire bits per second
 * carries in full-sized TCP segments: `wire × 1448 / 1514`. Feed it to
 * {@linkcode uploadTimeMs} to compare with a link measured under `tc tbf`.
 *
 * @returns Bits per second of TCP payload.
 *
 * @example
 * ```ts
 * import { goodputBitsPerSecond } from "timebound/sim";
 * // 2 Mbit/s on the wire carries about 1.91 Mbit/s of request body.
 * console.assert(Math.round(goodputBitsPerSecond(2e6)) === 1_912_814);
 * ```
 */
export function goodputBitsPerSecond(wireBitsPerSecond: number): number {
  return (wireBitsPerSecond * SEGMENT_PAYLOAD_BYTES) / SEGMENT_WIRE_BYTES;
}
