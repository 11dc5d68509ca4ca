/**
 * Request bodies under the watchdog: streamed in chunks, each pull is write
 * progress.
 *
 * @module
 */
import type { UploadProgress } from "./policy.ts";
import { callSafely } from "./report.ts";
import type { Body } from "./source.ts";
import type { Watchdog } from "./watchdog.ts";

const noop = (): void => {};

/** A body as bytes or a stream, ready to be chunked; `contentType` is what fetch would have set. */
export interface Streamable {
  source: Uint8Array | ReadableStream<Uint8Array>;
  size: number | undefined;
  contentType: string | undefined;
}

/** The content type this runtime's fetch sets for a string or form body, learned once per kind. */
const defaultTypes = new Map<string, string | undefined>();
function defaultType(sample: string | URLSearchParams): string | undefined {
  const kind = typeof sample;
  if (!defaultTypes.has(kind)) {
    // Bun sends no type for a string; the others send the standard's. Ask the runtime.
    const probe = new Request("http://localhost/", { method: "POST", body: sample });
    defaultTypes.set(kind, probe.headers.get("content-type") ?? undefined);
  }
  return defaultTypes.get(kind);
}

/**
 * Turns a buffered body larger than `threshold` bytes, or any stream, into a
 * {@linkcode Streamable}; returns `undefined` for bodies to send as they are.
 */
export function streamable(body: Body, threshold: number): Streamable | undefined {
  if (body instanceof ReadableStream)
    return { source: body, size: undefined, contentType: undefined };
  if (typeof body === "string") {
    if (body.length <= threshold / 3) return undefined; // cannot exceed the threshold once encoded
    const bytes = new TextEncoder().encode(body);
    if (bytes.byteLength <= threshold) return undefined;
    return { source: bytes, size: bytes.byteLength, contentType: defaultType("") };
  }
  if (body instanceof ArrayBuffer) {
    return body.byteLength > threshold
      ? { source: new Uint8Array(body), size: body.byteLength, contentType: undefined }
      : undefined;
  }
  if (ArrayBuffer.isView(body)) {
    if (body.byteLength <= threshold) return undefined;
    const bytes = new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
    return { source: bytes, size: bytes.byteLength, contentType: undefined };
  }
  if (typeof Blob !== "undefined" && body instanceof Blob) {
    if (body.size <= threshold) return undefined;
    return { source: body.stream(), size: body.size, contentType: body.type || undefined };
  }
  if (body instanceof URLSearchParams) {
    const s = streamable(body.toString(), threshold);
    return s && { ...s, contentType: defaultType(new URLSearchParams()) };
  }
  return undefined;
}

/** A streamed request body and the switch that stops it. */
export interface Upload {
  stream: ReadableStream<Uint8Array>;
  /** Stops pulling the source (Node's fetch keeps reading an aborted body on its own). */
  stop(reason: unknown): void;
}

/** Options of {@linkcode upload}. */
export interface UploadInit {
  chunkSize: number;
  watchdog: Watchdog;
  onProgress?: ((progress: UploadProgress) => void) | undefined;
}

/**
 * Streams `source` in pieces of at most `chunkSize` bytes. Each pull is write
 * progress; time spent waiting on a caller's source stream is not counted
 * against `writeIdle`. The concatenated chunks equal the source byte for byte.
 */
export function upload(from: Streamable, init: UploadInit): Upload {
  const { chunkSize, watchdog: wd, onProgress } = init;
  const total = from.size;
  const source = from.source;
  let stopped = false;
  let stopReason: unknown;
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  // The piece of the current source chunk not yet handed over.
  let pending: Uint8Array | undefined;
  let offset = 0;
  let sent = 0;
  let started = false;

  const hand = (c: ReadableStreamDefaultController<Uint8Array>, piece: Uint8Array): void => {
    c.enqueue(piece);
    sent += piece.byteLength;
    wd.wrote(piece.byteLength);
    // A throw from the caller's hook is reported; it never stops the upload.
    if (onProgress) callSafely(onProgress, { bytesSent: sent, totalBytes: total });
  };
  const finish = (c: ReadableStreamDefaultController<Uint8Array>): void => {
    c.close();
    wd.writeEnd();
  };

  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(c) {
        // Checked on every pull: after an abort Node's fetch still pulls, and
        // must get an error, not the rest of the body.
        if (stopped) return c.error(stopReason);
        if (started) wd.writePull();
        else {
          started = true;
          wd.writeStart();
        }
        if (source instanceof Uint8Array) {
          if (offset >= source.byteLength) return finish(c);
          const end = Math.min(source.byteLength, offset + chunkSize);
          const piece = source.subarray(offset, end);
          offset = end;
          return hand(c, piece);
        }
        if (!pending || pending.byteLength === 0) {
          reader ??= source.getReader();
          wd.writeWait();
          let r: ReadableStreamReadResult<Uint8Array>;
          try {
            r = await reader.read();
          } finally {
            wd.writeReady();
          }
          if (stopped) return c.error(stopReason);
          if (r.done) return finish(c);
          const v: unknown = r.value;
          if (!ArrayBuffer.isView(v)) {
            const err = new TypeError(
              `Request body stream must yield Uint8Array chunks, got ${typeof v}`,
            );
            reader.cancel(err).catch(noop);
            return c.error(err);
          }
          pending =
            v instanceof Uint8Array ? v : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
        }
        const piece = pending.byteLength > chunkSize ? pending.subarray(0, chunkSize) : pending;
        pending = pending.byteLength > chunkSize ? pending.subarray(chunkSize) : undefined;
        return hand(c, piece);
      },
      cancel(reason) {
        stopped = true;
        stopReason = reason;
        if (reader) return reader.cancel(reason).catch(noop);
        if (source instanceof ReadableStream) return source.cancel(reason).catch(noop);
      },
    },
    { highWaterMark: 0 },
  );

  return {
    stream,
    stop(reason) {
      if (stopped) return;
      stopped = true;
      stopReason = reason;
      // Release the caller's source now: a pending read resolves, nothing more is pulled.
      if (reader) reader.cancel(reason).catch(noop);
      else if (source instanceof ReadableStream && !source.locked)
        source.cancel(reason).catch(noop);
    },
  };
}
