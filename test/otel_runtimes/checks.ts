/**
 * timebound/otel with the real OpenTelemetry SDK, runtime-neutral: what
 * test/otel.test.ts checks on Node, run on Deno, Bun and workerd (issue 13,
 * item 2). Bundled by test/otel_runtimes.test.ts with esbuild; web-standard
 * APIs, the SDK (in-memory span exporter, a metric reader collected on
 * demand, the AsyncLocalStorage context manager) and timebound only.
 *
 * The upstream is a Node server the test runs on 127.0.0.1: `/echo`
 * answers with the `traceparent` it received, `/flaky?id=&k=` fails the
 * first k requests of an id with 503, `/hang` never answers.
 */
import { context, propagation, SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { MeterProvider, type MetricData, MetricReader } from "@opentelemetry/sdk-metrics";
import {
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import { Hono } from "hono";
import { type TimeboundEnv, timebound } from "../../src/hono.ts";
import { createFetch, isTimeoutError } from "../../src/mod.ts";
import { instrument } from "../../src/otel.ts";

/** One check's outcome. */
export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

/**
 * Serves `fetch` on 127.0.0.1 with the runtime's own server, or in-process
 * where the runtime is itself the server (workerd): returns its base URL
 * and a close, or undefined for in-process.
 */
export type Serve = (
  fetch: (request: Request) => Response | Promise<Response>,
) => Promise<{ url: string; close(): Promise<void> } | undefined>;

class TestReader extends MetricReader {
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

function fail(message: string): never {
  throw new Error(message);
}

function expectEqual(what: string, actual: unknown, expected: unknown): void {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    fail(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

/** What a run found: the checks, and what went wrong outside them. */
export interface Outcome {
  checks: Check[];
  notes: string[];
}

/** Runs every check against `upstream`; never throws (a failure is a check that is not ok). */
export async function runChecks(upstream: string, serve: Serve): Promise<Outcome> {
  const checks: Check[] = [];
  const notes: string[] = [];
  const contextManager = new AsyncLocalStorageContextManager();
  context.setGlobalContextManager(contextManager.enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new TracerProvider({
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  });
  const tracer = tracerProvider.getTracer("otel-runtimes");
  let reader = new TestReader();
  let meterProvider = new MeterProvider({ readers: [reader] });
  /** Fresh spans and metrics for each check. */
  const setup = () => {
    exporter.reset();
    reader = new TestReader();
    meterProvider = new MeterProvider({ readers: [reader] });
    return instrument({ tracerProvider, meterProvider });
  };
  const spans = () => {
    const all = exporter.getFinishedSpans();
    return {
      calls: all.filter((s) => s.kind === SpanKind.INTERNAL && s.name !== "parent"),
      requests: all.filter((s) => s.kind === SpanKind.CLIENT),
      all,
    };
  };
  const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;
  const collect = async () => {
    const { resourceMetrics } = await reader.collect();
    const byName = new Map<string, MetricData>();
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const m of scope.metrics) byName.set(m.descriptor.name, m);
    }
    return byName;
  };
  const check = async (name: string, body: () => Promise<string>) => {
    try {
      checks.push({ name, ok: true, detail: await body() });
    } catch (e) {
      checks.push({ name, ok: false, detail: e instanceof Error ? e.message : String(e) });
    }
  };

  await check("trace context: the active span parents the call; traceparent goes out", async () => {
    const f = createFetch(setup().options({ total: "5s" }));
    let parent: { traceId: string; spanId: string } | undefined;
    let echoed = "";
    await tracer.startActiveSpan("parent", async (span) => {
      parent = span.spanContext();
      echoed = await (await f(`${upstream}/echo`)).text();
      span.end();
    });
    const { calls, requests } = spans();
    expectEqual("call spans", calls.length, 1);
    expectEqual("request spans", requests.length, 1);
    expectEqual("call's trace", calls[0]!.spanContext().traceId, parent!.traceId);
    expectEqual("call's parent", parentOf(calls[0]!), parent!.spanId);
    expectEqual("request's parent", parentOf(requests[0]!), calls[0]!.spanContext().spanId);
    const sent = requests[0]!.spanContext();
    expectEqual("traceparent received", echoed, `00-${parent!.traceId}-${sent.spanId}-01`);
    expectEqual("method attribute", requests[0]!.attributes["http.request.method"], "GET");
    return echoed;
  });

  await check("retries: one CLIENT span per attempt, http.request.resend_count", async () => {
    const f = createFetch(
      setup().options({ total: "5s", retry: { limit: 2, backoff: { base: 1, cap: 1 } } }),
    );
    const id = Math.random().toString(36).slice(2);
    expectEqual("body", await (await f(`${upstream}/flaky?id=${id}&k=1`)).text(), "ok");
    const { calls, requests } = spans();
    expectEqual("request spans", requests.length, 2);
    const resends = requests
      .map((r) => r.attributes["http.request.resend_count"] ?? 0)
      .sort((a, b) => Number(a) - Number(b));
    expectEqual("resend counts", resends, [0, 1]);
    expectEqual("attempts", calls[0]!.attributes["timebound.attempts"], 2);
    const m = await collect();
    expectEqual("retries counted", m.get("timebound.retries")?.dataPoints[0]?.value, 1);
    return `resend_count ${JSON.stringify(resends)}`;
  });

  await check("a headers timeout: error.type timeout:headers, status error, counted", async () => {
    const f = createFetch(setup().options({ total: "5s", headers: 100 }));
    const error = await f(`${upstream}/hang`).catch((e: unknown) => e);
    if (!isTimeoutError(error) || error.phase !== "headers")
      fail(`not a headers timeout: ${error}`);
    const { calls, requests } = spans();
    for (const s of [calls[0]!, requests[0]!]) {
      expectEqual(`${s.kind} error.type`, s.attributes["error.type"], "timeout:headers");
      expectEqual(`${s.kind} status`, s.status.code, SpanStatusCode.ERROR);
    }
    const m = await collect();
    const t = m.get("timebound.timeouts")?.dataPoints ?? [];
    expectEqual("timeouts counted", t.length, 1);
    expectEqual("phase attribute", t[0]!.attributes["timebound.phase"], "headers");
    const d = m.get("http.client.request.duration")?.dataPoints ?? [];
    expectEqual("duration points", d.length, 1);
    return "timeout:headers";
  });

  await check("a caller's abort is not an error", async () => {
    const f = createFetch(setup().options({ total: "5s" }));
    const ac = new AbortController();
    const pending = f(`${upstream}/hang`, { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    const error = await pending.catch((e: unknown) => e);
    expectEqual("error name", (error as Error).name, "AbortError");
    const { calls, requests } = spans();
    for (const s of [calls[0]!, requests[0]!]) {
      expectEqual(`${s.kind} error.type`, s.attributes["error.type"], undefined);
      expectEqual(`${s.kind} outcome`, s.attributes["timebound.outcome"], "aborted");
      expectEqual(`${s.kind} status`, s.status.code, SpanStatusCode.UNSET);
    }
    return "aborted, status unset";
  });

  await check(
    "through the Hono middleware: an inbound traceparent reaches the outbound call",
    async () => {
      const telemetry = setup();
      const app = new Hono<TimeboundEnv>();
      // What an HTTP server instrumentation does: the inbound context is active in the handler.
      app.use(async (c, next) => {
        const carrier = Object.fromEntries(c.req.raw.headers);
        await context.with(propagation.extract(context.active(), carrier), next);
      });
      app.use(timebound(telemetry.options({ total: "2s" })));
      app.get("/", async (c) => c.text(await (await c.var.fetch(`${upstream}/echo`)).text()));
      const traceId = "0af7651916cd43dd8448eb211c80319c";
      const inbound = `00-${traceId}-b7ad6b7169203331-01`;
      const server = await serve(app.fetch);
      let echoed: string;
      try {
        const res = server
          ? await fetch(`${server.url}/`, { headers: { traceparent: inbound } })
          : await app.fetch(
              new Request("http://in-process/", { headers: { traceparent: inbound } }),
            );
        echoed = await res.text();
      } finally {
        await server?.close();
      }
      const { calls, requests } = spans();
      expectEqual("call's trace", calls[0]?.spanContext().traceId, traceId);
      expectEqual("call's parent", parentOf(calls[0]!), "b7ad6b7169203331");
      expectEqual(
        "traceparent received upstream",
        echoed,
        `00-${traceId}-${requests[0]!.spanContext().spanId}-01`,
      );
      return `${server ? "served by the runtime" : "in-process"}: ${echoed}`;
    },
  );

  propagation.disable();
  try {
    context.disable();
  } catch (e) {
    // workerd: "asyncLocalStorage.disable() is not implemented" (its
    // AsyncLocalStorage has no disable(); the process is a fresh isolate anyway).
    notes.push(`context.disable(): ${e instanceof Error ? e.message : String(e)}`);
  }
  return { checks, notes };
}
