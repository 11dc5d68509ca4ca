/**
 * `createFetch`: a fetch whose every request finishes on time. It composes
 * the watchdog, the body streams and the timings.
 *
 * @module
 */
import { streamable, type Upload, upload, type WatchedResponse, watchResponse } from "./body.ts";
import { realClock } from "./clock.ts";
import { redactUrl, TimeoutError } from "./errors.ts";
import {
  type Limits,
  resolveLimits,
  resolveOptions,
  type TimeboundOptions,
  type UploadProgress,
} from "./policy.ts";
import { attachTimings, createTimings } from "./timings.ts";
import { Watchdog } from "./watchdog.ts";

/** `RequestInit` plus per-call limits. */
export interface TimeboundInit extends RequestInit {
  /** Limits for this call, merged over the instance's; `false` switches one off. */
  timeouts?: Limits;
  /** Upload progress for this call (overrides the instance's). */
  onUploadProgress?: (progress: UploadProgress) => void;
  /** Required by Node when `body` is a stream; timebound sets it for you. */
  duplex?: "half";
}

/** A fetch with timebound's limits: same signature, plus `init.timeouts`. */
export type TimeboundFetch = (input: RequestInfo | URL, init?: TimeboundInit) => Promise<Response>;

const noop = (): void => {};

/**
 * Creates a fetch whose requests finish on time: a hard `total` deadline that
 * covers the whole exchange including the response body, and optional
 * per-phase limits (`headers`, `readIdle`, `writeIdle`, `minRate`). Large
 * bodies are streamed in chunks so a stalled upload is seen. A limit that
 * passes rejects the pending call or body read with a {@linkcode TimeoutError}
 * naming the phase, aborts the request and releases its connection.
 *
 * Options are validated here, never at request time.
 *
 * @param options Limits, upload streaming, and injection points (`fetch`, `clock`).
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
  const inner = policy.fetch;
  const { threshold, chunkSize } = policy.upload;

  return async function timeboundFetch(
    input: RequestInfo | URL,
    init?: TimeboundInit,
  ): Promise<Response> {
    const limits =
      init?.timeouts === undefined
        ? policy.limits
        : resolveLimits(init.timeouts, policy.limits, "timeouts");
    const onProgress = init?.onUploadProgress ?? policy.onUploadProgress;
    if (typeof onProgress !== "undefined" && typeof onProgress !== "function") {
      throw new TypeError("Invalid option 'onUploadProgress': expected a function");
    }
    const startedAt = clock.now();

    // Normalise to (url, init): a Request's body stream is read by us, so the
    // Request itself cannot be handed on.
    let url: string;
    let req: TimeboundInit;
    let callerSignal: AbortSignal | null | undefined;
    let requestSignal: AbortSignal | undefined;
    if (typeof Request !== "undefined" && input instanceof Request) {
      url = input.url;
      requestSignal = input.signal;
      req = {
        method: input.method,
        headers: input.headers,
        body: input.body,
        redirect: input.redirect,
      };
      if (init) Object.assign(req, init);
    } else {
      url = typeof input === "string" ? input : String(input);
      req = init ? { ...init } : {};
    }
    callerSignal = req.signal;
    delete req.timeouts;
    delete req.onUploadProgress;
    const method = (req.method ?? "GET").toUpperCase();
    if (callerSignal?.aborted) throw callerSignal.reason;
    if (requestSignal?.aborted) throw requestSignal.reason;

    const controller = new AbortController();
    const timings = createTimings(startedAt);
    let up: Upload | undefined;
    let watched: WatchedResponse | undefined;
    let timeout: TimeoutError | undefined;
    let callerAborted = false;
    let callerReason: unknown;

    const stop = (reason: unknown): void => {
      up?.stop(reason);
      watched?.fail(reason);
      controller.abort(reason);
      release();
    };
    const wd = new Watchdog({
      clock,
      limits,
      startedAt,
      timings,
      onExpire(e) {
        timeout = new TimeoutError({
          ...e,
          attempt: 1,
          url: redactUrl(url),
          method,
        });
        stop(timeout);
      },
    });
    // The caller's signal, forwarded with one listener (AbortSignal.any leaks
    // on workerd and allocates ~4 KB per call on Node 20; ARCHITECTURE.md).
    const onAbort = (event: Event): void => {
      if (callerAborted || timeout) return;
      callerAborted = true;
      callerReason = (event.target as AbortSignal).reason;
      wd.end();
      stop(callerReason);
    };
    callerSignal?.addEventListener("abort", onAbort, { once: true });
    requestSignal?.addEventListener("abort", onAbort, { once: true });
    function release(): void {
      callerSignal?.removeEventListener("abort", onAbort);
      requestSignal?.removeEventListener("abort", onAbort);
    }
    const reasonFor = (error: unknown): unknown =>
      timeout ?? (callerAborted ? callerReason : error);

    const body = req.body;
    const s = body == null ? undefined : streamable(body, threshold);
    if (s) {
      up = upload(s, { chunkSize, watchdog: wd, onProgress });
      req.body = up.stream;
      req.duplex = "half";
      if (s.contentType) {
        const headers = new Headers(req.headers);
        if (!headers.has("content-type")) headers.set("content-type", s.contentType);
        req.headers = headers;
      }
    } else {
      wd.sent();
    }
    req.signal = controller.signal;

    let res: Response;
    try {
      res = await (inner ?? globalThis.fetch).call(globalThis, url, req);
    } catch (error) {
      const reason = reasonFor(error);
      wd.end();
      up?.stop(reason);
      release();
      throw reason;
    }
    wd.headersReceived();
    if (!wd.running) {
      // A limit passed, or the caller aborted, just as the headers arrived.
      res.body?.cancel().catch(noop);
      release();
      throw reasonFor(new Error("request ended before its response was delivered"));
    }
    watched = watchResponse(res, wd, reasonFor, release);
    attachTimings(watched.response, timings);
    return watched.response;
  };
}
