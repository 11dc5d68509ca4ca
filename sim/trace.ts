/**
 * The event trace of a simulated upload ({@linkcode simulateUpload} with
 * `trace: true`), and {@linkcode formatTrace}, which prints it like a socket
 * trace: writes, blocks, wakes, rate changes, the timer that fired.
 *
 * @module
 */

/**
 * What happened:
 * - `write`: the runtime pulled chunks from the body and copied bytes into
 *   the kernel's send buffer (`pulls` says how many pulls: each is progress
 *   for the watchdog).
 * - `block`: the send buffer is full; the runtime waits with part of a chunk.
 * - `wake`: the queue drained to 2/3 of the buffer: the socket is writable.
 * - `body-end`: the whole body is in the kernel (the watchdog's `writeEnd`:
 *   `headers` starts counting).
 * - `send`: the sending rate changed (slow start, token bucket, tarpit, window).
 * - `drop`: the proxy went silent (no ACKs, no RST).
 * - `tarpit`: the server started reading slowly.
 * - `forward`: a store-and-forward proxy has the whole body and sends it on.
 * - `link`: the link trace's link went off (an outage: it delivers nothing)
 *   or came back.
 * - `fast-retransmit`: the sender found a segment lost (a later one was
 *   acknowledged) and sent it again at once, cutting its window: "slow
 *   because of loss", a round trip or so.
 * - `tail-probe`: nothing came back for two round trips: the sender probes
 *   with one segment to find out what was lost (RFC 8985).
 * - `rto`: a retransmission timeout (≥ 200 ms on Linux, doubling each
 *   time): the sender waited with nothing acknowledged, then starts again
 *   from one segment. A stall that ends by itself, unlike a `drop`.
 * - `headers`: response headers arrived: the request succeeded.
 * - `timeout`: the watchdog fired.
 * - `hang`: nothing is left to happen and no limit is set: a real request
 *   would wait forever.
 */
export type UploadEvent =
  | "write"
  | "block"
  | "wake"
  | "body-end"
  | "send"
  | "drop"
  | "tarpit"
  | "forward"
  | "link"
  | "fast-retransmit"
  | "tail-probe"
  | "rto"
  | "headers"
  | "timeout"
  | "hang";

/** One line of an upload trace, with the byte counts at that moment. */
export interface UploadTraceEntry {
  /** Virtual time since the request started. */
  atMs: number;
  event: UploadEvent;
  /** Pulls of the body stream in this event (progress for `writeIdle`); 0 unless `write`. */
  pulls: number;
  /** Body bytes pulled by the runtime so far (the watchdog's `bytesSent`). */
  handedBytes: number;
  /** Bytes in the kernel send buffer: copied in, not yet acknowledged. */
  queuedBytes: number;
  /** Bytes acknowledged by the peer, gone from the send buffer. */
  ackedBytes: number;
  /** Bytes the server has read. */
  deliveredBytes: number;
  /** A sentence saying what happened. */
  detail: string;
}

/** Options of {@linkcode formatTrace}. */
export interface FormatTraceOptions {
  /** Append the byte counts (send buffer, acknowledged, read by the server). @default true */
  state?: boolean;
}

/**
 * Bytes in decimal units with three significant digits, as a trace wants
 * them: `16.4 kB`, `2.40 MB`.
 *
 * @example
 * ```ts
 * import { formatBytes } from "timebound/sim";
 * console.assert(formatBytes(512) === "512 B");
 * console.assert(formatBytes(16_384) === "16.4 kB");
 * console.assert(formatBytes(2_400_000) === "2.40 MB");
 * ```
 */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return String(bytes);
  const units = ["B", "kB", "MB", "GB", "TB"];
  let v = bytes;
  let u = 0;
  while (Math.abs(v) >= 999.5 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  if (u === 0) return `${Math.round(v)} B`;
  return `${v.toPrecision(3)} ${units[u]}`;
}

/**
 * Prints a trace one event per line: time in seconds, the event, what
 * happened, and (unless `state: false`) the byte counts at that moment.
 *
 * @param trace The `trace` of an {@linkcode UploadResult}.
 * @param options What to print.
 * @returns The lines, joined with `\n`.
 *
 * @example
 * ```ts
 * import { formatTrace, simulateUpload } from "timebound/sim";
 * const { trace } = simulateUpload({
 *   payloadBytes: 200_000, chunkBytes: 65_536, sendBufferBytes: 65_536,
 *   clientBitsPerSecond: 10e6, proxyBitsPerSecond: 10e6, rttMs: 20, trace: true,
 * });
 * const text = formatTrace(trace ?? [], { state: false });
 * console.log(text);
 * console.assert(text.split("\n")[0].includes("write"));
 * console.assert(text.includes("headers"));
 * ```
 */
export function formatTrace(
  trace: readonly UploadTraceEntry[],
  options: FormatTraceOptions = {},
): string {
  const state = options.state ?? true;
  const lines: string[] = [];
  for (const e of trace) {
    const time = (Number.isFinite(e.atMs) ? `${(e.atMs / 1000).toFixed(3)} s` : "never").padStart(
      11,
    );
    let line = `${time}  ${e.event.padEnd(8)}  ${e.detail}`;
    if (state) {
      line += `  [buffer ${formatBytes(e.queuedBytes)}, acked ${formatBytes(e.ackedBytes)}, server ${formatBytes(e.deliveredBytes)}]`;
    }
    lines.push(line);
  }
  return lines.join("\n");
}
