import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VirtualClock } from "../sim/engine.ts";
import { CircuitBreaker, CircuitOpenError, createFetch, isCircuitOpenError } from "../src/mod.ts";
import { startServer, type TestServer } from "./_server.ts";

const A = "https://a.example";

describe("CircuitBreaker on virtual time", () => {
  const make = (clock: VirtualClock) =>
    new CircuitBreaker({ clock, failureRatio: 0.5, minCalls: 4, window: "10s", cooldown: "5s" });

  it("stays closed below the minimum volume, opens at the failure ratio", () => {
    const clock = new VirtualClock();
    const b = make(clock);
    for (let i = 0; i < 3; i++) b.settle(b.admit(A), false);
    expect(b.state(A)).toBe("closed"); // 3 calls < minCalls
    b.settle(b.admit(A), true);
    expect(b.state(A)).toBe("closed"); // 3/4 failed, but that settle was a success: checked on the next failure
    b.settle(b.admit(A), false);
    expect(b.state(A)).toBe("open"); // 4/5 ≥ 0.5
  });

  it("fails fast while open, lets one probe through after the cooldown, closes on its success", async () => {
    const clock = new VirtualClock();
    const b = make(clock);
    for (let i = 0; i < 4; i++) b.settle(b.admit(A), false);
    const e = (() => {
      try {
        b.admit(A);
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(CircuitOpenError);
    expect((e as CircuitOpenError).retryAfterMs).toBe(5000);
    await clock.advance(5000);
    expect(b.state(A)).toBe("half-open");
    const probe = b.admit(A);
    expect(probe.probe).toBe(true);
    expect(() => b.admit(A)).toThrow(CircuitOpenError); // one probe at a time
    b.settle(probe, true);
    expect(b.state(A)).toBe("closed");
    expect(b.admit(A).probe).toBe(false);
  });

  it("a failed probe reopens it for another cooldown; a probe the caller abandoned frees the slot", async () => {
    const clock = new VirtualClock();
    const b = make(clock);
    for (let i = 0; i < 4; i++) b.settle(b.admit(A), false);
    await clock.advance(5000);
    b.settle(b.admit(A), undefined);
    expect(b.state(A)).toBe("half-open");
    b.settle(b.admit(A), false);
    expect(b.state(A)).toBe("open");
    await clock.advance(4999);
    expect(b.state(A)).toBe("open");
    await clock.advance(1);
    expect(b.state(A)).toBe("half-open");
  });

  it("old failures age out of the sliding window", async () => {
    const clock = new VirtualClock();
    const b = make(clock);
    for (let i = 0; i < 3; i++) b.settle(b.admit(A), false);
    await clock.advance(11_000);
    b.settle(b.admit(A), false);
    expect(b.state(A)).toBe("closed"); // only 1 call in the window now
    expect(b.snapshot()).toEqual([
      { origin: A, state: "closed", calls: 1, failures: 1, probing: false },
    ]);
  });

  it("origins are independent", () => {
    const b = make(new VirtualClock());
    for (let i = 0; i < 4; i++) b.settle(b.admit(A), false);
    expect(b.state(A)).toBe("open");
    expect(b.state("https://b.example")).toBe("closed");
  });

  it.each([
    [
      { failureRatio: 0 },
      RangeError,
      "Invalid option 'breaker.failureRatio': expected a number in (0, 1], got 0",
    ],
    [
      { failureRatio: 1.5 },
      RangeError,
      "Invalid option 'breaker.failureRatio': expected a number in (0, 1], got 1.5",
    ],
    [
      { minCalls: 0 },
      RangeError,
      "Invalid option 'breaker.minCalls': expected an integer in [1, 1000000], got 0",
    ],
    [{ cooldown: -1 }, RangeError, /^Invalid option 'breaker.cooldown'/],
    [{ windw: "1s" }, TypeError, /^Unknown option 'breaker.windw'/],
  ])("rejects %j", (options, kind, message) => {
    expect(() => new CircuitBreaker(options as never)).toThrow(kind);
    expect(() => new CircuitBreaker(options as never)).toThrow(message);
  });
});

describe("breaker inside createFetch", () => {
  it("timeouts and 5xx count as failures, 4xx do not; an open circuit does not touch the network", async () => {
    const clock = new VirtualClock();
    let calls = 0;
    let status = 404;
    const upstream = ((_u: string, init: RequestInit) => {
      calls++;
      if (status === 0) {
        return new Promise<Response>((_r, reject) =>
          init.signal!.addEventListener("abort", () => reject(init.signal!.reason), { once: true }),
        );
      }
      return Promise.resolve(new Response("x", { status }));
    }) as typeof fetch;
    const breaker = new CircuitBreaker({ clock, minCalls: 3, failureRatio: 0.5, cooldown: "1s" });
    const f = createFetch({ clock, fetch: upstream, total: "5s", headers: "100ms", breaker });
    const drain = async (p: Promise<Response>) => {
      const r = await p;
      await r.text();
      return r.status;
    };
    const run = async <T>(p: Promise<T>) => {
      const settled = p.then(
        (v) => ({ v }),
        (e: unknown) => ({ e }),
      );
      await clock.runAsync({ maxEvents: 1000 });
      return settled;
    };
    for (let i = 0; i < 5; i++) expect(await run(drain(f("http://dep.test/")))).toEqual({ v: 404 });
    expect(breaker.state("http://dep.test")).toBe("closed");
    status = 0; // black hole: headers timeouts
    for (let i = 0; i < 5; i++) await run(drain(f("http://dep.test/")));
    expect(breaker.state("http://dep.test")).toBe("open");
    const before = calls;
    const r = await run(drain(f("http://dep.test/")));
    expect(isCircuitOpenError((r as { e: unknown }).e)).toBe(true);
    expect(calls).toBe(before);
    await clock.advance(1000);
    status = 200;
    expect(await run(drain(f("http://dep.test/")))).toEqual({ v: 200 });
    expect(breaker.state("http://dep.test")).toBe("closed");
  });
});

describe("breaker against a real server", () => {
  let server: TestServer;
  let healthy = false;
  let hits = 0;
  beforeAll(async () => {
    server = await startServer({
      "/dep": (_req, res) => {
        hits++;
        res.writeHead(healthy ? 200 : 500).end();
      },
    });
  });
  afterAll(() => server.close());

  it("opens, fails fast without a request reaching the server, half-opens and recovers", async () => {
    const f = createFetch({
      total: "5s",
      breaker: { minCalls: 4, failureRatio: 0.5, cooldown: "300ms" },
    });
    const call = async () => {
      const r = await f(`${server.url}/dep`);
      await r.arrayBuffer();
      return r.status;
    };
    for (let i = 0; i < 4; i++) expect(await call()).toBe(500);
    const before = hits;
    await expect(call()).rejects.toBeInstanceOf(CircuitOpenError);
    expect(hits).toBe(before);
    healthy = true;
    await new Promise((r) => setTimeout(r, 400));
    expect(await call()).toBe(200);
    expect(await call()).toBe(200);
    expect(hits).toBe(before + 2);
  });
});
