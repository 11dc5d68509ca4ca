/**
 * Lifecycle events of {@linkcode createFetch}: what a team needs to see what
 * its limits are doing in production (calls, attempts, retries, timeouts),
 * and to feed metrics, tracing or the planner. Subscribe with
 * `createFetch({ events })`; the breaker reports its state changes through
 * its own `onStateChange`. Every event is emitted after the state change it
 * reports, and a throwing subscriber is reported (as a throwing event
 * listener is), never allowed to break a request. With no subscriber the
 * cost is one check per emit site.
 *
 * @module
 */
import type { LimitSource, Phase, TimeoutError } from "./errors.ts";

/** What every event carries. */
interface EventBase {
  /** The call the event belongs to: unique in the process, the same for all of a call's events. */
  callId: number;
  /** The request URL without credentials, query or fragment. */
  url: string;
  method: string;
  /** When it happened, on the fetch's Clock (ms). */
  at: number;
}

/** A call starts (before its first attempt). */
export interface CallStartEvent extends EventBase {
  type: "call-start";
}

/**
 * A call is over: its body was read to the end, cancelled or released, or
 * it failed. `outcome`: `"ok"` (a response whose body ended; `status` says
 * which), `"timeout"`, `"aborted"` (by the caller) or `"error"`.
 */
export interface CallEndEvent extends EventBase {
  type: "call-end";
  outcome: "ok" | "timeout" | "aborted" | "error";
  status: number | undefined;
  attempts: number;
  /** From the call's start to its end. */
  durationMs: number;
  error: unknown;
}

/** An attempt starts (1 for the first). */
export interface AttemptStartEvent extends EventBase {
  type: "attempt-start";
  attempt: number;
}

/** An attempt is over, with its phase timings (ms since the call's start) and bytes. */
export interface AttemptEndEvent extends EventBase {
  type: "attempt-end";
  attempt: number;
  outcome: "ok" | "timeout" | "aborted" | "error";
  status: number | undefined;
  /** This attempt started. */
  attemptStartMs: number;
  /** The first and last pull of a streamed request body. */
  uploadStartMs: number | undefined;
  uploadEndMs: number | undefined;
  /** Response headers arrived (time to first byte). */
  headersMs: number | undefined;
  /** The response body ended. */
  bodyEndMs: number | undefined;
  /**
   * The longest the caller waited on one read of the response body (ms,
   * rounded up to a whole ms): the time `readIdle` limits, so a limit below
   * it would have fired.
   * Time the caller spent not reading is not counted. `undefined` when no
   * headers arrived; 0 before any body bytes.
   */
  maxReadGapMs: number | undefined;
  bytesSent: number;
  bytesReceived: number;
  error: unknown;
}

/** Another attempt will follow after `delayMs`. */
export interface RetryScheduledEvent extends EventBase {
  type: "retry-scheduled";
  /** The attempt that failed. */
  attempt: number;
  delayMs: number;
  /** What failed: a retryable status, a network error or a per-try timeout. */
  reason: "status" | "network" | "timeout";
  status: number | undefined;
  /** The wait the response asked for in `Retry-After`, when it did. */
  retryAfterMs: number | undefined;
}

/** A retryable failure that is not retried, and why. */
export interface RetryRefusedEvent extends EventBase {
  type: "retry-refused";
  attempt: number;
  reason: "limit" | "method" | "body" | "budget" | "deadline" | "retry-after";
}

/** A limit passed (not emitted for a body the caller never started to read: that is a release). */
export interface TimeoutEvent extends EventBase {
  type: "timeout";
  attempt: number;
  phase: Phase;
  limitMs: number;
  elapsedMs: number;
  /** Who set the limit: the policy, or a remote caller's budget. */
  limitSource: LimitSource;
  /** Whether the limit was a learned one (`headers` or `readIdle: { learn }`), at its value for this call. */
  learned: boolean;
  error: TimeoutError;
}

/** Every event of a timebound fetch. */
export type TimeboundEvent =
  | CallStartEvent
  | CallEndEvent
  | AttemptStartEvent
  | AttemptEndEvent
  | RetryScheduledEvent
  | RetryRefusedEvent
  | TimeoutEvent;

/** A subscriber: called synchronously, after the state change. */
export type TimeboundEventListener = (event: TimeboundEvent) => void;
