/**
 * Retries: against a fault-injecting local server, and as a property on
 * virtual time (a local server cannot run on virtual time, so there the
 * injected fetch plays the server).
 */
import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { fc, it as prop } from "@fast-check/vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VirtualClock } from "../sim/engine.ts";
import { createFetch, isTimeoutError, timingsOf } from "../src/mod.ts";
import { retryAfterMs } from "../src/retry.ts";
import { startServer, type TestServer } from "./_server.ts";

/** Per test id: how many requests arrived, and each body's sha256. */
const seen = new Map<string, { count: number; hashes: string[] }>();
function record(req: IncomingMessage, done: (n: number) => void): void {
  const id = new URL(req.url ?? "/", "http://x").searchParams.get("id") ?? "";
  const e = seen.get(id) ?? { count: 0, hashes: [] };
  seen.set(id, e);
  e.count++;
  const n = e.count;
  const h = createHash("sha256");
  req.on("data", (c: Buffer) => h.update(c));
  req.on("end", () => {
    e.hashes.push(h.digest("hex"));
    done(n);
  });
}
/** Fails the first `k` requests of an id (query `k`) with `fail`, then answers 200. */
function flaky(fail: (res: ServerResponse, req: IncomingMessage) => void) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const k = Number(new URL(req.url ?? "/", "http://x").searchParams.get("k") ?? "1");
    record(req, (n) => (n <= k ? fail(res, req) : res.end("ok")));
  };
}

let server: TestServer;
beforeAll(async () => {
  server = await startServer({
    "/503": flaky((res) => res.writeHead(503, { "retry-after": "0" }).end("busy")),
    "/reset": flaky((_res, req) => req.socket.destroy()),
    "/blackhole": flaky(() => {}),
    "/always503": (req, res) => record(req, () => res.writeHead(503).end()),
  });
});
afterAll(() => server.close());

let ids = 0;
const newId = () => `r${++ids}`;

describe("retries against a fault-injecting server", () => {
  const f = createFetch({
    total: "10s",
    headers: "400ms",
    retry: { limit: 3, backoff: { base: 10, cap: 50 } },
  });

  it.each(["/503", "/reset", "/blackhole"])(
    "an idempotent GET succeeds after failures at %s",
    async (path) => {
      const id = newId();
      const res = await f(`${server.url}${path}?id=${id}&k=2`);
      expect(await res.text()).toBe("ok");
      expect(seen.get(id)?.count).toBe(3);
      expect(timingsOf(res)?.attempts).toBe(3);
    },
  );

  it("a POST without Idempotency-Key is sent exactly once", async () => {
    const id = newId();
    const res = await f(`${server.url}/503?id=${id}&k=2`, { method: "POST", body: "x" });
    expect(res.status).toBe(503);
    await res.text();
    expect(seen.get(id)?.count).toBe(1);
    const err = await f(`${server.url}/reset?id=${id}b&k=2`, { method: "POST", body: "x" }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect(seen.get(`${id}b`)?.count).toBe(1);
  });

  it("a buffered body is replayed byte-exact on every attempt (streamed in chunks above the threshold)", async () => {
    const id = newId();
    const body = new Uint8Array(300 * 1024).map((_, i) => (i * 31 + 7) & 255);
    const expected = createHash("sha256").update(body).digest("hex");
    const res = await f(`${server.url}/503?id=${id}&k=2`, {
      method: "POST",
      body,
      headers: { "idempotency-key": id },
    });
    expect(await res.text()).toBe("ok");
    expect(seen.get(id)?.hashes).toEqual([expected, expected, expected]);
  });

  it("a caller's stream body is never replayed", async () => {
    const id = newId();
    const stream = new Blob(["abc"]).stream();
    const res = await f(`${server.url}/503?id=${id}&k=2`, {
      method: "PUT",
      body: stream,
      duplex: "half",
    } as RequestInit);
    expect(res.status).toBe(503);
    await res.text();
    expect(seen.get(id)?.count).toBe(1);
  });

  it("the retry budget caps retries under a sustained failure", async () => {
    const budgeted = createFetch({
      total: "10s",
      retry: { limit: 3, backoff: { base: 20, cap: 20 }, budget: { ratio: 0.2, minRetries: 3 } },
    });
    const id = newId();
    const N = 20;
    const results = await Promise.all(
      Array.from({ length: N }, () =>
        budgeted(`${server.url}/always503?id=${id}`).then((r) =>
          r.arrayBuffer().then(() => r.status),
        ),
      ),
    );
    expect(results.every((s) => s === 503)).toBe(true);
    // Without a budget: N × (1 + 3) = 80. With it, at most max(3, 0.2 × 20) = 4
    // retries are in flight at once; how many happen in all depends on how the
    // answers interleave (the exact count is checked on virtual time below).
    const reached = seen.get(id)!.count;
    expect(reached).toBeGreaterThan(N);
    expect(reached).toBeLessThan(N * 4);
  });

  it("on virtual time: 100 clients against a dependency that always fails send at most 100 + 20 × 3 requests, not 400", async () => {
    const clock = new VirtualClock();
    let requests = 0;
    let inFlight = 0;
    let maxInFlight = 0;
    const failing = (() => {
      requests++;
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      return new Promise<Response>((resolve) =>
        clock.setTimer(() => {
          inFlight--;
          resolve(new Response(null, { status: 503 }));
        }, 100),
      );
    }) as typeof fetch;
    const budgeted = createFetch({
      clock,
      fetch: failing,
      total: "10s",
      retry: {
        limit: 3,
        backoff: { base: 10, cap: 10 },
        random: () => 1,
        budget: { ratio: 0.2, minRetries: 3 },
      },
    });
    const statuses: number[] = [];
    for (let i = 0; i < 100; i++) budgeted("http://dep.test/").then((r) => statuses.push(r.status));
    await clock.runAsync({ maxEvents: 100_000 });
    expect(statuses.length).toBe(100);
    // All 100 first attempts fail at t = 100 together: 20 (= 0.2 × 100) take a
    // retry slot, the other 80 give up. From then on the 20 are all the
    // requests in flight, so the budget allows max(3, 0.2 × 20) = 4 retries
    // at once: later rounds shrink further. A fixed retry count would send 400.
    expect(requests).toBeGreaterThanOrEqual(100 + 20);
    expect(requests).toBeLessThanOrEqual(100 + 20 * 3);
    expect(maxInFlight).toBe(100);
  });

  it("a timeout that ends the retries says why", async () => {
    const g = createFetch({
      total: "10s",
      headers: "100ms",
      retry: { limit: 1, backoff: { base: 1, cap: 1 } },
    });
    const err = await g(`${server.url}/blackhole?id=${newId()}&k=5`).catch((e) => e);
    expect(isTimeoutError(err)).toBe(true);
    expect(err.phase).toBe("headers");
    expect(err.attempt).toBe(2);
    expect(err.message).toMatch(/; not retried: 1 retries made$/);
  });
});

describe("Retry-After", () => {
  it.each([
    ["120", undefined, 120_000],
    ["0", undefined, 0],
    ["Wed, 21 Oct 2026 07:28:10 GMT", "Wed, 21 Oct 2026 07:28:00 GMT", 10_000],
    ["Wed, 21 Oct 2026 07:28:10 GMT", undefined, undefined], // no Date header: nothing to measure against
    ["soon", undefined, undefined],
  ])("%s (Date: %s) → %s ms", (value, date, ms) => {
    const h = new Headers({ "retry-after": value });
    if (date) h.set("date", date);
    expect(retryAfterMs(h)).toBe(ms);
  });
});

describe("on virtual time, no attempt and no sleep crosses the total deadline", () => {
  type Step =
    | { kind: "status"; status: number; afterMs: number; retryAfterS?: number }
    | { kind: "reset"; afterMs: number }
    | { kind: "hang" };
  const step: fc.Arbitrary<Step> = fc.oneof(
    fc.record({
      kind: fc.constant("status" as const),
      status: fc.constantFrom(200, 500, 503, 429, 404),
      afterMs: fc.integer({ min: 0, max: 3000 }),
      retryAfterS: fc.option(fc.integer({ min: 0, max: 10 }), { nil: undefined }),
    }),
    fc.record({ kind: fc.constant("reset" as const), afterMs: fc.integer({ min: 0, max: 3000 }) }),
    fc.constant({ kind: "hang" as const }),
  );

  prop.prop(
    [
      fc.array(step, { minLength: 1, maxLength: 6 }),
      fc.integer({ min: 500, max: 20_000 }),
      fc.integer({ min: 0, max: 5 }),
      fc.option(fc.integer({ min: 50, max: 5000 }), { nil: undefined }),
    ],
    { numRuns: 150 },
  )(
    "attempts start before the deadline and the call settles by it",
    async (steps, totalMs, limit, headersMs) => {
      const clock = new VirtualClock();
      const starts: number[] = [];
      let inFlight = 0;
      let maxInFlight = 0;
      const fakeFetch = ((_url: string, init: RequestInit) => {
        const s = steps[Math.min(starts.length, steps.length - 1)]!;
        starts.push(clock.now());
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        return new Promise<Response>((resolve, reject) => {
          const signal = init.signal!;
          let timer: unknown;
          const settle = () => {
            inFlight--;
            signal.removeEventListener("abort", onAbort);
          };
          const onAbort = () => {
            clock.clearTimer(timer);
            settle();
            reject(signal.reason);
          };
          signal.addEventListener("abort", onAbort, { once: true });
          if (s.kind === "hang") return;
          timer = clock.setTimer(() => {
            settle();
            if (s.kind === "reset") reject(new TypeError("fetch failed: connection reset"));
            else {
              const headers =
                s.retryAfterS === undefined ? undefined : { "retry-after": String(s.retryAfterS) };
              resolve(new Response(s.status === 200 ? "ok" : null, { status: s.status, headers }));
            }
          }, s.afterMs);
        });
      }) as typeof fetch;
      const f = createFetch({
        clock,
        fetch: fakeFetch,
        total: totalMs,
        ...(headersMs ? { headers: headersMs } : {}),
        retry: { limit, backoff: { base: 100, cap: 2000 }, random: () => 0.5, budget: false },
      });
      let settledAt: number | undefined;
      let outcome: unknown;
      f("http://upstream.test/x").then(
        async (r) => {
          await r.arrayBuffer();
          settledAt = clock.now();
          outcome = r.status;
        },
        (e) => {
          settledAt = clock.now();
          outcome = e;
        },
      );
      await clock.runAsync({ maxEvents: 10_000 });
      expect(settledAt).toBeDefined();
      expect(settledAt!).toBeLessThanOrEqual(totalMs);
      for (const t of starts) expect(t).toBeLessThan(totalMs);
      expect(starts.length).toBeLessThanOrEqual(limit + 1);
      expect(maxInFlight).toBe(1);
      expect(inFlight).toBe(0); // the last attempt was answered or aborted, never left running
      if (isTimeoutError(outcome) && outcome.phase === "total") expect(settledAt).toBe(totalMs);
      expect(clock.pending).toBe(0); // no timer left behind
    },
  );
});

describe("the retry budget's slots", () => {
  it("a caller abort during the backoff gives the slot back (later requests may still retry)", async () => {
    const clock = new VirtualClock();
    let calls = 0;
    const failing = (() => {
      calls++;
      return Promise.resolve(new Response(null, { status: 503 }));
    }) as typeof fetch;
    // One retry slot in all: a leaked slot would stop every later retry.
    const f = createFetch({
      clock,
      fetch: failing,
      total: "10s",
      retry: {
        limit: 1,
        backoff: { base: 1000, cap: 1000 },
        random: () => 1,
        budget: { ratio: 0, minRetries: 1 },
      },
    });
    const ac = new AbortController();
    const first = f("http://dep.test/", { signal: ac.signal }).catch((e: unknown) => e);
    await clock.advance(10); // the first attempt failed; the call sleeps 1 s holding the slot
    ac.abort("gave up");
    expect(await first).toBe("gave up");
    expect(calls).toBe(1);
    const second = f("http://dep.test/").then((r) => r.status);
    await clock.runAsync({ maxEvents: 100 });
    expect(await second).toBe(503);
    expect(calls).toBe(3); // the second request did retry
    expect(clock.pending).toBe(0);
  });
});
