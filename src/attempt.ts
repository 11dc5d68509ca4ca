/**
 * One attempt of a request under its own watchdog: dispatch, stream the
 * body, wrap the response. Retries (fetch.ts) run attempts one after another
 * on the same start time, so `total` bounds them all.
 *
 * @module
 */
import {
  type Body,
  streamable,
  type Upload,
  upload,
  type WatchedResponse,
  watchResponse,
} from "./body.ts";
import type { BreakerTicket } from "./breaker.ts";
import type { Clock } from "./clock.ts";
import { redactUrl, TimeoutError } from "./errors.ts";
import type { ResolvedLimits, UploadProgress } from "./policy.ts";
import type { Timings } from "./timings.ts";
import { Watchdog } from "./watchdog.ts";

const noop = (): void => {};

/** How an attempt ended, reported once. */
export interface AttemptEnd {
  /** The error that ended it (a timeout, a network error); `undefined` when its body completed or was cancelled. */
  error: unknown;
  /** The response status, when headers arrived. */
  status: number | undefined;
  /** The caller aborted: neither a success nor a failure of the server. */
  byCaller: boolean;
}

/** Everything one attempt needs. */
export interface AttemptInit {
  fetch: typeof fetch;
  url: string;
  method: string;
  /** The request without body and signal; copied, never changed. */
  request: RequestInit;
  body: Body | null | undefined;
  /** 1 for the first attempt. */
  number: number;
  limits: ResolvedLimits;
  clock: Clock;
  /** The request's start (before any retry): `total` counts from here. */
  startedAt: number;
  timings: Timings;
  threshold: number;
  chunkSize: number;
  onProgress: ((progress: UploadProgress) => void) | undefined;
  onTimeout: ((error: TimeoutError) => void) | undefined;
  /** Told once when the attempt is over (an object, not a closure: one fewer allocation per request). */
  owner: { attemptEnded(attempt: Attempt, end: AttemptEnd): void };
  /** The circuit breaker's admission, settled by the owner. */
  ticket: BreakerTicket | undefined;
  /** Whether this attempt holds a retry-budget slot, given back by the owner. */
  retrySlot: boolean;
}

/**
 * One attempt. `run()` resolves with the watched response once headers
 * arrive, or rejects with what the caller should see: the attempt's
 * {@linkcode TimeoutError}, the caller's own abort reason, or the network error.
 */
export class Attempt {
  private readonly init: AttemptInit;
  private readonly controller = new AbortController();
  private readonly wd: Watchdog;
  private up: Upload | undefined;
  private watched: WatchedResponse | undefined;
  private timeout: TimeoutError | undefined;
  private callerReason: unknown;
  private byCaller = false;
  private status: number | undefined;
  private ended = false;

  constructor(init: AttemptInit) {
    this.init = init;
    this.wd = new Watchdog({
      clock: init.clock,
      limits: init.limits,
      startedAt: init.startedAt,
      timings: init.timings,
      onExpire: (e) => {
        this.timeout = new TimeoutError({
          ...e,
          attempt: init.number,
          url: redactUrl(init.url),
          method: init.method,
        });
        init.onTimeout?.(this.timeout);
        this.stop(this.timeout);
      },
    });
  }

  /** The admission the owner settles when the attempt is over. */
  get admission(): { ticket: BreakerTicket | undefined; retrySlot: boolean } {
    return this.init;
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

  private stop(reason: unknown): void {
    this.up?.stop(reason);
    this.watched?.fail(reason);
    this.controller.abort(reason);
  }

  private reasonFor(error: unknown): unknown {
    return this.timeout ?? (this.byCaller ? this.callerReason : error);
  }

  private end(error: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.init.owner.attemptEnded(this, { error, status: this.status, byCaller: this.byCaller });
  }

  /**
   * Dispatches the attempt. Not an async function: while a request waits for
   * its headers, a suspended async frame would be held for each one.
   */
  run(): Promise<Response> {
    const { init, wd } = this;
    const req: RequestInit & { duplex?: "half" } = {
      ...init.request,
      signal: this.controller.signal,
    };
    const s = init.body == null ? undefined : streamable(init.body, init.threshold);
    if (s) {
      this.up = upload(s, { chunkSize: init.chunkSize, watchdog: wd, onProgress: init.onProgress });
      req.body = this.up.stream;
      req.duplex = "half";
      if (s.contentType) {
        const headers = new Headers(req.headers);
        if (!headers.has("content-type")) headers.set("content-type", s.contentType);
        req.headers = headers;
      }
    } else {
      req.body = init.body;
      wd.sent();
    }
    if (this.byCaller || this.timeout) {
      // Aborted while we prepared (a limit already due, or the caller): do not dispatch.
      return Promise.reject(this.failed(undefined));
    }
    let pending: Promise<Response>;
    try {
      pending = init.fetch.call(globalThis, init.url, req);
    } catch (error) {
      return Promise.reject(this.failed(error));
    }
    return pending.then(
      (res) => this.received(res),
      (error: unknown) => {
        throw this.failed(error);
      },
    );
  }

  /** The attempt failed before headers: ends it and returns what the caller should see. */
  private failed(error: unknown): unknown {
    const reason = this.reasonFor(error);
    this.wd.end();
    this.up?.stop(reason);
    this.end(reason);
    return reason;
  }

  private received(res: Response): Response {
    const wd = this.wd;
    this.status = res.status;
    wd.headersReceived();
    if (!wd.running) {
      // A limit passed, or the caller aborted, just as the headers arrived.
      res.body?.cancel().catch(noop);
      throw this.failed(new Error("request ended before its response was delivered"));
    }
    this.watched = watchResponse(
      res,
      wd,
      (error) => this.reasonFor(error),
      (error) => this.end(error),
    );
    return this.watched.response;
  }
}
