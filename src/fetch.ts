/**
 * `createFetch`: a fetch whose every request finishes on time. It composes
 * attempts (each under its own watchdog, all under one total deadline),
 * retries, the circuit breaker and routing.
 *
 * @module
 */
import { unwatchAbort, watchAbort } from "./abort-watch.ts";
import { Attempt, type AttemptEnd, type BodyPlan } from "./attempt.ts";
import type { BreakerTicket } from "./breaker.ts";
import { type Clock, realClock } from "./clock.ts";
import type { Duration } from "./duration.ts";
import { isTimeoutError, type LimitSource, redactUrl, TimeoutError } from "./errors.ts";
import type { RetryRefusedEvent, TimeboundEvent, TimeboundEventListener } from "./events.ts";
import { lengthFraming } from "./framing.ts";
import {
  DEFAULT_UPLOAD_THRESHOLD,
  type Limits,
  type Policy,
  type ResolvedLimits,
  resolveLimits,
  resolveOptions,
  type TimeboundOptions,
  type UploadProgress,
} from "./policy.ts";
import { callSafely } from "./report.ts";
import { backoffMs, isIdempotent, RetryBudget, retryAfterMs } from "./retry.ts";
import { type Body, bodySizeBound, bodySizeOf, isReplayable } from "./source.ts";
import { attachTimings, createTimings, restartTimings, type Timings } from "./timings.ts";
import { durationOption } from "./validate.ts";

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
  /**
   * Called once when the response body fails with an upstream error (a
   * connection reset mid-body, say), after the attempt ended — so a
   * framework can answer 502 for it. Not for a timeout (`onTimeout`) nor
   * for your own abort.
   */
  onBodyError?: (error: unknown) => void;
  /**
   * A budget a remote caller sent (an inbound deadline header): it can only
   * shorten `total`, and a timeout it causes is the caller's doing — marked
   * `limitSource: "caller"`, never counted against the upstream by the breaker.
   */
  callerBudget?: Duration;
  /** Required by Node when `body` is a stream; timebound sets it for you. */
  duplex?: "half";
}

/** Bits of a call's `learned`: its headers or readIdle limit came from a learned limit. */
const LEARNED_HEADERS = 1;
const LEARNED_READ_IDLE = 2;

/** A fetch with timebound's limits: same signature, plus `init.timeouts`. */
export type TimeboundFetch = (
  input: Request | string | URL,
  init?: TimeboundInit,
) => Promise<Response>;

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
  const budget =
    retry?.budget instanceof RetryBudget
      ? retry.budget
      : retry?.budget
        ? new RetryBudget(retry.budget)
        : undefined;
  const shared: Shared = {
    policy,
    clock: policy.clock ?? realClock,
    budget,
    needsOrigin:
      policy.breaker !== undefined ||
      budget !== undefined ||
      policy.learnedHeaders !== undefined ||
      policy.learnedReadIdle !== undefined,
  };
  const timeboundFetch: TimeboundFetch = (input, init) => {
    const signal = init?.signal;
    if (signal != null && typeof (signal as AbortSignal).addEventListener !== "function") {
      // Not a signal: the wrapped fetch rejects it with its own error, as bare fetch would.
      return nativeRejection(shared, input, init);
    }
    try {
      return new Call(shared, input, init).run();
    } catch (error) {
      // Bad per-call options or a signal already aborted: a rejected call, as fetch does.
      return Promise.reject(error);
    }
  };
  // As the wrapped fetch reports it (1 on Node and Bun, 0 on Deno and workerd).
  const wrapped = policy.fetch ?? globalThis.fetch;
  Object.defineProperty(timeboundFetch, "length", { value: wrapped.length });
  return timeboundFetch;
}

/** What every call of one `createFetch` instance shares. */
interface Shared {
  policy: Policy;
  clock: Clock;
  budget: RetryBudget | undefined;
  needsOrigin: boolean;
}

/** Hands a request fetch itself rejects (a `signal` that is no signal) to the wrapped fetch, for its own error. */
function nativeRejection(
  shared: Shared,
  input: Request | string | URL,
  init: TimeboundInit | undefined,
): Promise<Response> {
  const {
    timeouts: _t,
    onUploadProgress: _p,
    onTimeout: _o,
    onBodyError: _e,
    callerBudget: _b,
    ...request
  } = init ?? {};
  const f = shared.policy.fetch ?? globalThis.fetch;
  return Promise.resolve()
    .then(() => f.call(globalThis, input, request))
    .then((res) => {
      // Not expected: no runtime accepts such a signal. Do not hand out an unguarded response.
      res.body?.cancel().catch(() => {});
      throw new TypeError("Invalid 'signal': expected an AbortSignal");
    });
}

/**
 * Whether `input` is a `Request`, by its shape as fetch accepts one: a
 * `Request` of another realm or of the `undici` package is one too (an
 * `instanceof` check would stringify it into `[object Request]`).
 */
function isRequestLike(input: unknown): input is Request {
  return (
    typeof input === "object" &&
    input !== null &&
    !(input instanceof URL) &&
    typeof (input as Request).url === "string" &&
    typeof (input as Request).method === "string" &&
    typeof (input as Request).clone === "function"
  );
}

const noop = (): void => {};

/** The last call id given out (events name their call with one). */
let lastCallId = 0;

/**
 * Whether a `Request` may carry a body, without touching `request.body`: on
 * Deno reading that property turns the body into a stream of unknown length,
 * and the request then goes out chunked. A GET or HEAD never has one.
 */
function mayHaveBody(request: Request): boolean {
  const m = request.method;
  return m !== "GET" && m !== "HEAD";
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
  /** The caller's `Request`, sent as it is (cloned per attempt when it may be sent again). */
  private readonly input: Request | undefined;
  private readonly request: RequestInit;
  /** The body from init (`undefined`: none, or the `Request`'s own). */
  private readonly body: Body | null | undefined;
  private readonly replayable: boolean;
  /** `redirect: "error"`: fetch reports a redirect as a network error, which is no reason to retry. */
  private readonly redirectError: boolean;
  private readonly plan: BodyPlan;
  private limits: ResolvedLimits;
  private readonly totalSource: LimitSource;
  private readonly onProgress: ((progress: UploadProgress) => void) | undefined;
  private readonly onTimeout: ((error: TimeoutError) => void) | undefined;
  private readonly onBodyError: ((error: unknown) => void) | undefined;
  private readonly signal: AbortSignal | null | undefined;
  private readonly origin: string;
  private readonly fetch: typeof fetch;
  private readonly startedAt: number;
  private readonly deadline: number;
  private readonly timings: Timings;
  private current: Attempt | undefined;
  private handedOver: Attempt | undefined;
  private readonly events: TimeboundEventListener | undefined;
  /** The status of the response handed over (for `call-end`). */
  private status: number | undefined;
  /** When the current attempt started, in ms since the call's start (for `attempt-end`). */
  private attemptStartMs = 0;
  /** Names the call in its events (set only when someone listens). */
  private callId = 0;
  private sleeping: { timer: unknown; reject: (reason: unknown) => void } | undefined;
  private callerAborted = false;
  private callerReason: unknown;
  private done = false;
  /** A retry-budget slot taken for the next attempt; it gives it back, or we do if it never starts. */
  private slot = false;
  /** Which of this call's limits were learned: LEARNED_HEADERS | LEARNED_READ_IDLE. */
  private learned = 0;

  constructor(shared: Shared, input: Request | string | URL, init: TimeboundInit | undefined) {
    this.shared = shared;
    const policy = shared.policy;
    let limits =
      init?.timeouts === undefined
        ? policy.limits
        : resolveLimits(init.timeouts, policy.limits, "timeouts");
    let totalSource: LimitSource = "policy";
    if (init?.callerBudget !== undefined) {
      const ms = durationOption("callerBudget", init.callerBudget);
      if (ms < limits.total) {
        limits = { ...limits, total: ms };
        totalSource = "caller";
      }
    }
    this.limits = limits;
    this.totalSource = totalSource;
    const onProgress = init?.onUploadProgress ?? policy.onUploadProgress;
    if (onProgress !== undefined && typeof onProgress !== "function") {
      throw new TypeError("Invalid option 'onUploadProgress': expected a function");
    }
    this.onProgress = onProgress;

    // Taken apart by destructuring, not `delete`: a deleted key sends V8's
    // object to dictionary mode on this per-request path.
    const {
      timeouts: _timeouts,
      onUploadProgress: _onUploadProgress,
      callerBudget: _callerBudget,
      onBodyError,
      onTimeout,
      signal,
      body,
      ...request
    } = init ?? {};
    const req = isRequestLike(input) ? input : undefined;
    this.input = req;
    this.url = req ? req.url : typeof input === "string" ? input : String(input);
    this.onTimeout = onTimeout;
    this.onBodyError = onBodyError;
    // `init.signal` replaces the Request's own, as in `new Request(input, init)`.
    this.signal = signal !== undefined ? signal : req?.signal;
    this.body = body;
    this.request = request;
    this.method = (request.method ?? req?.method ?? "GET").toUpperCase();
    if (this.signal?.aborted) {
      // As fetch does: the body of an aborted call is cancelled, not left open.
      const own = body !== undefined ? body : req?.body;
      if (own instanceof ReadableStream && !own.locked) own.cancel(this.signal.reason).catch(noop);
      throw this.signal.reason;
    }
    this.replayable = body !== undefined ? isReplayable(body) : true; // a Request is cloned per attempt
    this.redirectError = (request.redirect ?? req?.redirect) === "error";
    this.plan = planBody(body, req, request, policy.upload.threshold);
    this.origin = shared.needsOrigin ? new URL(this.url).origin : "";
    // This origin's learned limits, now (a per-call `timeouts.headers` or `.readIdle` wins).
    if (policy.learnedHeaders && init?.timeouts?.headers === undefined) {
      this.learned |= LEARNED_HEADERS;
    }
    if (policy.learnedReadIdle && init?.timeouts?.readIdle === undefined) {
      this.learned |= LEARNED_READ_IDLE;
    }
    if (this.learned !== 0) {
      this.limits = {
        ...this.limits,
        headers:
          this.learned & LEARNED_HEADERS
            ? policy.learnedHeaders!.valueFor(this.origin)
            : this.limits.headers,
        readIdle:
          this.learned & LEARNED_READ_IDLE
            ? policy.learnedReadIdle!.valueFor(this.origin)
            : this.limits.readIdle,
      };
    }
    this.fetch =
      policy.route?.({
        url: this.url,
        method: this.method,
        bodySize: body !== undefined ? bodySizeOf(body) : req && mayHaveBody(req) ? undefined : 0,
      }) ??
      policy.fetch ??
      globalThis.fetch;
    this.startedAt = shared.clock.now();
    this.deadline = this.startedAt + this.limits.total;
    this.timings = createTimings(this.startedAt);
    // The caller's signal, forwarded by the signal's one shared listener
    // (AbortSignal.any leaks on workerd and allocates ~4 KB per call on
    // Node 20, ARCHITECTURE.md; a listener per call warns past ten on Node).
    if (this.signal) watchAbort(this.signal, this);
    shared.budget?.begin(this.origin);
    this.events = policy.events;
    if (this.events) {
      this.callId = ++lastCallId;
      this.emit({ type: "call-start", ...this.eventBase() });
    }
  }

  private eventBase(): { callId: number; url: string; method: string; at: number } {
    return {
      callId: this.callId,
      url: redactUrl(this.url),
      method: this.method,
      at: this.shared.clock.now(),
    };
  }

  /** Tells the subscriber, after the state change; a throwing subscriber is reported, not propagated. */
  private emit(event: TimeboundEvent): void {
    callSafely(this.events, event);
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
      this.sleeping = undefined;
    }
  }

  /**
   * The call is over: the caller's signal and the retry budget are given
   * back. Idempotent. `error`: what ended it (`undefined`: a response whose
   * body ended, was cancelled or released).
   */
  private finish(error?: unknown): void {
    if (this.done) return;
    this.done = true;
    if (this.signal) unwatchAbort(this.signal, this);
    this.shared.budget?.end(this.origin);
    if (this.events) {
      const base = this.eventBase();
      this.emit({
        type: "call-end",
        ...base,
        outcome: outcomeOf(error, this.callerAborted),
        status: this.status,
        attempts: this.timings.attempts,
        durationMs: base.at - this.startedAt,
        error,
      });
    }
  }

  private dropSlot(): void {
    if (this.slot) this.shared.budget?.release(this.origin);
    this.slot = false;
  }

  private sleep(ms: number): Promise<void> {
    // An abort that landed while we awaited something else ends the call now.
    if (this.callerAborted) return Promise.reject(this.callerReason);
    return new Promise<void>((resolve, reject) => {
      const timer = this.shared.clock.setTimer(() => {
        this.sleeping = undefined;
        resolve();
      }, ms);
      this.sleeping = { timer, reject };
    });
  }

  private startAttempt(n: number): Attempt {
    const { policy } = this.shared;
    const breaker = policy.breaker;
    const ticket = breaker?.admit(this.origin);
    const isRetry = this.slot;
    this.slot = false;
    this.timings.attempts = n;
    if (n > 1) restartTimings(this.timings);
    let attempt: Attempt;
    try {
      attempt = this.newAttempt(n, ticket, isRetry);
    } catch (error) {
      // The attempt never existed (an injected clock threw, say): give back what it was given.
      if (ticket) breaker!.settle(ticket, undefined);
      if (isRetry) this.shared.budget?.release(this.origin);
      throw error;
    }
    this.current = attempt;
    if (this.events || policy.learnedHeaders || policy.learnedReadIdle) {
      const base = this.eventBase();
      this.attemptStartMs = base.at - this.startedAt;
      if (this.events) this.emit({ type: "attempt-start", ...base, attempt: n });
    }
    if (this.callerAborted) attempt.abort(this.callerReason);
    return attempt;
  }

  private newAttempt(n: number, ticket: BreakerTicket | undefined, isRetry: boolean): Attempt {
    const { policy, clock } = this.shared;
    const retry = policy.retry;
    return new Attempt({
      fetch: this.fetch,
      url: this.url,
      method: this.method,
      input: this.input,
      // Clone a Request whose body may be needed again; the last possible attempt sends the original.
      cloneInput:
        this.input !== undefined &&
        this.body === undefined &&
        mayHaveBody(this.input) &&
        retry !== undefined &&
        n <= retry.limit,
      request: this.request,
      body: this.body,
      plan: this.plan,
      number: n,
      limits: this.limits,
      totalSource: this.totalSource,
      clock,
      startedAt: this.startedAt,
      timings: this.timings,
      chunkSize: policy.upload.chunkSize,
      onProgress: this.onProgress,
      onTimeout: this.onTimeout,
      onBodyError: this.onBodyError,
      owner: this,
      breaker: policy.breaker,
      ticket,
      retrySlot: isRetry,
    });
  }

  /** An attempt is over: give back its budget slot; a handed-over one ends the call. */
  attemptEnded(attempt: Attempt, end: AttemptEnd): void {
    if (attempt.retrySlot) this.shared.budget?.release(this.origin);
    const learned = this.shared.policy.learnedHeaders;
    if (learned) {
      const t = this.timings;
      if (t.headers !== undefined) {
        learned.observe(this.origin, t.headers - (t.uploadEnd ?? this.attemptStartMs));
      } else if (isTimeoutError(end.error) && end.error.phase === "headers") {
        // Censored: it took at least the limit. A slowdown so pushes the limit up (to its ceiling).
        learned.observe(this.origin, end.error.limitMs);
      }
    }
    const learnedIdle = this.shared.policy.learnedReadIdle;
    if (learnedIdle) {
      const t = this.timings;
      if (isTimeoutError(end.error) && end.error.phase === "readIdle") {
        // Censored, as for headers: a stall raises the limit to its ceiling and no further.
        learnedIdle.observe(this.origin, end.error.limitMs);
      } else if (end.error === undefined && t.bytesReceived > 0) {
        // A body read (to its end, or as far as the caller read it: then a lower bound).
        learnedIdle.observe(this.origin, attempt.maxReadGapMs);
      }
    }
    if (this.events) {
      const t = this.timings;
      this.emit({
        type: "attempt-end",
        ...this.eventBase(),
        attempt: t.attempts,
        outcome: outcomeOf(end.error, end.byCaller),
        status: end.status,
        attemptStartMs: this.attemptStartMs,
        uploadStartMs: t.uploadStart,
        uploadEndMs: t.uploadEnd,
        headersMs: t.headers,
        bodyEndMs: t.bodyEnd,
        maxReadGapMs: t.headers === undefined ? undefined : attempt.maxReadGapMs,
        bytesSent: t.bytesSent,
        bytesReceived: t.bytesReceived,
        error: end.error,
      });
    }
    if (this.handedOver === attempt) this.finish(end.error);
  }

  /** A limit of an attempt passed (after its abort; not for a body never read). */
  attemptTimedOut(error: TimeoutError): void {
    if (!this.events) return;
    this.emit({
      type: "timeout",
      ...this.eventBase(),
      attempt: error.attempt,
      phase: error.phase,
      limitMs: error.limitMs,
      elapsedMs: error.elapsedMs,
      limitSource: error.limitSource,
      learned:
        (error.phase === "headers" && (this.learned & LEARNED_HEADERS) !== 0) ||
        (error.phase === "readIdle" && (this.learned & LEARNED_READ_IDLE) !== 0),
      error,
    });
  }

  private handOver(attempt: Attempt, res: Response): Response {
    this.handedOver = attempt;
    this.status = res.status;
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
      this.finish(error);
      return Promise.reject(error);
    }
    return attempt.run().then(
      (res) => this.handOver(attempt, res),
      (error: unknown) => {
        const reason = this.callerAborted ? this.callerReason : error;
        this.finish(reason);
        throw reason;
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
          if (why !== undefined) throw annotate(error, this.refused(n, why));
          const delay = backoffMs(retry, n);
          if (clock.now() + delay >= this.deadline) {
            throw annotate(
              error,
              this.refused(n, {
                reason: "deadline",
                text: `not retried: a backoff of ${Math.round(delay)} ms would cross the total deadline`,
              }),
            );
          }
          this.scheduled(
            n,
            delay,
            isTimeoutError(error) ? "timeout" : "network",
            undefined,
            undefined,
          );
          await this.sleep(delay);
          continue;
        }
        if (retry.statusCodes.has(res.status)) {
          const why = this.whyNotRetry(n, undefined);
          if (why === undefined) {
            const asked = retryAfterMs(res.headers);
            const delay = asked ?? backoffMs(retry, n);
            const tooLong = asked !== undefined && asked > retry.maxRetryAfterMs;
            if (!tooLong && clock.now() + delay < this.deadline) {
              await res.body?.cancel(); // ends the attempt (attempt-end) before the retry is announced
              if (!this.callerAborted) this.scheduled(n, delay, "status", res.status, asked);
              await this.sleep(delay);
              continue;
            }
            this.dropSlot();
            this.refused(n, { reason: tooLong ? "retry-after" : "deadline", text: "" });
          } else this.refused(n, why);
        }
        if (this.callerAborted) {
          // Aborted while this response was on its way: its body is already failed.
          res.body?.cancel().catch(noop);
          throw this.callerReason;
        }
        return this.handOver(attempt, res);
      }
    } catch (error) {
      this.dropSlot();
      this.finish(error);
      throw error;
    }
  }

  private scheduled(
    n: number,
    delayMs: number,
    reason: "status" | "network" | "timeout",
    status: number | undefined,
    retryAfterMs: number | undefined,
  ): void {
    if (!this.events) return;
    this.emit({
      type: "retry-scheduled",
      ...this.eventBase(),
      attempt: n,
      delayMs,
      reason,
      status,
      retryAfterMs,
    });
  }

  /** Reports a refusal worth reporting; returns its text for the error's message. */
  private refused(n: number, why: Refusal): string {
    if (this.events && why.reason) {
      this.emit({ type: "retry-refused", ...this.eventBase(), attempt: n, reason: why.reason });
    }
    return why.text;
  }

  /**
   * Why attempt `n` may not be followed by another (`reason` unset when it
   * is simply not a retryable failure), or `undefined` when it may, in which
   * case a retry-budget slot is now held.
   */
  private whyNotRetry(n: number, error: unknown): Refusal | undefined {
    const retry = this.shared.policy.retry;
    const budget = this.shared.budget;
    if (!retry || retry.limit === 0) return NOT_RETRYABLE;
    if (isTimeoutError(error)) {
      if (!retryableTimeout(error, this.shared.policy.upload.chunkSize)) return NOT_RETRYABLE;
    } else if (error !== undefined && this.redirectError) return NOT_RETRYABLE;
    if (n > retry.limit) {
      return { reason: "limit", text: `not retried: ${retry.limit} retries made` };
    }
    const headers = new Headers(this.request.headers ?? this.input?.headers);
    if (!isIdempotent(retry, this.method, headers)) {
      return {
        reason: "method",
        text: `not retried: ${this.method} is not idempotent (send an Idempotency-Key to allow it)`,
      };
    }
    // Replay is a property of the source: a stream or iterable is read once.
    if (!this.replayable) {
      return {
        reason: "body",
        text: "not retried: the body is a stream or iterable, read once; it cannot be sent again",
      };
    }
    if (budget && !budget.tryAcquire(this.origin)) {
      return { reason: "budget", text: "not retried: the retry budget for this origin is spent" };
    }
    this.slot = budget !== undefined;
    return undefined;
  }
}

/** Why no retry follows: an event's reason (none for a failure that is not retryable) and a note for the error. */
interface Refusal {
  reason?: RetryRefusedEvent["reason"];
  text: string;
}
const NOT_RETRYABLE: Refusal = { text: "" };

/** How a call or attempt ended, for events. */
function outcomeOf(error: unknown, byCaller: boolean): "ok" | "timeout" | "aborted" | "error" {
  if (byCaller) return "aborted";
  if (error === undefined) return "ok";
  return isTimeoutError(error) ? "timeout" : "error";
}

/**
 * Chunks a runtime pulls from a streamed body before its connection is open
 * (measured against a listener whose accept queue is full, so the handshake
 * never completes: Node 1, Deno 2, Bun 0).
 */
const PULLED_BEFORE_CONNECT = 2;

/**
 * A timeout worth another attempt: the server never answered (`headers`,
 * which also guards the wait for a streamed body's first pull), or the
 * upload stalled before more than a runtime takes before it has a
 * connection — the same signal as a connection that never opened, whatever
 * the body's size. Past that, what is left of the deadline is the caller's.
 */
function retryableTimeout(error: TimeoutError, chunkSize: number): boolean {
  if (error.phase === "headers") return true;
  const upload =
    error.phase === "writeIdle" || (error.phase === "minRate" && error.direction === "upload");
  return (
    upload && error.bytesReceived === 0 && error.bytesSent <= PULLED_BEFORE_CONNECT * chunkSize
  );
}

function noBody(threshold: number): BodyPlan {
  return {
    stream: false,
    headersAtDispatch: true,
    followRedirects: false,
    threshold,
    size: undefined,
  };
}
/** The plan of most calls, shared: one allocation fewer per request. */
const NO_BODY: BodyPlan = Object.freeze(noBody(DEFAULT_UPLOAD_THRESHOLD));

/**
 * How a call's body goes out (ARCHITECTURE.md, "Upload streaming"): a
 * caller's stream is streamed in chunks (chunked, as fetch sends it); a
 * buffered body over `threshold` is streamed where the runtime can keep its
 * `Content-Length` (framing.ts) and not for `keepalive`; everything else goes
 * as the caller gave it.
 */
function planBody(
  body: Body | null | undefined,
  input: Request | undefined,
  request: RequestInit,
  threshold: number,
): BodyPlan {
  if (body === undefined && input !== undefined && mayHaveBody(input)) {
    // A Request's own body goes as it is. Its size is unknown, unless it says.
    const declared = Number(input.headers.get("content-length") ?? Number.NaN);
    return {
      stream: false,
      headersAtDispatch: declared <= threshold,
      followRedirects: false,
      threshold,
      size: Number.isNaN(declared) ? undefined : declared,
    };
  }
  if (body == null) return threshold === DEFAULT_UPLOAD_THRESHOLD ? NO_BODY : noBody(threshold);
  if (body instanceof ReadableStream) {
    return {
      stream: true,
      headersAtDispatch: false,
      followRedirects: false,
      threshold,
      size: undefined,
    };
  }
  const keepalive = request.keepalive ?? input?.keepalive ?? false;
  const size = bodySizeOf(body);
  if (size !== undefined && size > threshold && !keepalive && lengthFraming !== undefined) {
    const redirect = request.redirect ?? input?.redirect ?? "follow";
    return {
      stream: true,
      headersAtDispatch: false,
      followRedirects: redirect === "follow",
      threshold,
      size: undefined,
    };
  }
  // Sent as given. A body that fits in the kernel's send buffer is handed
  // over at once, so `headers` can start now; for a larger one or one of
  // unknown size the time the runtime takes to send it is not known, and
  // `headers` would cut a healthy upload: `total` guards it.
  const bound = bodySizeBound(body);
  return {
    stream: false,
    headersAtDispatch: bound !== undefined && bound <= threshold,
    followRedirects: false,
    threshold,
    size,
  };
}

/**
 * Adds why no retry followed to a TimeoutError's message, in place (the same
 * error object that `onTimeout` saw); other errors pass through untouched.
 */
function annotate(error: unknown, why: string): unknown {
  if (why && error instanceof TimeoutError) error.message = `${error.message}; ${why}`;
  return error;
}
