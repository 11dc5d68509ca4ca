/**
 * timebound for Hono: every inbound request gets a deadline, and every
 * outbound fetch it makes ends by then — or as soon as the client goes away.
 *
 * ```ts
 * app.use(timebound({ total: "2s", headers: "1s" }));
 * app.get("/quote", async (c) => c.json(await (await c.var.fetch(QUOTES)).json()));
 * ```
 *
 * - `c.var.deadline`: the smaller of the policy's `total` and a budget the
 *   caller sent (`grpc-timeout`, `x-envoy-expected-rq-timeout-ms`,
 *   `timebound-budget-ms`). A header only ever shrinks it.
 * - `c.var.fetch`: `createFetch` bound to that deadline and to the inbound
 *   request's abort signal, optionally propagating the remaining budget to
 *   allow-listed origins.
 * - A `TimeoutError` escaping the handler becomes `504`, a `CircuitOpenError`
 *   `503` + `Retry-After`, as `application/problem+json`.
 * - Opt-in `Server-Timing` with the outbound phases.
 *
 * Proxying uses Hono's own helper:
 * `proxy(url, { ...c.req, customFetch: c.var.fetch })`.
 *
 * @module
 */
import type { Context, MiddlewareHandler, Next } from "hono";
import { type Clock, realClock } from "./clock.ts";
import { type Deadline, DeadlineScope } from "./deadline.ts";
import { describe } from "./duration.ts";
import { isTimeoutError, type TimeoutError } from "./errors.ts";
import { createFetch, type TimeboundFetch, type TimeboundInit } from "./fetch.ts";
import { durationOption, OPTION_KEYS, resolveOptions, type TimeboundOptions } from "./policy.ts";
import { type CircuitOpenLike, isCircuitOpen, problemResponse } from "./problem.ts";
import {
  DEFAULT_BUDGET_HEADERS,
  headerNameOption,
  type IgnoredReason,
  type PropagateOptions,
  type Propagation,
  readBudget,
  resolvePropagation,
} from "./propagation.ts";
import { type CallRecord, formatServerTiming } from "./server-timing.ts";
import { timingsOf } from "./timings.ts";

export type { Deadline } from "./deadline.ts";
export type { TimeboundFetch, TimeboundInit } from "./fetch.ts";
export {
  type CircuitOpenLike,
  isCircuitOpen,
  type Problem,
  problemFor,
  problemResponse,
} from "./problem.ts";
export {
  BUDGET_HEADER,
  DEFAULT_BUDGET_HEADERS,
  DEFAULT_MARGIN_MS,
  ENVOY_TIMEOUT,
  formatGrpcTimeout,
  GRPC_TIMEOUT,
  type IgnoredReason,
  type PropagateOptions,
  readBudget,
} from "./propagation.ts";
export { type CallRecord, formatServerTiming } from "./server-timing.ts";

/** The variables the middleware sets on the context. */
export type TimeboundVariables = {
  /** A fetch bound to the request's deadline and to the client's connection. */
  fetch: TimeboundFetch;
  /** The request's deadline. */
  deadline: Deadline;
};

/** A Hono `Env` with timebound's variables, for `new Hono<TimeboundEnv>()`. */
export type TimeboundEnv = { Variables: TimeboundVariables };

/** An inbound budget header that was not used, reported to `onBudgetIgnored`. */
export interface IgnoredBudget {
  /** The header name, lower case. */
  header: string;
  /** Its value, cut to 64 characters (it is untrusted input). */
  value: string;
  reason: IgnoredReason;
}

/** Options of {@linkcode timebound}: the limits of `createFetch`, plus the middleware's own. */
export interface TimeboundHonoOptions extends TimeboundOptions {
  /**
   * Inbound headers whose budget may shrink the deadline, in order.
   * `grpc-timeout` is read in gRPC's format, any other as integer ms. `false`
   * (or `[]`) trusts none.
   * @default ["grpc-timeout", "x-envoy-expected-rq-timeout-ms", "timebound-budget-ms"]
   */
  budgetHeaders?: readonly string[] | false;
  /** Send the remaining budget to these origins. @default off */
  propagate?: PropagateOptions | false;
  /** Add `Server-Timing` with the outbound phases to responses. @default false */
  serverTiming?: boolean;
  /**
   * Renders a timeout or open circuit that escaped the handler. Return
   * `undefined` for the default `application/problem+json`.
   */
  onError?: (error: TimeoutError | CircuitOpenLike, c: Context) => Response | undefined;
  /** Called for each inbound budget header that was malformed or out of range. */
  onBudgetIgnored?: (ignored: IgnoredBudget) => void;
}

/** Counters since the middleware was created. */
export interface TimeboundStats {
  /** Inbound requests seen. */
  requests: number;
  /** Requests whose deadline an inbound header shrank. */
  budgetApplied: number;
  /** Inbound budget headers ignored (malformed or out of range). */
  budgetIgnored: number;
  /** `TimeoutError`s that escaped a handler. */
  timeouts: number;
  /** `CircuitOpenError`s that escaped a handler. */
  circuitOpen: number;
}

/** The middleware, with its counters. */
export type TimeboundMiddleware = MiddlewareHandler<TimeboundEnv> & {
  readonly stats: TimeboundStats;
};

// The core's option keys, checked here first so that an unknown key's
// message lists every option of the middleware, not only the core's.
const OWN_KEYS = ["budgetHeaders", "propagate", "serverTiming", "onError", "onBudgetIgnored"];
const ALL_KEYS = new Set([...OPTION_KEYS, ...OWN_KEYS]);
/** At most this many calls per request appear in `Server-Timing` (headers have size limits). */
const MAX_TIMED_CALLS = 16;

const noop = (): void => {};

interface Config {
  fetch: TimeboundFetch;
  clock: Clock;
  totalMs: number;
  budgetHeaders: readonly string[];
  propagation: Propagation | undefined;
  serverTiming: boolean;
  onError: TimeboundHonoOptions["onError"];
  onBudgetIgnored: TimeboundHonoOptions["onBudgetIgnored"];
}

function resolveConfig(options: unknown): Config {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new TypeError(`Invalid option 'options': expected an object, got ${describe(options)}`);
  }
  const obj = options as Record<string, unknown>;
  const core: Record<string, unknown> = {};
  for (const key of Object.keys(obj)) {
    if (!ALL_KEYS.has(key)) {
      throw new TypeError(`Unknown option '${key}': expected one of ${[...ALL_KEYS].join(", ")}`);
    }
    if (!OWN_KEYS.includes(key)) core[key] = obj[key];
  }
  const policy = resolveOptions(core);
  let budgetHeaders: readonly string[] = DEFAULT_BUDGET_HEADERS;
  if (obj.budgetHeaders === false) budgetHeaders = [];
  else if (obj.budgetHeaders !== undefined) {
    if (!Array.isArray(obj.budgetHeaders)) {
      throw new TypeError(
        `Invalid option 'budgetHeaders': expected an array of header names or false, got ${describe(obj.budgetHeaders)}`,
      );
    }
    budgetHeaders = obj.budgetHeaders.map((h: unknown, i: number) =>
      headerNameOption(`budgetHeaders[${i}]`, h),
    );
  }
  if (obj.serverTiming !== undefined && typeof obj.serverTiming !== "boolean") {
    throw new TypeError(
      `Invalid option 'serverTiming': expected a boolean, got ${describe(obj.serverTiming)}`,
    );
  }
  for (const name of ["onError", "onBudgetIgnored"]) {
    if (obj[name] !== undefined && typeof obj[name] !== "function") {
      throw new TypeError(
        `Invalid option '${name}': expected a function, got ${describe(obj[name])}`,
      );
    }
  }
  return {
    fetch: createFetch(core as TimeboundOptions),
    clock: policy.clock ?? realClock,
    totalMs: policy.limits.total,
    budgetHeaders,
    propagation: resolvePropagation(obj.propagate),
    serverTiming: obj.serverTiming === true,
    onError: obj.onError as Config["onError"],
    onBudgetIgnored: obj.onBudgetIgnored as Config["onBudgetIgnored"],
  };
}

/**
 * Creates the middleware. Options are validated here, never per request.
 *
 * For each request it sets `c.var.deadline` and `c.var.fetch`. The deadline
 * is the policy's `total`, shrunk by a budget header the caller sent. Every
 * outbound call through `c.var.fetch` gets `total` = the time left, is
 * aborted when the client disconnects, and is aborted when the inbound
 * response has been sent (a body nobody read holds no socket). If the
 * response streams something that still runs for this request (an upstream
 * body, work on `deadline.signal`), the response body is cut at the deadline.
 *
 * Errors: a `TimeoutError` that escapes the handler becomes `504`, a
 * `CircuitOpenError` `503` + `Retry-After`, both `application/problem+json`.
 * Override with `onError`, or in `app.onError` (it still sees the original
 * error; `err.getResponse()` is timebound's rendering).
 *
 * @param options `createFetch`'s limits and injection points, plus the middleware's own options.
 * @returns A named Hono middleware with counters in `.stats`.
 * @throws {TypeError} for an unknown option or a wrong type (the message names the option).
 * @throws {RangeError} for a value out of range.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { realClock } from "timebound";
 * import { timebound } from "timebound/hono";
 *
 * // A stand-in upstream that answers after 300 ms (no network needed here).
 * const slow: typeof fetch = (_input, init) => new Promise((resolve, reject) => {
 *   const t = realClock.setTimer(() => resolve(new Response("late")), 300);
 *   init?.signal?.addEventListener("abort", () => { realClock.clearTimer(t); reject(init.signal!.reason); });
 * });
 * const app = new Hono()
 *   .use(timebound({ total: "1s", fetch: slow, serverTiming: true }))
 *   .get("/", async (c) => c.text(await (await c.var.fetch("http://upstream.internal/x")).text()));
 *
 * const ok = await app.request("/");
 * console.assert(ok.status === 200 && (await ok.text()) === "late");
 * console.assert(ok.headers.get("server-timing")!.startsWith('deadline;dur=1000;desc="policy"'));
 *
 * // The caller has 100 ms left (gRPC format): the deadline shrinks, the answer is a 504.
 * const late = await app.request("/", { headers: { "grpc-timeout": "100m" } });
 * console.assert(late.status === 504);
 * console.assert(late.headers.get("content-type") === "application/problem+json");
 * console.assert((await late.json()).phase === "total");
 * ```
 */
export function timebound(options: TimeboundHonoOptions = {}): TimeboundMiddleware {
  const cfg = resolveConfig(options);
  const stats: TimeboundStats = {
    requests: 0,
    budgetApplied: 0,
    budgetIgnored: 0,
    timeouts: 0,
    circuitOpen: 0,
  };
  // Errors whose getResponse() rendered the answer: the default error handler used it.
  const rendered = new WeakSet<object>();

  const render = (error: TimeoutError | CircuitOpenLike, c: Context): Response =>
    cfg.onError?.(error, c) ?? problemResponse(error)!;

  /**
   * Hono's default error handler answers with `err.getResponse()` when an
   * error has one (the HTTPException protocol), without logging a stack per
   * timeout. A custom `app.onError` still gets the original error.
   */
  const tag = (error: unknown, c: Context): void => {
    if (typeof error !== "object" || error === null || "getResponse" in error) return;
    let getResponse: () => Response;
    if (isTimeoutError(error) || isCircuitOpen(error)) {
      getResponse = () => {
        rendered.add(error);
        return render(error, c);
      };
    } else if (
      error instanceof DOMException &&
      error.name === "AbortError" &&
      c.req.raw.signal.aborted
    ) {
      // The client is gone; nobody reads this. 499 (nginx's "client closed
      // request") keeps access logs honest, and no stack is printed.
      getResponse = () => new Response(null, { status: 499 });
    } else return;
    try {
      Object.defineProperty(error, "getResponse", {
        value: getResponse,
        configurable: true,
        writable: true,
      });
    } catch {
      // A frozen error: the fallback after next() still maps it.
    }
  };

  const middleware = async function timebound(c: Context<TimeboundEnv>, next: Next): Promise<void> {
    stats.requests++;
    const clock = cfg.clock;
    const startedAt = clock.now();
    const raw = c.req.raw;

    let budgetMs = cfg.totalMs;
    let source = "policy";
    for (const header of cfg.budgetHeaders) {
      const value = raw.headers.get(header);
      if (value === null) continue;
      const reading = readBudget(header, value);
      if (reading.ignored !== undefined) {
        stats.budgetIgnored++;
        cfg.onBudgetIgnored?.({ header, value: value.slice(0, 64), reason: reading.ignored });
      } else if (reading.ms < budgetMs) {
        budgetMs = reading.ms;
        source = header;
      }
    }
    if (source !== "policy") stats.budgetApplied++;

    const scope = new DeadlineScope({
      clock,
      budgetMs,
      source,
      startedAt,
      parent: raw.signal,
      url: raw.url,
      method: raw.method,
      decorate: (error) => tag(error, c),
    });
    const calls = new Calls(cfg.serverTiming);
    c.set("deadline", scope);
    c.set(
      "fetch",
      bindFetch(cfg, scope, calls, (error) => tag(error, c)),
    );

    try {
      await next();
    } catch (error) {
      scope.end();
      throw error;
    }

    const error = c.error;
    if (isTimeoutError(error) || isCircuitOpen(error)) {
      if (isCircuitOpen(error)) stats.circuitOpen++;
      else stats.timeouts++;
      // Hono's error handler has already answered. Ours (via getResponse) is
      // kept; so is anything an app.onError chose — except a bare 500, which
      // is never the right answer to a timeout.
      if (!rendered.has(error) && c.res.status === 500) replaceResponse(c, render(error, c));
    }

    if (cfg.serverTiming && calls.records) {
      const value = formatServerTiming(scope, calls.records);
      try {
        c.res.headers.append("server-timing", value);
      } catch {
        // Immutable headers (a Response straight from a platform fetch).
        const res = new Response(c.res.body, c.res);
        res.headers.append("server-timing", value);
        replaceResponse(c, res);
      }
    }

    // Past the deadline nothing may go on: end() aborts what still runs.
    if (scope.expired) {
      scope.end();
      return;
    }
    if (!calls.inFlight() && !scope.armed) {
      scope.end(true);
      return;
    }
    // Only now touch the body: reading `c.res.body` turns @hono/node-server's
    // lightweight response into a full one and loses its fast path.
    const body = c.res.body;
    if (body === null) {
      scope.end();
      return;
    }
    // Something still runs for this request (a streamed upstream body, work on
    // deadline.signal): keep the scope until the response body is done, and
    // cut the body at the deadline. Reading `signal` arms the deadline timer,
    // so the scope ends by the deadline even if nobody reads the body.
    const res = c.res;
    const wrapped = new Response(
      untilDone(body, scope.signal, () => scope.end()),
      {
        status: res.status,
        statusText: res.statusText,
        headers: res.headers,
      },
    );
    replaceResponse(c, wrapped);
  };

  return Object.assign(middleware, { stats }) as TimeboundMiddleware;
}

/** Sets c.res without Hono merging the old response's headers into the new one. */
function replaceResponse(c: Context, res: Response): void {
  c.res = undefined as unknown as Response;
  c.res = res;
}

/** The outbound calls of one inbound request: what is still running, and records for Server-Timing. */
class Calls {
  pending = 0;
  count = 0;
  /** Responses whose bodies may still be open. */
  open: Response[] = [];
  records: CallRecord[] | undefined;
  readonly #timed: boolean;

  constructor(timed: boolean) {
    this.#timed = timed;
  }

  start(method: string, start: number): CallRecord | undefined {
    this.pending++;
    this.count++;
    if (!this.#timed || this.count > MAX_TIMED_CALLS) return undefined;
    const record: CallRecord = { n: this.count, method, start };
    this.records ??= [];
    this.records.push(record);
    return record;
  }

  settled(record: CallRecord | undefined, res: Response): void {
    this.pending--;
    if (record) record.response = res;
    if (this.open.length >= 8) this.open = this.open.filter(isOpen);
    if (isOpen(res)) this.open.push(res);
  }

  failed(record: CallRecord | undefined, error: unknown, at: number): void {
    this.pending--;
    if (record) {
      record.error = error;
      record.failedAt = at;
    }
  }

  inFlight(): boolean {
    return this.pending > 0 || this.open.some(isOpen);
  }
}

/** A timebound response's body is open until its timings have a total (read, cancelled, errored, timed out). */
function isOpen(res: Response): boolean {
  return timingsOf(res)?.total === undefined && res.body !== null;
}

function methodOf(input: Request | string | URL, init: TimeboundInit | undefined): string {
  if (init?.method) return init.method.toUpperCase();
  return input instanceof Request ? input.method : "GET";
}

function urlOf(input: Request | string | URL): URL | undefined {
  try {
    return input instanceof Request ? new URL(input.url) : new URL(String(input));
  } catch {
    return undefined;
  }
}

/**
 * The per-request fetch: the instance's fetch with `total` = the time left,
 * the request's scope signal (client disconnect, response sent) and, for
 * allowed origins, the budget header.
 */
function bindFetch(
  cfg: Config,
  scope: DeadlineScope,
  calls: Calls,
  tag: (error: unknown) => void,
): TimeboundFetch {
  return async function fetchWithinDeadline(input, init) {
    const signal = scope.scopeSignal;
    if (signal.aborted) throw signal.reason;
    const left = scope.remaining();
    if (left === 0) throw scope.timeoutError();

    const req: TimeboundInit = init ? { ...init } : {};
    if (left !== Number.POSITIVE_INFINITY && scope.source !== "policy") {
      // The inbound client's budget: it shortens this call, and a timeout it
      // causes is the client's doing, never a failure for the shared breaker.
      req.callerBudget = left;
    } else if (left !== Number.POSITIVE_INFINITY) {
      const own = req.timeouts?.total;
      const ownMs =
        own === undefined || own === false
          ? Number.POSITIVE_INFINITY
          : durationOption("timeouts.total", own);
      req.timeouts = { ...req.timeouts, total: Math.min(ownMs, left) };
    }

    // The caller's own signal and the scope's, joined by hand: AbortSignal.any
    // allocates (and leaks on workerd) per call. Listeners go at scope end.
    let release = noop;
    const user = req.signal;
    if (!user) req.signal = signal;
    else if (user !== signal) {
      if (user.aborted) throw user.reason;
      const both = new AbortController();
      const fromUser = (): void => both.abort(user.reason);
      const fromScope = (): void => both.abort(signal.reason);
      user.addEventListener("abort", fromUser, { once: true });
      signal.addEventListener("abort", fromScope, { once: true });
      release = () => {
        user.removeEventListener("abort", fromUser);
        signal.removeEventListener("abort", fromScope);
      };
      scope.onEnd(release);
      req.signal = both.signal;
    }

    const propagation = cfg.propagation;
    if (propagation) {
      const url = urlOf(input);
      const value = propagation.value(left);
      if (url && value !== undefined && propagation.allows(url)) {
        const headers = new Headers(
          req.headers ?? (input instanceof Request ? input.headers : undefined),
        );
        headers.set(propagation.header, value);
        req.headers = headers;
      }
    }

    const record = calls.start(methodOf(input, init), cfg.clock.now());
    // A limit can pass while the handler reads the body (`await res.json()`):
    // the TimeoutError then comes from the read, not from this call. The hook
    // sees it first, so Hono's error handler can render it too.
    const own = req.onTimeout;
    req.onTimeout = (error) => {
      if (record) record.error = error; // Server-Timing then names the phase
      tag(error);
      own?.(error);
    };
    try {
      const res = await cfg.fetch(input, req);
      calls.settled(record, res);
      return res;
    } catch (error) {
      calls.failed(record, error, cfg.clock.now());
      release();
      tag(error);
      throw error;
    }
  };
}

/**
 * Passes `body` through, calling `done` once when it ends, is cancelled or
 * errors; when `signal` aborts first, errors the stream with its reason (the
 * client sees a truncated body) and cancels the source.
 */
function untilDone(
  body: ReadableStream<Uint8Array>,
  signal: AbortSignal,
  done: () => void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let finished = false;
  let ctrl!: ReadableStreamDefaultController<Uint8Array>;
  const finish = (): boolean => {
    if (finished) return false;
    finished = true;
    signal.removeEventListener("abort", onAbort);
    done();
    return true;
  };
  const onAbort = (): void => {
    if (!finish()) return;
    try {
      ctrl.error(signal.reason);
    } catch {
      // Already closed: nothing to cut.
    }
    reader.cancel(signal.reason).catch(noop);
  };
  return new ReadableStream<Uint8Array>(
    {
      start(c) {
        ctrl = c;
        if (signal.aborted) onAbort();
        else signal.addEventListener("abort", onAbort, { once: true });
      },
      async pull(c) {
        let r: ReadableStreamReadResult<Uint8Array>;
        try {
          r = await reader.read();
        } catch (error) {
          if (finish()) c.error(error);
          return;
        }
        if (finished) return;
        if (r.done) {
          finish();
          c.close();
        } else c.enqueue(r.value);
      },
      cancel(reason) {
        finish();
        return reader.cancel(reason).catch(noop);
      },
    },
    { highWaterMark: 0 },
  );
}
