/**
 * The error a caller catches when a limit passes: {@linkcode TimeoutError},
 * and its cross-realm guard {@linkcode isTimeoutError}.
 *
 * @module
 */

/** Which limit fired. */
export type Phase = "total" | "headers" | "readIdle" | "writeIdle" | "minRate";

/** What a {@linkcode TimeoutError} knows about the request when it fired. */
export interface TimeoutDetails {
  /** The limit that passed. */
  phase: Phase;
  /** The limit, in milliseconds (for `minRate`, its window). */
  limitMs: number;
  /** Time from the request's start to the moment the limit fired, in milliseconds. */
  elapsedMs: number;
  /** Request body bytes handed to the runtime before the timeout. */
  bytesSent: number;
  /** Response body bytes received before the timeout. */
  bytesReceived: number;
  /** The attempt that timed out, counting from 1. */
  attempt: number;
  /** The request URL without credentials, query or fragment (they may hold secrets). */
  url: string;
  /** The request method. */
  method: string;
  /** For `minRate`: the direction that was too slow. */
  direction?: "upload" | "download";
  /** For `minRate`: the required bytes per window. */
  minBytes?: number;
  /**
   * Who set the limit that passed: `"policy"` (the options of `createFetch`
   * or the call), or `"caller"` — a budget a remote caller sent (an inbound
   * deadline header, `init.callerBudget`). A caller's short budget is the
   * caller's doing: such a timeout is no evidence against the upstream.
   * @default "policy"
   */
  limitSource?: LimitSource;
}

/** Who set a limit: the service's own policy, or a remote caller's budget. */
export type LimitSource = "policy" | "caller";

const PHASE_TEXT: Record<Phase, string> = {
  total: "total deadline",
  headers: "time to response headers",
  readIdle: "read-idle limit (no response bytes)",
  writeIdle: "write-idle limit (request body not accepted)",
  minRate: "minimum transfer rate",
};

/**
 * A request took longer than one of its limits allowed. `phase` says which.
 *
 * @example
 * ```ts
 * import { TimeoutError } from "timebound";
 * const e = new TimeoutError({ phase: "headers", limitMs: 500, elapsedMs: 501, bytesSent: 0,
 *   bytesReceived: 0, attempt: 1, url: "https://api.example/x", method: "GET" });
 * console.assert(e.name === "TimeoutError" && e.phase === "headers");
 * console.assert(e.message === "Request timed out: GET https://api.example/x: time to response headers of 500 ms passed (after 501 ms)");
 * ```
 */
export class TimeoutError extends Error {
  override readonly name = "TimeoutError";
  readonly phase: Phase;
  readonly limitMs: number;
  readonly elapsedMs: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly attempt: number;
  readonly url: string;
  readonly method: string;
  readonly direction: "upload" | "download" | undefined;
  readonly minBytes: number | undefined;
  readonly limitSource: LimitSource;

  constructor(details: TimeoutDetails, options?: { cause?: unknown }) {
    super(messageFor(details), options);
    this.phase = details.phase;
    this.limitMs = details.limitMs;
    this.elapsedMs = details.elapsedMs;
    this.bytesSent = details.bytesSent;
    this.bytesReceived = details.bytesReceived;
    this.attempt = details.attempt;
    this.url = details.url;
    this.method = details.method;
    this.direction = details.direction;
    this.minBytes = details.minBytes;
    this.limitSource = details.limitSource ?? "policy";
  }
}

function messageFor(d: TimeoutDetails): string {
  const limit =
    d.phase === "minRate"
      ? `${PHASE_TEXT.minRate} of ${d.minBytes ?? "?"} bytes per ${round(d.limitMs)} ms (${d.direction ?? "?"})`
      : `${PHASE_TEXT[d.phase]} of ${round(d.limitMs)} ms`;
  return `Request timed out: ${d.method} ${d.url}: ${limit} passed (after ${round(d.elapsedMs)} ms)`;
}

function round(ms: number): number {
  return Math.round(ms);
}

/**
 * Whether `error` is a {@linkcode TimeoutError}, also across realms and
 * bundled copies (checks `name` and `phase`, not only `instanceof`). A
 * `DOMException` named "TimeoutError" (from `AbortSignal.timeout`) is not one.
 *
 * @example
 * ```ts
 * import { isTimeoutError } from "timebound";
 * console.assert(!isTimeoutError(new Error("x")));
 * console.assert(!isTimeoutError(new DOMException("t", "TimeoutError")));
 * ```
 */
export function isTimeoutError(error: unknown): error is TimeoutError {
  if (error instanceof TimeoutError) return true;
  return (
    typeof error === "object" &&
    error !== null &&
    (error as { name?: unknown }).name === "TimeoutError" &&
    typeof (error as { phase?: unknown }).phase === "string"
  );
}

/** Strips credentials, query and fragment from a URL for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return url.replace(/[?#].*$/, "");
  }
}

/**
 * The circuit breaker for the request's origin is open: the call failed fast
 * without touching the network. Try again after `retryAfterMs`.
 *
 * @example
 * ```ts
 * import { CircuitOpenError, isCircuitOpenError } from "timebound";
 * const e = new CircuitOpenError({ origin: "https://api.example", retryAfterMs: 1200 });
 * console.assert(e.name === "CircuitOpenError" && isCircuitOpenError(e));
 * console.assert(e.message === "Circuit open for https://api.example: failing fast for 1200 ms");
 * ```
 */
export class CircuitOpenError extends Error {
  override readonly name = "CircuitOpenError";
  /** The origin whose breaker is open. */
  readonly origin: string;
  /** Milliseconds until the breaker lets a probe through. */
  readonly retryAfterMs: number;

  constructor(details: { origin: string; retryAfterMs: number }, options?: { cause?: unknown }) {
    super(
      `Circuit open for ${details.origin}: failing fast for ${Math.ceil(details.retryAfterMs)} ms`,
      options,
    );
    this.origin = details.origin;
    this.retryAfterMs = details.retryAfterMs;
  }
}

/** Whether `error` is a {@linkcode CircuitOpenError}, also across realms (checks `name` and `retryAfterMs`). */
export function isCircuitOpenError(error: unknown): error is CircuitOpenError {
  if (error instanceof CircuitOpenError) return true;
  return (
    typeof error === "object" &&
    error !== null &&
    (error as { name?: unknown }).name === "CircuitOpenError" &&
    typeof (error as { retryAfterMs?: unknown }).retryAfterMs === "number"
  );
}
