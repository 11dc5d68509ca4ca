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
