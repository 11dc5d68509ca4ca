/**
 * The Hono middleware in-process: `app.request()` and an upstream that is a
 * function (see hono_helpers.ts). Sockets are the point elsewhere
 * (hono.net.test.ts).
 */
import { Hono } from "hono";
import { afterEach, describe, expect, expectTypeOf, it, vi } from "vitest";
import {
  type Deadline,
  type IgnoredBudget,
  type TimeboundEnv,
  type TimeboundFetch,
  type TimeboundHonoOptions,
  timebound,
} from "../src/hono.ts";
import { createFetch, isTimeoutError, TimeoutError } from "../src/mod.ts";
import { countingClock, fakeUpstream, within } from "./hono_helpers.ts";

const UP = "http://upstream.test";

/** An app whose `/call?path=…` fetches that upstream path and returns its text. */
function appWith(options: TimeboundHonoOptions) {
  const app = new Hono<TimeboundEnv>();
  app.use(timebound(options));
  app.get("/call", async (c) => {
    const res = await c.var.fetch(`${UP}${c.req.query("path") ?? "/ok"}`);
    return c.text(await res.text());
  });
  app.get("/budget", (c) =>
    c.json({
      budgetMs: c.var.deadline.budgetMs,
      source: c.var.deadline.source,
      remaining: c.var.deadline.remaining(),
    }),
  );
  return app;
}

/** RFC 9457 members, plus the extensions timebound writes. */
const PROBLEM_KEYS = new Set([
  "type",
  "title",
  "status",
  "detail",
  "instance",
  "phase",
  "retryAfter",
]);

async function expectProblem(res: Response, status: number): Promise<Record<string, unknown>> {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  expect(res.headers.get("cache-control")).toBe("no-store");
  const text = await res.text();
  const body = JSON.parse(text) as Record<string, unknown>;
  for (const key of Object.keys(body)) expect(PROBLEM_KEYS.has(key)).toBe(true);
  expect(body.status).toBe(status);
  expect(typeof body.type).toBe("string");
  expect(typeof body.title).toBe("string");
  expect(typeof body.detail).toBe("string");
  // No stack, no upstream URL, no original message.
  expect(text).not.toMatch(/upstream\.test|at .*\.ts|stack|Request timed out/);
  return body;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("timebound(options) validates at call time", () => {
  const cases: [string, unknown, ErrorConstructor, string][] = [
    [
      "unknown key",
      { totl: "1s" },
      TypeError,
      "Unknown option 'totl': expected one of total, headers, readIdle, writeIdle, minRate, upload, onUploadProgress, events, retry, breaker, route, fetch, clock, budgetHeaders, propagate, serverTiming, onError, onBudgetIgnored",
    ],
    ["not an object", "2s", TypeError, "Invalid option 'options': expected an object, got \"2s\""],
    [
      "total zero",
      { total: 0 },
      RangeError,
      "Invalid option 'total': expected a duration in (0, 2147483647] ms",
    ],
    ["total NaN", { total: Number.NaN }, RangeError, "Invalid option 'total'"],
    [
      "budgetHeaders not an array",
      { budgetHeaders: "grpc-timeout" },
      TypeError,
      "Invalid option 'budgetHeaders': expected an array of header names or false, got \"grpc-timeout\"",
    ],
    [
      "budgetHeaders bad name",
      { budgetHeaders: ["grpc-timeout", "bad header"] },
      TypeError,
      "Invalid option 'budgetHeaders[1]': expected a header name (an RFC 9110 token), got \"bad header\"",
    ],
    [
      "serverTiming not boolean",
      { serverTiming: "yes" },
      TypeError,
      "Invalid option 'serverTiming': expected a boolean, got \"yes\"",
    ],
    [
      "onError not a function",
      { onError: 504 },
      TypeError,
      "Invalid option 'onError': expected a function, got 504",
    ],
    [
      "propagate unknown key",
      { propagate: { to: [], headr: "x" } },
      TypeError,
      "Unknown option 'propagate.headr': expected one of to, header, margin",
    ],
    [
      "propagate origin with a path",
      { propagate: { to: ["https://api.internal/v1"] } },
      TypeError,
      "Invalid option 'propagate.to[0]': expected an http(s) origin",
    ],
    [
      "propagate origin not http",
      { propagate: { to: ["ftp://files.internal"] } },
      TypeError,
      "Invalid option 'propagate.to[0]'",
    ],
    [
      "propagate to missing",
      { propagate: {} },
      TypeError,
      "Invalid option 'propagate.to': expected an array of origins or a function, got undefined",
    ],
    [
      "propagate negative margin",
      { propagate: { to: [], margin: -1 } },
      RangeError,
      "Invalid option 'propagate.margin'",
    ],
    ["nested core key", { upload: { chunk: 1 } }, TypeError, "Unknown option 'upload.chunk'"],
  ];
  for (const [name, options, type, message] of cases) {
    it(`rejects ${name}`, () => {
      let thrown: unknown;
      try {
        timebound(options as TimeboundHonoOptions);
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(type);
      expect((thrown as Error).message).toContain(message);
    });
  }

  it("accepts a zero propagation margin and no options at all", () => {
    expect(() => timebound({ propagate: { to: [], margin: 0 } })).not.toThrow();
    expect(typeof timebound()).toBe("function");
  });

  it("returns a named middleware with typed variables", async () => {
    const mw = timebound();
    expect(mw.name).toBe("timebound");
    const app = new Hono<TimeboundEnv>().use(mw);
    app.get("/", (c) => {
      expectTypeOf(c.var.fetch).toEqualTypeOf<TimeboundFetch>();
      expectTypeOf(c.var.deadline).toEqualTypeOf<Deadline>();
      expectTypeOf(c.var.deadline.within(Promise.resolve(1))).toEqualTypeOf<Promise<number>>();
      return c.text(typeof c.var.fetch);
    });
    expect(await (await app.request("/")).text()).toBe("function");
    // The middleware's own type carries the variables to routes registered after it.
    const typed = new Hono().use(timebound()).get("/", (c) => {
      expectTypeOf(c.var.deadline).toEqualTypeOf<Deadline>();
      return c.text("ok");
    });
    expect((await typed.request("/")).status).toBe(200);
  });
});

describe("the deadline", () => {
  it("is the policy's total when no budget header came", async () => {
    const app = appWith({ total: "5s" });
    const body = await (await app.request("/budget")).json();
    expect(body).toMatchObject({ budgetMs: 5000, source: "policy" });
    expect(body.remaining).toBeLessThanOrEqual(5000);
    expect(body.remaining).toBeGreaterThan(4000);
  });

  const shrinking: [string, string, number][] = [
    ["grpc-timeout", "250m", 250],
    ["grpc-timeout", "2S", 2000],
    ["grpc-timeout", "1500000u", 1500],
    ["grpc-timeout", "75000000n", 75],
    ["grpc-timeout", "0m", 0],
    ["x-envoy-expected-rq-timeout-ms", "1200", 1200],
    ["timebound-budget-ms", "300", 300],
  ];
  for (const [header, value, ms] of shrinking) {
    it(`shrinks to ${ms} ms for ${header}: ${value}`, async () => {
      const mw = timebound({ total: "5s" });
      const app = new Hono()
        .use(mw)
        .get("/", (c) =>
          c.json({ budgetMs: c.var.deadline.budgetMs, source: c.var.deadline.source }),
        );
      const res = await app.request("/", { headers: { [header]: value } });
      expect(await res.json()).toEqual({ budgetMs: ms, source: header });
      expect(mw.stats.budgetApplied).toBe(1);
    });
  }

  it("reads a configured header, and only the configured ones", async () => {
    const app = appWith({ total: "5s", budgetHeaders: ["x-budget"] });
    const own = await app.request("/budget", { headers: { "x-budget": "400" } });
    expect(await own.json()).toMatchObject({ budgetMs: 400, source: "x-budget" });
    const grpc = await app.request("/budget", { headers: { "grpc-timeout": "100m" } });
    expect(await grpc.json()).toMatchObject({ budgetMs: 5000, source: "policy" });
  });

  it("never grows: a budget above the policy leaves the policy's total", async () => {
    const app = appWith({ total: "1s" });
    for (const headers of [
      { "grpc-timeout": "1H" } as Record<string, string>,
      { "x-envoy-expected-rq-timeout-ms": "60000" },
      { "timebound-budget-ms": "1001" },
    ]) {
      const body = await (await app.request("/budget", { headers })).json();
      expect(body).toMatchObject({ budgetMs: 1000, source: "policy" });
    }
  });

  it("takes the smallest of several headers", async () => {
    const app = appWith({ total: "5s" });
    const res = await app.request("/budget", {
      headers: {
        "grpc-timeout": "900m",
        "x-envoy-expected-rq-timeout-ms": "700",
        "timebound-budget-ms": "800",
      },
    });
    expect(await res.json()).toMatchObject({
      budgetMs: 700,
      source: "x-envoy-expected-rq-timeout-ms",
    });
  });

  const ignored: [string, string, IgnoredBudget["reason"]][] = [
    ["grpc-timeout", "250", "malformed"],
    ["grpc-timeout", "250ms", "malformed"],
    ["grpc-timeout", "-1m", "malformed"],
    ["grpc-timeout", "1.5S", "malformed"],
    ["grpc-timeout", "123456789m", "malformed"], // 9 digits: the spec allows 8
    ["grpc-timeout", "99999999H", "out-of-range"], // valid syntax, past any timer
    ["grpc-timeout", "0x10m", "malformed"],
    ["x-envoy-expected-rq-timeout-ms", "1e3", "malformed"],
    ["x-envoy-expected-rq-timeout-ms", "12.5", "malformed"],
    ["x-envoy-expected-rq-timeout-ms", "-5", "malformed"],
    ["x-envoy-expected-rq-timeout-ms", "0", "out-of-range"], // Envoy's "no timeout"
    ["timebound-budget-ms", "99999999999", "malformed"],
    ["timebound-budget-ms", "9999999999", "out-of-range"],
    ["timebound-budget-ms", "Infinity", "malformed"],
  ];
  for (const [header, value, reason] of ignored) {
    it(`ignores and counts ${header}: ${value} (${reason})`, async () => {
      const seen: IgnoredBudget[] = [];
      const mw = timebound({ total: "5s", onBudgetIgnored: (i) => seen.push(i) });
      const app = new Hono().use(mw).get("/", (c) => c.json({ budgetMs: c.var.deadline.budgetMs }));
      const res = await app.request("/", { headers: { [header]: value } });
      expect(await res.json()).toEqual({ budgetMs: 5000 });
      expect(mw.stats.budgetIgnored).toBe(1);
      expect(mw.stats.budgetApplied).toBe(0);
      expect(seen).toEqual([{ header, value, reason }]);
    });
  }

  it("ignores a repeated header (two values are not one budget)", async () => {
    const mw = timebound({ total: "5s" });
    const app = new Hono().use(mw).get("/", (c) => c.json({ budgetMs: c.var.deadline.budgetMs }));
    const headers = new Headers();
    headers.append("grpc-timeout", "100m");
    headers.append("grpc-timeout", "200m");
    expect(await (await app.request("/", { headers })).json()).toEqual({ budgetMs: 5000 });
    expect(mw.stats.budgetIgnored).toBe(1);
  });

  it("budgetHeaders: false trusts no header and counts nothing", async () => {
    const mw = timebound({ total: "5s", budgetHeaders: false });
    const app = new Hono().use(mw).get("/", (c) => c.json({ budgetMs: c.var.deadline.budgetMs }));
    const res = await app.request("/", {
      headers: { "grpc-timeout": "1m", "timebound-budget-ms": "x" },
    });
    expect(await res.json()).toEqual({ budgetMs: 5000 });
    expect(mw.stats.budgetIgnored).toBe(0);
  });

  it("within() resolves inside the deadline and rejects with a TimeoutError at it, cancelling the work", async () => {
    const clock = countingClock();
    let cancelled: unknown;
    const app = new Hono().use(timebound({ total: 200, clock }));
    let armedAfter = -1;
    app.get("/fast", async (c) => {
      const value = await c.var.deadline.within(Promise.resolve("quick"));
      armedAfter = clock.armed(); // the timer lives only while within() waits
      return c.text(value);
    });
    app.get("/slow", async (c) => {
      const work = (signal: AbortSignal) =>
        new Promise<string>((resolve, reject) => {
          const t = setTimeout(() => resolve("late"), 5_000);
          signal.addEventListener(
            "abort",
            () => {
              clearTimeout(t);
              cancelled = signal.reason;
              reject(signal.reason);
            },
            { once: true },
          );
        });
      return c.text(await c.var.deadline.within(work));
    });
    expect(await (await app.request("/fast")).text()).toBe("quick");
    expect(armedAfter).toBe(0);
    const t0 = performance.now();
    const res = await app.request("/slow");
    const elapsed = performance.now() - t0;
    const body = await expectProblem(res, 504);
    expect(body.phase).toBe("total");
    expect(elapsed).toBeGreaterThanOrEqual(195);
    expect(elapsed).toBeLessThan(2_000);
    expect(isTimeoutError(cancelled)).toBe(true);
    expect(clock.armed()).toBe(0);
  });

  it("signal aborts at the deadline with a TimeoutError naming the inbound request", async () => {
    const app = new Hono().use(timebound({ total: 100 }));
    app.get("/wait", async (c) => {
      const signal = c.var.deadline.signal;
      const reason = await new Promise<unknown>((resolve) =>
        signal.addEventListener("abort", () => resolve(signal.reason), { once: true }),
      );
      const e = reason as TimeoutError;
      return c.json({
        name: e.name,
        phase: e.phase,
        limitMs: e.limitMs,
        url: e.url,
        expired: c.var.deadline.expired,
      });
    });
    const res = await within(
      Promise.resolve(app.request("http://svc.test/wait?token=secret")),
      5_000,
      "the deadline signal",
    );
    expect(await res.json()).toEqual({
      name: "TimeoutError",
      phase: "total",
      limitMs: 100,
      url: "http://svc.test/wait",
      expired: true,
    });
  });
});

describe("c.var.fetch", () => {
  it("bounds each call by the time left, and leaves no timer behind", async () => {
    const clock = countingClock();
    const up = fakeUpstream();
    const app = appWith({ total: "5s", fetch: up.fetch, clock });
    const ok = await app.request("/call?path=/ok");
    expect(await ok.text()).toBe("ok");
    expect(clock.armed()).toBe(0);

    const t0 = performance.now();
    const res = await app.request("/call?path=/hang", { headers: { "grpc-timeout": "150m" } });
    const elapsed = performance.now() - t0;
    expect((await expectProblem(res, 504)).phase).toBe("total");
    expect(elapsed).toBeGreaterThanOrEqual(145);
    expect(elapsed).toBeLessThan(2_000);
    expect(up.calls[1]!.wasAborted).toBe(true);
    expect(clock.armed()).toBe(0);
  });

  it("a per-call total can only shorten the call, never outlast the deadline", async () => {
    const up = fakeUpstream();
    const app = new Hono<TimeboundEnv>().use(timebound({ total: 300, fetch: up.fetch }));
    app.get("/", async (c) => {
      const started = performance.now();
      try {
        await c.var.fetch(`${UP}/hang`, { timeouts: { total: "1m" } });
      } catch (e) {
        return c.json({ phase: (e as TimeoutError).phase, ms: performance.now() - started });
      }
      return c.text("unreachable");
    });
    const body = await (await app.request("/")).json();
    expect(body.phase).toBe("total");
    expect(body.ms).toBeLessThan(2_000);
  });

  it("fails fast, without calling the upstream, once the deadline has passed", async () => {
    const up = fakeUpstream();
    const app = appWith({ total: "5s", fetch: up.fetch });
    const res = await app.request("/call?path=/ok", { headers: { "grpc-timeout": "0n" } });
    expect((await expectProblem(res, 504)).phase).toBe("total");
    expect(up.calls).toHaveLength(0);
  });

  it("joins a caller's own signal with the request's: either aborts the call", async () => {
    const up = fakeUpstream();
    const app = new Hono<TimeboundEnv>().use(timebound({ total: "5s", fetch: up.fetch }));
    const mine = new Error("handler gave up");
    app.get("/", async (c) => {
      const ac = new AbortController();
      const pending = c.var.fetch(`${UP}/hang`, { signal: ac.signal });
      setTimeout(() => ac.abort(mine), 20);
      try {
        await pending;
      } catch (e) {
        return c.text(e === mine ? "mine" : String(e));
      }
      return c.text("unreachable");
    });
    expect(await (await app.request("/")).text()).toBe("mine");
    expect(up.calls[0]!.wasAborted).toBe(true);
  });

  it("aborts calls still running when the response has been sent (a body nobody read holds nothing)", async () => {
    const clock = countingClock();
    const up = fakeUpstream();
    const app = new Hono<TimeboundEnv>().use(timebound({ total: "20s", fetch: up.fetch, clock }));
    app.get("/", async (c) => {
      await c.var.fetch(`${UP}/trickle`); // body never read
      c.var.fetch(`${UP}/hang`).catch(() => {}); // never awaited
      return c.text("done");
    });
    const res = await app.request("/");
    expect(await res.text()).toBe("done");
    await within(
      Promise.all(up.calls.map((c) => c.aborted)),
      2_000,
      "the leftover calls to be aborted",
    );
    expect(up.calls.every((c) => c.wasAborted)).toBe(true);
    expect(clock.armed()).toBe(0);
  });

  it("cuts a streamed upstream body at the deadline", async () => {
    const up = fakeUpstream();
    const app = new Hono<TimeboundEnv>().use(timebound({ total: 300, fetch: up.fetch }));
    app.get("/stream", (c) => c.var.fetch(`${UP}/trickle`));
    const t0 = performance.now();
    const res = await app.request("/stream");
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let bytes = 0;
    let error: unknown;
    try {
      for (;;) {
        const r = await within(reader.read(), 5_000, "a body read");
        if (r.done) break;
        bytes += r.value.byteLength;
      }
    } catch (e) {
      error = e;
    }
    const elapsed = performance.now() - t0;
    expect(bytes).toBeGreaterThan(0);
    expect(isTimeoutError(error)).toBe(true);
    expect((error as TimeoutError).phase).toBe("total");
    expect(elapsed).toBeGreaterThanOrEqual(295);
    expect(elapsed).toBeLessThan(2_000);
    await within(up.calls[0]!.aborted, 2_000, "the upstream body to be released");
  });
});

describe("errors become problem responses", () => {
  it("a headers timeout is a 504 naming the phase, without logging a stack", async () => {
    const error = vi.spyOn(console, "error").mockImplementation(() => {});
    const up = fakeUpstream();
    const mw = timebound({ total: "5s", headers: 100, fetch: up.fetch });
    const app = new Hono<TimeboundEnv>()
      .use(mw)
      .get("/", async (c) => c.text(await (await c.var.fetch(`${UP}/slow?ms=2000`)).text()));
    const body = await expectProblem(await app.request("/"), 504);
    expect(body).toMatchObject({ type: "about:blank", title: "Gateway Timeout", phase: "headers" });
    expect(error).not.toHaveBeenCalled();
    expect(mw.stats.timeouts).toBe(1);
  });

  it("a timeout while the handler reads the body is a 504 too, without logging a stack", async () => {
    const error = vi.spyOn(console, "error").mockImplementation(() => {});
    const app = appWith({ total: 150, fetch: fakeUpstream().fetch });
    const body = await expectProblem(await app.request("/call?path=/trickle"), 504);
    expect(body.phase).toBe("total");
    expect(error).not.toHaveBeenCalled();
  });

  it("an open circuit is a 503 with Retry-After in whole seconds", async () => {
    const up = fakeUpstream();
    const mw = timebound({ fetch: up.fetch });
    const app = new Hono<TimeboundEnv>()
      .use(mw)
      .get("/", async (c) => c.text(await (await c.var.fetch(`${UP}/open`)).text()));
    const res = await app.request("/");
    expect(res.headers.get("retry-after")).toBe("3");
    const body = await expectProblem(res, 503);
    expect(body).toMatchObject({ title: "Service Unavailable", retryAfter: 3 });
    expect(mw.stats.circuitOpen).toBe(1);
  });

  it("a timeout from elsewhere (not c.var.fetch) that Hono answered with a bare 500 becomes a 504", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const other = createFetch({ total: 50, fetch: fakeUpstream().fetch });
    const app = new Hono()
      .use(timebound())
      .get("/", async (c) => c.text(await (await other(`${UP}/hang`)).text()));
    expect((await expectProblem(await app.request("/"), 504)).phase).toBe("total");
  });

  it("onError overrides the rendering; returning undefined keeps the default", async () => {
    const up = fakeUpstream();
    const seen: string[] = [];
    const app = new Hono<TimeboundEnv>().use(
      timebound({
        total: 100,
        fetch: up.fetch,
        onError: (e, c) => {
          seen.push(e.name);
          return c.req.query("custom")
            ? new Response("try later", { status: 504, headers: { "x-custom": "1" } })
            : undefined;
        },
      }),
    );
    app.get("/", async (c) => c.text(await (await c.var.fetch(`${UP}/hang`)).text()));
    const custom = await app.request("/?custom=1");
    expect(custom.status).toBe(504);
    expect(custom.headers.get("x-custom")).toBe("1");
    expect(await custom.text()).toBe("try later");
    await expectProblem(await app.request("/"), 504);
    expect(seen).toEqual(["TimeoutError", "TimeoutError"]);
  });

  it("app.onError sees the original TimeoutError and its answer stands", async () => {
    const up = fakeUpstream();
    const app = new Hono<TimeboundEnv>().use(timebound({ total: 100, fetch: up.fetch }));
    app.get("/", async (c) => c.text(await (await c.var.fetch(`${UP}/hang`)).text()));
    app.onError((err, c) => {
      if (err instanceof TimeoutError) return c.text(`upstream slow (${err.phase})`, 502);
      return c.text("other", 500);
    });
    const res = await app.request("/");
    expect(res.status).toBe(502);
    expect(await res.text()).toBe("upstream slow (total)");
  });

  it("other errors are left to Hono", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const app = new Hono().use(timebound()).get("/", () => {
      throw new Error("boom");
    });
    const res = await app.request("/");
    expect(res.status).toBe(500);
    expect(await res.text()).toBe("Internal Server Error");
  });
});

describe("Server-Timing", () => {
  it("is off by default", async () => {
    const app = appWith({ fetch: fakeUpstream().fetch });
    const res = await app.request("/call?path=/ok");
    expect(res.headers.get("server-timing")).toBeNull();
  });

  it("lists the deadline and each call's phases when on", async () => {
    const app = appWith({ total: "5s", fetch: fakeUpstream().fetch, serverTiming: true });
    const res = await app.request("/call?path=/slow%3Fms%3D30", {
      headers: { "grpc-timeout": "3S" },
    });
    expect(await res.text()).toBe("slow");
    const st = res.headers.get("server-timing")!;
    expect(st).toMatch(
      /^deadline;dur=3000;desc="grpc-timeout", fetch;dur=[\d.]+;desc="#1 GET 200"/,
    );
    const ttfb = Number(/fetch-ttfb;dur=([\d.]+)/.exec(st)![1]);
    expect(ttfb).toBeGreaterThanOrEqual(25);
    expect(st).toMatch(/fetch-download;dur=[\d.]+;desc="#1"/);
  });

  it("names the phase of a call that timed out, on the 504 itself", async () => {
    const app = appWith({
      total: "5s",
      headers: 50,
      fetch: fakeUpstream().fetch,
      serverTiming: true,
    });
    const res = await app.request("/call?path=/hang");
    expect(res.status).toBe(504);
    expect(res.headers.get("server-timing")).toMatch(
      /fetch;dur=[\d.]+;desc="#1 GET timeout:headers"/,
    );
  });
});

describe("propagation", () => {
  function propagatingApp(options: TimeboundHonoOptions) {
    const up = fakeUpstream();
    const app = new Hono<TimeboundEnv>().use(
      timebound({ total: "2s", fetch: up.fetch, ...options }),
    );
    app.get("/", async (c) => {
      await c.var.fetch(`http://allowed.test:8080/ok`);
      await c.var.fetch(`http://third-party.test/ok`);
      await c.var.fetch(new Request(`http://allowed.test:8080/ok`, { headers: { "x-kept": "1" } }));
      return c.text("ok");
    });
    return { app, up };
  }

  it("sends the time left minus the margin to allowed origins only", async () => {
    const { app, up } = propagatingApp({
      propagate: { to: ["http://allowed.test:8080"], margin: 100 },
    });
    await (await app.request("/", { headers: { "grpc-timeout": "1S" } })).text();
    const [first, third, viaRequest] = up.calls;
    const sent = Number(first!.headers.get("timebound-budget-ms"));
    expect(sent).toBeGreaterThan(700);
    expect(sent).toBeLessThanOrEqual(900);
    expect(third!.headers.has("timebound-budget-ms")).toBe(false);
    expect(Number(viaRequest!.headers.get("timebound-budget-ms"))).toBeLessThanOrEqual(900);
    expect(viaRequest!.headers.get("x-kept")).toBe("1");
  });

  it("writes grpc-timeout in gRPC's format, and takes a predicate", async () => {
    const { app, up } = propagatingApp({
      propagate: {
        to: (url) => url.hostname === "allowed.test",
        header: "grpc-timeout",
        margin: 0,
      },
    });
    await (await app.request("/")).text();
    expect(up.calls[0]!.headers.get("grpc-timeout")).toMatch(/^\d{1,8}[num]$/);
    expect(up.calls[1]!.headers.has("grpc-timeout")).toBe(false);
  });

  it("sends nothing without the option", async () => {
    const { app, up } = propagatingApp({});
    await (await app.request("/")).text();
    for (const call of up.calls) expect(call.headers.has("timebound-budget-ms")).toBe(false);
  });
});
