/**
 * The upload workload shared by bench/sim-upload.ts and bench/sim-simpy.ts:
 * `count` 2.4 MB uploads in 16 KiB chunks over paths drawn with pure-rand's
 * xoroshiro128+ from a fixed seed — client 10–1000 Mbit/s, proxy upstream
 * 0.5–50 Mbit/s, RTT 10–300 ms, send buffer 128 KiB–4 MiB (all log-uniform:
 * the spread of residential and datacenter paths), 5 % with a proxy that
 * goes silent mid-way; limits writeIdle 2 s, total 60 s.
 */
import { uniformFloat64 } from "pure-rand/distribution/uniformFloat64";
import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus";
import type { UploadParams } from "../sim/mod.ts";

export const PAYLOAD = 2_400_000;
export const CHUNK = 16 * 1024;
const SEED = 20_261_122;

/** The same `count` paths on every run. */
export function uploadPaths(count: number): UploadParams[] {
  const rng = xoroshiro128plus(SEED);
  const logUniform = (min: number, max: number): number => min * (max / min) ** uniformFloat64(rng);
  const timeouts = { writeIdle: 2000, total: 60_000 };
  const paths: UploadParams[] = [];
  for (let i = 0; i < count; i++) {
    paths.push({
      payloadBytes: PAYLOAD,
      chunkBytes: CHUNK,
      clientBitsPerSecond: logUniform(10e6, 1e9),
      proxyBitsPerSecond: logUniform(0.5e6, 50e6),
      rttMs: logUniform(10, 300),
      sendBufferBytes: Math.round(logUniform(128 * 1024, 4 * 1024 * 1024)),
      dropAtMs: uniformFloat64(rng) < 0.05 ? logUniform(100, 20_000) : Number.POSITIVE_INFINITY,
      timeouts,
    });
  }
  return paths;
}
