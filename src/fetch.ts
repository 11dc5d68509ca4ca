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
import { type Clock, realClock } from "./clock.ts";
import { isTimeoutError, TimeoutError } from "./errors.ts";
import {
  type Limits,
  type Policy,
  type ResolvedLimits,
  resolveLimits,
  resolveOptions,
  type TimeboundOptions,
  type UploadProgress,
} from "./policy.ts";
import { backoffMs, isIdempotent, RetryBudget, retryAfterMs } from "./retry.ts";
import { bodySizeOf } from "./route.ts";
import { attachTimings, createTimings, restartTimings, type Timings } from "./timings.ts";

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
  const retry = policy.retry;
  const budget = retry?.budget ? new RetryBudget(retry.budget) : undefined;
  const shared: Shared = {
    policy,
    clock: policy.clock ?? realClock,
    budget,
    needsOrigin: policy.breaker !== undefined || budget !== undefined,
  };
  return function timeboundFetch(input, init) {
    try {
      return new Call(shared, input, init).run();
    } catch (error) {
      // Bad per-call options or a signal already aborted: a rejected call, as fetch does.
      return Promise.reject(error);
    }
  };
}

/** What every call of one `createFetch` instance shares. */
interface Shared {
  policy: Policy;
  clock: Clock;
  budget: RetryBudget | undefined;
  needsOrigin: boolean;
}

/**
 * One call: its attempts, the caller's abort, retries and the retry-budget
 * slot. A class rather than closures: this is the per-request path, and
 * prototype methods (and `handleEvent` as the abort listener) allocate
 * nothing per call.
 */
class Call {
  private readonly shared: Shared;
  private readonly url: string;
  private readonly method: string;
  private readonly request: RequestInit;
  private readonly body: Body | null | undefined;
  private readonly limits: ResolvedLimits;
  private readonly onProgress: ((progress: UploadProgress) => void) | undefined;
  private readonly onTimeout: ((error: TimeoutError) => void) | undefined;
  private readonly callerSignal: AbortSignal | null | undefined;
  private readonly requestSignal: AbortSignal | undefined;
  private readonly origin: string;
  private readonly fetch: typeof fetch;
  private readonly startedAt: number;
  private readonly deadline: number;
  private readonly timings: Timings;
  private current: Attempt | undefined;
  private handedOver: Attempt | undefined;
  private sleeping: { timer: unknown; reject: (reason: unknown) => void } | undefined;
  private callerAborted = false;
  private callerReason: unknown;
  private done = false;
  /** A retry-budget slot taken for the next attempt; it gives it back, or we do if it never starts. */
  private slot = false;

  constructor(shared: Shared, input: RequestInfo | URL, init: TimeboundInit | undefined) {
    this.shared = shared;
    const policy = shared.policy;
    this.limits =
      init?.timeouts === undefined
        ? policy.limits
        : resolveLimits(init.timeouts, policy.limits, "timeouts");
    const onProgress = init?.onUploadProgress ?? policy.onUploadProgress;
    if (onProgress !== undefined && typeof onProgress !== "function") {
      throw new TypeError("Invalid option 'onUploadProgress': expected a function");
    }
    this.onProgress = onProgress;

    // Normalise to (url, request, body): a Request's body stream is read by
    // us, so the Request itself cannot be handed on.
    let merged: TimeboundInit | undefined = init;
    if (typeof Request !== "undefined" && input instanceof Request) {
      this.url = input.url;
      this.requestSignal = input.signal;
      merged = {
        method: input.method,
        headers: input.headers,
        body: input.body,
        redirect: input.redirect,
        ...init,
      };
    } else {
      this.url = typeof input === "string" ? input : String(input);
    }
    // Taken apart by destructuring, not `delete`: a deleted key sends V8's
    // object to dictionary mode on this per-request path.
    const {
      timeouts: _timeouts,
      onUploadProgress: _onUploadProgress,
      onTimeout,
      signal,
      body,
      ...request
    } = merged ?? {};
    this.onTimeout = onTimeout;
    this.callerSignal = signal;
    this.body = body as Body | null | undefined;
    this.request = request;
    this.method = (request.method ?? "GET").toUpperCase();
    if (signal?.aborted) throw signal.reason;
    if (this.requestSignal?.aborted) throw this.requestSignal.reason;
    this.origin = shared.needsOrigin ? new URL(this.url).origin : "";
    this.fetch =
      policy.route?.({ url: this.url, method: this.method, bodySize: bodySizeOf(this.body) }) ??
      policy.fetch ??
      globalThis.fetch;
    this.startedAt = shared.clock.now();
    this.deadline = this.startedAt + this.limits.total;
    this.timings = createTimings(this.startedAt);
    // The caller's signal, forwarded with one listener (AbortSignal.any leaks
    // on workerd and allocates ~4 KB per call on Node 20; ARCHITECTURE.md).
    signal?.addEventListener("abort", this, { once: true });
    this.requestSignal?.addEventListener("abort", this, { once: true });
    shared.budget?.begin(this.origin);
  }

  /** The caller aborted (an EventListener object: no closure per call). */
  handleEvent(event: Event): void {
    if (this.callerAborted) return;
    this.callerAborted = true;
    this.callerReason = (event.target as AbortSignal).reason;
    this.current?.abort(this.callerReason);
    if (this.sleeping) {
      this.shared.clock.clearTimer(this.sleeping.timer);
      this.sleeping.reject(this.callerReason);
    }
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.callerSignal?.removeEventListener("abort", this);
    this.requestSignal?.removeEventListener("abort", this);
    this.shared.budget?.end(this.origin);
  }

  private dropSlot(): void {
    if (this.slot) this.shared.budget?.release(this.origin);
    this.slot = false;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = this.shared.clock.setTimer(() => {
        this.sleeping = undefined;
        resolve();
      }, ms);
      this.sleeping = { timer, reject };
    });
  }

  private startAttempt(n: number): Attempt {
    const { policy, clock } = this.shared;
    const breaker = policy.breaker;
    const ticket: BreakerTicket | undefined = breaker?.admit(this.origin);
    const isRetry = this.slot;
    this.slot = false;
    this.timings.attempts = n;
    if (n > 1) restartTimings(this.timings);
    const attempt: Attempt = new Attempt({
      fetch: this.fetch,
      url: this.url,
      method: this.method,
      request: this.request,
      body: this.body,
      number: n,
      limits: this.limits,
      clock,
      startedAt: this.startedAt,
      timings: this.timings,
      threshold: policy.upload.threshold,
      chunkSize: policy.upload.chunkSize,
      onProgress: this.onProgress,
      onTimeout: this.onTimeout,
      owner: this,
      ticket,
      retrySlot: isRetry,
    });
    this.current = attempt;
    if (this.callerAborted) attempt.abort(this.callerReason);
    return attempt;
  }

  /** An attempt is over: settle its breaker ticket and budget slot; a handed-over one ends the call. */
  attemptEnded(attempt: Attempt, end: AttemptEnd): void {
    const { ticket, retrySlot } = attempt.admission;
    if (ticket) this.shared.policy.breaker!.settle(ticket, outcome(end));
    if (retrySlot) this.shared.budget?.release(this.origin);
    if (this.handedOver === attempt) this.finish();
  }

  private handOver(attempt: Attempt, res: Response): Response {
    this.handedOver = attempt;
    attachTimings(res, this.timings);
    if (attempt.over) this.finish(); // a body-less response ended with its headers
    return res;
  }

  run(): Promise<Response> {
    if (this.shared.policy.retry) return this.runWithRetries();
    // One attempt, no loop: the common case stays short.
    let attempt: Attempt;
    try {
      attempt = this.startAttempt(1);
    } catch (error) {
      this.finish();
      return Promise.reject(error);
    }
    return attempt.run().then(
      (res) => this.handOver(attempt, res),
      (error: unknown) => {
        this.finish();
        throw this.callerAborted ? this.callerReason : error;
      },
    );
  }

  private async runWithRetries(): Promise<Response> {
    const { clock } = this.shared;
    const retry = this.shared.policy.retry!;
    try {
      for (let n = 1; ; n++) {
        const attempt = this.startAttempt(n);
        let res: Response;
        try {
          res = await attempt.run();
        } catch (error) {
          if (this.callerAborted) throw this.callerReason;
          const why = this.whyNotRetry(n, error);
          if (why !== undefined) throw annotate(error, why);
          const delay = backoffMs(retry, n);
          if (clock.now() + delay >= this.deadline) {
            throw annotate(
              error,
              `not retried: a backoff of ${Math.round(delay)} ms would cross the total deadline`,
            );
          }
          await this.sleep(delay);
          continue;
        }
        if (retry.statusCodes.has(res.status) && this.whyNotRetry(n, undefined) === undefined) {
          const asked = retryAfterMs(res.headers);
          const delay = asked ?? backoffMs(retry, n);
          const fits =
            (asked === undefined || asked <= retry.maxRetryAfterMs) &&
            clock.now() + delay < this.deadline;
          if (fits) {
            await res.body?.cancel();
            await this.sleep(delay);
            continue;
          }
          this.dropSlot();
        }
        return this.handOver(attempt, res);
      }
    } catch (error) {
      this.dropSlot();
      this.finish();
      throw error;
    }
  }

  /**
   * Why attempt `n` may not be followed by another: a reason (empty when
   * there is nothing worth saying), or `undefined` when it may, in which
   * case a retry-budget slot is now held.
   */
  private whyNotRetry(n: number, error: unknown): string | undefined {
    const retry = this.shared.policy.retry;
    const budget = this.shared.budget;
    if (!retry || retry.limit === 0) return "";
    // Only a `headers` timeout is retried: the server never answered, and
    // another connection may. Past that, the deadline is what is left.
    if (isTimeoutError(error) && error.phase !== "headers") return "";
    if (n > retry.limit) return `not retried: ${retry.limit} retries made`;
    const headers = this.request.headers ? new Headers(this.request.headers) : undefined;
    if (!isIdempotent(retry, this.method, headers)) {
      return `not retried: ${this.method} is not idempotent (send an Idempotency-Key to allow it)`;
    }
    // A caller's stream is read once; it cannot be sent again.
    if (this.body instanceof ReadableStream) return "not retried: a stream body cannot be replayed";
    if (budget && !budget.tryAcquire(this.origin)) {
      return "not retried: the retry budget for this origin is spent";
    }
    this.slot = budget !== undefined;
    return undefined;
  }
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
