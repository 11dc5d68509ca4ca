/**
 * Routing by payload size: a hook picks the fetch for each request, e.g. a
 * client bound to a symmetric-bandwidth proxy for bodies over 100 KiB, so
 * large uploads avoid slow residential uplinks.
 *
 * @module
 */

/** What a route sees of a request. */
export interface RouteInfo {
  url: string;
  method: string;
  /** The request body's size in bytes, when known before sending (not for streams or FormData). */
  bodySize: number | undefined;
}

/** Picks the fetch for a request; `undefined` means the default. */
export type Route = (info: RouteInfo) => typeof fetch | undefined;

/**
 * A body's size in bytes when it is known without sending it.
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
  if (typeof body === "string") return new TextEncoder().encode(body).byteLength;
  if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return body.byteLength;
  if (typeof Blob !== "undefined" && body instanceof Blob) return body.size;
  if (body instanceof URLSearchParams) return new TextEncoder().encode(body.toString()).byteLength;
  return undefined;
}
