/**
 * Issue 9: `createFetch()` is a drop-in fetch. Each test is named for a
 * behaviour, runs against a real server on 127.0.0.1 that records what it
 * received, and where it makes sense compares with bare fetch on the same
 * input. (The five-runtime differential suite is test/conformance/differential.ts.)
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import * as undici from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CircuitBreaker,
  createFetch,
  isReplayable,
  isTimeoutError,
  RetryBudget,
  type TimeoutError,
} from "../src/mod.ts";
import { retryAfterMs } from "../src/retry.ts";
import { countingClock } from "./_clock.ts";
import { listenTracked, startServer, type TestServer } from "./_server.ts";

interface Seen {
  method: string;
  length: string | undefined;
  te: string | undefined;
  type: string | undefined;
  bytes: number;
  sha: string;
  auth: string | undefined;
}
const seen = new Map<string, Seen[]>();
function idOf(req: IncomingMessage): string {
  return new URL(req.url ?? "/", "http://x").searchParams.get("id") ?? "";
}
/** Records the request, then calls `answer` with how many of this id arrived. */
function recorded(answer: (res: ServerResponse, n: number, req: IncomingMessage) => void) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const h = createHash("sha256");
    let bytes = 0;
    req.on("data", (c: Buffer) => {
      bytes += c.length;
      h.update(c);
    });
    req.on("end", () => {
      const list = seen.get(idOf(req)) ?? [];
      seen.set(idOf(req), list);
      list.push({
        method: req.method ?? "",
        length: req.headers["content-length"],
        te: req.headers["transfer-encoding"],
        type: req.headers["content-type"],
        bytes,
        sha: h.digest("hex"),
        auth: req.headers.authorization,
      });
      answer(res, list.length, req);
    });
  };
}

let server: TestServer;
let ids = 0;
const newId = () => `d${++ids}`;
const sha = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");

beforeAll(async () => {
  server = await startServer({
    "/echo": recorded((res) => res.end("ok")),
    "/503": recorded((res, n, req) => {
      const k = Number(new URL(req.url!, "http://x").searchParams.get("k") ?? "1");
      if (n <= k) res.writeHead(503, { "retry-after": "0" }).end("busy");
      else res.end("ok");
    }),
    "/307": recorded((res, _n, req) => {
      const q = new URL(req.url!, "http://x").search;
      res.writeHead(307, { location: `/echo${q}` }).end();
    }),
    "/308": recorded((res, _n, req) => {
      const q = new URL(req.url!, "http://x").search;
      res.writeHead(308, { location: `/echo${q}` }).end();
    }),
    "/big": (_req, res) => res.end(Buffer.alloc(512 * 1024, 7)),
    "/slow": (_req, res) => {
      setTimeout(() => res.end("late"), 300);
    },
    "/slowread": (req, res) => {
      // Reads the body slowly: 16 MiB over well over a second.
      let bytes = 0;
      req.on("data", (c: Buffer) => {
        bytes += c.length;
        req.pause();
        setTimeout(() => req.resume(), 2);
      });
      req.on("end", () => res.end(String(bytes)));
    },
  });
});
afterAll(() => server.close());

/** A server that answers with a raw status line (for statuses Node's server will not write). */
async function rawServer(statusLine: string) {
  const s = createServer();
  s.on("connection", (sock) => {
    sock.once("data", () => {
      sock.end(`HTTP/1.1 ${statusLine}\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello`);
    });
  });
  const t = await listenTracked(s);
  return t;
}

describe("framing is the caller's", () => {
  it("a buffered body over the threshold keeps its Content-Length, byte for byte, as with bare fetch", async () => {
    const payload = new Uint8Array(300 * 1024).map((_, i) => i % 251);
    const f = createFetch({
      total: "10s",
      upload: { threshold: 100 * 1024, chunkSize: 16 * 1024 },
    });
    for (const [name, go] of [
      ["bare", fetch],
      ["wrapped", f],
    ] as const) {
      const id = newId();
      const res = await go(`${server.url}/echo?id=${id}`, { method: "PUT", body: payload });
      expect(await res.text(), name).toBe("ok");
      expect(seen.get(id), name).toEqual([
        expect.objectContaining({
          length: String(payload.byteLength),
          te: undefined,
          sha: sha(payload),
        }),
      ]);
    }
  });

  it("keepalive bodies go as given (never streamed)", async () => {
    const f = createFetch({ total: "10s", upload: { threshold: 10 } });
    const id = newId();
    await (
      await f(`${server.url}/echo?id=${id}`, {
        method: "POST",
        body: "x".repeat(100),
        keepalive: true,
      })
    ).text();
    expect(seen.get(id)![0]).toMatchObject({ length: "100", te: undefined });
  });

  it("a large FormData upload into a slow reader is not cut by `headers` (headers starts after the upload)", async () => {
    const form = new FormData();
    form.set("file", new Blob([new Uint8Array(16 * 1024 * 1024)]), "f.bin");
    const f = createFetch({ total: "60s", headers: "300ms" });
    const res = await f(`${server.url}/slowread`, { method: "POST", body: form });
    expect(Number(await res.text())).toBeGreaterThan(16 * 1024 * 1024);
  });
});

describe("replay is a property of the source", () => {
  it("lists the replayable body types", () => {
    for (const b of [
      "s",
      new ArrayBuffer(1),
      new Uint8Array(1),
      new DataView(new ArrayBuffer(1)),
      new Blob(["x"]),
      new URLSearchParams("a=1"),
      new FormData(),
      null,
      undefined,
    ]) {
      expect(isReplayable(b)).toBe(true);
    }
    async function* gen() {
      yield new Uint8Array(1);
    }
    for (const b of [new ReadableStream(), gen(), { [Symbol.asyncIterator]: gen }, 42]) {
      expect(isReplayable(b)).toBe(false);
    }
  });

  it("an idempotent PUT whose body is an async generator is sent once, never replayed empty", async () => {
    const f = createFetch({ total: "10s", retry: { limit: 2, backoff: { base: 1, cap: 1 } } });
    const id = newId();
    const chunk = new TextEncoder().encode("payload");
    async function* body() {
      yield chunk;
    }
    const res = await f(`${server.url}/503?id=${id}&k=1`, {
      method: "PUT",
      body: body() as unknown as BodyInit,
      duplex: "half",
    });
    expect(res.status).toBe(503);
    await res.body?.cancel();
    expect(seen.get(id)!.map((s) => s.sha)).toEqual([sha(chunk)]);
  });

  it("an idempotent PUT given as a Request is retried with its whole body, like (url, init)", async () => {
    const f = createFetch({ total: "10s", retry: { limit: 2, backoff: { base: 1, cap: 1 } } });
    const id = newId();
    const body = "request body";
    const res = await f(new Request(`${server.url}/503?id=${id}&k=2`, { method: "PUT", body }));
    expect(await res.text()).toBe("ok");
    expect(seen.get(id)!.map((s) => s.sha)).toEqual([sha(body), sha(body), sha(body)]);
  });
});

describe("redirects keep working", () => {
  it.each([307, 308])(
    "a %i to a streamed buffered body is followed, the body replayed, as bare fetch does",
    async (status) => {
      const payload = new Uint8Array(200 * 1024).fill(3);
      const f = createFetch({ total: "10s", upload: { threshold: 1024 } });
      const id = newId();
      const res = await f(`${server.url}/${status}?id=${id}`, { method: "POST", body: payload });
      expect(await res.text()).toBe("ok");
      expect(res.redirected).toBe(true);
      expect(res.url).toBe(`${server.url}/echo?id=${id}`);
      const [first, second] = seen.get(id)!;
      expect(first).toMatchObject({ sha: sha(payload), length: String(payload.byteLength) });
      expect(second).toMatchObject({
        method: "POST",
        sha: sha(payload),
        length: String(payload.byteLength),
      });
    },
  );
});

describe("the response is faithful", () => {
  it("clone() keeps url, redirected and type; headers are immutable as fetch's", async () => {
    const f = createFetch({ total: "10s" });
    const res = await f(`${server.url}/307?id=${newId()}`);
    const bare = await fetch(`${server.url}/307?id=${newId()}`);
    const copy = res.clone();
    for (const r of [res, copy]) {
      expect(r.redirected).toBe(bare.redirected);
      expect(r.type).toBe(bare.type);
      expect(r.url.replace(/id=d\d+/, "")).toBe(bare.url.replace(/id=d\d+/, ""));
      expect(r).toBeInstanceOf(Response);
    }
    expect(() => bare.headers.set("x", "1")).toThrow(TypeError);
    expect(() => res.headers.set("x", "1")).toThrow(TypeError);
    expect(await copy.text()).toBe("ok");
    expect(await res.text()).toBe("ok");
    await bare.text();
  });

  it("the body is a byte stream: a BYOB reader works, as on fetch's", async () => {
    const f = createFetch({ total: "5s" });
    const res = await f(`${server.url}/big`);
    const reader = res.body!.getReader({ mode: "byob" });
    let bytes = 0;
    for (;;) {
      const { done, value } = await reader.read(new Uint8Array(64 * 1024));
      if (done) break;
      bytes += value.byteLength;
    }
    expect(bytes).toBe(512 * 1024);
  });

  it("the returned function reports fetch's arity", () => {
    expect(createFetch().length).toBe(fetch.length);
  });

  it("with redirect: 'error', an unexpected redirect is not retried (fetch reports it as a network error)", async () => {
    const f = createFetch({ total: "5s", retry: { limit: 2, backoff: { base: 1, cap: 1 } } });
    const id = newId();
    await expect(f(`${server.url}/307?id=${id}`, { redirect: "error" })).rejects.toThrow(TypeError);
    expect(seen.get(id)!.length).toBe(1);
  });

  it("a status the Response constructor rejects (999) is delivered, not thrown", async () => {
    const raw = await rawServer("999 Odd");
    try {
      const clock = countingClock();
      const f = createFetch({ total: "5s", clock });
      const res = await f(raw.url);
      expect([res.status, res.statusText, res.ok]).toEqual([999, "Odd", false]);
      expect(await res.text()).toBe("hello");
      expect(clock.armed()).toBe(0); // its body was watched to the end
    } finally {
      await raw.close();
    }
  });

  it("a Request and Response of the undici package are accepted as fetch accepts them", async () => {
    const f = createFetch({ total: "5s", fetch: undici.fetch as unknown as typeof fetch });
    const id = newId();
    const res = await f(
      new undici.Request(`${server.url}/echo?id=${id}`, {
        method: "POST",
        body: "u",
      }) as unknown as Request,
    );
    expect(res).toBeInstanceOf(undici.Response);
    expect(await res.text()).toBe("ok");
    expect(seen.get(id)![0]).toMatchObject({ method: "POST", sha: sha("u") });
  });

  it("a signal that is not a signal is rejected with fetch's own error", async () => {
    const f = createFetch({ total: "5s" });
    const bare = await fetch(`${server.url}/echo`, { signal: {} as AbortSignal }).catch(
      (e: Error) => e,
    );
    const wrapped = await f(`${server.url}/echo`, { signal: {} as AbortSignal }).catch(
      (e: Error) => e,
    );
    expect(wrapped).toBeInstanceOf(Error);
    expect((wrapped as Error).name).toBe((bare as Error).name);
    expect((wrapped as Error).message).toBe((bare as Error).message);
  });
});

describe("the request is faithful", () => {
  it("init.signal replaces the Request's own signal", async () => {
    const f = createFetch({ total: "5s" });
    const own = new AbortController();
    const replaced = new AbortController();
    const req = new Request(`${server.url}/slow`, { signal: own.signal });
    const p = f(req, { signal: replaced.signal });
    own.abort(new Error("the Request's own signal"));
    setTimeout(() => replaced.abort(new Error("init.signal")), 50);
    await expect(p).rejects.toThrow("init.signal");
  });

  it("a call aborted before it starts cancels the caller's body stream, as fetch does", async () => {
    const f = createFetch({ total: "5s" });
    const ac = new AbortController();
    ac.abort(new Error("before"));
    for (const go of [fetch, f]) {
      let cancelled = false;
      const body = new ReadableStream({
        cancel() {
          cancelled = true;
        },
      });
      await expect(
        go(`${server.url}/echo`, {
          method: "POST",
          body,
          duplex: "half",
          signal: ac.signal,
        } as RequestInit),
      ).rejects.toThrow("before");
      expect(cancelled).toBe(true);
    }
  });
});

describe("shared state hears only upstream evidence", () => {
  it("four healthy 200s whose bodies are never read do not open the breaker nor fire onTimeout", async () => {
    const breaker = new CircuitBreaker({ minCalls: 2, failureRatio: 0.5 });
    const timeouts: TimeoutError[] = [];
    const clock = countingClock();
    // 1 s: long enough for the headers on a loaded machine, short enough to wait out.
    const f = createFetch({ total: 1000, breaker, clock });
    for (let i = 0; i < 4; i++) {
      const res = await f(`${server.url}/big`, { onTimeout: (e) => timeouts.push(e) });
      expect(res.status).toBe(200);
    }
    await new Promise((r) => setTimeout(r, 1150)); // past every `total`
    expect(timeouts).toEqual([]);
    expect(breaker.state(server.url)).toBe("closed");
    expect(clock.armed()).toBe(0);
  });

  it("timeouts a remote caller's tiny budget causes are neutral: the breaker stays closed", async () => {
    const breaker = new CircuitBreaker({ minCalls: 2, failureRatio: 0.5 });
    const f = createFetch({ total: "5s", breaker });
    for (let i = 0; i < 6; i++) {
      const e = await f(`${server.url}/slow`, { callerBudget: 5 }).catch((x: unknown) => x);
      expect(isTimeoutError(e) && e.limitSource).toBe("caller");
    }
    expect(breaker.state(server.url)).toBe("closed");
    // The same timeouts from the service's own policy are evidence.
    for (let i = 0; i < 2; i++) {
      const e = await f(`${server.url}/slow`, { timeouts: { total: 5 } }).catch((x: unknown) => x);
      expect(isTimeoutError(e) && e.limitSource).toBe("policy");
    }
    expect(breaker.state(server.url)).toBe("open");
  });

  it("a half-open probe whose body is never read settles on its status: the circuit closes", async () => {
    const breaker = new CircuitBreaker({ minCalls: 1, failureRatio: 0.5, cooldown: 50 });
    const f = createFetch({ total: "5s", breaker });
    breaker.settle(breaker.admit(server.url), false);
    expect(breaker.state(server.url)).toBe("open");
    await new Promise((r) => setTimeout(r, 60));
    const probe = await f(`${server.url}/big`); // never read
    expect(probe.status).toBe(200);
    expect(breaker.state(server.url)).toBe("closed");
    await probe.body?.cancel();
  });

  it("a half-open probe that fails in the wrapper's own code still settles (no circuit stuck open)", async () => {
    const breaker = new CircuitBreaker({ minCalls: 1, failureRatio: 0.5, cooldown: 50 });
    const f = createFetch({ total: "5s", breaker });
    breaker.settle(breaker.admit(server.url), false);
    await new Promise((r) => setTimeout(r, 60));
    // Invalid headers: the runtime rejects them before anything is sent.
    await expect(f(`${server.url}/echo`, { headers: { "bad header": "x" } })).rejects.toThrow(
      TypeError,
    );
    // The probe slot was given back: after the cooldown another call is let through.
    await new Promise((r) => setTimeout(r, 60));
    const res = await f(`${server.url}/echo?id=${newId()}`);
    expect(await res.text()).toBe("ok");
    expect(breaker.state(server.url)).toBe("closed");
  });
});

describe("user callbacks cannot break invariants", () => {
  it("a throwing onTimeout is reported after the abort; the call rejects with the TimeoutError and nothing stays armed", async () => {
    const clock = countingClock();
    const f = createFetch({ total: 100, clock });
    const reported: unknown[] = [];
    const onUncaught = (e: unknown) => reported.push(e);
    process.on("uncaughtException", onUncaught);
    try {
      const e = await f(`${server.url}/slow`, {
        onTimeout: () => {
          throw new Error("hook bug");
        },
      }).catch((x: unknown) => x);
      expect(isTimeoutError(e)).toBe(true);
      await new Promise((r) => setTimeout(r, 20));
    } finally {
      process.off("uncaughtException", onUncaught);
    }
    expect(reported).toEqual([new Error("hook bug")]);
    expect(clock.armed()).toBe(0);
  });

  it("a throwing onUploadProgress does not stop the upload and is reported", async () => {
    const f = createFetch({ total: "5s", upload: { threshold: 10, chunkSize: 1024 } });
    const reported: unknown[] = [];
    const onUncaught = (e: unknown) => reported.push(e);
    process.on("uncaughtException", onUncaught);
    const id = newId();
    const body = "z".repeat(4096);
    try {
      const res = await f(`${server.url}/echo?id=${id}`, {
        method: "POST",
        body,
        onUploadProgress: () => {
          throw new Error("progress bug");
        },
      });
      expect(await res.text()).toBe("ok");
      await new Promise((r) => setTimeout(r, 20));
    } finally {
      process.off("uncaughtException", onUncaught);
    }
    expect(seen.get(id)![0]!.sha).toBe(sha(body));
    expect(reported.length).toBeGreaterThan(0);
  });
});

describe("a throwing route, random or clock leaves nothing behind", () => {
  // Nothing listens on port 9 (discard): a network error, so backoff (random) is asked.
  const REFUSED = "http://127.0.0.1:9";
  const halfOpen = async () => {
    const breaker = new CircuitBreaker({ minCalls: 1, failureRatio: 0.5, cooldown: 20 });
    breaker.settle(breaker.admit(REFUSED), false);
    await new Promise((r) => setTimeout(r, 30)); // the next call is the probe
    return breaker;
  };
  it.each(["route", "random", "clock"] as const)("%s", async (which) => {
    const breaker = await halfOpen();
    const bug = new Error(`${which} bug`);
    let armed = 0;
    let calls = 0;
    const clock = {
      now: () => performance.now(),
      setTimer(fn: () => void, ms: number) {
        if (which === "clock" && ++calls > 0) throw bug;
        armed++;
        return setTimeout(() => {
          armed--;
          fn();
        }, ms);
      },
      clearTimer(h: unknown) {
        armed--;
        clearTimeout(h as ReturnType<typeof setTimeout>);
      },
    };
    const budget = new RetryBudget({ ratio: 1, minRetries: 5 });
    const f = createFetch({
      total: "5s",
      breaker,
      clock,
      retry: {
        limit: 2,
        budget,
        random: () => {
          if (which === "random") throw bug;
          return 0;
        },
      },
      route: () => {
        if (which === "route") throw bug;
        return undefined;
      },
    });
    const ac = new AbortController();
    await expect(f(`${REFUSED}/`, { signal: ac.signal })).rejects.toBe(bug);
    expect(armed).toBe(0);
    expect(budget.snapshot()).toEqual([]);
    expect(breaker.snapshot().every((b) => !b.probing)).toBe(true);
  });
});

describe("the per-try limit means the same for every body shape", () => {
  // What runtimes pull from a streamed body before a connection opens (a
  // listener whose accept queue is full): Node 1 chunk, Deno 2, Bun 0.
  it.each([
    [0, "headers"],
    [1, "writeIdle"],
    [2, "writeIdle"],
  ])(
    "a connection that never opens, the runtime pulling %i chunks meanwhile, is retried (%s) like a GET",
    async (pulls, phase) => {
      let calls = 0;
      const stalling = ((_input: RequestInfo | URL, init?: RequestInit) => {
        calls++;
        const reader = (init!.body as ReadableStream).getReader();
        for (let i = 0; i < pulls; i++) void reader.read();
        return new Promise<Response>((_r, reject) =>
          init!.signal!.addEventListener("abort", () => reject(init!.signal!.reason), {
            once: true,
          }),
        );
      }) as typeof fetch;
      const f = createFetch({
        total: "5s",
        headers: 150,
        writeIdle: 100,
        upload: { threshold: 1024, chunkSize: 1024 },
        retry: { limit: 2, backoff: { base: 1, cap: 1 } },
        fetch: stalling,
      });
      const t0 = performance.now();
      const e = await f("http://127.0.0.1:9/", {
        method: "PUT",
        body: new Uint8Array(100 * 1024 + 1),
      }).catch((x: unknown) => x);
      expect(isTimeoutError(e) && e.phase).toBe(phase);
      expect(calls).toBe(3);
      expect(performance.now() - t0).toBeLessThan(2000); // three tries, not the whole `total`
    },
  );
});

describe("a caller's signal", () => {
  it("reused across many calls collects no listeners and no warning", async () => {
    const f = createFetch({ total: "5s" });
    const ac = new AbortController();
    const warnings: unknown[] = [];
    const onWarning = (w: unknown) => warnings.push(w);
    process.on("warning", onWarning);
    let live = 0;
    const add = ac.signal.addEventListener.bind(ac.signal);
    const remove = ac.signal.removeEventListener.bind(ac.signal);
    ac.signal.addEventListener = ((...a: Parameters<AbortSignal["addEventListener"]>) => {
      live++;
      add(...a);
    }) as AbortSignal["addEventListener"];
    ac.signal.removeEventListener = ((...a: Parameters<AbortSignal["removeEventListener"]>) => {
      live--;
      remove(...a);
    }) as AbortSignal["removeEventListener"];
    try {
      await Promise.all(
        Array.from({ length: 40 }, async () => {
          const res = await f(`${server.url}/echo?id=${newId()}`, { signal: ac.signal });
          await res.text();
        }),
      );
      await new Promise((r) => setTimeout(r, 10));
    } finally {
      process.off("warning", onWarning);
    }
    expect(live).toBe(0);
    expect(warnings).toEqual([]);
  });
});

/** Runs the garbage collector up to `rounds` times, 20 ms apart, until `done()`. */
async function collectGarbage(rounds: number, done: () => boolean = () => false): Promise<void> {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  for (let i = 0; i < rounds && !done(); i++) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Reads a reader to its end; the bytes read. */
async function bytesOf(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<number> {
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return bytes;
    bytes += value.byteLength;
  }
}

describe("abandoned responses are released as fetch releases them", () => {
  it("a dropped response is collected and its attempt ends (nothing armed until total)", async () => {
    const clock = countingClock();
    const f = createFetch({ total: "60s", clock });
    for (let i = 0; i < 20; i++) await f(`${server.url}/big`); // dropped at once
    expect(clock.armed()).toBeGreaterThan(0);
    await collectGarbage(100, () => clock.armed() === 0);
    expect(clock.armed()).toBe(0);
  });

  it("a response cloned and dropped with its clone is released too", async () => {
    const clock = countingClock();
    const f = createFetch({ total: "60s", clock });
    for (let i = 0; i < 20; i++) (await f(`${server.url}/big`)).clone(); // both dropped at once
    expect(clock.armed()).toBeGreaterThan(0);
    await collectGarbage(100, () => clock.armed() === 0);
    expect(clock.armed()).toBe(0);
  });

  it("a clone the caller reads keeps the body when the original is collected", async () => {
    const f = createFetch({ total: "60s" });
    const copies = await Promise.all(
      Array.from({ length: 5 }, async () => (await f(`${server.url}/big`)).clone()),
    );
    const readers = copies.map((c) => c.body!.getReader());
    await collectGarbage(5);
    for (const reader of readers) expect(await bytesOf(reader)).toBe(512 * 1024);
  });

  it("a body the caller still reads is not released when its response is collected", async () => {
    const f = createFetch({ total: "60s" });
    const readers = await Promise.all(
      Array.from({ length: 5 }, async () => (await f(`${server.url}/big`)).body!.getReader()),
    );
    await collectGarbage(5);
    for (const reader of readers) expect(await bytesOf(reader)).toBe(512 * 1024);
  });

  it("a script that checks only res.status exits at once, not at total", () => {
    const node = fileURLToPath(new URL("../node_modules/.bin/node", import.meta.url));
    const mod = fileURLToPath(new URL("../src/mod.ts", import.meta.url));
    const script = `
      import { createServer } from "node:http";
      const { createFetch } = await import(${JSON.stringify(mod)});
      const s = createServer((q, r) => r.end("x".repeat(1 << 20))).listen(0, "127.0.0.1", async () => {
        const f = createFetch({ total: "20s" });
        const res = await f("http://127.0.0.1:" + s.address().port + "/");
        console.log(res.status);
        s.close(); s.closeAllConnections();
      });`;
    const t0 = performance.now();
    const out = spawnSync(node, ["--input-type=module", "-e", script], {
      encoding: "utf8",
      timeout: 15_000,
    });
    expect(out.stdout.trim()).toBe("200");
    expect(performance.now() - t0).toBeLessThan(10_000);
  });
});

describe("Retry-After is parsed strictly", () => {
  it.each(["1.5", "-1", "5, 5", "Wed, 21 Oct 2026 07:28:10", "21 Oct 2026 07:28:10 GMT"])(
    "%s is ignored",
    (value) => {
      const h = new Headers({ "retry-after": value, date: "Wed, 21 Oct 2026 07:28:00 GMT" });
      expect(retryAfterMs(h)).toBeUndefined();
    },
  );
});
