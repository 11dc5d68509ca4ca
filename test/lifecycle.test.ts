/**
 * The lifecycle invariant (issue 9), as a property on virtual time: whatever
 * the upstream does (statuses, resets, black holes, synchronous throws,
 * bodies that end, trickle or never end), whatever the caller does (read,
 * drop, cancel, abort at any point) and whatever its hooks do (throw), once
 * every call has settled nothing is left: no armed timer, no listener on the
 * caller's signal, no retry-budget slot, no outstanding breaker probe.
 * (A local server cannot run on virtual time; the injected fetch plays it.
 * The same invariant is checked for real in dropin.test.ts and in the
 * conformance suite's leftovers case.)
 */
import { fc, it as prop } from "@fast-check/vitest";
import { afterAll, beforeAll, describe, expect } from "vitest";
import { VirtualClock } from "../sim/engine.ts";
import { CircuitBreaker, createFetch, RetryBudget } from "../src/mod.ts";

type Upstream =
  | {
      kind: "answer";
      status: number;
      afterMs: number;
      body: "none" | "short" | "trickle" | "endless";
    }
  | { kind: "reset"; afterMs: number }
  | { kind: "hang" }
  | { kind: "throw" };

type Caller = { does: "read" | "drop" | "cancel" | "byob"; abortAtMs: number | undefined };

const upstream: fc.Arbitrary<Upstream> = fc.oneof(
  fc.record({
    kind: fc.constant("answer" as const),
    status: fc.constantFrom(200, 204, 404, 500, 503),
    afterMs: fc.integer({ min: 0, max: 2000 }),
    body: fc.constantFrom(
      "none" as const,
      "short" as const,
      "trickle" as const,
      "endless" as const,
    ),
  }),
  fc.record({ kind: fc.constant("reset" as const), afterMs: fc.integer({ min: 0, max: 2000 }) }),
  fc.constant({ kind: "hang" as const }),
  fc.constant({ kind: "throw" as const }),
);

const caller: fc.Arbitrary<Caller> = fc.record({
  does: fc.constantFrom("read" as const, "drop" as const, "cancel" as const, "byob" as const),
  abortAtMs: fc.option(fc.integer({ min: 0, max: 6000 }), { nil: undefined }),
});

/** A signal that counts the listeners on it (an instance, not a patched global). */
function countedSignal() {
  const ac = new AbortController();
  const live = new Set<unknown>();
  const add = ac.signal.addEventListener.bind(ac.signal);
  const remove = ac.signal.removeEventListener.bind(ac.signal);
  ac.signal.addEventListener = ((
    type: string,
    l: EventListenerOrEventListenerObject,
    o?: AddEventListenerOptions,
  ) => {
    live.add(l);
    add(type, l, o);
  }) as AbortSignal["addEventListener"];
  ac.signal.removeEventListener = ((type: string, l: EventListenerOrEventListenerObject) => {
    live.delete(l);
    remove(type, l);
  }) as AbortSignal["removeEventListener"];
  // A `once` listener that fired is gone too.
  ac.signal.addEventListener("abort", () => live.clear(), { once: true });
  live.clear();
  return { ac, listeners: () => live.size };
}

const reported: unknown[] = [];
const onUncaught = (e: unknown) => reported.push(e);
beforeAll(() => process.on("uncaughtException", onUncaught));
afterAll(() => process.off("uncaughtException", onUncaught));

describe("every call settles and gives back everything it took", () => {
  prop.prop(
    [
      fc.array(upstream, { minLength: 1, maxLength: 4 }),
      fc.array(caller, { minLength: 1, maxLength: 3 }),
      fc.integer({ min: 0, max: 3 }),
      fc.boolean(),
      fc.boolean(),
    ],
    { numRuns: 200 },
  )(
    "no timer, listener, budget slot or breaker probe is left",
    async (script, callers, limit, hookThrows, halfOpen) => {
      const clock = new VirtualClock();
      let n = 0;
      const fakeFetch = ((_input: RequestInfo | URL, init: RequestInit) => {
        const s = script[Math.min(n++, script.length - 1)]!;
        if (s.kind === "throw") throw new TypeError("synchronous failure in the runtime");
        const signal = init.signal!;
        return new Promise<Response>((resolve, reject) => {
          let timer: unknown;
          const onAbort = () => {
            clock.clearTimer(timer);
            reject(signal.reason);
          };
          signal.addEventListener("abort", onAbort, { once: true });
          if (s.kind === "hang") return;
          timer = clock.setTimer(() => {
            signal.removeEventListener("abort", onAbort);
            if (s.kind === "reset") return reject(new TypeError("fetch failed: reset"));
            let tick: unknown;
            const body =
              s.body === "none" || s.status === 204
                ? null
                : new ReadableStream<Uint8Array>({
                    start(c) {
                      if (s.body === "short") {
                        c.enqueue(new Uint8Array(8));
                        c.close();
                        return;
                      }
                      // Trickle: 1 byte / 100 ms, 20 bytes; endless: 1 byte / 10 ms until cancelled.
                      let sent = 0;
                      const every = s.body === "trickle" ? 100 : 10;
                      const next = () => {
                        tick = clock.setTimer(() => {
                          if (signal.aborted) return c.error(signal.reason);
                          c.enqueue(new Uint8Array(1));
                          if (s.body === "trickle" && ++sent >= 20) c.close();
                          else next();
                        }, every);
                      };
                      signal.addEventListener(
                        "abort",
                        () => {
                          clock.clearTimer(tick);
                          try {
                            c.error(signal.reason);
                          } catch {}
                        },
                        { once: true },
                      );
                      next();
                    },
                    cancel() {
                      clock.clearTimer(tick);
                    },
                  });
            resolve(new Response(body, { status: s.status }));
          }, s.afterMs);
        });
      }) as typeof fetch;

      const breaker = new CircuitBreaker({ clock, minCalls: 2, cooldown: 100 });
      const origin = "http://upstream.test";
      if (halfOpen) {
        breaker.settle(breaker.admit(origin), false);
        breaker.settle(breaker.admit(origin), false);
        await clock.advance(150); // the next call is the half-open probe
      }
      const budget = new RetryBudget({ ratio: 0.5, minRetries: 1 });
      const f = createFetch({
        clock,
        fetch: fakeFetch,
        total: 5000,
        headers: 1500,
        readIdle: 800,
        breaker,
        retry: { limit, backoff: { base: 50, cap: 200 }, random: () => 0.5, budget },
      });
      const signals = callers.map(() => countedSignal());
      let settled = 0;
      callers.forEach((c, i) => {
        const { ac } = signals[i]!;
        if (c.abortAtMs !== undefined)
          clock.setTimer(() => ac.abort(new Error("caller gave up")), c.abortAtMs);
        f(`${origin}/x`, {
          signal: ac.signal,
          onTimeout: () => {
            if (hookThrows) throw new Error("hook bug");
          },
        })
          .then(async (res) => {
            if (c.does === "read") await res.arrayBuffer();
            else if (c.does === "cancel") await res.body?.cancel();
            else if (c.does === "byob" && res.body) {
              const r = res.body.getReader({ mode: "byob" });
              while (!(await r.read(new Uint8Array(4))).done);
            }
            // "drop": the body is left alone; `total` (or the collector) releases it.
          })
          .catch(() => {})
          .finally(() => settled++);
      });
      await clock.runAsync({ maxEvents: 100_000 });
      expect(settled).toBe(callers.length);
      expect(clock.pending).toBe(0);
      for (const s of signals) expect(s.listeners()).toBe(0);
      for (const b of budget.snapshot()) expect(b).toMatchObject({ requests: 0, retries: 0 });
      for (const b of breaker.snapshot()) expect(b.probing).toBe(false);
    },
  );
});
