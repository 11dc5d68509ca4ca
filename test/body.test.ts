import { fc, it } from "@fast-check/vitest";
import { describe, expect } from "vitest";
import { streamable, upload } from "../src/body.ts";
import { type ResolvedLimits, realClock, Watchdog } from "../src/mod.ts";

const OFF = Number.POSITIVE_INFINITY;
const NO_LIMITS: ResolvedLimits = {
  total: OFF,
  headers: OFF,
  readIdle: OFF,
  writeIdle: OFF,
  minRate: undefined,
};
const watchdog = () => new Watchdog({ clock: realClock, limits: NO_LIMITS, onExpire: () => {} });

async function drain(stream: ReadableStream<Uint8Array>): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  for await (const c of stream as unknown as AsyncIterable<Uint8Array>) chunks.push(c);
  return chunks;
}
const concat = (chunks: Uint8Array[]) => {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.byteLength;
  }
  return out;
};
/** Splits `bytes` at the given cut points into a caller stream. */
function streamOf(bytes: Uint8Array, cuts: number[]): ReadableStream<Uint8Array> {
  const points = [...new Set(cuts.map((c) => c % (bytes.byteLength + 1)))].sort((a, b) => a - b);
  const pieces: Uint8Array[] = [];
  let at = 0;
  for (const p of [...points, bytes.byteLength]) {
    if (p > at) pieces.push(bytes.slice(at, p));
    at = Math.max(at, p);
  }
  return new ReadableStream({
    pull(c) {
      const next = pieces.shift();
      if (next) c.enqueue(next);
      else c.close();
    },
  });
}

// Payloads up to 64 KiB and chunk sizes from 1 byte: enough to cross every
// boundary case (chunk larger than payload, exact multiples, 1-byte chunks)
// while keeping 100 runs well under a second.
const payload = fc.uint8Array({ maxLength: 64 * 1024 });
const chunkSize = fc.integer({ min: 1, max: 70_000 });

describe("upload chunking", () => {
  it.prop([payload, chunkSize])(
    "a buffered body reassembles byte-exact, in chunks ≤ chunkSize",
    async (bytes, size) => {
      const wd = watchdog();
      const chunks = await drain(
        upload(
          { source: bytes, size: bytes.byteLength, contentType: undefined },
          { chunkSize: size, watchdog: wd },
        ).stream,
      );
      expect(concat(chunks)).toEqual(bytes);
      for (const c of chunks) expect(c.byteLength).toBeLessThanOrEqual(size);
      expect(wd.bytesSent).toBe(bytes.byteLength);
    },
  );

  it.prop([payload, chunkSize, fc.array(fc.nat(), { maxLength: 12 })])(
    "a caller stream reassembles byte-exact, re-split to chunks ≤ chunkSize",
    async (bytes, size, cuts) => {
      const wd = watchdog();
      const chunks = await drain(
        upload(
          { source: streamOf(bytes, cuts), size: undefined, contentType: undefined },
          { chunkSize: size, watchdog: wd },
        ).stream,
      );
      expect(concat(chunks)).toEqual(bytes);
      for (const c of chunks) expect(c.byteLength).toBeLessThanOrEqual(size);
    },
  );

  it("after stop(), the caller's source is not pulled again and the upload errors with the reason", async () => {
    let pulls = 0;
    const source = new ReadableStream<Uint8Array>(
      {
        pull(c) {
          pulls++;
          c.enqueue(new Uint8Array(10));
        },
      },
      { highWaterMark: 0 },
    );
    const up = upload(
      { source, size: undefined, contentType: undefined },
      { chunkSize: 4, watchdog: watchdog() },
    );
    const reader = up.stream.getReader();
    await reader.read();
    const before = pulls;
    const reason = new Error("stop");
    up.stop(reason);
    await expect(reader.read()).rejects.toBe(reason);
    expect(pulls - before).toBeLessThanOrEqual(1);
  });

  it("reports progress per chunk", async () => {
    const seen: number[] = [];
    const bytes = new Uint8Array(10);
    await drain(
      upload(
        { source: bytes, size: 10, contentType: undefined },
        { chunkSize: 4, watchdog: watchdog(), onProgress: (p) => seen.push(p.bytesSent) },
      ).stream,
    );
    expect(seen).toEqual([4, 8, 10]);
  });
});

describe("streamable", () => {
  it.each([
    ["small string", "abc", 10, false],
    ["large string", "x".repeat(100), 10, true],
    ["multi-byte string over the threshold only once encoded", "é".repeat(6), 10, true],
    ["small bytes", new Uint8Array(10), 10, false],
    ["large bytes", new Uint8Array(11), 10, true],
    ["large ArrayBuffer", new ArrayBuffer(11), 10, true],
    ["large Blob", new Blob([new Uint8Array(11)], { type: "image/png" }), 10, true],
    ["large URLSearchParams", new URLSearchParams({ a: "x".repeat(100) }), 10, true],
    ["small URLSearchParams", new URLSearchParams({ a: "x" }), 10, false],
    ["FormData (its multipart framing is the runtime's)", new FormData(), 0, false],
    ["any stream", new ReadableStream(), 1_000_000, true],
  ])("%s → streamed: %s", (_name, body, threshold, streamed) => {
    expect(streamable(body as BodyInit, threshold as number) !== undefined).toBe(streamed);
  });

  it("keeps the content type fetch would have set", () => {
    expect(streamable("x".repeat(100), 10)?.contentType).toBe("text/plain;charset=UTF-8");
    expect(streamable(new URLSearchParams({ a: "x".repeat(100) }), 10)?.contentType).toBe(
      "application/x-www-form-urlencoded;charset=UTF-8",
    );
    expect(streamable(new Blob([new Uint8Array(11)], { type: "image/png" }), 10)?.contentType).toBe(
      "image/png",
    );
  });
});
