/**
 * One attempt of a request under its own watchdog: dispatch (following
 * redirects itself when it streams a buffered body), stream the body, wrap
 * the response. Retries (fetch.ts) run attempts one after another on the same
 * start time, so `total` bounds them all.
 *
 * An attempt is settled exactly once, in {@linkcode Attempt.end}, reached on
 * every path: body read, cancelled or dropped, timeout, network error, caller
 * abort, a synchronous throw anywhere. Settling gives back its timer, its
 * breaker ticket (a half-open probe included) and, through its owner, its
 * retry-budget slot and the caller's signal.
 *
 * @module
 */
import { streamable, type Upload, upload } from "./body.ts";
import type { BreakerTicket, CircuitBreaker } from "./breaker.ts";
import type { Clock } from "./clock.ts";
import { type LimitSource, redactUrl, TimeoutError } from "./errors.ts";
import { withLength } from "./framing.ts";
import type { ResolvedLimits, UploadProgress } from "./policy.ts";
import { type Hop, nextHop } from "./redirect.ts";
import { callSafely } from "./report.ts";
import { type WatchedBody, type WatchHooks, watchResponse } from "./response.ts";
import type { Body } from "./source.ts";
import type { Timings } from "./timings.ts";
import { type Expiry, Watchdog } from "./watchdog.ts";

const noop = (): void => {};

/** How an attempt ended, reported once. */
export interface AttemptEnd {
  /** The error that ended it (a timeout, a network error); `undefined` when its body completed, was cancelled or dropped. */
  error: unknown;
  /** The response status, when headers arrived. */
  status: number | undefined;
  /** The caller aborted: neither a success nor a failure of the server. */
  byCaller: boolean;
}

/** How a call's body goes out; decided once per call (fetch.ts). */
export interface BodyPlan {
  /** Stream it in chunks (each pull is write progress). */
  stream: boolean;
  /** The `headers` limit starts at dispatch: there is no body, or it is handed over at once. */
  headersAtDispatch: boolean;
  /** Follow redirects here (a streamed buffered body), replaying the source. */
  followRedirects: boolean;
  /** Streamed bodies above this many bytes; smaller ones go as they are. */
  threshold: number;
  /** A body sent as it is, of known size: handed over whole at dispatch (for `bytesSent`). */
  size: number | undefined;
}

/** Everything one attempt needs. */
export interface AttemptInit {
  fetch: typeof fetch;
  url: string;
  method: string;
  /** The caller's `Request`, sent as it is (a clone of it when `cloneInput`), or `undefined` for a URL. */
  input: Request | undefined;
  cloneInput: boolean;
  /** The caller's init without body, signal and timebound's own keys; copied, never changed. */
  request: RequestInit;
  /** The body from init; `undefined` when it is the `Request`'s own (or there is none). */
  body: Body | null | undefined;
  plan: BodyPlan;
  /** 1 for the first attempt. */
  number: number;
  limits: ResolvedLimits;
  /** Who set `limits.total`. */
  totalSource: LimitSource;
  clock: Clock;
  /** The request's start (before any retry): `total` counts from here. */
  startedAt: number;
  timings: Timings;
  chunkSize: number;
  onProgress: ((progress: UploadProgress) => void) | undefined;
  onTimeout: ((error: TimeoutError) => void) | undefined;
  onBodyError: ((error: unknown) => void) | undefined;
  /** Told once when the attempt is over, and of its timeout (an object, not closures: fewer allocations per request). */
  owner: {
    attemptEnded(attempt: Attempt, end: AttemptEnd): void;
    attemptTimedOut(error: TimeoutError): void;
  };
  breaker: CircuitBreaker | undefined;
  /** The breaker's admission, settled by the attempt: on the status when headers arrive. */
  ticket: BreakerTicket | undefined;
  /** Whether this attempt holds a retry-budget slot, given back by the owner. */
  retrySlot: boolean;
}

/**
 * The runtime's own response handed over unwatched (see `received`), when
 * collected, ends the attempt. (Watched responses are tracked by their body:
 * response.ts.)
 */
const dropped =
  typeof FinalizationRegistry === "function"
    ? new FinalizationRegistry<Attempt>((attempt) => attempt.release())
    : undefined;

/**
 * One attempt. `run()` resolves with the watched response once headers
 * arrive, or rejects with what the caller should see: the attempt's
 * {@linkcode TimeoutError}, the caller's own abort reason, or the network error.
 */
export class Attempt implements WatchHooks {
  private readonly init: AttemptInit;
  private readonly controller = new AbortController();
  private readonly wd: Watchdog;
  private up: Upload | undefined;
  private body: WatchedBody | undefined;
  private ticket: BreakerTicket | undefined;
  private timeout: TimeoutError | undefined;
  private callerReason: unknown;
  private byCaller = false;
  private status: number | undefined;
  private ended = false;
  /** Redirects followed here, and the request that got the last response. */
  private hops = 0;
  private current: { url: string; method: string; headers: Headers } | undefined;

  constructor(init: AttemptInit) {
    this.init = init;
    this.ticket = init.ticket;
    this.wd = new Watchdog({
      clock: init.clock,
      limits: init.limits,
      startedAt: init.startedAt,
      timings: init.timings,
      onExpire: (e) => this.expired(e),
    });
  }

  /** The longest wait on one body read (ms); 0 before any body bytes. */
  get maxReadGapMs(): number {
    return this.wd.maxReadGapMs;
  }

  /** Whether this attempt holds a retry-budget slot (given back by the owner when it ends). */
  get retrySlot(): boolean {
    return this.init.retrySlot;
  }

  /** Whether the attempt is over (its body ended, or it failed). */
  get over(): boolean {
    return this.ended;
  }

  /** The caller aborted: fail the attempt, or the body being read, with their reason. */
  abort(reason: unknown): void {
    if (this.byCaller || this.timeout || this.ended) return;
    this.byCaller = true;
    this.callerReason = reason;
    this.wd.end();
    this.stop(reason);
  }

  /** The runtime's own response, handed over unwatched, was collected: the attempt ends. */
  release(): void {
    if (this.ended) return;
    this.wd.end();
    this.end(undefined);
  }

  private expired(e: Expiry): void {
    const init = this.init;
    // A deadline that passes on a body the caller never started to read is
    // a release of that body, not a failure of the upstream, nor news for `onTimeout`.
    const unread = this.status !== undefined && (this.body === undefined || !this.body.started);
    this.timeout = new TimeoutError({
      ...e,
      attempt: init.number,
      url: redactUrl(this.current?.url ?? init.url),
      method: this.current?.method ?? init.method,
      limitSource: e.phase === "total" ? init.totalSource : "policy",
    });
    this.stop(this.timeout);
    // The runtime's own response (handed over unwatched, see `received`) has no body hook to end us.
    if (this.status !== undefined && this.body === undefined) this.end(this.timeout);
    // The caller's hook runs after the abort it reports; a throw is reported, not propagated.
    if (!unread) {
      init.owner.attemptTimedOut(this.timeout);
      callSafely(init.onTimeout, this.timeout);
    }
  }

  private stop(reason: unknown): void {
    this.up?.stop(reason);
    this.body?.fail(reason);
    this.controller.abort(reason);
  }

  /** What the caller sees for an error: the timeout, the caller's own reason, or the error itself. */
  mapError(error: unknown): unknown {
    return this.timeout ?? (this.byCaller ? this.callerReason : error);
  }

  /** The body ended (read, cancelled, dropped, or errored). */
  onEnd(error: unknown): void {
    this.end(error);
    // An upstream failure mid-body (not a limit, not the caller): tell the caller's hook, after.
    if (error !== undefined && !this.byCaller && this.timeout === undefined) {
      callSafely(this.init.onBodyError, error);
    }
  }

  /** Gives the breaker its outcome once: from the status, or neutral. */
  private settle(ok: boolean | undefined): void {
    const ticket = this.ticket;
    if (ticket === undefined) return;
    this.ticket = undefined;
    this.init.breaker!.settle(ticket, ok);
  }

  /** The one place an attempt is settled. */
  private end(error: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.wd.end();
    this.up?.stop(error);
    this.settle(undefined); // still held: the attempt ended with no upstream verdict
    dropped?.unregister(this);
    this.init.owner.attemptEnded(this, { error, status: this.status, byCaller: this.byCaller });
  }

  /**
   * The attempt failed: ends it and returns what the caller should see.
   * `local`: it failed in this process before anything was sent (a bad
   * header, say), which is no evidence about the upstream.
   */
  private fail(error: unknown, local = false): unknown {
    const reason = this.mapError(error);
    // Upstream evidence only: the caller's abort, and a deadline a remote
    // caller set, say nothing about the upstream.
    const neutral = local || this.byCaller || this.timeout?.limitSource === "caller";
    this.settle(neutral ? undefined : false);
    this.end(reason);
    return reason;
  }

  /**
   * Dispatches the attempt. Not an async function: while a request waits for
   * its headers, a suspended async frame would be held for each one.
   */
  run(): Promise<Response> {
    let pending: Promise<Response>;
    try {
      pending = this.dispatch(undefined);
    } catch (error) {
      return Promise.reject(this.fail(error, true));
    }
    return pending.then(
      (res) => this.received(res),
      (error: unknown) => {
        throw this.fail(error);
      },
    );
  }

  private dispatch(hop: Hop | undefined): Promise<Response> {
    const { init, wd } = this;
    const plan = init.plan;
    const req: RequestInit & { duplex?: "half" } = {
      ...init.request,
      signal: this.controller.signal,
    };
    let headers: Headers | undefined;
    if (hop) {
      req.method = hop.method;
      headers = hop.headers;
      req.headers = headers;
    }
    if (plan.followRedirects) req.redirect = "manual";
    const body = hop && !hop.keepBody ? null : init.body;
    const s = plan.stream && body != null ? streamable(body, plan.threshold) : undefined;
    if (s) {
      this.up = upload(s, { chunkSize: init.chunkSize, watchdog: wd, onProgress: init.onProgress });
      headers ??= new Headers(req.headers);
      if (s.contentType && !headers.has("content-type")) headers.set("content-type", s.contentType);
      // A buffered source keeps its Content-Length (framing.ts); a caller's stream goes chunked, as with fetch.
      req.body =
        s.size === undefined ? this.up.stream : withLength(this.up.stream, s.size, headers);
      req.headers = headers;
      req.duplex = "half";
      // Until the first pull, as for a request without a body: a per-try
      // limit for a connection that never opens, whatever the body's size.
      wd.sent();
    } else {
      if (body !== undefined) req.body = body;
      if (body != null && plan.size !== undefined) wd.wrote(plan.size);
      if (plan.headersAtDispatch || (hop && body === null)) wd.sent();
    }
    if (plan.followRedirects) {
      this.current = {
        url: hop ? hop.url : init.url,
        method: hop ? hop.method : init.method,
        headers: headers ?? new Headers(req.headers),
      };
    }
    if (this.byCaller || this.timeout) {
      // Aborted while we prepared (a limit already due, or the caller): do not dispatch.
      throw this.mapError(undefined);
    }
    const input = hop
      ? hop.url
      : init.input === undefined
        ? init.url
        : init.cloneInput
          ? init.input.clone()
          : init.input;
    return init.fetch.call(globalThis, input, req);
  }

  /** Headers arrived: a redirect to follow, or the response to hand over. */
  private received(res: Response): Response | Promise<Response> {
    try {
      const hop =
        this.current && this.wd.running ? nextHop(this.current, res, this.hops) : undefined;
      if (hop) {
        res.body?.cancel().catch(noop);
        this.hops++;
        this.up = undefined;
        this.wd.nextHop();
        return this.dispatch(hop).then(
          (next) => this.received(next),
          (error: unknown) => {
            throw this.fail(error);
          },
        );
      }
      this.status = res.status;
      this.wd.headersReceived();
      // The breaker hears the upstream's answer now; what the caller does with
      // the body is not evidence. A 504 to a call whose deadline a remote
      // caller set is that caller's budget running out downstream (it was
      // propagated), not the upstream failing.
      const byCallerBudget = res.status === 504 && this.init.totalSource === "caller";
      this.settle(byCallerBudget ? undefined : res.status < 500);
      if (!this.wd.running) {
        // A limit passed, or the caller aborted, just as the headers arrived.
        res.body?.cancel().catch(noop);
        throw this.mapError(new Error("request ended before its response was delivered"));
      }
      const watched = watchResponse(res, this.wd, this, {
        url: this.current?.url ?? res.url,
        redirected: this.hops > 0 || res.redirected,
        followed: this.hops > 0,
      });
      if (watched === undefined) {
        // A response that cannot be rebuilt even with its status reported by
        // getters: the caller gets the runtime's own, still bounded by this
        // attempt's abort; the watchdog keeps only `total` for it.
        dropped?.register(res, this, this);
        return res;
      }
      this.body = watched.body;
      return watched.response;
    } catch (error) {
      res.body?.cancel().catch(noop);
      throw this.fail(error);
    }
  }
}
