/**
 * Lifecycle events (issue 13, item 1): the order and content of what a
 * subscriber sees for retries, timeouts, refusals and breaker changes,
 * against a real local server; and that a throwing subscriber breaks nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type BreakerStateChange,
  CircuitBreaker,
  createFetch,
  isTimeoutError,
  type TimeboundEvent,
} from "../src/mod.ts";
import { countingClock } from "./_clock.ts";
import { startServer, type TestServer } from "./_server.ts";

const hits = new Map<string, number>();
let server: TestServer;
beforeAll(async () => {
  server = await startServer({
    // The first `k` requests of an id get a 503 (Retry-After: 0), then 200.
    "/flaky": (req, res) => {
      const q = new URL(req.url!, "http://x").searchParams;
      const id = q.get("id")!;
      const n = (hits.get(id) ?? 0) + 1;
      hits.set(id, n);
      if (n <= Number(q.get("k"))) res.writeHead(503, { "retry-after": "0" }).end("busy");
      else res.end("ok");
    },
    "/hang": () => {}, // never answers (the server's close ends it)
    "/ok": (_req, res) => res.end("ok"),
    // Two body pieces 300 ms apart.
    "/gap": (_req, res) => {
      res.write("a");
      setTimeout(() => res.end("b"), 300);
    },
  });
});
afterAll(() => server.close());

/** The events' types and the fields that say what happened, in order. */
function summary(events: TimeboundEvent[]): string[] {
  return events.map((e) => {
    switch (e.type) {
      case "attempt-start":
        return `attempt-start ${e.attempt}`;
      case "attempt-end":
        return `attempt-end ${e.attempt} ${e.outcome} ${e.status ?? "-"}`;
      case "retry-scheduled":
        return `retry-scheduled ${e.attempt} ${e.reason}`;
      case "retry-refused":
        return `retry-refused ${e.attempt} ${e.reason}`;
      case "timeout":
        return `timeout ${e.attempt} ${e.phase} ${e.limitSource}`;
      case "call-end":
        return `call-end ${e.outcome} ${e.status ?? "-"} ${e.attempts}`;
      default:
        return e.type;
    }
  });
}

describe("lifecycle events", () => {
  it("a GET that succeeds on its third attempt", async () => {
    const events: TimeboundEvent[] = [];
    const f = createFetch({
      total: "5s",
      retry: { limit: 3, backoff: { base: 1, cap: 1 } },
      events: (e) => events.push(e),
    });
    const res = await f(`${server.url}/flaky?id=a&k=2`);
    expect(await res.text()).toBe("ok");
    expect(summary(events)).toEqual([
      "call-start",
      "attempt-start 1",
      "attempt-end 1 ok 503",
      "retry-scheduled 1 status",
      "attempt-start 2",
      "attempt-end 2 ok 503",
      "retry-scheduled 2 status",
      "attempt-start 3",
      "attempt-end 3 ok 200",
      "call-end ok 200 3",
    ]);
    const end = events.at(-1)!;
    expect(end).toMatchObject({ url: `${server.url}/flaky`, method: "GET" }); // no query
    expect(end.type === "call-end" && end.durationMs).toBeGreaterThanOrEqual(0);
    const last = events.at(-2)!;
    expect(last.type === "attempt-end" && last.bytesReceived).toBe(2);
  });

  it("per-try timeouts, then the retry limit", async () => {
    const events: TimeboundEvent[] = [];
    const clock = countingClock();
    const f = createFetch({
      total: "5s",
      headers: 50,
      clock,
      retry: { limit: 1, backoff: { base: 1, cap: 1 } },
      events: (e) => events.push(e),
    });
    const e = await f(`${server.url}/hang`).catch((x: unknown) => x);
    expect(isTimeoutError(e)).toBe(true);
    expect(summary(events)).toEqual([
      "call-start",
      "attempt-start 1",
      "timeout 1 headers policy",
      "attempt-end 1 timeout -",
      "retry-scheduled 1 timeout",
      "attempt-start 2",
      "timeout 2 headers policy",
      "attempt-end 2 timeout -",
      "retry-refused 2 limit",
      "call-end timeout - 2",
    ]);
    expect(clock.armed()).toBe(0);
  });

  it("a POST is not retried (method), a caller's budget is the caller's, an abort is an abort", async () => {
    const events: TimeboundEvent[] = [];
    const f = createFetch({
      total: "5s",
      retry: { limit: 2, backoff: { base: 1, cap: 1 } },
      events: (e) => events.push(e),
    });
    const res = await f(`${server.url}/flaky?id=p&k=1`, { method: "POST", body: "x" });
    await res.text();
    expect(summary(events).slice(-3)).toEqual([
      "retry-refused 1 method",
      "attempt-end 1 ok 503",
      "call-end ok 503 1",
    ]);
    events.length = 0;
    await f(`${server.url}/hang`, { callerBudget: 30 }).catch(() => {});
    expect(summary(events)).toContain("timeout 1 total caller");
    events.length = 0;
    const ac = new AbortController();
    const p = f(`${server.url}/hang`, { signal: ac.signal }).catch(() => {});
    setTimeout(() => ac.abort(), 20);
    await p;
    expect(summary(events)).toEqual([
      "call-start",
      "attempt-start 1",
      "attempt-end 1 aborted -",
      "call-end aborted - 1",
    ]);
  });

  it("the breaker reports its state changes", async () => {
    const changes: BreakerStateChange[] = [];
    const breaker = new CircuitBreaker({
      minCalls: 2,
      failureRatio: 0.5,
      cooldown: 30,
      onStateChange: (c) => changes.push(c),
    });
    const f = createFetch({ total: "5s", breaker });
    for (let i = 0; i < 2; i++) await (await f(`${server.url}/flaky?id=b${i}&k=1`)).text();
    await new Promise((r) => setTimeout(r, 40));
    await (await f(`${server.url}/ok`)).text();
    expect(changes.map((c) => `${c.from}→${c.to}`)).toEqual([
      "closed→open",
      "open→half-open",
      "half-open→closed",
    ]);
    expect(changes[0]!.origin).toBe(server.url);
  });

  it("a throwing subscriber is reported and breaks no request", async () => {
    const reported: unknown[] = [];
    const onUncaught = (e: unknown) => reported.push(e);
    process.on("uncaughtException", onUncaught);
    const clock = countingClock();
    try {
      const f = createFetch({
        total: "5s",
        clock,
        events: () => {
          throw new Error("subscriber bug");
        },
      });
      const res = await f(`${server.url}/ok`);
      expect(await res.text()).toBe("ok");
      await new Promise((r) => setTimeout(r, 20));
    } finally {
      process.off("uncaughtException", onUncaught);
    }
    expect(reported.length).toBe(4); // call-start, attempt-start, attempt-end, call-end
    expect(clock.armed()).toBe(0);
  });

  it("attempt-end carries the longest wait on one body read, not the caller's own pauses", async () => {
    const ends: TimeboundEvent[] = [];
    const f = createFetch({
      total: "10s",
      events: (e) => {
        if (e.type === "attempt-end") ends.push(e);
      },
    });
    // The server pauses 300 ms between two pieces: the second read waits about that long.
    expect(await (await f(`${server.url}/gap`)).text()).toBe("ab");
    // The body is there at once, but the caller waits 400 ms before reading it: not a gap.
    const res = await f(`${server.url}/ok`);
    await new Promise((r) => setTimeout(r, 400));
    expect(await res.text()).toBe("ok");
    const gaps = ends.map((e) => (e.type === "attempt-end" ? e.maxReadGapMs : undefined));
    // 300 ms less the first piece's delivery and the caller's next read (bounded loosely for a loaded machine).
    expect(gaps[0]).toBeGreaterThanOrEqual(150);
    expect(gaps[1]).toBeLessThan(300); // (a few ms in practice; bounded loosely for a loaded machine)
  });

  it("a timeout says whether its limit was learned", async () => {
    const timeouts: TimeboundEvent[] = [];
    const listen = (e: TimeboundEvent) => {
      if (e.type === "timeout") timeouts.push(e);
    };
    // Before warm-up a learned limit is its initial value: 100 ms here.
    const learning = createFetch({
      total: "5s",
      headers: { learn: { floor: "50ms", ceiling: "1s", initial: "100ms" } },
      events: listen,
    });
    const fixed = createFetch({ total: "5s", headers: "100ms", events: listen });
    await learning(`${server.url}/hang`).catch(() => {});
    await fixed(`${server.url}/hang`).catch(() => {});
    // A per-call limit is not the learned one.
    await learning(`${server.url}/hang`, { timeouts: { headers: 100 } }).catch(() => {});
    expect(
      timeouts.map((e) => (e.type === "timeout" ? [e.phase, e.limitMs, e.learned] : [])),
    ).toEqual([
      ["headers", 100, true],
      ["headers", 100, false],
      ["headers", 100, false],
    ]);
  });
});
