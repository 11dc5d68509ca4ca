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
import { unwatchAbort, watchAbort } from "./abort-watch.ts";
import { type Clock, realClock } from "./clock.ts";
import { type Deadline, DeadlineScope, type ScopeErrorOrigin } from "./deadline.ts";
import { describe } from "./duration.ts";
import { isTimeoutError, TimeoutError } from "./errors.ts";
import { createFetch, type TimeboundFetch, type TimeboundInit } from "./fetch.ts";
import { durationOption, OPTION_KEYS, resolveOptions, type TimeboundOptions } from "./policy.ts";
import {
  badGatewayProblem,
  type CircuitOpenLike,
  isCircuitOpen,
  LOCAL_DEADLINE_DETAIL,
  problemFor,
  responseFor,
} from "./problem.ts";
import {
  DEFAULT_BUDGET_HEADERS,
  headerNameOption,
  type IgnoredReason,
  type PropagateOptions,
  type Propagation,
  readBudget,
  resolvePropagation,
} from "./propagation.ts";
import { nextHop } from "./redirect.ts";
import { type CallRecord, formatServerTiming } from "./server-timing.ts";
import { timingsOf } from "./timings.ts";

export type { Deadline } from "./deadline.ts";
export type { TimeboundFetch, TimeboundInit } from "./fetch.ts";
export {
  badGatewayProblem,
  type CircuitOpenLike,
  isCircuitOpen,
  LOCAL_DEADLINE_DETAIL,
  type Problem,
  problemFor,
  problemResponse,
  responseFor,
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
   * Renders a timeout, an open circuit, or a network error from
   * `c.var.fetch` (the upstream could not be reached: a `TypeError` on
   * most runtimes, an `Error` on workerd) that escaped the handler. Return
   * `undefined` for the default `application/problem+json` (504, 503, 502).
   */
  onError?: (error: TimeboundError, c: Context) => Response | undefined;
  /** Called for each inbound budget header that was malformed or out of range. */
  onBudgetIgnored?: (ignored: IgnoredBudget) => void;
}

/** What `onError` renders: a timeout, an open circuit, or an upstream's network error. */
export type TimeboundError = TimeoutError | CircuitOpenLike | Error;

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
  /** Network errors from `c.var.fetch` that escaped a handler (answered 502). */
  badGateway: number;
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
 * outbound call through `c.var.fetch` gets `total` = the time left and is
 * aborted when the client disconnects.
 *
 * **The request scope lives as long as the response.** `c.var.fetch` and
 * `c.var.deadline.within()` work until the response has ended — a streamed
 * body (`streamSSE`, `stream`, `streamText`, `c.body(stream)`, an upstream
 * body) included — or the deadline passes; a streamed body is cut at the
 * deadline. After that, every call rejects at once with the same
 * `AbortError`. An outbound body nobody read is released with the response.
 *
 * **Nesting only shrinks.** A `timebound()` that runs inside another (app
 * and route level, a sub-app mounted with `app.route()`) inherits the outer
 * deadline: its budget counts from when the first one saw the request, and
 * the request's deadline is the earlier of the two.
 *
 * Errors: a `TimeoutError` that escapes the handler becomes `504`, a
 * `CircuitOpenError` `503` + `Retry-After`, a network error from
 * `c.var.fetch` `502`, all `application/problem+json`. Override with
 * `onError`, or in `app.onError` (it still sees the original error;
 * `err.getResponse()` is timebound's rendering).
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
    badGateway: 0,
  };
  // Errors whose getResponse() rendered the answer: the default error handler used it.
  const rendered = new WeakSet<object>();

  const answer = (error: unknown, c: Context, kind: ErrorKind): Response => {
    if (kind === "gone") {
      // The client is gone; nobody reads this. 499 (nginx's "client closed
      // request") keeps access logs honest, and no stack is printed.
      return new Response(null, { status: 499 });
    }
    const custom = cfg.onError?.(error as TimeboundError, c);
    if (custom) return custom;
    let problem = kind === "gateway" ? badGatewayProblem() : problemFor(error)!;
    if (kind === "local") problem = { ...problem, detail: LOCAL_DEADLINE_DETAIL };
    return responseFor(problem);
  };

  /**
   * Hono's default error handler answers with `err.getResponse()` when an
   * error has one (the HTTPException protocol), without logging a stack per
   * timeout. A custom `app.onError` still gets the original error.
   */
  const tag = (error: unknown, c: Context, kind: ErrorKind): void => {
    if (typeof error !== "object" || error === null || "getResponse" in error) return;
    kinds.set(error, kind);
    try {
      Object.defineProperty(error, "getResponse", {
        value: () => {
          rendered.add(error);
          return answer(error, c, kind);
        },
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
    const raw = c.req.raw;
    const outer = states.get(c);
    // Nested: the budget counts from when the first timebound() saw the
    // request, so middleware in between cannot hand the caller's time out twice.
    const startedAt = outer && outer.root.clock === clock ? outer.root.startedAt : clock.now();

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
    if (outer) {
      // Only ever shrinks: the outer deadline stands if it comes first.
      const cur = outer.current;
      const curAt = cur.clock === clock ? cur.at : clock.now() + cur.remaining();
      if (curAt <= startedAt + budgetMs) {
        budgetMs = cur.startedAt === startedAt ? cur.budgetMs : curAt - startedAt;
        source = cur.source;
      }
    }

    const scope = new DeadlineScope({
      clock,
      budgetMs,
      source,
      startedAt,
      // Read only when something needs it (see DeadlineInit.parent).
      parent: () => raw.signal,
      url: raw.url,
      method: raw.method,
      decorate: (error, origin) => tag(error, c, ORIGIN_KIND[origin]),
    });
    let state = outer;
    if (!state) {
      state = {
        root: scope,
        current: scope,
        scopes: [scope],
        calls: new Calls(cfg.serverTiming),
        streamed: false,
      };
      states.set(c, state);
      watchStreams(c, state);
    } else {
      state.current = scope;
      state.scopes.push(scope);
      if (cfg.serverTiming) state.calls.timed = true;
    }
    c.set("deadline", scope);
    c.set(
      "fetch",
      bindFetch(cfg, scope, state.calls, (error, kind) => tag(error, c, kind)),
    );

    try {
      await next();
    } catch (error) {
      if (!outer) endAll(state, false);
      throw error;
    }

    const error = c.error;
    const kind =
      error === undefined
        ? undefined
        : (kinds.get(error) ??
          (isTimeoutError(error) || isCircuitOpen(error) ? "upstream" : undefined));
    if (kind !== undefined && kind !== "gone") {
      if (isCircuitOpen(error)) stats.circuitOpen++;
      else if (kind === "gateway") stats.badGateway++;
      else stats.timeouts++;
      // Hono's error handler has already answered. Ours (via getResponse) is
      // kept; so is anything an app.onError chose — except a bare 500, which
      // is never the right answer to a timeout or an unreachable upstream.
      if (!rendered.has(error!) && c.res.status === 500) replaceResponse(c, answer(error, c, kind));
    }

    // The outermost timebound() owns the response's lifetime; inner ones are ended with it.
    if (outer) return;
    settle(c, state);
  };

  return Object.assign(middleware, { stats }) as TimeboundMiddleware;
}

/** What an error means for the answer: see `answer()` in {@linkcode timebound}. */
type ErrorKind = "upstream" | "local" | "gateway" | "gone";
const ORIGIN_KIND: Record<ScopeErrorOrigin, ErrorKind> = {
  deadline: "local",
  call: "upstream",
  gone: "gone",
  end: "gone",
};
/** Errors the middleware has classified, for the fallback after `next()` (any instance). */
const kinds = new WeakMap<object, ErrorKind>();

/** One inbound request's scopes (outermost first) and outbound calls, shared by nested middleware. */
interface RequestState {
  root: DeadlineScope;
  /** The innermost scope: what `c.var.deadline` is. */
  current: DeadlineScope;
  scopes: DeadlineScope[];
  calls: Calls;
  /** A stream went through `c.body()`/`c.newResponse()` (Hono's streaming helpers use these). */
  streamed: boolean;
}
const states = new WeakMap<object, RequestState>();

/** Ends every scope of the request, innermost first. */
function endAll(state: RequestState, idle: boolean): void {
  for (let i = state.scopes.length - 1; i >= 0; i--) state.scopes[i]!.end(idle);
}

/**
 * Notes a stream passed to `c.body()` or `c.newResponse()` (`streamSSE`,
 * `stream` and `streamText` answer through `c.newResponse`): its producer
 * runs after the handler returned, and the scope must outlive it. Noticing
 * it here spares every other response a look at `res.body`, which would
 * turn `@hono/node-server`'s lightweight response into a full one.
 */
function watchStreams(c: Context, state: RequestState): void {
  const body = c.body;
  const newResponse = c.newResponse;
  // A stream given with the Response it came from is a finished response
  // re-wrapped (Hono's error handler answers `c.newResponse(res.body, res)`),
  // not a producer that may still call out.
  const note = (data: unknown, init: unknown): void => {
    if (
      typeof data === "object" &&
      data !== null &&
      typeof (data as ReadableStream).getReader === "function" &&
      !(init instanceof Response)
    ) {
      state.streamed = true;
    }
  };
  c.body = ((data: unknown, ...rest: unknown[]) => {
    note(data, rest[0]);
    return (body as (...a: unknown[]) => Response)(data, ...rest);
  }) as typeof c.body;
  c.newResponse = ((data: unknown, ...rest: unknown[]) => {
    note(data, rest[0]);
    return (newResponse as (...a: unknown[]) => Response)(data, ...rest);
  }) as typeof c.newResponse;
}

/**
 * After the handler (outermost middleware only): adds Server-Timing, then
 * ends the scopes now, or when the response body ends (or is cut at the
 * deadline) if anything may still run for this request.
 */
function settle(c: Context, state: RequestState): void {
  const cur = state.current;
  const calls = state.calls;
  if (calls.timed && calls.records) {
    const value = formatServerTiming(cur, calls.records);
    try {
      c.res.headers.append("server-timing", value);
    } catch {
      // Immutable headers (a Response straight from a platform fetch).
      const res = new Response(c.res.body, c.res);
      res.headers.append("server-timing", value);
      replaceResponse(c, res);
    }
  }
  // Past the deadline nothing may go on: end() aborts what still runs (a
  // streamed body is wrapped below, and cut at once).
  if (cur.expired && !state.streamed) {
    endAll(state, false);
    return;
  }
  if (!state.streamed && !calls.inFlight() && !state.scopes.some((s) => s.armed)) {
    endAll(state, true);
    return;
  }
  // Only now touch the body: reading `c.res.body` turns @hono/node-server's
  // lightweight response into a full one and loses its fast path.
  const body = c.res.body;
  if (body === null) {
    endAll(state, false);
    return;
  }
  // Something may still run for this request (a streamed body's producer,
  // an upstream body, work on deadline.signal): keep the scopes until the
  // response body is done, and cut it at the deadline. Reading `signal`
  // arms the deadline timer, so the scopes end by the deadline even if
  // nobody reads the body.
  const res = c.res;
  const wrapped = new Response(
    untilDone(body, cur.signal, () => endAll(state, false), nodeConnection(c)),
    { status: res.status, statusText: res.statusText, headers: res.headers },
  );
  replaceResponse(c, wrapped);
}

/**
 * On `@hono/node-server` (`c.env.outgoing` is Node's `ServerResponse`), a
 * cut closes the connection itself. Erroring the body stream instead makes
 * the server print the error with its stack and write `Error: <message>`
 * into the truncated body (the message names the upstream URL). Duck-typed:
 * no `node:` import here.
 */
function nodeConnection(c: Context): (() => boolean) | undefined {
  const outgoing = (c.env as { outgoing?: unknown } | undefined)?.outgoing as
    | { destroy?: unknown; writeHead?: unknown; destroyed?: boolean }
    | undefined;
  if (typeof outgoing?.destroy !== "function" || typeof outgoing.writeHead !== "function") {
    return undefined;
  }
  return () => {
    if (!outgoing.destroyed) (outgoing.destroy as () => void).call(outgoing);
    return true;
  };
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
  timed: boolean;

  constructor(timed: boolean) {
    this.timed = timed;
  }

  start(method: string, start: number): CallRecord | undefined {
    this.pending++;
    this.count++;
    if (!this.timed || this.count > MAX_TIMED_CALLS) return undefined;
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

function hrefOf(input: Request | string | URL): string {
  return input instanceof Request ? input.url : String(input);
}

function urlOf(href: string): URL | undefined {
  try {
    return new URL(href);
  } catch {
    return undefined;
  }
}

/** A body that can be sent again on a redirect hop (a stream or iterable is read once). */
function replayable(body: unknown): boolean {
  return (
    body == null ||
    typeof body === "string" ||
    body instanceof ArrayBuffer ||
    ArrayBuffer.isView(body) ||
    body instanceof Blob ||
    body instanceof URLSearchParams ||
    body instanceof FormData
  );
}

function isAbortError(error: unknown): boolean {
  return (error as { name?: unknown } | null)?.name === "AbortError";
}

/**
 * The per-request fetch: the instance's fetch with `total` = the time left,
 * the scope's life signal (client disconnect, response over) and, for
 * allowed origins, the budget header — on every redirect hop that stays
 * allowed.
 */
function bindFetch(
  cfg: Config,
  scope: DeadlineScope,
  calls: Calls,
  tag: (error: unknown, kind: ErrorKind) => void,
): TimeboundFetch {
  const byCaller = scope.source !== "policy";
  /** Sets this hop's total to the time left; `false` if none is left. */
  const limit = (req: TimeboundInit): boolean => {
    const left = scope.remaining();
    if (left === 0) return false;
    if (left === Number.POSITIVE_INFINITY) return true;
    if (byCaller) {
      // The inbound client's budget: it shortens this call, and a timeout it
      // causes is the client's doing, never a failure for the shared breaker.
      req.callerBudget = left;
    } else {
      const own = req.timeouts?.total;
      const ownMs =
        own === undefined || own === false
          ? Number.POSITIVE_INFINITY
          : durationOption("timeouts.total", own);
      req.timeouts = { ...req.timeouts, total: Math.min(ownMs, left) };
    }
    return true;
  };
  const expired = (href: string, method: string, before: boolean): TimeoutError =>
    scope.timeoutError({
      url: href,
      method,
      before,
      limitSource: byCaller ? "caller" : "policy",
    });

  return async function fetchWithinDeadline(input, init) {
    // Once the scope is over (response ended, client gone) every call fails
    // the same way, at once, before anything of the caller's is touched.
    const life = scope.scopeSignal;
    if (life.aborted) throw life.reason;
    const href = hrefOf(input);
    const method = methodOf(input, init);
    const req: TimeboundInit = init ? { ...init } : {};
    if (!limit(req)) throw expired(href, method, true);

    // The caller's own signal and the scope's, joined by hand: AbortSignal.any
    // allocates (and leaks on workerd) per call. Listeners go at scope end.
    let release = noop;
    const user = req.signal;
    if (!user) req.signal = life;
    else if (user !== life) {
      if (user.aborted) throw user.reason;
      const both = new AbortController();
      const join: EventListenerObject = {
        handleEvent: (event) => both.abort((event.target as AbortSignal).reason),
      };
      watchAbort(user, join);
      watchAbort(life, join);
      release = () => {
        unwatchAbort(user, join);
        unwatchAbort(life, join);
      };
      scope.onEnd(release);
      req.signal = both.signal;
    }

    const url = urlOf(href);
    const propagation = cfg.propagation;
    let follow = false;
    if (propagation && url) {
      const value = propagation.value(scope.remaining());
      if (value !== undefined && propagation.allows(url)) {
        const headers = new Headers(
          req.headers ?? (input instanceof Request ? input.headers : undefined),
        );
        headers.set(propagation.header, value);
        req.headers = headers;
        // The runtime would carry the header to wherever a redirect points:
        // follow redirects here, and drop it on every hop not allowed.
        const mode = req.redirect ?? (input instanceof Request ? input.redirect : "follow");
        if (mode === "follow") {
          req.redirect = "manual";
          follow = true;
        }
      }
    }

    const record = calls.start(method, cfg.clock.now());
    // A limit can pass while the handler reads the body (`await res.json()`):
    // the TimeoutError then comes from the read, not from this call. The hook
    // sees it first, so Hono's error handler can render it too.
    const own = req.onTimeout;
    req.onTimeout = (error) => {
      if (record) {
        // Before the answer: an attempt's own outcome (it may be retried).
        // After: the body was cut, and that is the call's outcome.
        if (record.response !== undefined) record.error = error;
        else if (record.attempts) record.attempts.push(error);
        else record.attempts = [error];
      }
      tag(error, "upstream");
      own?.(error);
    };
    // A connection broken while the handler reads the body (`await res.text()`):
    // the same gateway failure as one before the answer (502).
    const ownBodyError = req.onBodyError;
    req.onBodyError = (error) => {
      if (!(error instanceof RangeError)) tag(error, "gateway");
      ownBodyError?.(error);
    };
    try {
      let res = await cfg.fetch(input, req);
      if (follow) res = await followRedirects(href, method, req, input, res);
      calls.settled(record, res);
      return res;
    } catch (error) {
      calls.failed(record, error, cfg.clock.now());
      release();
      if (isTimeoutError(error) || isCircuitOpen(error)) tag(error, "upstream");
      else if (!isAbortError(error) && !(user?.aborted && error === user.reason) && url) {
        // The upstream could not be reached or broke the connection: a gateway's failure (502).
        if (!(error instanceof RangeError)) tag(error, "gateway");
      }
      throw error;
    }
  };

  /** Follows `res` as fetch would, with the propagated header only where it is allowed. */
  async function followRedirects(
    href: string,
    method: string,
    req: TimeboundInit,
    input: Request | string | URL,
    first: Response,
  ): Promise<Response> {
    const propagation = cfg.propagation!;
    let res = first;
    let from = { url: href, method, headers: req.headers as Headers };
    for (let count = 0; ; count++) {
      const hop = nextHop(from, res, count);
      if (!hop) return res;
      await res.body?.cancel().catch(noop);
      const body = req.body ?? (input instanceof Request ? input.body : null);
      if (hop.keepBody && (!replayable(body) || (input instanceof Request && body !== null))) {
        throw new TypeError("fetch failed: cannot follow a redirect that needs a body sent once");
      }
      const target = new URL(hop.url);
      const value = propagation.value(scope.remaining());
      if (value !== undefined && propagation.allows(target))
        hop.headers.set(propagation.header, value);
      else hop.headers.delete(propagation.header);
      const next: TimeboundInit = {
        ...req,
        method: hop.method,
        headers: hop.headers,
        body: hop.keepBody ? body : null,
        redirect: "manual",
      };
      if (!limit(next)) throw expired(hop.url, hop.method, true);
      res = await cfg.fetch(hop.url, next);
      from = { url: hop.url, method: hop.method, headers: hop.headers };
    }
  }
}

/**
 * Passes `body` through, calling `done` once when it ends, is cancelled or
 * errors; when `signal` aborts first, or the source fails, cuts it: the
 * client sees a truncated body (the server closes the connection itself
 * where `hardClose` can make it, else the stream errors with a quiet copy of
 * the reason, see {@linkcode quietReason}), and the source is cancelled.
 */
function untilDone(
  body: ReadableStream<Uint8Array>,
  signal: AbortSignal,
  done: () => void,
  hardClose: (() => boolean) | undefined,
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
  const cut = (reason: unknown): void => {
    if (!finish()) return;
    reader.cancel(reason).catch(noop);
    // The server cancels this stream when its connection closes: nothing to report.
    if (hardClose?.()) return;
    try {
      // The client is gone: nobody reads a truncation, and an error would be printed.
      if (isAbortError(reason)) ctrl.close();
      else ctrl.error(quietReason(reason));
    } catch {
      // Already closed: nothing to cut.
    }
  };
  const onAbort = (): void => cut(signal.reason);
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
          cut(error);
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

/**
 * What a cut response body errors with. Every server prints the reason of
 * an errored response body (measured: Deno.serve's default `onError` and
 * workerd print it, Bun.serve prints it with a code frame), and a cut at
 * the deadline is expected, not a crash. So: no stack (one line, saying
 * what happened), and on Bun `undefined`, the one reason Bun 1.4 does not
 * print. Node (`@hono/node-server`) never gets here: it closes the socket.
 */
function quietReason(reason: unknown): unknown {
  if ("Bun" in globalThis) return undefined;
  if (!(reason instanceof Error)) return reason;
  // No cause either: a server prints its stack too.
  const copy = isTimeoutError(reason)
    ? new TimeoutError(reason)
    : Object.assign(new Error(reason.message), { name: reason.name });
  copy.message = reason.message;
  copy.stack = `${copy.name}: ${copy.message}`;
  return copy;
}
