/**
 * The Hono middleware's request scope (issue 10): it lives as long as the
 * response (streamed bodies included), ends the same way for every late
 * caller, composes by shrinking, cannot be turned against other clients,
 * keeps the propagated budget to allowed origins on every redirect hop, and
 * reports what happened truthfully. In-process with `app.request()`; the
 * same cases over each runtime's own server are in the conformance suite
 * (test/conformance/middleware.ts).
 */
import { Hono } from "hono";
import { streamSSE, streamText } from "hono/streaming";
import { describe, expect, expectTypeOf, it, vi } from "vitest";
import {
  type Deadline,
  LOCAL_DEADLINE_DETAIL,
  type TimeboundEnv,
  type TimeboundFetch,
  timebound,
} from "../src/hono.ts";
import { CircuitBreaker, isTimeoutError, type TimeoutError } from "../src/mod.ts";
import { countingClock, fakeUpstream, within } from "./hono_helpers.ts";

const UP = "http://upstream.test";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Reads a whole SSE/text body (bounded). */
async function readText(res: Response): Promise<string> {
  return within(res.text(), 5_000, "the body");
}

/** Reads until the body ends or is cut: what arrived, and the error if it was cut. */
async function readUntilCut(res: Response): Promise<{ text: string; error?: unknown }> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  try {
    for (;;) {
      const r = await within(reader.read(), 5_000, "a body read");
      if (r.done) return { text };
      text += decoder.decode(r.value, { stream: true });
    }
  } catch (error) {
    return { text, error };
  }
}

/** Work that takes `ms` unless its signal aborts first (then rejects with the reason). */
function work(ms: number): (signal: AbortSignal) => Promise<string> {
  return (signal) =>
    new Promise((resolve, reject) => {
      const t = setTimeout(() => resolve("done"), ms);
      signal.addEventListener(
        "abort",
        () => {
          clearTimeout(t);
          reject(signal.reason);
        },
        { once: true },
      );
    });
}

describe("the scope lives as long as the response", () => {
  it("c.var.fetch and within() work inside streamSSE after several writes, bounded by the deadline", async () => {
    const clock = countingClock();
    const up = fakeUpstream();
    const app = new Hono<TimeboundEnv>().use(timebound({ total: 400, fetch: up.fetch, clock }));
    const seen: string[] = [];
    app.get("/sse", (c) =>
      streamSSE(c, async (s) => {
        for (let i = 0; i < 3; i++) {
          await s.writeSSE({ data: `tick ${i}` });
          await sleep(20);
        }
        const res = await c.var.fetch(`${UP}/ok`);
        await s.writeSSE({ data: await res.text() });
        const t0 = performance.now();
        try {
          await c.var.deadline.within(work(1_500));
          seen.push("within resolved");
        } catch (e) {
          seen.push(
            `within ${isTimeoutError(e) ? "timeout" : String(e)} ${performance.now() - t0}`,
          );
        }
      }),
    );
    const res = await app.request("/sse");
    expect(res.status).toBe(200);
    const { text, error } = await readUntilCut(res);
    expect(text).toContain("data: tick 2");
    expect(text).toContain("data: ok");
    // The body was cut at the deadline while within() waited.
    expect(isTimeoutError(error)).toBe(true);
    expect(up.calls).toHaveLength(1);
    // within() was bounded by the 400 ms deadline, not the 1.5 s of work.
    expect(seen[0]).toMatch(/^within timeout /);
    expect(Number(seen[0]!.split(" ")[2])).toBeLessThan(1_000);
    expect(clock.armed()).toBe(0);
  });

  it("behaves the same whether or not an earlier call happened", async () => {
    const up = fakeUpstream();
    const app = new Hono<TimeboundEnv>().use(timebound({ total: "5s", fetch: up.fetch }));
    const outcome: Record<string, string> = {};
    for (const early of [false, true]) {
      app.get(`/s${early}`, async (c) => {
        if (early) await (await c.var.fetch(`${UP}/ok`)).text();
        return streamText(c, async (s) => {
          await s.write("a");
          await sleep(10);
          await s.write("b");
          const r = await c.var.fetch(`${UP}/ok`);
          await s.write(await r.text());
          outcome[String(early)] = "ok";
        });
      });
    }
    expect(await readText(await app.request("/sfalse"))).toBe("abok");
    expect(await readText(await app.request("/strue"))).toBe("abok");
    expect(outcome).toEqual({ false: "ok", true: "ok" });
  });

  it("after the response, every late call and within() rejects the same way, at once", async () => {
    const up = fakeUpstream();
    const app = new Hono<TimeboundEnv>().use(timebound({ total: "5s", fetch: up.fetch }));
    let saved: { fetch: TimeboundFetch; deadline: Deadline } | undefined;
    for (const early of [false, true]) {
      app.get(`/r${early}`, async (c) => {
        if (early) await (await c.var.fetch(`${UP}/ok`)).text();
        saved = { fetch: c.var.fetch, deadline: c.var.deadline };
        return c.text("answered");
      });
    }
    const reasons: unknown[] = [];
    for (const early of [false, true]) {
      expect(await (await app.request(`/r${early}`)).text()).toBe("answered");
      await sleep(5);
      const { fetch, deadline } = saved!;
      const before = up.calls.length;
      const ac = new AbortController();
      const t0 = performance.now();
      const errors = await Promise.all([
        fetch(`${UP}/slow?ms=700`).catch((e: unknown) => e),
        fetch(`${UP}/slow?ms=700`, { signal: ac.signal }).catch((e: unknown) => e),
        deadline.within(work(700)).catch((e: unknown) => e),
        deadline.within(Promise.resolve(1)).catch((e: unknown) => e),
      ]);
      expect(performance.now() - t0).toBeLessThan(100);
      expect(up.calls.length).toBe(before); // nothing reached the upstream
      for (const e of errors) {
        expect((e as Error).name).toBe("AbortError");
        expect((e as Error).message).toMatch(/response has ended/);
      }
      // One reason per request: every late caller sees the same.
      expect(new Set(errors).size).toBe(1);
      reasons.push(errors[0]);
      expect(deadline.signal.aborted).toBe(true);
    }
    expect((reasons[0] as Error).message).toBe((reasons[1] as Error).message);
  });

  it("a streamed body is cut at the deadline, and the scope ends with it", async () => {
    const clock = countingClock();
    const up = fakeUpstream();
    const app = new Hono<TimeboundEnv>().use(timebound({ total: 250, fetch: up.fetch, clock }));
    let late: Promise<unknown> | undefined;
    app.get("/", (c) =>
      streamText(c, async (s) => {
        for (let i = 0; i < 100 && !s.aborted; i++) {
          await s.write(".");
          await sleep(20);
        }
        late = c.var.fetch(`${UP}/ok`).catch((e: unknown) => e);
      }),
    );
    const t0 = performance.now();
    const res = await app.request("/");
    const error = await res.text().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isTimeoutError(error)).toBe(true);
    expect(performance.now() - t0).toBeLessThan(1_500);
    await within(
      (async () => {
        while (!late) await sleep(10);
      })(),
      2_000,
      "the producer to stop",
    );
    expect(((await late) as Error).name).toBe("AbortError");
    expect(up.calls).toHaveLength(0);
    expect(clock.armed()).toBe(0);
  });
});

describe("a stream answered past the deadline", () => {
  it("is cut at once, and its producer's calls fail; a problem response re-wrapped by Hono is not cut", async () => {
    const up = fakeUpstream();
    const app = new Hono<TimeboundEnv>().use(timebound({ total: 100, fetch: up.fetch }));
    let late: unknown;
    app.get("/", async (c) => {
      await sleep(150);
      return streamText(c, async (s) => {
        late = await c.var.fetch(`${UP}/ok`).catch((e: unknown) => e);
        await s.write("x");
      });
    });
    app.get("/hang", async (c) => c.text(await (await c.var.fetch(`${UP}/hang`)).text()));
    const { error } = await readUntilCut(await app.request("/"));
    expect(isTimeoutError(error)).toBe(true);
    await within(
      (async () => {
        while (late === undefined) await sleep(5);
      })(),
      2_000,
      "the producer's call",
    );
    expect(up.calls).toHaveLength(0);
    // Hono's error handler answers c.newResponse(res.body, res): a finished
    // body, past the deadline, that must arrive whole.
    const res = await app.request("/hang");
    expect(res.status).toBe(504);
    expect((await res.json()).phase).toBe("total");
  });
});

describe("nested timebound() only shrinks the deadline", () => {
  it("a route-level timebound inherits the app-level deadline and can shrink it", async () => {
    const up = fakeUpstream();
    const app = new Hono<TimeboundEnv>().use(timebound({ total: "10s", fetch: up.fetch }));
    const report = (c: { var: { deadline: Deadline } }) => ({
      budgetMs: c.var.deadline.budgetMs,
      source: c.var.deadline.source,
    });
    app.get("/shrink", timebound({ total: 300, fetch: up.fetch }), (c) => c.json(report(c)));
    app.get("/grow", timebound({ total: "1m", fetch: up.fetch }), (c) => c.json(report(c)));
    expect(await (await app.request("/shrink")).json()).toEqual({
      budgetMs: 300,
      source: "policy",
    });
    // A longer inner total never re-grants time.
    expect(await (await app.request("/grow")).json()).toEqual({
      budgetMs: 10_000,
      source: "policy",
    });
    // The caller's header, read by the outer one, stands inside.
    const res = await app.request("/grow", { headers: { "timebound-budget-ms": "700" } });
    expect(await res.json()).toEqual({ budgetMs: 700, source: "timebound-budget-ms" });
  });

  it("a middleware after slow middleware does not hand the caller's budget out again", async () => {
    const up = fakeUpstream();
    const app = new Hono<TimeboundEnv>();
    app.use(timebound({ total: "10s", fetch: up.fetch }));
    app.use(async (_c, next) => {
      await sleep(300); // e.g. authentication
      await next();
    });
    app.use(timebound({ total: "10s", fetch: up.fetch }));
    app.get("/", async (c) => c.text(await (await c.var.fetch(`${UP}/hang`)).text()));
    const t0 = performance.now();
    const res = await app.request("/", { headers: { "timebound-budget-ms": "500" } });
    const elapsed = performance.now() - t0;
    expect(res.status).toBe(504);
    expect(elapsed).toBeGreaterThanOrEqual(480);
    expect(elapsed).toBeLessThan(700); // not 300 + 500
  });

  it("a sub-app mounted with app.route() inherits; its c.var types are the same", async () => {
    const up = fakeUpstream();
    const sub = new Hono<TimeboundEnv>();
    sub.use(timebound({ total: "10s", fetch: up.fetch })); // the sub-app's own, longer policy
    sub.get("/d", (c) => {
      expectTypeOf(c.var.deadline).toEqualTypeOf<Deadline>();
      expectTypeOf(c.var.fetch).toEqualTypeOf<TimeboundFetch>();
      return c.json({ budgetMs: c.var.deadline.budgetMs });
    });
    sub.get("/call", async (c) => c.text(await (await c.var.fetch(`${UP}/hang`)).text()));
    const app = new Hono<TimeboundEnv>().use(timebound({ total: 200, fetch: up.fetch }));
    app.route("/sub", sub);
    // Chained, the middleware's type carries the variables into a sub-app's routes and nested ones.
    const inner = new Hono().use(timebound()).get("/", (c) => {
      expectTypeOf(c.var.deadline).toEqualTypeOf<Deadline>();
      expectTypeOf(c.var.fetch).toEqualTypeOf<TimeboundFetch>();
      return c.text("ok");
    });
    new Hono().use(timebound()).route("/x", inner);
    const nested = new Hono<TimeboundEnv>().use(timebound()).get("/", timebound(), (c) => {
      expectTypeOf(c.var.deadline).toEqualTypeOf<Deadline>();
      return c.text("ok");
    });
    expect((await nested.request("/")).status).toBe(200);
    // The app's 200 ms stand: the sub-app cannot re-grant 10 s.
    expect(await (await app.request("/sub/d")).json()).toEqual({ budgetMs: 200 });
    const t0 = performance.now();
    expect((await app.request("/sub/call")).status).toBe(504);
    expect(performance.now() - t0).toBeLessThan(1_000);
    // A shorter header still shrinks it.
    const res = await app.request("/sub/d", { headers: { "grpc-timeout": "50m" } });
    expect(await res.json()).toEqual({ budgetMs: 50 });
  });
});

describe("a client cannot harm other clients", () => {
  it("a burst of tiny-budget requests does not open the shared breaker", async () => {
    const up = fakeUpstream();
    const breaker = new CircuitBreaker({ minCalls: 4, failureRatio: 0.5, cooldown: "30s" });
    const app = new Hono<TimeboundEnv>().use(timebound({ total: "5s", fetch: up.fetch, breaker }));
    app.get("/", async (c) => c.text(await (await c.var.fetch(`${UP}/slow?ms=50`)).text()));
    const attack = [];
    for (let i = 0; i < 12; i++) {
      const headers: Record<string, string> =
        i % 2 ? { "timebound-budget-ms": "5" } : { "grpc-timeout": "5m" };
      attack.push(app.request("/", { headers }));
    }
    for (const res of await Promise.all(attack)) expect(res.status).toBe(504);
    expect(breaker.state(UP)).toBe("closed");
    for (let i = 0; i < 5; i++) {
      const res = await app.request("/");
      expect(res.status).toBe(200);
      expect(await res.text()).toBe("slow");
    }
  });

  it("the same timeout under the service's own policy does count", async () => {
    const up = fakeUpstream();
    const breaker = new CircuitBreaker({ minCalls: 4, failureRatio: 0.5, cooldown: "30s" });
    const app = new Hono<TimeboundEnv>().use(timebound({ total: 5, fetch: up.fetch, breaker }));
    app.get("/", async (c) => c.text(await (await c.var.fetch(`${UP}/slow?ms=50`)).text()));
    for (let i = 0; i < 6; i++) await app.request("/");
    expect((await app.request("/")).status).toBe(503);
  });
});

describe("propagation follows redirects only to allowed origins", () => {
  it("drops the budget header on a hop to an origin not in propagate.to", async () => {
    const hops: { url: string; budget: string | null; auth: string | null }[] = [];
    const redirecting: typeof fetch = async (input, init) => {
      const url = String(input instanceof Request ? input.url : input);
      const headers = new Headers(init?.headers);
      hops.push({
        url,
        budget: headers.get("timebound-budget-ms"),
        auth: headers.get("authorization"),
      });
      const manual = init?.redirect === "manual";
      if (url === "http://api.internal/a") {
        expect(manual).toBe(true);
        return new Response(null, { status: 302, headers: { location: "http://api.internal/b" } });
      }
      if (url === "http://api.internal/b") {
        return new Response(null, { status: 307, headers: { location: "https://third.party/c" } });
      }
      return new Response("end");
    };
    const app = new Hono<TimeboundEnv>().use(
      timebound({ total: "2s", fetch: redirecting, propagate: { to: ["http://api.internal"] } }),
    );
    app.get("/", async (c) => {
      const res = await c.var.fetch("http://api.internal/a", {
        headers: { authorization: "Bearer x" },
      });
      return c.text(`${res.status} ${await res.text()}`);
    });
    expect(await (await app.request("/")).text()).toBe("200 end");
    expect(hops.map((h) => h.url)).toEqual([
      "http://api.internal/a",
      "http://api.internal/b",
      "https://third.party/c",
    ]);
    expect(Number(hops[0]!.budget)).toBeGreaterThan(1_800);
    expect(Number(hops[1]!.budget)).toBeGreaterThan(1_800);
    expect(hops[2]!.budget).toBeNull();
    expect(hops[2]!.auth).toBeNull(); // as fetch does across origins
  });

  it("leaves redirects to the runtime when no header was added, or when the caller chose a mode", async () => {
    const modes: (RequestRedirect | undefined)[] = [];
    const f: typeof fetch = async (_input, init) => {
      modes.push(init?.redirect);
      return new Response("x");
    };
    const app = new Hono<TimeboundEnv>().use(
      timebound({ total: "2s", fetch: f, propagate: { to: ["http://api.internal"] } }),
    );
    app.get("/", async (c) => {
      await c.var.fetch("http://elsewhere.test/");
      await c.var.fetch("http://api.internal/", { redirect: "error" });
      return c.text("ok");
    });
    await app.request("/");
    expect(modes).toEqual([undefined, "error"]);
  });
});

describe("errors name the right request and get a gateway answer", () => {
  it("a TimeoutError from c.var.fetch names the outbound call, also when the deadline passed before it", async () => {
    const up = fakeUpstream();
    const app = new Hono<TimeboundEnv>().use(timebound({ total: 150, fetch: up.fetch }));
    const errors: TimeoutError[] = [];
    app.post("/inbound-path", async (c) => {
      // within() arms the deadline timer: the call must still fail with its own error.
      const held = c.var.deadline.within(work(5_000)).catch(() => {});
      await c.var.fetch(`${UP}/hang?secret=1`, { method: "PUT" }).catch((e) => errors.push(e));
      await held;
      await sleep(20);
      await c.var.fetch(`${UP}/ok`).catch((e) => errors.push(e));
      return c.text("x");
    });
    await app.request("/inbound-path", { method: "POST" });
    expect(errors).toHaveLength(2);
    for (const e of errors) {
      expect(isTimeoutError(e)).toBe(true);
      expect(e.url.startsWith(UP)).toBe(true);
      expect(e.message).not.toMatch(/inbound-path|POST/);
      expect(e.message).not.toMatch(/secret/);
    }
    expect(errors[0]!.method).toBe("PUT");
    expect(errors[1]!.method).toBe("GET");
    expect(errors[1]!.message).toMatch(/deadline had passed before the call started/);
    expect(up.calls).toHaveLength(1); // the late one never went out
  });

  it("a network error escaping the handler is a 502 problem+json, overridable", async () => {
    const refused: typeof fetch = async () => {
      throw new TypeError("fetch failed", { cause: new Error("connect ECONNREFUSED 127.0.0.1:1") });
    };
    const make = (onError?: Parameters<typeof timebound>[0] extends infer O ? O : never) => {
      const app = new Hono<TimeboundEnv>().use(timebound({ fetch: refused, ...onError }));
      app.get("/", async (c) => c.text(await (await c.var.fetch("http://127.0.0.1:1/")).text()));
      return app;
    };
    const res = await make().request("/");
    expect(res.status).toBe(502);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    const text = await res.text();
    expect(JSON.parse(text)).toMatchObject({ status: 502, title: "Bad Gateway" });
    expect(text).not.toMatch(/127\.0\.0\.1|ECONNREFUSED|fetch failed/);
    const custom = await make({
      onError: (e) => (e instanceof TypeError ? new Response("down", { status: 599 }) : undefined),
    }).request("/");
    expect(custom.status).toBe(599);
  });

  it("a connection broken while the handler reads the body is a 502 too", async () => {
    // An upstream that sends headers and a first chunk, then breaks the connection.
    const breaking: typeof fetch = async () =>
      new Response(
        new ReadableStream({
          start(c) {
            c.enqueue(new TextEncoder().encode("partial"));
          },
          pull(c) {
            c.error(new TypeError("terminated", { cause: new Error("read ECONNRESET") }));
          },
        }),
      );
    const app = new Hono<TimeboundEnv>().use(timebound({ fetch: breaking }));
    app.get("/", async (c) => c.text(await (await c.var.fetch(`${UP}/`)).text()));
    const res = await app.request("/");
    expect(res.status).toBe(502);
    expect(JSON.parse(await res.text())).toMatchObject({ status: 502, title: "Bad Gateway" });
  });

  it("with propagation, the 504s a tiny client budget causes downstream do not open the shared breaker", async () => {
    const breaker = new CircuitBreaker({ minCalls: 3, failureRatio: 0.5 });
    // The downstream honours the propagated budget: a 5 ms budget gets an immediate 504.
    const downstream: typeof fetch = async (_input, init) => {
      const budget = Number(new Headers(init?.headers).get("timebound-budget-ms") ?? "Infinity");
      return new Response(budget < 100 ? "deadline exceeded" : "ok", {
        status: budget < 100 ? 504 : 200,
      });
    };
    const app = new Hono<TimeboundEnv>().use(
      timebound({ total: "2s", breaker, fetch: downstream, propagate: { to: [UP] } }),
    );
    app.get("/", async (c) => {
      const r = await c.var.fetch(`${UP}/x`);
      return c.text(await r.text(), r.status as 200);
    });
    for (let i = 0; i < 6; i++) {
      const res = await app.request("/", { headers: { "timebound-budget-ms": "5" } });
      expect(res.status).toBe(504);
    }
    expect(breaker.state(UP)).toBe("closed");
    expect((await app.request("/")).status).toBe(200);
  });

  it("errors of the handler's own making stay Hono's", async () => {
    const quiet = vi.spyOn(console, "error").mockImplementation(() => {});
    const app = new Hono<TimeboundEnv>().use(timebound());
    app.get("/", () => {
      throw new TypeError("a bug");
    });
    expect((await app.request("/")).status).toBe(500);
    quiet.mockRestore();
  });

  it("within() on local work that misses the deadline says so", async () => {
    const app = new Hono<TimeboundEnv>().use(timebound({ total: 100 }));
    app.get("/", async (c) => c.text(await c.var.deadline.within(work(2_000))));
    const res = await app.request("/");
    expect(res.status).toBe(504);
    const p = await res.json();
    expect(p.detail).toBe(LOCAL_DEADLINE_DETAIL);
    expect(p.phase).toBe("total");
  });
});

describe("Server-Timing tells the truth", () => {
  it("a call that succeeded on retry is its status; the timed-out attempt is listed apart", async () => {
    let n = 0;
    const flaky: typeof fetch = (_input, init) =>
      new Promise((resolve, reject) => {
        if (++n === 2) return resolve(new Response("second"));
        init?.signal?.addEventListener("abort", () => reject(init.signal!.reason), { once: true });
      });
    const app = new Hono<TimeboundEnv>().use(
      timebound({
        total: "3s",
        headers: 100,
        retry: { limit: 2, backoff: { base: 1, cap: 1 } },
        fetch: flaky,
        serverTiming: true,
      }),
    );
    app.get("/", async (c) => c.text(await (await c.var.fetch(`${UP}/x`)).text()));
    const res = await app.request("/");
    expect(await res.text()).toBe("second");
    const timing = res.headers.get("server-timing")!;
    const call = timing.split(", ").find((m) => m.startsWith("fetch;"))!;
    expect(call).toMatch(/desc="#1 GET 200 attempts:2"$/);
    expect(call).not.toMatch(/timeout/);
    expect(timing).toMatch(/fetch-attempt;dur=\d+(\.\d)?;desc="#1\.1 timeout:headers"/);
  });
});
