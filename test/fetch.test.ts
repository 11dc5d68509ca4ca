import { fc, it as prop } from "@fast-check/vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFetch, isTimeoutError, TimeoutError, timingsOf } from "../src/mod.ts";
import { countingClock } from "./_clock.ts";
import { startServer, type TestServer, trickle } from "./_server.ts";

let server: TestServer;
beforeAll(async () => {
  server = await startServer({
    "/ok": (_req, res) => res.end("hello"),
    "/echo": (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () =>
        res.end(
          JSON.stringify({
            method: req.method,
            type: req.headers["content-type"] ?? null,
            te: req.headers["transfer-encoding"] ?? null,
            length: Buffer.concat(chunks).length,
            x: req.headers["x-test"] ?? null,
          }),
        ),
      );
    },
    "/trickle": trickle(100),
    "/redirect": (_req, res) => res.writeHead(302, { location: "/ok" }).end(),
    "/nocontent": (_req, res) => res.writeHead(204).end(),
    "/status": (_req, res) => {
      res.statusMessage = "Teapot Here";
      res.writeHead(418, { "x-a": "1", "set-cookie": ["a=1", "b=2"] }).end("short and stout");
    },
  });
});
afterAll(() => server.close());

describe("createFetch", () => {
  it("keeps status, statusText, headers, url, redirected and fills timings", async () => {
    const clock = countingClock();
    const f = createFetch({ total: "5s", headers: "2s", readIdle: "2s", clock });
    const res = await f(`${server.url}/status`);
    expect(res.status).toBe(418);
    expect(res.statusText).toBe("Teapot Here");
    expect(res.headers.get("x-a")).toBe("1");
    expect(res.headers.getSetCookie()).toEqual(["a=1", "b=2"]);
    expect(res.url).toBe(`${server.url}/status`);
    expect(await res.text()).toBe("short and stout");
    const t = timingsOf(res)!;
    expect(t.attempts).toBe(1);
    expect(t.bytesReceived).toBe(15);
    expect(t.headers).toBeGreaterThan(0);
    expect(t.bodyEnd).toBeGreaterThanOrEqual(t.headers!);
    expect(clock.armed()).toBe(0);

    const r2 = await f(`${server.url}/redirect`);
    expect(r2.redirected).toBe(true);
    expect(r2.url).toBe(`${server.url}/ok`);
    expect(await r2.text()).toBe("hello");
    expect(clock.armed()).toBe(0);
  });

  it("accepts a Request, a URL and a string; a Request's body and headers go out", async () => {
    const f = createFetch({ total: "5s" });
    const viaRequest = await f(
      new Request(`${server.url}/echo`, {
        method: "POST",
        body: "abc",
        headers: { "x-test": "r" },
      }),
    );
    expect(await viaRequest.json()).toMatchObject({ method: "POST", length: 3, x: "r" });
    const viaUrl = await f(new URL(`${server.url}/ok`));
    expect(await viaUrl.text()).toBe("hello");
  });

  it("streams a large string body with the Content-Length and content type fetch would set", async () => {
    const f = createFetch({ total: "5s", upload: { threshold: 1024, chunkSize: 1024 } });
    const res = await f(`${server.url}/echo`, { method: "POST", body: "y".repeat(5000) });
    expect(await res.json()).toMatchObject({
      length: 5000,
      type: "text/plain;charset=UTF-8",
      te: null,
    });
  });

  it("a 204 has no body and ends the watchdog at once", async () => {
    const clock = countingClock();
    const f = createFetch({ total: "5s", clock });
    const res = await f(`${server.url}/nocontent`);
    expect(res.status).toBe(204);
    expect(res.body).toBeNull();
    expect(clock.armed()).toBe(0);
  });

  it("a caller abort rejects with the caller's reason, never a TimeoutError, and leaves nothing armed", async () => {
    const clock = countingClock();
    const f = createFetch({ total: "10s", readIdle: "5s", clock });
    const ac = new AbortController();
    const res = await f(`${server.url}/trickle`, { signal: ac.signal });
    const reader = res.body!.getReader();
    await reader.read();
    const reason = new Error("caller changed their mind");
    ac.abort(reason);
    await expect(reader.read()).rejects.toBe(reason);
    expect(clock.armed()).toBe(0);

    const pre = new AbortController();
    pre.abort("already");
    await expect(f(`${server.url}/ok`, { signal: pre.signal })).rejects.toBe("already");
    expect(clock.armed()).toBe(0);
  });

  it("a timeout surfaces as TimeoutError with the request's details; the connection is released", async () => {
    const clock = countingClock();
    const f = createFetch({ total: 400, clock });
    const res = await f(`${server.url}/trickle?token=secret`);
    const err = await res.text().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TimeoutError);
    expect(isTimeoutError(err)).toBe(true);
    const e = err as TimeoutError;
    expect(e.phase).toBe("total");
    expect(e.limitMs).toBe(400);
    expect(e.elapsedMs).toBeGreaterThanOrEqual(400);
    expect(e.bytesReceived).toBeGreaterThan(0);
    expect(e.method).toBe("GET");
    expect(e.url).toBe(`${server.url}/trickle`); // no query: it may hold secrets
    expect(e.message).toContain("total deadline of 400 ms");
    expect(clock.armed()).toBe(0);
  });

  it("the injected fetch is called with globalThis as this (workerd rejects a detached fetch)", async () => {
    let self: unknown;
    const f = createFetch({
      fetch: function (this: unknown) {
        self = this;
        return Promise.resolve(new Response("x"));
      } as typeof fetch,
    });
    await (await f("http://example.invalid/")).text();
    expect(self).toBe(globalThis);
  });
});

describe("options are checked at construction, never at request time", () => {
  const duration = fc.oneof(
    fc.double(),
    fc.integer(),
    fc.constantFrom("1s", "250ms", "0ms", "x", "2m", "-1s"),
    fc.constant(false),
  );
  prop.prop(
    [
      fc.record(
        { total: duration, headers: duration, readIdle: duration, writeIdle: duration },
        { requiredKeys: [] },
      ),
    ],
    { numRuns: 60 },
  )(
    "any options either throw from createFetch or give a fetch that works (or times out)",
    async (options) => {
      let f: ReturnType<typeof createFetch>;
      try {
        f = createFetch(options as never);
      } catch (e) {
        expect(e instanceof TypeError || e instanceof RangeError).toBe(true);
        return;
      }
      // A valid but tiny limit may time out: that is a TimeoutError, never a validation error.
      try {
        const res = await f(`${server.url}/ok`);
        expect(await res.text()).toBe("hello");
      } catch (e) {
        expect(isTimeoutError(e)).toBe(true);
      }
    },
  );
});
