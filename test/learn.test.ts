/**
 * Limits learned online (issue 13, item 5), on virtual time through the
 * real createFetch: a steady dependency gets a tight limit, one that drifts
 * from 200 ms to 5 s (the seeds' story) is cut at the ceiling and never
 * waited on longer, the limit comes back once the dependency recovers, and
 * `total` stays absolute.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { capacity } from "../sim/capacity.ts";
import { VirtualClock } from "../sim/engine.ts";
import { createFetch, isTimeoutError } from "../src/mod.ts";

/** A dependency on virtual time whose latency is `latency(now)`; it honours the abort. */
function dependency(clock: VirtualClock, latency: (now: number) => number): typeof fetch {
  return ((_input: RequestInfo | URL, init?: RequestInit) =>
    new Promise<Response>((resolve, reject) => {
      const signal = init!.signal!;
      const timer = clock.setTimer(() => {
        signal.removeEventListener("abort", onAbort);
        resolve(new Response("ok"));
      }, latency(clock.now()));
      const onAbort = () => {
        clock.clearTimer(timer);
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
    })) as typeof fetch;
}

/** `n` calls one after another; what each took and whether it timed out. */
async function calls(clock: VirtualClock, f: typeof fetch, n: number) {
  const out: { ms: number; timeout: boolean; phase?: string }[] = [];
  const run = (async () => {
    for (let i = 0; i < n; i++) {
      const t0 = clock.now();
      try {
        await (await f("http://dep.test/x")).text();
        out.push({ ms: clock.now() - t0, timeout: false });
      } catch (e) {
        out.push({ ms: clock.now() - t0, timeout: true, phase: isTimeoutError(e) ? e.phase : "?" });
      }
    }
  })();
  await clock.runAsync({ maxEvents: 1_000_000 });
  await run;
  return out;
}

const LEARN = {
  learn: {
    quantile: 0.999,
    factor: 1.5,
    floor: "100ms",
    ceiling: "1s",
    warmup: 100,
    window: "60s",
  },
};

describe("a learned headers limit", () => {
  it("follows a steady dependency tightly, is cut at the ceiling when it drifts to 5 s, and recovers", async () => {
    const clock = new VirtualClock();
    let slow = false;
    // 180–220 ms, or 5 s while slow.
    let k = 0;
    const f = createFetch({
      clock,
      total: "30s",
      headers: LEARN,
      fetch: dependency(clock, () => (slow ? 5000 : 180 + ((k++ * 7) % 41))),
    });
    const warm = await calls(clock, f, 300);
    expect(warm.every((c) => !c.timeout)).toBe(true); // no false timeout while learning

    slow = true;
    const drift = await calls(clock, f, 40);
    // Every call is cut, by `headers`, and none waits longer than the ceiling.
    expect(drift.every((c) => c.timeout && c.phase === "headers")).toBe(true);
    expect(Math.max(...drift.map((c) => c.ms))).toBeLessThanOrEqual(1000);
    // The first cuts come at the tight learned limit, well below the ceiling…
    expect(drift[0]!.ms).toBeLessThan(400);
    // …and the limit climbs to the ceiling, never past it.
    expect(drift.at(-1)!.ms).toBe(1000);

    slow = false;
    await clock.advance(120_000); // the slow minute ages out of the window
    const back = await calls(clock, f, 300);
    expect(back.every((c) => !c.timeout)).toBe(true);
    slow = true;
    const again = await calls(clock, f, 1);
    expect(again[0]!.ms).toBeLessThan(400); // tight again
  });

  it("the total deadline stays absolute", async () => {
    const clock = new VirtualClock();
    const f = createFetch({
      clock,
      total: 500,
      headers: { learn: { floor: "1s", ceiling: "10s" } },
      fetch: dependency(clock, () => 5000),
    });
    const [c] = await calls(clock, f, 1);
    expect(c).toMatchObject({ timeout: true, phase: "total", ms: 500 });
  });

  it.each([
    [
      { headers: { learn: { floor: "2s", ceiling: "1s" } } },
      RangeError,
      /floor \(2000 ms\) is above ceiling/,
    ],
    [{ headers: { learn: { floor: "1s" } } }, TypeError, /'floor' and 'ceiling' are required/],
    [{ headers: { learn: { floor: "1s", ceiling: "2s", quantile: 1 } } }, RangeError, /quantile/],
    [{ headers: { learn: { floor: "1s", ceiling: "2s", bogus: 1 } } }, TypeError, /bogus/],
    [
      { writeIdle: { learn: { floor: "1s", ceiling: "2s" } } },
      TypeError,
      /only 'headers' and 'readIdle' can be learned/,
    ],
    [
      { readIdle: { learn: { floor: "2s", ceiling: "1s" } } },
      RangeError,
      /'readIdle.learn': floor \(2000 ms\) is above ceiling/,
    ],
  ])("rejects %j", (options, kind, message) => {
    expect(() => createFetch(options as never)).toThrow(kind);
    expect(() => createFetch(options as never)).toThrow(message);
  });

  it("is set on createFetch, not per call", async () => {
    const f = createFetch({ total: "1s" });
    await expect(
      f("http://127.0.0.1:9/", { timeouts: { headers: LEARN as never } }),
    ).rejects.toThrow(/a learned limit is set on createFetch, not per call/);
  });
});

/**
 * A dependency on virtual time that answers at once, then sends `pieces`
 * body pieces, the i-th after `gap(i, now)` ms; it honours the abort and a
 * cancelled body.
 */
function streaming(
  clock: VirtualClock,
  pieces: number,
  gap: (i: number, now: number) => number,
): typeof fetch {
  return ((_input: RequestInfo | URL, init?: RequestInit) => {
    const signal = init!.signal!;
    let timer: unknown;
    let i = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        return new Promise<void>((resolve) => {
          timer = clock.setTimer(
            () => {
              timer = undefined;
              c.enqueue(new Uint8Array(10));
              if (++i === pieces) c.close();
              resolve();
            },
            gap(i, clock.now()),
          );
        });
      },
      cancel() {
        if (timer !== undefined) clock.clearTimer(timer);
      },
    });
    signal.addEventListener("abort", () => {
      if (timer !== undefined) clock.clearTimer(timer);
    });
    return Promise.resolve(new Response(body));
  }) as typeof fetch;
}

describe("a learned readIdle limit", () => {
  const LEARN_IDLE = {
    learn: {
      quantile: 0.999,
      factor: 1.5,
      floor: "50ms",
      ceiling: "1s",
      warmup: 100,
      window: "60s",
    },
  };

  it("follows steady read gaps tightly, cuts a 5 s stall at the ceiling at most, and recovers", async () => {
    const clock = new VirtualClock();
    let stall = false;
    let k = 0;
    // Four pieces 20–40 ms apart; while stalling, the second piece comes after 5 s.
    const f = createFetch({
      clock,
      total: "30s",
      readIdle: LEARN_IDLE,
      fetch: streaming(clock, 4, (i) =>
        stall && i === 1 ? 5000 : i === 0 ? 30 : 20 + ((k++ * 7) % 21),
      ),
    });
    const warm = await calls(clock, f, 300);
    expect(warm.every((c) => !c.timeout)).toBe(true);

    stall = true;
    // (The limit is recomputed every 16 observations: ×1.5 each time, 60 ms to 1 s in 7 steps.)
    const stalled = await calls(clock, f, 200);
    expect(stalled.every((c) => c.timeout && c.phase === "readIdle")).toBe(true);
    // 30 ms to the first piece, then the wait readIdle allows: tight at first (≈ 40 ms × 1.5)…
    expect(stalled[0]!.ms).toBeLessThan(30 + 100);
    // …rising with each cut to the ceiling, never past it.
    expect(Math.max(...stalled.map((c) => c.ms))).toBeLessThanOrEqual(30 + 1000);
    expect(stalled.at(-1)!.ms).toBe(30 + 1000);

    stall = false;
    await clock.advance(120_000);
    const back = await calls(clock, f, 300);
    expect(back.every((c) => !c.timeout)).toBe(true);
    stall = true;
    const again = await calls(clock, f, 1);
    expect(again[0]!.ms).toBeLessThan(30 + 100); // tight again
  });

  it("uses its initial value until warm-up, and total stays absolute", async () => {
    const clock = new VirtualClock();
    // A 700 ms gap on the first call: within the initial limit (the ceiling), not cut.
    const f = createFetch({
      clock,
      total: "30s",
      readIdle: LEARN_IDLE,
      fetch: streaming(clock, 2, (i) => (i === 1 ? 700 : 1)),
    });
    expect((await calls(clock, f, 1))[0]!.timeout).toBe(false);
    const clock2 = new VirtualClock();
    const g = createFetch({
      clock: clock2,
      total: 500,
      readIdle: { learn: { floor: "1s", ceiling: "10s" } },
      fetch: streaming(clock2, 2, (i) => (i === 1 ? 5000 : 1)),
    });
    expect((await calls(clock2, g, 1))[0]).toMatchObject({
      timeout: true,
      phase: "total",
      ms: 500,
    });
  });
});

describe("the capacity model, static against learned (the seeds' service, 40 req/s, 20 workers)", () => {
  const base = {
    arrivalsPerSecond: 40,
    concurrency: 20,
    queueLimit: 100,
    duration: "180s",
    callShare: 0.5,
    seed: 5,
  } as const;
  const learned = { learn: { floor: "100ms", ceiling: "1s", window: "30s" } };
  const lognormal = (median: number) => ({ kind: "lognormal" as const, median, sigma: 0.25 });
  const drift = (slowMs: number) => [
    { fromMs: 0, latencyMs: lognormal(200) },
    { fromMs: 60_000, latencyMs: lognormal(slowMs) },
    { fromMs: 120_000, latencyMs: lognormal(200) },
  ];
  const run = (slowMs: number, headers: unknown) =>
    capacity({
      ...base,
      dependency: drift(slowMs),
      client: { total: "10s", headers: headers as never },
    });

  it("a moderate drift (200 → 600 ms): the learned limit follows it; a static one set from healthy data cuts it", async () => {
    // 650 ms is what the healthy data says (p99.9 × 1.5): the static choice a team makes once.
    const fixed = await run(600, "650ms");
    const learning = await run(600, learned);
    // Seen: static 456 timeouts, learned 27.
    expect(learning.totals.timeouts).toBeLessThan(fixed.totals.timeouts / 5);
    expect(learning.totals.ok).toBeGreaterThan(fixed.totals.ok);
  });

  it("the seeds' drift (200 ms → 5 s): the learned limit cuts at its ceiling, no false timeouts while healthy", async () => {
    const learning = await run(5000, learned);
    const generous = await run(5000, "5s");
    const healthy = learning.series.filter((s) => s.tMs <= 60_000 || s.tMs > 125_000);
    expect(healthy.reduce((a, s) => a + s.timeouts, 0)).toBe(0);
    // Seen: learned p99 3.4 s, 31 rejected; a generous static limit p99 17 s, 1,806 rejected.
    expect(learning.totals.p99Ms).toBeLessThan(generous.totals.p99Ms / 3);
    expect(learning.totals.rejected).toBeLessThan(generous.totals.rejected / 10);
  });
});

describe("timebound capacity --variants timeouts,learned (the README's plot)", () => {
  const cli = fileURLToPath(new URL("../sim/cli.ts", import.meta.url));

  it("runs a static and a learned headers limit side by side, table and plot", async () => {
    const dir = mkdtempSync(join(tmpdir(), "timebound-learned-"));
    try {
      const svg = join(dir, "learned.svg");
      const args = [
        "capacity",
        "--variants",
        "timeouts,learned",
        "--total",
        "10s",
        "--headers",
        "5s",
        "--duration",
        "90s",
        "--slow-from",
        "30s",
        "--slow-until",
        "60s",
        "--json",
        "--svg",
        svg,
      ];
      const out = await new Promise<string>((resolve, reject) =>
        execFile(process.execPath, [cli, ...args], { timeout: 120_000 }, (error, stdout) =>
          error ? reject(error) : resolve(stdout),
        ),
      );
      const j = JSON.parse(out);
      expect(j.runs.map((r: { variant: string }) => r.variant)).toEqual(["timeouts", "learned"]);
      const [fixed, learned] = j.runs;
      expect(learned.client).toEqual({
        total: 10_000,
        headers: { learn: { floor: 100, ceiling: 1000, window: 30_000 } },
      });
      expect(learned.label).toBe("total 10 s, headers learned (100 ms–1 s)");
      // The seeds' drift to 5 s for 30 s: the learned limit cuts at 1 s, the static one waits 5 s.
      expect(learned.totals.p99Ms).toBeLessThan(fixed.totals.p99Ms / 3);
      expect(readFileSync(svg, "utf8")).toContain("headers learned (100 ms–1 s)");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
