/**
 * The random upload paths the simulator's property tests draw (and
 * bench/sim-proxy-buffer-pairs.ts, which re-runs a removed property over
 * them): every option `simulateUpload` accepts, within the bounds below.
 */
import fc from "fast-check";
import type { UploadParams } from "../sim/mod.ts";

/** Up to 3 MB: the seed's 2.4 MB and a little more. */
export const MAX_PAYLOAD = 3_000_000;
/** Chunks from 512 B (thousands of pulls per upload) to 256 KiB (larger than small buffers). */
export const MIN_CHUNK = 512;
export const MAX_CHUNK = 256 * 1024;
/** Links from a poor residential uplink (200 kbit/s) to a fast datacenter one. */
export const MIN_BPS = 0.2e6;
export const MAX_BPS = 200e6;
/** RTTs up to a satellite-ish 400 ms. */
export const MAX_RTT = 400;
/** Send buffers from the 1 KiB floor (many wakes) to Linux's 4 MiB `tcp_wmem` maximum. */
export const MIN_BUFFER = 1024;
export const MAX_BUFFER = 4 * 1024 * 1024;
/** Proxy buffers from 64 KiB to 4 MiB: real streaming proxies held 0.1–2.7 MB (issue 12). */
export const MIN_PROXY_BUFFER = 64 * 1024;
export const MAX_PROXY_BUFFER = 4 * 1024 * 1024;
/** The smallest upstream send buffer of a proxy (Linux's `tcp_wmem[0]`). */
export const MIN_PROXY_SEND_BUFFER = 4096;
/** `proxySendBufferBytes`, if any, cut to the proxy buffer it is part of. */
export function sendBufferWithin(
  sendBuffer: number | undefined,
  proxyBuffer: number,
): Pick<UploadParams, "proxySendBufferBytes"> {
  if (sendBuffer === undefined) return {};
  return { proxySendBufferBytes: Math.min(sendBuffer, proxyBuffer) };
}
/** Stalls (drop, tarpit) within the first 30 s: where the limits under test act. */
export const MAX_STALL_AT = 30_000;

/** A link rate within the bounds. */
export const rate = fc.double({ min: MIN_BPS, max: MAX_BPS, noNaN: true });
/** Absent one time in three. */
export const opt = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined, freq: 2 });

/** Any path the simulator accepts: drop, tarpit, bucket, window, both proxy modes. */
export function uploadPathArb(
  options: { proxySendBuffer?: boolean } = {},
): fc.Arbitrary<UploadParams> {
  const proxySendBuffer = options.proxySendBuffer ?? true;
  return fc
    .record(
      {
        payloadBytes: fc.integer({ min: 1, max: MAX_PAYLOAD }),
        chunkBytes: fc.integer({ min: MIN_CHUNK, max: MAX_CHUNK }),
        clientBitsPerSecond: rate,
        proxyBitsPerSecond: rate,
        proxyMode: fc.constantFrom("streaming" as const, "store-and-forward" as const),
        rttMs: fc.oneof(fc.constant(0), fc.double({ min: 0, max: MAX_RTT, noNaN: true })),
        sendBufferBytes: fc.integer({ min: MIN_BUFFER, max: MAX_BUFFER }),
        sendBufferGrowth: opt(fc.boolean()),
        receiveWindowBytes: opt(fc.integer({ min: 1, max: 8 * 1024 * 1024 })),
        serverReadBytesPerSecond: opt(fc.double({ min: 1e3, max: 3e7, noNaN: true })),
        tarpitAtMs: opt(fc.double({ min: 0, max: MAX_STALL_AT, noNaN: true })),
        dropAtMs: opt(fc.double({ min: 0, max: MAX_STALL_AT, noNaN: true })),
        proxyBurstBytes: opt(fc.integer({ min: 0, max: 2_000_000 })),
        proxyPeakBitsPerSecond: opt(rate),
        slowStart: fc.boolean(),
        wireOverhead: fc.boolean(),
        proxyBufferBytes: opt(fc.integer({ min: MIN_PROXY_BUFFER, max: MAX_PROXY_BUFFER })),
        ...(proxySendBuffer
          ? {
              proxySendBufferBytes: opt(
                fc.integer({ min: MIN_PROXY_SEND_BUFFER, max: MAX_PROXY_BUFFER }),
              ),
            }
          : {}),
        upstreamRttMs: opt(fc.double({ min: 0, max: MAX_RTT, noNaN: true })),
        upstreamDropAtMs: opt(fc.double({ min: 0, max: MAX_STALL_AT, noNaN: true })),
      },
      { requiredKeys: ["payloadBytes", "clientBitsPerSecond", "proxyBitsPerSecond"] },
    )
    .map((p): UploadParams => {
      // A proxy buffer belongs to a streaming proxy, and a streaming proxy's
      // upstream leg exists only with one; its upstream send buffer is part of it.
      const { proxyBufferBytes, upstreamRttMs, upstreamDropAtMs, ...rest } = p;
      const { proxySendBufferBytes } = p as { proxySendBufferBytes?: number };
      delete (rest as { proxySendBufferBytes?: number }).proxySendBufferBytes;
      if (p.proxyMode === "store-and-forward") return { ...rest, upstreamRttMs, upstreamDropAtMs };
      if (proxyBufferBytes === undefined) return rest;
      return {
        ...rest,
        proxyBufferBytes,
        ...sendBufferWithin(proxySendBufferBytes, proxyBufferBytes),
        upstreamRttMs,
        upstreamDropAtMs,
      };
    });
}
