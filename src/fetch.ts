/**
 * `createFetch`: a fetch whose every request finishes on time. It composes
 * attempts (each under its own watchdog, all under one total deadline),
 * retries, the circuit breaker and routing.
 *
 * @module
 */
import { Attempt, type AttemptEnd } from "./attempt.ts";
import type { Body } from "./body.ts";
import type { BreakerTicket } from "./breaker.ts";
import { realClock } from "./clock.ts";
import { isTimeoutError, TimeoutError } from "./errors.ts";
import {
  type Limits,
  resolveLimits,
  resolveOptions,
  type TimeboundOptions,
  type UploadProgress,
} from "./policy.ts";
import { backoffMs, isIdempotent, RetryBudget, retryAfterMs } from "./retry.ts";
import { bodySizeOf } from "./route.ts";
import { attachTimings, createTimings, restartTimings } from "./timings.ts";

/** `RequestInit` plus per-call limits. */
export interface TimeboundInit extends RequestInit {
  /** Limits for this call, merged over the instance's; `false` switches one off. */
  timeouts?: Limits;
  /** Upload progress for this call (overrides the instance's). */
  onUploadProgress?: (progress: UploadProgress) => void;
  /**
   * Called once when a limit of this call passes, with the error before any
   * awaiting code sees it (e.g. to tag it for a framework's error handler).
   */
  onTimeout?: (error: TimeoutError) => void;
  /** Required by Node when `body` is a stream; timebound sets it for you. */
  duplex?: "half";
}

/** A fetch with timebound's limits: same signature, plus `init.timeouts`. */
export type TimeboundFetch = (input: RequestInfo | URL, init?: TimeboundInit) => Promise<Response>;

/**
 * Creates a fetch whose requests finish on time: a hard `total` deadline that
 * covers the whole exchange including the response body, and optional
 * per-phase limits (`headers`, `readIdle`, `writeIdle`, `minRate`). Large
 * bodies are streamed in chunks so a stalled upload is seen. A limit that
 * passes rejects the pending call or body read with a {@linkcode TimeoutError}
 * naming the phase, aborts the request and releases its connection. Retries,
 * when enabled, never outlive the total deadline.
 *
 * Options are validated here, never at request time.
 *
 * @param options Limits, upload streaming, retries, breaker, routing, and injection points (`fetch`, `clock`).
 * @returns A function with fetch's signature; `init.timeouts` overrides limits per call.
 * @throws {TypeError} for an unknown option or a wrong type.
 * @throws {RangeError} for a value out of range (NaN, ≤ 0, > 2^31−1 ms, …).
 *
 * @example
 * ```ts
 * import { createFetch, isTimeoutError } from "timebound";
 * const fetchOnTime = createFetch({ total: "5s", headers: "2s", readIdle: "1s" });
 * try {
 *   const res = await fetchOnTime("http://127.0.0.1:9/unreachable", { timeouts: { total: 200 } });
 *   await res.text();
 * } catch (e) {
 *   if (isTimeoutError(e)) console.log(e.phase); // "total" or "headers"
 * }
 * ```
 */
export function createFetch(options: TimeboundOptions = {}): TimeboundFetch {
  const policy = resolveOptions(options);
  const clock = policy.clock ?? realClock;
  const { threshold, chunkSize } = policy.upload;
  const { retry, breaker, route } = policy;
  const budget = retry?.budget ? new RetryBudget(retry.budget) : undefined;
  const needsOrigin = breaker !== undefined || budget !== undefined;

  return async function timeboundFetch(
    input: RequestInfo | URL,
    init?: TimeboundInit,
  ): Promise<Response> {
    const limits =
      init?.timeouts === undefined
        ? policy.limits
        : resolveLimits(init.timeouts, policy.limits, "timeouts");
    const onProgress = init?.onUploadProgress ?? policy.onUploadProgress;
    if (onProgress !== undefined && typeof onProgress !== "function") {
      throw new TypeError("Invalid option 'onUploadProgress': expected a function");
    }

    // Normalise to (url, request, body): a Request's body stream is read by
    // us, so the Request itself cannot be handed on.
    let url: string;
    let requestSignal: AbortSignal | undefined;
    let merged: TimeboundInit | undefined = init;
    if (typeof Request !== "undefined" && input instanceof Request) {
      url = input.url;
      requestSignal = input.signal;
      merged = {
        method: input.method,
        headers: input.headers,
        body: input.body,
        redirect: input.redirect,
        ...init,
      };
    } else {
      url = typeof input === "string" ? input : String(input);
    }
    // Taken apart by destructuring, not `delete`: a deleted key sends V8's
    // object to dictionary mode on this per-request path.
    const {
      timeouts: _timeouts,
      onUploadProgress: _onUploadProgress,
      onTimeout,
      signal: callerSignal,
      body: rawBody,
      ...request
    } = merged ?? {};
    const body = rawBody as Body | null | undefined;
    const method = (request.method ?? "GET").toUpperCase();
    if (callerSignal?.aborted) throw callerSignal.reason;
    if (requestSignal?.aborted) throw requestSignal.reason;
    const origin = needsOrigin ? new URL(url).origin : "";
    const inner =
      route?.({ url, method, bodySize: bodySizeOf(body) }) ?? policy.fetch ?? globalThis.fetch;

    const startedAt = clock.now();
    const deadline = startedAt + limits.total;
    const timings = createTimings(startedAt);
    let current: Attempt | undefined;
    let sleeping: { timer: unknown; reject: (reason: unknown) => void } | undefined;
    let callerAborted = false;
    let callerReason: unknown;
    let done = false;
    let handedOver: Attempt | undefined;

    const onAbort = (event: Event): void => {
      if (callerAborted) return;
      callerAborted = true;
      callerReason = (event.target as AbortSignal).reason;
      current?.abort(callerReason);
      if (sleeping) {
        clock.clearTimer(sleeping.timer);
        sleeping.reject(callerReason);
      }
    };
    // The caller's signal, forwarded with one listener (AbortSignal.any leaks
    // on workerd and allocates ~4 KB per call on Node 20; ARCHITECTURE.md).
    callerSignal?.addEventListener("abort", onAbort, { once: true });
    requestSignal?.addEventListener("abort", onAbort, { once: true });
    budget?.begin(origin);
    const finish = (): void => {
      if (done) return;
      done = true;
      callerSignal?.removeEventListener("abort", onAbort);
      requestSignal?.removeEventListener("abort", onAbort);
      budget?.end(origin);
    };
    const sleep = (ms: number): Promise<void> =>
      new Promise<void>((resolve, reject) => {
        const timer = clock.setTimer(() => {
          sleeping = undefined;
          resolve();
        }, ms);
        sleeping = { timer, reject };
      });

    // A retry-budget slot taken for the next attempt; that attempt gives it
    // back when it ends, or we do if it never starts.
    let slot = false;
    const dropSlot = (): void => {
      if (slot) budget?.release(origin);
      slot = false;
    };

    try {
      for (let n = 1; ; n++) {
        const ticket: BreakerTicket | undefined = breaker?.admit(origin);
        const isRetry = slot;
        slot = false;
        timings.attempts = n;
        if (n > 1) restartTimings(timings);
        const attempt: Attempt = new Attempt({
          fetch: inner,
          url,
          method,
          request,
          body,
          number: n,
          limits,
          clock,
          startedAt,
          timings,
          threshold,
          chunkSize,
          onProgress,
          onTimeout,
          onEnd(end: AttemptEnd) {
            if (ticket) breaker!.settle(ticket, outcome(end));
            if (isRetry) budget?.release(origin);
            if (handedOver === attempt) finish();
          },
        });
        current = attempt;
        if (callerAborted) attempt.abort(callerReason);

        let res: Response;
        try {
          res = await attempt.run();
        } catch (error) {
          if (callerAborted) throw callerReason;
          const why = whyNotRetry(n, error);
          if (why !== undefined) throw annotate(error, why);
          const delay = backoffMs(retry!, n);
          if (clock.now() + delay >= deadline) {
            throw annotate(
              error,
              `not retried: a backoff of ${Math.round(delay)} ms would cross the total deadline`,
            );
          }
          await sleep(delay);
          continue;
        }

        if (retry?.statusCodes.has(res.status) && whyNotRetry(n, undefined) === undefined) {
          const asked = retryAfterMs(res.headers);
          const delay = asked ?? backoffMs(retry, n);
          const fits =
            (asked === undefined || asked <= retry.maxRetryAfterMs) &&
            clock.now() + delay < deadline;
          if (fits) {
            await res.body?.cancel();
            await sleep(delay);
            continue;
          }
          dropSlot();
        }
        handedOver = attempt;
        attachTimings(res, timings);
        if (attempt.over) finish(); // a body-less response ended with its headers
        return res;
      }
    } catch (error) {
      dropSlot();
      finish();
      throw error;
    }

    /**
     * Why attempt `n` may not be followed by another: a reason (empty when
     * there is nothing worth saying), or `undefined` when it may, in which
     * case a retry-budget slot is now held.
     */
    function whyNotRetry(n: number, error: unknown): string | undefined {
      if (!retry || retry.limit === 0) return "";
      // Only a `headers` timeout is retried: the server never answered, and
      // another connection may. Past that, the deadline is what is left.
      if (isTimeoutError(error) && error.phase !== "headers") return "";
      if (n > retry.limit) return `not retried: ${retry.limit} retries made`;
      if (
        !isIdempotent(retry, method, request.headers ? new Headers(request.headers) : undefined)
      ) {
        return `not retried: ${method} is not idempotent (send an Idempotency-Key to allow it)`;
      }
      // A caller's stream is read once; it cannot be sent again.
      if (body instanceof ReadableStream) return "not retried: a stream body cannot be replayed";
      if (budget && !budget.tryAcquire(origin)) {
        return "not retried: the retry budget for this origin is spent";
      }
      slot = budget !== undefined;
      return undefined;
    }
  };
}

/** A breaker outcome: the caller giving up is neither success nor failure; 5xx and errors are failures. */
function outcome(end: AttemptEnd): boolean | undefined {
  if (end.byCaller) return undefined;
  if (end.error !== undefined) return false;
  return end.status === undefined || end.status < 500;
}

/**
 * Adds why no retry followed to a TimeoutError's message, in place (the same
 * error object that `onTimeout` saw); other errors pass through untouched.
 */
function annotate(error: unknown, why: string): unknown {
  if (why && error instanceof TimeoutError) error.message = `${error.message}; ${why}`;
  return error;
}
