/**
 * What is known of a request body before it is sent: whether it can be sent
 * again (replay is a property of the source, not of the method), and its
 * size when that is known without reading it.
 *
 * @module
 */

/** A request body as fetch accepts it. */
export type Body = NonNullable<RequestInit["body"]>;

/**
 * Whether `body` can be sent again on a retry or a redirect: strings,
 * `ArrayBuffer`s and views, `Blob`s, `URLSearchParams` and `FormData` are
 * buffered and can be read any number of times. Everything else — a
 * `ReadableStream`, Node's async iterables (`fs.createReadStream`, a
 * generator), anything unknown — is read once: sending it again would send
 * what is left of it (an empty body, which a server stores as the upload).
 *
 * @example
 * ```ts
 * import { isReplayable } from "timebound";
 * console.assert(isReplayable("x") && isReplayable(new Uint8Array(4)) && isReplayable(null));
 * console.assert(!isReplayable(new ReadableStream()));
 * console.assert(!isReplayable((async function* () { yield "x"; })()));
 * ```
 */
export function isReplayable(body: unknown): boolean {
  return (
    body == null ||
    typeof body === "string" ||
    body instanceof ArrayBuffer ||
    ArrayBuffer.isView(body) ||
    (typeof Blob !== "undefined" && body instanceof Blob) ||
    body instanceof URLSearchParams ||
    (typeof FormData !== "undefined" && body instanceof FormData)
  );
}

/**
 * A body's size in bytes when it is known without sending it: exact for
 * strings (UTF-8), buffers, `Blob`s and `URLSearchParams`; `undefined` for
 * streams, iterables and `FormData` (its multipart framing is the runtime's).
 *
 * @example
 * ```ts
 * import { bodySizeOf } from "timebound";
 * console.assert(bodySizeOf("héllo") === 6);
 * console.assert(bodySizeOf(new Uint8Array(10)) === 10);
 * console.assert(bodySizeOf(new ReadableStream()) === undefined);
 * ```
 */
export function bodySizeOf(body: RequestInit["body"]): number | undefined {
  if (body == null) return 0;
  if (typeof body === "string") return utf8Length(body);
  if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return body.byteLength;
  if (typeof Blob !== "undefined" && body instanceof Blob) return body.size;
  if (body instanceof URLSearchParams) return utf8Length(body.toString());
  return undefined;
}

/**
 * An upper bound of the bytes a body puts on the wire, where one is cheap to
 * find: its exact size, or for `FormData` the sum of its parts plus generous
 * multipart framing. `undefined` when nothing bounds it (a stream).
 */
export function bodySizeBound(body: RequestInit["body"]): number | undefined {
  const exact = bodySizeOf(body);
  if (exact !== undefined || typeof FormData === "undefined" || !(body instanceof FormData)) {
    return exact;
  }
  let bytes = 0;
  for (const [name, value] of body) {
    // Boundary lines and part headers: well under 512 bytes besides the names.
    bytes += 512 + utf8Length(name) + (typeof value === "string" ? utf8Length(value) : value.size);
  }
  return bytes;
}

/** UTF-8 length without encoding: at most 3 bytes per UTF-16 unit. */
function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 2; // a surrogate pair: 4 bytes for 2 units
        i++;
      } else n += 2;
    } else n += 2;
  }
  return n;
}
