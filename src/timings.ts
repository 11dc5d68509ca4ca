/**
 * Phase timings of a request, readable from its response.
 *
 * @module
 */

/**
 * When each phase of a request happened, in milliseconds since `start`
 * (which is on the fetch's Clock). Fields fill in as the exchange goes on:
 * `bodyEnd` appears once the body is read to the end, cancelled or errored,
 * `total` once the exchange is over (also when a limit ended it). With
 * retries, the phase fields and byte counts describe the last attempt.
 */
export interface Timings {
  /** The request's start, on the fetch's Clock. */
  start: number;
  /** Attempts made (1 without retries). */
  attempts: number;
  /** First pull of a streamed request body. */
  uploadStart?: number;
  /** The request body was fully handed to the runtime. */
  uploadEnd?: number;
  /** Response headers arrived (time to first byte). */
  headers?: number;
  /** The response body ended: read to the end, cancelled or errored. */
  bodyEnd?: number;
  /** Whole exchange, from start to the end of the body. */
  total?: number;
  /** Request body bytes handed to the runtime. */
  bytesSent: number;
  /** Response body bytes received. */
  bytesReceived: number;
}

/**
 * Where a response keeps its timings: a private symbol-keyed property. (A
 * WeakMap insert cost ~1 µs per request in the profile, and its entries are
 * ephemerons the GC must trace specially.)
 */
const TIMINGS = Symbol("timebound.timings");

/** Starts a timings record at `start`. */
export function createTimings(start: number): Timings {
  return { start, attempts: 1, bytesSent: 0, bytesReceived: 0 };
}

/**
 * A new attempt starts: the phase fields describe the last attempt, so the
 * previous one's are cleared (`start` and `attempts` describe the request).
 */
export function restartTimings(t: Timings): void {
  t.uploadStart = undefined;
  t.uploadEnd = undefined;
  t.headers = undefined;
  t.bodyEnd = undefined;
  t.total = undefined;
  t.bytesSent = 0;
  t.bytesReceived = 0;
}

/** Associates timings with a response (for {@linkcode timingsOf}). */
export function attachTimings(response: Response, timings: Timings): void {
  Object.defineProperty(response, TIMINGS, { value: timings, configurable: true });
}

/**
 * The timings of a response returned by a timebound fetch, or `undefined`
 * for any other response. The record is live: it fills in as the body is read.
 *
 * @example
 * ```ts
 * import { timingsOf } from "timebound";
 * console.assert(timingsOf(new Response("x")) === undefined);
 * ```
 */
export function timingsOf(response: Response): Timings | undefined {
  return (response as unknown as { [TIMINGS]?: Timings })[TIMINGS];
}
