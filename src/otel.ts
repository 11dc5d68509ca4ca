/**
 * OpenTelemetry for timebound: spans and metrics from its lifecycle events,
 * following the HTTP semantic conventions, and W3C trace context on every
 * outbound request. `@opentelemetry/api` is an optional peer dependency; the
 * core (`timebound`) never imports it.
 *
 * - A span per call (kind `INTERNAL`, the logical request, as in the
 *   conventions' retry examples) parents a `CLIENT` span per request sent
 *   (each attempt, and each redirect hop timebound follows itself), with
 *   `http.request.resend_count` from the second on. Both are named for the
 *   method (`GET`).
 * - A timeout sets `error.type` to `timeout:<phase>` (`timeout:headers`), so
 *   it is never mistaken for a deliberate cancel; a caller's abort is not an
 *   error (status unset, `timebound.outcome: "aborted"`).
 * - The active context when the call starts is the call span's parent; the
 *   request span's context goes out in the request headers (`traceparent`
 *   with the default W3C propagator), through the globally registered
 *   propagator.
 * - Metrics: `http.client.request.duration` (per call, seconds),
 *   `timebound.headers.duration` (per attempt: from the request handed over
 *   to its response headers, on the fetch's clock), `timebound.body.duration` (headers to body end),
 *   `timebound.timeouts` (by phase and limit source), `timebound.retries`
 *   and `timebound.retries.refused` (by reason), `timebound.breaker.transitions`
 *   and the gauge `timebound.breaker.state` (0 closed, 1 half-open, 2 open).
 *
 * @module
 */
import {
  type Attributes,
  type Context,
  type Counter,
  context,
  type Histogram,
  type MeterProvider,
  metrics,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TracerProvider,
  trace,
} from "@opentelemetry/api";
import type { BreakerOptions, BreakerState, BreakerStateChange } from "./breaker.ts";
import { CircuitBreaker } from "./breaker.ts";
import { isTimeoutError, redactUrl } from "./errors.ts";
import type { TimeboundEvent, TimeboundEventListener } from "./events.ts";
import type { TimeboundOptions } from "./policy.ts";
import type { Route, RouteInfo } from "./route.ts";

/** Where spans and metrics go. */
export interface TelemetryOptions {
  /** @default the global tracer provider (`trace.getTracerProvider()`) */
  tracerProvider?: TracerProvider;
  /** @default the global meter provider (`metrics.getMeterProvider()`) */
  meterProvider?: MeterProvider;
  /** Inject the request span's context into outbound headers (global propagator). @default true */
  propagate?: boolean;
}

/** What {@linkcode instrument} returns: the hooks to pass to `createFetch` and `CircuitBreaker`. */
export interface Telemetry {
  /**
   * Adds the telemetry to `createFetch` (or `timebound()`) options: `events`
   * (after the caller's own), `route` (a per-call fetch around the caller's
   * `route` or `fetch`, which opens the request spans and injects trace
   * context) and, for breaker options, `onStateChange`.
   */
  options<T extends TimeboundOptions>(options?: T): T;
  /** The lifecycle-event listener (used by {@linkcode Telemetry.options}). */
  events: TimeboundEventListener;
  /** For a `new CircuitBreaker({ onStateChange })` you share between fetches. */
  onStateChange: (change: BreakerStateChange) => void;
}

const NAME = "timebound";
const VERSION = "0.1.0";
const BREAKER_LEVEL: Record<BreakerState, number> = { closed: 0, "half-open": 1, open: 2 };
/** Methods the conventions know; any other is reported as `_OTHER`. */
const KNOWN_METHODS = new Set([
  "CONNECT",
  "DELETE",
  "GET",
  "HEAD",
  "OPTIONS",
  "PATCH",
  "POST",
  "PUT",
  "QUERY",
  "TRACE",
]);
/** Bucket boundaries the conventions advise for `http.client.request.duration` (seconds). */
const DURATION_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
];

/** A request on the wire: one attempt, or one redirect hop of it. */
interface Sent {
  span: Span;
  status: number | undefined;
}

/** One call, from its route (synchronously before `call-start`) to `call-end`. */
interface CallState {
  span: Span;
  ctx: Context;
  attrs: Attributes;
  sent: number;
  current: Sent | undefined;
}

/**
 * Creates the OpenTelemetry hooks for timebound. Instruments are created
 * once, here; spans and points only when calls run.
 *
 * @param options Tracer and meter providers (default: the global ones), and whether to propagate trace context.
 * @returns The hooks: `options()` for `createFetch`/`timebound()`, `events` and `onStateChange`.
 * @throws {TypeError} for an unknown option.
 *
 * @example
 * ```ts
 * import { CircuitBreaker, createFetch } from "timebound";
 * import { instrument } from "timebound/otel";
 * const telemetry = instrument(); // the global providers and propagator
 * const breaker = new CircuitBreaker({ onStateChange: telemetry.onStateChange });
 * const fetchOnTime = createFetch(telemetry.options({ total: "5s", headers: "2s", breaker }));
 * console.log(typeof fetchOnTime); // "function"
 * ```
 */
export function instrument(options: TelemetryOptions = {}): Telemetry {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("Invalid option 'options': expected an object");
  }
  for (const key of Object.keys(options)) {
    if (key !== "tracerProvider" && key !== "meterProvider" && key !== "propagate") {
      throw new TypeError(
        `Unknown option '${key}': expected one of tracerProvider, meterProvider, propagate`,
      );
    }
  }
  const tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer(NAME, VERSION);
  const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(NAME, VERSION);
  const propagate = options.propagate !== false;

  const requestDuration = meter.createHistogram("http.client.request.duration", {
    description: "Duration of HTTP client calls, retries and response body included.",
    unit: "s",
    advice: { explicitBucketBoundaries: DURATION_BUCKETS },
  });
  const headersDuration: Histogram = meter.createHistogram("timebound.headers.duration", {
    description:
      "Time from an attempt's request being handed over to its response headers, on the fetch's clock.",
    unit: "s",
    advice: { explicitBucketBoundaries: DURATION_BUCKETS },
  });
  const bodyDuration: Histogram = meter.createHistogram("timebound.body.duration", {
    description: "Time from response headers to the end of the response body.",
    unit: "s",
    advice: { explicitBucketBoundaries: DURATION_BUCKETS },
  });
  const timeouts: Counter = meter.createCounter("timebound.timeouts", {
    description: "Limits that passed, by phase.",
    unit: "{timeout}",
  });
  const retries: Counter = meter.createCounter("timebound.retries", {
    description: "Retries scheduled, by reason.",
    unit: "{retry}",
  });
  const refused: Counter = meter.createCounter("timebound.retries.refused", {
    description: "Retryable failures not retried, by reason.",
    unit: "{retry}",
  });
  const transitions: Counter = meter.createCounter("timebound.breaker.transitions", {
    description: "Circuit breaker state changes.",
    unit: "{transition}",
  });
  const breakerStates = new Map<string, BreakerState>();
  meter
    .createObservableGauge("timebound.breaker.state", {
      description: "Circuit breaker state per origin: 0 closed, 1 half-open, 2 open.",
    })
    .addCallback((result) => {
      for (const [origin, state] of breakerStates) {
        result.observe(BREAKER_LEVEL[state], { "server.origin": origin, "timebound.state": state });
      }
    });

  /** Calls between their `call-start` and `call-end`, by the events' call id. */
  const byId = new Map<number, CallState>();
  /** The call whose route ran and whose `call-start` is due (both in one synchronous step). */
  let starting: CallState | undefined;

  function begin(info: RouteInfo): CallState {
    // A call whose route ran but that never started (its constructor threw): close its span.
    if (starting) starting.span.end();
    const url = redactUrl(info.url);
    const method = info.method.toUpperCase();
    const attrs = baseAttributes(method, url);
    const span = tracer.startSpan(
      spanName(method),
      { kind: SpanKind.INTERNAL, attributes: attrs },
      context.active(),
    );
    const state: CallState = {
      span,
      ctx: trace.setSpan(context.active(), span),
      attrs,
      sent: 0,
      current: undefined,
    };
    starting = state;
    return state;
  }

  /** A request goes out: a CLIENT span under the call's, its context in the headers. */
  function send(
    state: CallState,
    next: typeof fetch,
    input: RequestInfo | URL,
    init: RequestInit | undefined,
  ): Promise<Response> {
    if (state.current) endSent(state, undefined, undefined); // a redirect hop followed
    const method = state.attrs["http.request.method"] as string;
    const attrs: Attributes = { ...state.attrs };
    if (typeof input === "string" || input instanceof URL) {
      // A redirect hop goes to another URL.
      Object.assign(attrs, baseAttributes(method, redactUrl(String(input))));
    }
    if (state.sent > 0) attrs["http.request.resend_count"] = state.sent;
    state.sent++;
    const span = tracer.startSpan(
      spanName(method),
      { kind: SpanKind.CLIENT, attributes: attrs },
      state.ctx,
    );
    const sent: Sent = { span, status: undefined };
    state.current = sent;
    const ctx = trace.setSpan(state.ctx, span);
    let request = init;
    if (propagate) {
      const carrier: Record<string, string> = {};
      propagation.inject(ctx, carrier);
      const names = Object.keys(carrier);
      if (names.length > 0) {
        // init.headers replaces a Request's own, as in `new Request(input, init)`.
        const headers = new Headers(
          init?.headers ?? (typeof input === "object" && "headers" in input ? input.headers : {}),
        );
        for (const name of names) headers.set(name, carrier[name]!);
        request = { ...init, headers };
      }
    }
    return context
      .with(ctx, () => next(input, request))
      .then((res) => {
        sent.status = res.status;
        span.setAttribute("http.response.status_code", res.status);
        return res;
      });
  }

  /** Ends the open request span of `state` (on `attempt-end`, a hop, or the call's end). */
  function endSent(state: CallState, outcome: string | undefined, error: unknown): void {
    const sent = state.current;
    if (!sent) return;
    state.current = undefined;
    finishSpan(sent.span, outcome, sent.status, error);
  }

  const events: TimeboundEventListener = (e: TimeboundEvent) => {
    switch (e.type) {
      case "call-start": {
        if (starting) byId.set(e.callId, starting);
        starting = undefined;
        return;
      }
      case "attempt-start":
        return;
      case "attempt-end": {
        const c = byId.get(e.callId);
        if (c) endSent(c, e.outcome, e.error);
        const status = e.status !== undefined ? { "http.response.status_code": e.status } : {};
        if (e.headersMs !== undefined) {
          // Time to headers once the request was handed over, on the fetch's own clock.
          const sentAt = e.uploadEndMs ?? e.attemptStartMs;
          headersDuration.record(Math.max(0, e.headersMs - sentAt) / 1000, {
            ...metricAttributes(baseAttributes(e.method, e.url)),
            ...status,
          });
        }
        if (e.headersMs !== undefined && e.bodyEndMs !== undefined) {
          bodyDuration.record((e.bodyEndMs - e.headersMs) / 1000, {
            ...metricAttributes(baseAttributes(e.method, e.url)),
            ...(e.status !== undefined ? { "http.response.status_code": e.status } : {}),
          });
        }
        return;
      }
      case "call-end": {
        const c = byId.get(e.callId);
        const attrs = baseAttributes(e.method, e.url);
        const type = errorType(e.outcome, e.status, e.error);
        const point: Attributes = metricAttributes(attrs);
        if (e.status !== undefined) point["http.response.status_code"] = e.status;
        if (type !== undefined) point["error.type"] = type;
        requestDuration.record(e.durationMs / 1000, point);
        if (!c) return;
        byId.delete(e.callId);
        endSent(c, e.outcome, e.error);
        c.span.setAttribute("timebound.attempts", e.attempts);
        if (e.status !== undefined) c.span.setAttribute("http.response.status_code", e.status);
        finishSpan(c.span, e.outcome, e.status, e.error);
        return;
      }
      case "retry-scheduled": {
        retries.add(1, {
          ...metricAttributes(baseAttributes(e.method, e.url)),
          "timebound.retry.reason": e.reason,
        });
        byId.get(e.callId)?.span.addEvent("retry-scheduled", {
          "timebound.attempt": e.attempt,
          "timebound.retry.reason": e.reason,
          "timebound.retry.delay_ms": e.delayMs,
          ...(e.retryAfterMs !== undefined ? { "timebound.retry_after_ms": e.retryAfterMs } : {}),
        });
        return;
      }
      case "retry-refused": {
        refused.add(1, {
          ...metricAttributes(baseAttributes(e.method, e.url)),
          "timebound.retry.reason": e.reason,
        });
        return;
      }
      case "timeout": {
        timeouts.add(1, {
          ...metricAttributes(baseAttributes(e.method, e.url)),
          "timebound.phase": e.phase,
          "timebound.limit_source": e.limitSource,
          "timebound.limit_learned": e.learned,
        });
        return;
      }
    }
  };

  const onStateChange = (change: BreakerStateChange): void => {
    breakerStates.set(change.origin, change.to);
    transitions.add(1, {
      "server.origin": change.origin,
      "timebound.from": change.from,
      "timebound.to": change.to,
    });
  };

  function withTelemetry<T extends TimeboundOptions>(o: T = {} as T): T {
    const userRoute = o.route;
    const userFetch = o.fetch;
    const userEvents = o.events;
    const route: Route = (info) => {
      const state = begin(info);
      const next = userRoute?.(info) ?? userFetch ?? globalThis.fetch;
      return (input, init) => send(state, next, input, init);
    };
    const out: TimeboundOptions = {
      ...o,
      route,
      events: userEvents
        ? (e) => {
            events(e);
            userEvents(e);
          }
        : events,
    };
    const b = o.breaker;
    if (b && !(b instanceof CircuitBreaker)) {
      const own = (b as BreakerOptions).onStateChange;
      out.breaker = {
        ...b,
        onStateChange: own
          ? (change) => {
              onStateChange(change);
              own(change);
            }
          : onStateChange,
      };
    }
    return out as T;
  }

  return { options: withTelemetry, events, onStateChange };
}

/** `http.request.method` and the URL attributes of a request. */
function baseAttributes(method: string, url: string): Attributes {
  const attrs: Attributes = {
    "http.request.method": KNOWN_METHODS.has(method) ? method : "_OTHER",
  };
  if (!KNOWN_METHODS.has(method)) attrs["http.request.method_original"] = method;
  attrs["url.full"] = url;
  try {
    const u = new URL(url);
    attrs["url.scheme"] = u.protocol.replace(/:$/, "");
    attrs["server.address"] = u.hostname.replace(/^\[|\]$/g, "");
    const port = u.port
      ? Number(u.port)
      : u.protocol === "https:"
        ? 443
        : u.protocol === "http:"
          ? 80
          : undefined;
    if (port !== undefined) attrs["server.port"] = port;
  } catch {
    // Not a URL fetch would accept; the call fails and says so.
  }
  return attrs;
}

/** The attributes the conventions allow on metrics (no URL: its cardinality is unbounded). */
function metricAttributes(attrs: Attributes): Attributes {
  const out: Attributes = {};
  for (const k of ["http.request.method", "url.scheme", "server.address", "server.port"]) {
    if (attrs[k] !== undefined) out[k] = attrs[k];
  }
  return out;
}

function spanName(method: string): string {
  return KNOWN_METHODS.has(method) ? method : "HTTP";
}

/**
 * `error.type`: `timeout:<phase>` for a limit that passed; the error's name
 * for other failures; the status for a 4xx/5xx response; none for success
 * or a caller's abort (a deliberate cancel is not an error).
 */
function errorType(outcome: string | undefined, status: number | undefined, error: unknown) {
  if (outcome === "aborted") return undefined;
  if (isTimeoutError(error)) return `timeout:${error.phase}`;
  if (error !== undefined && error !== null) {
    const name = (error as { name?: unknown }).name;
    return typeof name === "string" && name ? name : "_OTHER";
  }
  if (status !== undefined && status >= 400) return String(status);
  return undefined;
}

function finishSpan(
  span: Span,
  outcome: string | undefined,
  status: number | undefined,
  error: unknown,
): void {
  const type = errorType(outcome, status, error);
  if (outcome !== undefined) span.setAttribute("timebound.outcome", outcome);
  if (type !== undefined) {
    span.setAttribute("error.type", type);
    const message =
      error instanceof Error ? error.message : status !== undefined ? `HTTP ${status}` : undefined;
    span.setStatus({ code: SpanStatusCode.ERROR, ...(message ? { message } : {}) });
    if (error instanceof Error) span.recordException(error);
  }
  span.end();
}
