/**
 * Problem responses (RFC 9457, `application/problem+json`) for the errors a
 * Hono app should answer itself: an upstream timeout is `504 Gateway
 * Timeout`, an open circuit `503 Service Unavailable` with `Retry-After`, an
 * upstream that could not be reached `502 Bad Gateway`.
 *
 * The body names the phase and nothing else about the upstream: no URL, no
 * stack, no message of the original error (they can name internal hosts).
 *
 * @module
 */
import { isTimeoutError, type Phase, type TimeoutError } from "./errors.ts";

/**
 * What the middleware needs of a `CircuitOpenError`. The class belongs to the
 * circuit breaker (not built yet); until then it is recognised by shape,
 * `name === "CircuitOpenError"` and a numeric `retryAfterMs`, which also
 * works across realms and bundled copies.
 */
export interface CircuitOpenLike extends Error {
  readonly name: "CircuitOpenError";
  /** When the breaker will let a probe through, in ms from now. */
  readonly retryAfterMs: number;
}

/**
 * Whether `error` is a `CircuitOpenError`, by shape (see {@linkcode CircuitOpenLike}).
 *
 * @example
 * ```ts
 * import { isCircuitOpen } from "timebound/hono";
 * const e = Object.assign(new Error("open"), { name: "CircuitOpenError", retryAfterMs: 1500 });
 * console.assert(isCircuitOpen(e));
 * console.assert(!isCircuitOpen(new Error("x")));
 * ```
 */
export function isCircuitOpen(error: unknown): error is CircuitOpenLike {
  return (
    typeof error === "object" &&
    error !== null &&
    (error as { name?: unknown }).name === "CircuitOpenError" &&
    typeof (error as { retryAfterMs?: unknown }).retryAfterMs === "number"
  );
}

/** An RFC 9457 problem details object as timebound writes it. */
export interface Problem {
  /** `"about:blank"`: the status code says what kind of problem it is (RFC 9457 §4.2.1). */
  type: string;
  title: string;
  status: number;
  detail: string;
  /** Extension member: which limit passed (504 only). */
  phase?: Phase;
  /** Extension member: seconds until a retry may succeed (503 only). */
  retryAfter?: number;
}

const PHASE_DETAIL: Record<Phase, string> = {
  total: "An upstream request did not finish within the time this request had.",
  headers: "An upstream server did not start its response in time.",
  readIdle: "An upstream server stopped sending its response.",
  writeIdle: "An upstream server stopped accepting the request body.",
  minRate: "An upstream transfer was slower than the minimum rate.",
};

/**
 * The problem details for a timeout or an open circuit, or `undefined` for
 * any other error.
 *
 * @example
 * ```ts
 * import { TimeoutError } from "timebound";
 * import { problemFor } from "timebound/hono";
 * const e = new TimeoutError({ phase: "headers", limitMs: 500, elapsedMs: 501, bytesSent: 0,
 *   bytesReceived: 0, attempt: 1, url: "http://10.0.0.7/internal", method: "GET" });
 * const p = problemFor(e)!;
 * console.assert(p.status === 504 && p.phase === "headers");
 * console.assert(!JSON.stringify(p).includes("10.0.0.7")); // no internals
 * ```
 */
export function problemFor(error: unknown): Problem | undefined {
  if (isTimeoutError(error)) {
    const phase = (error as TimeoutError).phase;
    return {
      type: "about:blank",
      title: "Gateway Timeout",
      status: 504,
      detail: PHASE_DETAIL[phase] ?? PHASE_DETAIL.total,
      phase,
    };
  }
  if (isCircuitOpen(error)) {
    return {
      type: "about:blank",
      title: "Service Unavailable",
      status: 503,
      detail: "An upstream service is failing; calls to it are paused.",
      retryAfter: retryAfterSeconds(error.retryAfterMs),
    };
  }
  return undefined;
}

/** `Retry-After` is whole seconds (RFC 9110 §10.2.3); round up, and never 0 (a retry storm). */
function retryAfterSeconds(ms: number): number {
  return Number.isFinite(ms) && ms > 0 ? Math.max(1, Math.ceil(ms / 1000)) : 1;
}

/**
 * The `application/problem+json` response for a timeout (504) or an open
 * circuit (503, with `Retry-After`), or `undefined` for any other error.
 * Marked `no-store`: a cached 504 would outlive the outage.
 *
 * @example
 * ```ts
 * import { problemResponse } from "timebound/hono";
 * const open = Object.assign(new Error("open"), { name: "CircuitOpenError", retryAfterMs: 1200 });
 * const res = problemResponse(open)!;
 * console.assert(res.status === 503 && res.headers.get("retry-after") === "2");
 * console.assert(res.headers.get("content-type") === "application/problem+json");
 * ```
 */
export function problemResponse(error: unknown): Response | undefined {
  const problem = problemFor(error);
  return problem ? responseFor(problem) : undefined;
}

/**
 * The problem for an upstream that could not be reached or broke the
 * connection (a network error from the bound fetch): `502 Bad Gateway`.
 *
 * @example
 * ```ts
 * import { badGatewayProblem } from "timebound/hono";
 * console.assert(badGatewayProblem().status === 502);
 * ```
 */
export function badGatewayProblem(): Problem {
  return {
    type: "about:blank",
    title: "Bad Gateway",
    status: 502,
    detail: "An upstream server could not be reached or broke the connection.",
  };
}

/** The detail of a 504 whose deadline passed in the request's own work (`within()`), not in an upstream call. */
export const LOCAL_DEADLINE_DETAIL = "This request's work did not finish within the time it had.";

/**
 * Renders a problem as `application/problem+json`, `no-store`, with
 * `Retry-After` when it has `retryAfter`.
 *
 * @example
 * ```ts
 * import { badGatewayProblem, responseFor } from "timebound/hono";
 * const res = responseFor(badGatewayProblem());
 * console.assert(res.status === 502 && res.headers.get("cache-control") === "no-store");
 * ```
 */
export function responseFor(problem: Problem): Response {
  const headers = new Headers({
    "content-type": "application/problem+json",
    "cache-control": "no-store",
  });
  if (problem.retryAfter !== undefined) headers.set("retry-after", String(problem.retryAfter));
  return new Response(JSON.stringify(problem), { status: problem.status, headers });
}
