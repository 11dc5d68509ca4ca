/**
 * The seed's story, simulated: a 2.4 MB POST through a residential proxy
 * whose uplink carries 2 Mbit/s. The standard attempt (the whole body under
 * one 10 s write timeout) fails; the same body streamed in 16 KiB chunks
 * under an idle write limit succeeds and still catches a proxy that goes
 * silent; and no chunk size beats a total deadline shorter than
 * payload / bandwidth. Every timeout is decided by timebound's own watchdog,
 * on virtual time: the run takes milliseconds.
 *
 * Run: node examples/sim-upload.ts
 *
 * @module
 */
import {
  formatBytes,
  formatTrace,
  goodputBitsPerSecond,
  simulateUpload,
  type UploadParams,
  type UploadResult,
} from "../sim/mod.ts";
import { uploadTimeMs } from "../src/mod.ts";

/** The path: a datacenter client, a residential proxy in Mumbai, the target. */
const path = {
  payloadBytes: 2_400_000,
  clientBitsPerSecond: 100e6, // the scraper's uplink
  proxyBitsPerSecond: 2e6, // the residential node's uplink: the bottleneck
  rttMs: 150,
  // A send buffer Linux might have grown to on this path (its ceiling,
  // tcp_wmem's 4 MiB, would swallow the whole body at once).
  sendBufferBytes: 512 * 1024,
} satisfies UploadParams;

const CHUNK = 16 * 1024;

function describe(r: UploadResult): string {
  const what = r.outcome === "timeout" ? `timeout (${r.phase})` : r.outcome;
  const time = Number.isFinite(r.elapsedMs) ? `${(r.elapsedMs / 1000).toFixed(2)} s` : "never ends";
  const stall =
    r.stallDetectionMs === undefined
      ? ""
      : `, stall caught ${(r.stallDetectionMs / 1000).toFixed(2)} s after it began`;
  return `${what.padEnd(20)} ${time.padStart(10)}   server got ${formatBytes(r.bytesDelivered)}${stall}`;
}

function row(label: string, params: UploadParams): UploadResult {
  const r = simulateUpload(params);
  console.log(`  ${label.padEnd(52)} ${describe(r)}`);
  return r;
}

const floorMs = uploadTimeMs({
  payloadBytes: path.payloadBytes,
  clientBitsPerSecond: goodputBitsPerSecond(path.clientBitsPerSecond),
  proxyBitsPerSecond: goodputBitsPerSecond(path.proxyBitsPerSecond),
  rttMs: path.rttMs,
});

console.log(
  `2.4 MB POST, client 100 Mbit/s → residential proxy 2 Mbit/s up → server, RTT ${path.rttMs} ms, send buffer 512 KiB\n`,
);

console.log("Attempt 1, the standard one: the whole body in one write, 10 s to write it");
row("one 2.4 MB write, total 10 s", {
  ...path,
  chunkBytes: path.payloadBytes,
  timeouts: { total: "10s" },
});

console.log("\nAttempt 2: streamed in 16 KiB chunks, idle write limit 3 s, total 60 s");
const ok = row("16 KiB chunks, writeIdle 3 s", {
  ...path,
  chunkBytes: CHUNK,
  timeouts: { writeIdle: "3s", total: "60s" },
});

console.log("\nThe idle limit still catches a proxy that goes silent (no ACK, no RST) at 4 s");
row("16 KiB chunks, writeIdle 3 s, proxy silent at 4 s", {
  ...path,
  chunkBytes: CHUNK,
  dropAtMs: 4000,
  timeouts: { writeIdle: "3s", total: "60s" },
});
row("same, with no limit at all", {
  ...path,
  chunkBytes: CHUNK,
  dropAtMs: 4000,
  timeouts: { total: false },
});

console.log("\nWhat chunking cannot do: beat a total deadline shorter than payload / bandwidth");
for (const chunkBytes of [8 * 1024, CHUNK, 64 * 1024]) {
  row(`${chunkBytes / 1024} KiB chunks, total 9 s`, {
    ...path,
    chunkBytes,
    timeouts: { total: "9s" },
  });
}
console.log(
  `  The floor: ${(floorMs / 1000).toFixed(2)} s (2.4 MB at 1.91 Mbit/s of payload + one RTT); ` +
    `slow start makes it ${(ok.elapsedMs / 1000).toFixed(2)} s. Chunks change how a stall is seen, not how fast bytes move.`,
);

console.log("\nSocket trace of the silent proxy, caught by writeIdle:");
const { trace } = simulateUpload({
  ...path,
  chunkBytes: CHUNK,
  dropAtMs: 4000,
  timeouts: { writeIdle: "3s", total: "60s" },
  trace: true,
});
console.log(formatTrace(trace ?? []));
