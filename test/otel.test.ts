/**
 * timebound/otel (issue 13, item 2) with the real OpenTelemetry SDK
 * (in-memory span exporter, a metric reader collected on demand) against
 * local servers: spans per call and per request sent, `error.type` for a
 * timeout, a caller's abort that is no error, metrics, and W3C trace context
 * from the active span (and through the Hono middleware) to the server.
 */
import type { IncomingHttpHeaders } from "node:http";
import { type Context, context, propagation, SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import {
  type DataPoint,
  type Histogram,
  MeterProvider,
  type MetricData,
  MetricReader,
} from "@opentelemetry/sdk-metrics";
import {
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import { Hono } from "hono";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type TimeboundEnv, timebound } from "../src/hono.ts";
import { CircuitBreaker, createFetch, isTimeoutError } from "../src/mod.ts";
import { instrument } from "../src/otel.ts";
import { startServer, type TestServer } from "./_server.ts";

/** A reader the test collects from when it wants. */
class TestReader extends MetricReader {
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

const exporter = new InMemorySpanExporter();
const tracerProvider = new TracerProvider({
  spanProcessors: [new SimpleSpanProcessor({ exporter })],
});
const tracer = tracerProvider.getTracer("test");
let reader: TestReader;
let meterProvider: MeterProvider;
const contextManager = new AsyncLocalStorageContextManager();

const seen: IncomingHttpHeaders[] = [];
const hits = new Map<string, number>();
let server: TestServer;
beforeAll(async () => {
  context.setGlobalContextManager(contextManager.enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  server = await startServer({
    "/ok": (req, res) => {
      seen.push(req.headers);
      res.end("ok");
    },
    // The first `k` requests of an id get a 503 (Retry-After: 0), then 200.
    "/flaky": (req, res) => {
      seen.push(req.headers);
      const q = new URL(req.url!, "http://x").searchParams;
      const id = q.get("id")!;
      const n = (hits.get(id) ?? 0) + 1;
      hits.set(id, n);
      if (n <= Number(q.get("k"))) res.writeHead(503, { "retry-after": "0" }).end("busy");
      else res.end("ok");
    },
    "/hang": (req) => {
      seen.push(req.headers);
    },
  });
});
afterAll(async () => {
  await server.close();
  context.disable();
  propagation.disable();
  await tracerProvider.shutdown();
});
afterEach(() => {
  exporter.reset();
  seen.length = 0;
});

/** A fresh meter provider per test, so the points are that test's. */
function setup() {
  reader = new TestReader();
  meterProvider = new MeterProvider({ readers: [reader] });
  return instrument({ tracerProvider, meterProvider });
}

async function collect(): Promise<Map<string, MetricData>> {
  const { resourceMetrics } = await reader.collect();
  const out = new Map<string, MetricData>();
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const m of scope.metrics) out.set(m.descriptor.name, m);
  }
  return out;
}

/** The finished spans of timebound (SimpleSpanProcessor exports asynchronously: flushed first). */
async function spans(): Promise<{ calls: ReadableSpan[]; requests: ReadableSpan[] }> {
  await tracerProvider.forceFlush();
  const all = exporter
    .getFinishedSpans()
    .filter((s) => s.instrumentationScope.name === "timebound");
  return {
    calls: all.filter((s) => s.kind === SpanKind.INTERNAL),
    requests: all.filter((s) => s.kind === SpanKind.CLIENT),
  };
}

const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;

describe("timebound/otel", () => {
  it("a success: a call span parents one client span with the HTTP conventions' attributes", async () => {
    const f = createFetch(setup().options({ total: "5s" }));
    const res = await f(`${server.url}/ok?token=secret`);
    expect(await res.text()).toBe("ok");
    const { calls, requests } = await spans();
    expect(calls).toHaveLength(1);
    expect(requests).toHaveLength(1);
    const [call, req] = [calls[0]!, requests[0]!];
    expect(call.name).toBe("GET");
    expect(req.name).toBe("GET");
    expect(parentOf(req)).toBe(call.spanContext().spanId);
    const port = Number(new URL(server.url).port);
    expect(req.attributes).toMatchObject({
      "http.request.method": "GET",
      "url.full": `${server.url}/ok`, // no query: no credentials in traces
      "url.scheme": "http",
      "server.address": "127.0.0.1",
      "server.port": port,
      "http.response.status_code": 200,
      "timebound.outcome": "ok",
    });
    expect(req.attributes["http.request.resend_count"]).toBeUndefined();
    expect(req.attributes["error.type"]).toBeUndefined();
    expect(call.attributes).toMatchObject({
      "http.response.status_code": 200,
      "timebound.attempts": 1,
    });
    expect(call.status.code).toBe(SpanStatusCode.UNSET);

    const m = await collect();
    const duration = m.get("http.client.request.duration")!;
    expect(duration.descriptor.unit).toBe("s");
    const point = duration.dataPoints[0] as DataPoint<Histogram>;
    expect(point.value.count).toBe(1);
    expect(point.value.sum).toBeGreaterThan(0);
    expect(point.value.sum).toBeLessThan(5);
    expect(point.attributes).toEqual({
      "http.request.method": "GET",
      "url.scheme": "http",
      "server.address": "127.0.0.1",
      "server.port": port,
      "http.response.status_code": 200,
    });
    expect(
      (m.get("timebound.headers.duration")!.dataPoints[0] as DataPoint<Histogram>).value.count,
    ).toBe(1);
    expect(
      (m.get("timebound.body.duration")!.dataPoints[0] as DataPoint<Histogram>).value.count,
    ).toBe(1);
  });

  it("a retry after a 503: two client spans, the second with http.request.resend_count 1", async () => {
    const f = createFetch(
      setup().options({ total: "5s", retry: { limit: 2, backoff: { base: 1, cap: 1 } } }),
    );
    const res = await f(`${server.url}/flaky?id=retry&k=1`);
    expect(res.status).toBe(200);
    await res.text();
    const { calls, requests } = await spans();
    expect(calls).toHaveLength(1);
    expect(requests).toHaveLength(2);
    const [first, second] = requests.sort(
      (a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1],
    );
    for (const r of [first!, second!]) expect(parentOf(r)).toBe(calls[0]!.spanContext().spanId);
    expect(first!.attributes).toMatchObject({
      "http.response.status_code": 503,
      "error.type": "503",
    });
    expect(first!.attributes["http.request.resend_count"]).toBeUndefined();
    expect(first!.status.code).toBe(SpanStatusCode.ERROR);
    expect(second!.attributes).toMatchObject({
      "http.response.status_code": 200,
      "http.request.resend_count": 1,
    });
    expect(second!.status.code).toBe(SpanStatusCode.UNSET);
    expect(calls[0]!.attributes).toMatchObject({
      "timebound.attempts": 2,
      "http.response.status_code": 200,
    });
    expect(calls[0]!.events.map((e) => e.name)).toEqual(["retry-scheduled"]);
    // Each request carried its own span's context.
    expect(seen.map((h) => h.traceparent)).toEqual(
      requests.map((r) => `00-${r.spanContext().traceId}-${r.spanContext().spanId}-01`),
    );

    const m = await collect();
    const retries = m.get("timebound.retries")!.dataPoints;
    expect(retries).toHaveLength(1);
    expect(retries[0]!.value).toBe(1);
    expect(retries[0]!.attributes["timebound.retry.reason"]).toBe("status");
  });

  it("a headers timeout: error.type timeout:headers on both spans, counted by phase", async () => {
    const f = createFetch(setup().options({ total: "5s", headers: 100 }));
    const error = await f(`${server.url}/hang`).catch((e: unknown) => e);
    expect(isTimeoutError(error) && error.phase).toBe("headers");
    const { calls, requests } = await spans();
    expect(requests).toHaveLength(1);
    for (const s of [calls[0]!, requests[0]!]) {
      expect(s.attributes["error.type"]).toBe("timeout:headers");
      expect(s.attributes["timebound.outcome"]).toBe("timeout");
      expect(s.status.code).toBe(SpanStatusCode.ERROR);
      expect(s.events.some((e) => e.name === "exception")).toBe(true);
    }
    const m = await collect();
    const t = m.get("timebound.timeouts")!.dataPoints;
    expect(t).toHaveLength(1);
    expect(t[0]!.value).toBe(1);
    expect(t[0]!.attributes).toMatchObject({
      "timebound.phase": "headers",
      "timebound.limit_source": "policy",
      "timebound.limit_learned": false,
    });
    const d = m.get("http.client.request.duration")!.dataPoints[0]!;
    expect(d.attributes["error.type"]).toBe("timeout:headers");
  });

  it("a caller's abort is not an error", async () => {
    const f = createFetch(setup().options({ total: "5s" }));
    const ac = new AbortController();
    const pending = f(`${server.url}/hang`, { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await expect(pending).rejects.toMatchObject({ name: "AbortError" });
    const { calls, requests } = await spans();
    expect(requests).toHaveLength(1);
    for (const s of [calls[0]!, requests[0]!]) {
      expect(s.attributes["error.type"]).toBeUndefined();
      expect(s.attributes["timebound.outcome"]).toBe("aborted");
      expect(s.status.code).toBe(SpanStatusCode.UNSET);
    }
    const m = await collect();
    expect(m.get("timebound.timeouts")?.dataPoints ?? []).toHaveLength(0);
    expect(
      m.get("http.client.request.duration")!.dataPoints[0]!.attributes["error.type"],
    ).toBeUndefined();
  });

  it("identical calls in flight at once each end on their own spans (events carry the call's id)", async () => {
    const f = createFetch(setup().options({ total: "5s" }));
    const ac = new AbortController();
    // Same method and URL: the first is aborted by its caller, the second answered.
    const first = f(`${server.url}/hang`, { signal: ac.signal }).catch((e: unknown) => e);
    const second = f(`${server.url}/hang`, { timeouts: { total: 100 } }).catch((e: unknown) => e);
    setTimeout(() => ac.abort(), 30);
    await Promise.all([first, second]);
    const { calls, requests } = await spans();
    expect(calls).toHaveLength(2);
    expect(requests).toHaveLength(2);
    const outcomes = calls.map(
      (c) => c.attributes["timebound.outcome"] ?? c.attributes["error.type"],
    );
    expect(outcomes.sort()).toEqual(["aborted", "timeout"]);
    for (const call of calls) {
      const children = requests.filter((r) => parentOf(r) === call.spanContext().spanId);
      expect(children).toHaveLength(1);
      // The request span ended the way its own call did.
      expect(
        children[0]!.attributes["timebound.outcome"] ?? children[0]!.attributes["error.type"],
      ).toBe(call.attributes["timebound.outcome"] ?? call.attributes["error.type"]);
    }
  });

  it("trace context: the active span parents the call, and the request carries traceparent", async () => {
    const f = createFetch(setup().options({ total: "5s" }));
    let parentCtx: { traceId: string; spanId: string } | undefined;
    await tracer.startActiveSpan("parent", async (parent) => {
      parentCtx = parent.spanContext();
      await (await f(`${server.url}/ok`)).text();
      parent.end();
    });
    const { calls, requests } = await spans();
    expect(calls[0]!.spanContext().traceId).toBe(parentCtx!.traceId);
    expect(parentOf(calls[0]!)).toBe(parentCtx!.spanId);
    expect(seen).toHaveLength(1);
    const sent = requests[0]!.spanContext();
    expect(seen[0]!.traceparent).toBe(`00-${parentCtx!.traceId}-${sent.spanId}-01`);
  });

  it("no traceparent is added without a propagator", async () => {
    const f = createFetch(
      instrument({ tracerProvider, propagate: false }).options({ total: "5s" }),
    );
    await (await f(`${server.url}/ok`, { headers: { "x-own": "1" } })).text();
    expect(seen[0]!.traceparent).toBeUndefined();
    expect(seen[0]!["x-own"]).toBe("1");
  });

  it("a Request's own headers are kept when traceparent is added", async () => {
    const f = createFetch(setup().options({ total: "5s" }));
    await (await f(new Request(`${server.url}/ok`, { headers: { "x-own": "2" } }))).text();
    expect(seen[0]!["x-own"]).toBe("2");
    expect(seen[0]!.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });

  it("through the Hono middleware: an inbound traceparent reaches the outbound call", async () => {
    const telemetry = setup();
    const app = new Hono<TimeboundEnv>();
    // What an HTTP server instrumentation does: the inbound context is active in the handler.
    app.use(async (c, next) => {
      const carrier = Object.fromEntries(c.req.raw.headers);
      const ctx: Context = propagation.extract(context.active(), carrier);
      await context.with(ctx, next);
    });
    app.use(timebound(telemetry.options({ total: "2s" })));
    app.get("/", async (c) => c.text(await (await c.var.fetch(`${server.url}/ok`)).text()));
    const traceId = "0af7651916cd43dd8448eb211c80319c";
    const inbound = `00-${traceId}-b7ad6b7169203331-01`;
    const res = await app.request("/", { headers: { traceparent: inbound } });
    expect(await res.text()).toBe("ok");
    expect(seen).toHaveLength(1);
    expect(seen[0]!.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    const { calls } = await spans();
    expect(calls[0]!.spanContext().traceId).toBe(traceId);
    expect(parentOf(calls[0]!)).toBe("b7ad6b7169203331");
  });

  it("breaker transitions are counted and its state observed", async () => {
    const telemetry = setup();
    const breaker = new CircuitBreaker({
      minCalls: 2,
      failureRatio: 0.5,
      onStateChange: telemetry.onStateChange,
    });
    const f = createFetch(telemetry.options({ total: "5s", breaker }));
    for (const id of ["b1", "b2"]) await (await f(`${server.url}/flaky?id=${id}&k=1`)).text();
    await expect(f(`${server.url}/ok`)).rejects.toMatchObject({ name: "CircuitOpenError" });
    const m = await collect();
    const moves = m.get("timebound.breaker.transitions")!.dataPoints;
    expect(
      moves.map((p) => [p.attributes["timebound.from"], p.attributes["timebound.to"], p.value]),
    ).toEqual([["closed", "open", 1]]);
    const state = m.get("timebound.breaker.state")!.dataPoints;
    expect(state.map((p) => [p.attributes["server.origin"], p.value])).toEqual([[server.url, 2]]);
    // The fast failure is a call span with the error's name, and no request span.
    const { calls, requests } = await spans();
    expect(requests).toHaveLength(2);
    expect(calls.at(-1)!.attributes["error.type"]).toBe("CircuitOpenError");
  });

  it("rejects unknown options", () => {
    expect(() => instrument({ tracer: 1 } as never)).toThrow(
      new TypeError(
        "Unknown option 'tracer': expected one of tracerProvider, meterProvider, propagate",
      ),
    );
  });
});
