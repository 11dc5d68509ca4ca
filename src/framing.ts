/**
 * Framing: a streamed body of known size must reach the server with its
 * `Content-Length`, as bare fetch sends it (S3 presigned PUTs and many
 * gateways answer 411 to a chunked body). Each runtime has its own way, or
 * none (ARCHITECTURE.md, "Runtime facts"):
 *
 * | runtime | a stream with a known length                                   |
 * | ------- | -------------------------------------------------------------- |
 * | Node    | a `Content-Length` header set by hand is honoured              |
 * | Bun     | the same header is checked against the bytes sent, and kept    |
 * | workerd | the header is ignored; a `FixedLengthStream` carries the length |
 * | Deno    | the header is removed: the body goes chunked — no way to keep it |
 *
 * Where there is no way, the body is not streamed: it goes as the caller gave
 * it, guarded by the other limits.
 *
 * @module
 */

/** How this runtime's fetch sends a stream with a known length, or `undefined` when it cannot. */
export type LengthFraming = "header" | "fixed-length-stream" | undefined;

interface FixedLengthStreamCtor {
  new (
    length: number,
  ): { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> };
}

const g = globalThis as { FixedLengthStream?: FixedLengthStreamCtor; Deno?: unknown };

/** This runtime's way (detected once: it is a property of the runtime, not of a request). */
export const lengthFraming: LengthFraming =
  typeof g.FixedLengthStream === "function"
    ? "fixed-length-stream"
    : g.Deno !== undefined
      ? undefined
      : "header";

const noop = (): void => {};

/**
 * `stream` as a body of exactly `size` bytes, framed with its length on this
 * runtime; `headers` gets the `Content-Length` where the runtime reads it.
 */
export function withLength(
  stream: ReadableStream<Uint8Array>,
  size: number,
  headers: Headers,
): ReadableStream<Uint8Array> {
  if (lengthFraming === "fixed-length-stream") {
    const fixed = new g.FixedLengthStream!(size);
    // Errors reach the fetch through the readable side; the pipe's own promise is ours to handle.
    stream.pipeTo(fixed.writable).catch(noop);
    return fixed.readable;
  }
  headers.set("content-length", String(size));
  return stream;
}
