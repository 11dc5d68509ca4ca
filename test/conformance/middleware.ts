/**
 * The Hono middleware over real sockets (issue 3), served by each runtime's
 * own server (front.ts): a test client in the same process sends inbound
 * requests; the app's handlers call the fault server as their upstream, and
 * the fault server says what reached it and when its connection closed.
 *
 * The app is stateless apart from the middleware's counters: each request
 * names its upstream in `?up=`, so the same app serves every runtime (on
 * workerd, worker.ts routes `/mw/*` to it).
 *
 * @module
 */
import { type Context, Hono } from "hono";
import { streamSSE } from "hono/streaming";
import {
  type Deadline,
  ENVOY_TIMEOUT,
  GRPC_TIMEOUT,
  type TimeboundEnv,
  type TimeboundFetch,
  timebound,
} from "../../src/hono.ts";
import { CircuitBreaker } from "../../src/mod.ts";
import { type Front, serveFront } from "./front.ts";
import { clock, serverSawClose, serverSees, stats, url, within } from "./helpers.ts";
import { assert, type Ctx, describe, type RuntimeKind, rejection, test } from "./runner.ts";

/** The policy's total: long, so that only a budget header or a disconnect ends a call early. */
const POLICY_TOTAL_MS = 10_000;
/** The configurable budget header, in place of the default `timebound-budget-ms`. */
const CUSTOM_BUDGET = "x-request-budget-ms";
/** Budget sent with the disconnect cases: what ends the upstream where the disconnect is not seen. */
const DISCONNECT_BUDGET_MS = 3000;
/** Cases here wait on servers and deadlines; none should come near this. */
const CASE_LIMIT = { timeoutMs: 20_000 };

/**
 * Whether the runtime's server tells the handler that its client left
 * (request.signal aborts), while the handler awaits an upstream and while
 * it streams a body. Measured; see README.md, "Runtime differences".
 */
const SEES_DISCONNECT: Record<RuntimeKind, { waiting: boolean; streaming: boolean }> = {
  node: { waiting: true, streaming: true },
  deno: { waiting: true, streaming: true },
  bun: { waiting: true, streaming: true },
  workerd: { waiting: false, streaming: true },
};

export const middleware = timebound({
  total: POLICY_TOTAL_MS,
  clock,
  serverTiming: true,
  budgetHeaders: [GRPC_TIMEOUT, ENVOY_TIMEOUT, CUSTOM_BUDGET],
});

/** The app under test; every route's upstream is `?up=`. */
export const app = new Hono<TimeboundEnv>().basePath("/mw");
app.use(middleware);
app.get("/budget", (c) =>
  c.json({ budgetMs: c.var.deadline.budgetMs, source: c.var.deadline.source }),
);
app.get("/call", async (c) => {
  const headers = c.req.query("headers");
  const res = await c.var.fetch(
    c.req.query("up")!,
    headers ? { timeouts: { headers: Number(headers) } } : undefined,
  );
  return c.text(await res.text());
});
// The upstream's streamed body is the answer.
app.get("/pipe", (c) => c.var.fetch(c.req.query("up")!));
app.get("/unread", async (c) => {
  await c.var.fetch(c.req.query("up")!); // headers only; the body is never read
  return c.text("answered");
});
/** Calls `?up=` with the bound fetch and answers its text. */
const callUp = async (c: Context<TimeboundEnv>): Promise<Response> =>
  c.text(await (await c.var.fetch(c.req.query("up")!)).text());

/** Open for every origin it has seen: `/open` calls through it, and fails before any I/O. */
const openBreaker = new CircuitBreaker({ minCalls: 1, cooldown: "30s", clock });
app.get(
  "/open",
  async (c, next) => {
    const origin = new URL(c.req.query("up")!).origin;
    if (openBreaker.state(origin) !== "open") openBreaker.settle(openBreaker.admit(origin), false);
    await next();
  },
  timebound({ clock, breaker: openBreaker }),
  (c) => callUp(c),
);

// --- issue 10: the scope's lifetime, nesting, hostile budgets, redirects ---

/** `ms` of local work that stops (and clears its timer) when `signal` aborts. */
function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
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
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// SSE: three writes 30 ms apart, then the upstream, then `work` ms of local
// work under within(). The third argument keeps Hono from printing an error
// the callback throws (it would, with a stack, on every runtime).
app.get("/sse", (c) =>
  streamSSE(
    c,
    async (s) => {
      for (let i = 0; i < 3; i++) {
        await s.writeSSE({ event: "tick", data: String(i) });
        await sleep(30);
      }
      const res = await c.var.fetch(c.req.query("up")!);
      await s.writeSSE({ event: "upstream", data: `${res.status} ${(await res.text()).length}` });
      const ms = Number(c.req.query("work") ?? 10);
      const outcome = await c.var.deadline
        .within((signal) => delay(ms, signal))
        .then(
          () => "done",
          (e: Error) => e.name,
        );
      await s.writeSSE({ event: "within", data: outcome });
    },
    async (e, s) => {
      await s.writeSSE({ event: "error", data: e.name });
    },
  ),
);

/** A request's bound fetch and deadline, kept past its response by `/late-save`. */
const saved = new Map<string, { fetch: TimeboundFetch; deadline: Deadline }>();
app.get("/late-save", async (c) => {
  if (c.req.query("early")) await (await c.var.fetch(c.req.query("up")!)).text();
  saved.set(c.req.query("key")!, { fetch: c.var.fetch, deadline: c.var.deadline });
  return c.text("saved");
});
app.get("/late-use", async (c) => {
  const key = c.req.query("key")!;
  const late = saved.get(key)!;
  saved.delete(key);
  const up = c.req.query("up")!;
  const ac = new AbortController();
  const t0 = performance.now();
  const settled = await Promise.all([
    late.fetch(up).then(
      () => "resolved",
      (e: unknown) => e,
    ),
    late.fetch(up, { signal: ac.signal }).then(
      () => "resolved",
      (e: unknown) => e,
    ),
    late.deadline
      .within((signal) => delay(2000, signal))
      .then(
        () => "resolved",
        (e: unknown) => e,
      ),
    late.deadline.within(Promise.resolve(1)).then(
      () => "resolved",
      (e: unknown) => e,
    ),
  ]);
  return c.json({
    ms: performance.now() - t0,
    names: settled.map((e) => (e as Error).name ?? String(e)),
    messages: settled.map((e) => (e as Error).message ?? String(e)),
    same: new Set(settled).size === 1,
  });
});

// A route-level timebound() under the app-level one: 300 ms.
app.get("/nested", timebound({ total: 300, clock }), (c) => callUp(c));
// A slow middleware, then another timebound(): the caller's budget is not handed out again.
app.get(
  "/after-slow",
  async (_c, next) => {
    await sleep(300);
    await next();
  },
  timebound({ total: POLICY_TOTAL_MS, clock }),
  (c) => callUp(c),
);
// A sub-app with its own timebound() (the policy's 10 s, default budget
// headers: it does not read x-request-budget-ms), mounted with app.route().
const sub = new Hono<TimeboundEnv>();
sub.use(timebound({ total: POLICY_TOTAL_MS, clock }));
sub.get("/call", (c) => callUp(c));
app.route("/sub", sub);

// A breaker shared by every request of this route: what a hostile client would target.
export const sharedBreaker = new CircuitBreaker({
  minCalls: 4,
  failureRatio: 0.5,
  cooldown: "30s",
  clock,
});
let sharedCalls = 0;
app.get(
  "/shared",
  timebound({
    total: POLICY_TOTAL_MS,
    clock,
    breaker: sharedBreaker,
    fetch: (input, init) => {
      sharedCalls++;
      return fetch(input, init);
    },
  }),
  (c) => callUp(c),
);

/** The one origin `/prop` may tell its budget (set by the case: the fault server's). */
let propagateTo = "";
app.get(
  "/prop",
  timebound({ total: POLICY_TOTAL_MS, clock, propagate: { to: (u) => u.origin === propagateTo } }),
  async (c) => {
    const res = await c.var.fetch(c.req.query("up")!);
    return c.text(`${res.status} ${(await res.text()).length}`);
  },
);

async function withFront<T>(t: Ctx, fn: (base: string) => Promise<T>): Promise<T> {
  const front: Front = await serveFront(t, (req, env) => app.fetch(req, env));
  try {
    return await fn(`${front.url}/mw`);
  } finally {
    await front.close();
  }
}

/** `/mw/<route>?up=<upstream>` */
function inbound(base: string, route: string, up: string): string {
  return `${base}/${route}?up=${encodeURIComponent(up)}`;
}

/** Checks an RFC 9457 answer: media type, members, status echoed, nothing internal. */
async function expectProblem(res: Response, status: number): Promise<Record<string, unknown>> {
  const text = await res.text();
  assert(res.status === status, `status ${res.status}, expected ${status}: ${text.slice(0, 200)}`);
  const type = res.headers.get("content-type");
  assert(type === "application/problem+json", `content-type ${type}`);
  assert(res.headers.get("cache-control") === "no-store", "a problem must not be cached");
  const p = JSON.parse(text) as Record<string, unknown>;
  assert(typeof p.type === "string" && p.type.length > 0, `type ${JSON.stringify(p.type)}`);
  assert(typeof p.title === "string" && p.title.length > 0, `title ${JSON.stringify(p.title)}`);
  assert(typeof p.detail === "string", `detail ${JSON.stringify(p.detail)}`);
  assert(p.status === status, `member status ${JSON.stringify(p.status)} ≠ ${status}`);
  const extra = Object.keys(p).filter(
    (k) => !["type", "title", "status", "detail", "phase", "retryAfter"].includes(k),
  );
  assert(extra.length === 0, `unexpected members: ${extra.join(", ")}`);
  for (const leak of ["127.0.0.1", "http:", "stack", "    at ", "Error", "/slow-headers"]) {
    assert(
      !text.includes(leak),
      `the body gives away internals (${JSON.stringify(leak)}): ${text}`,
    );
  }
  return p;
}

/** Reads until the body ends or breaks; bounded by the case limit. */
async function readAll(res: Response): Promise<{ bytes: number; error?: unknown }> {
  const reader = res.body!.getReader();
  let bytes = 0;
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) return { bytes };
      bytes += r.value.byteLength;
    }
  } catch (error) {
    return { bytes, error };
  }
}

// --- deadline from headers ----------------------------------------------------

test(
  "hono: the deadline shrinks to grpc-timeout, x-envoy-expected-rq-timeout-ms and the configured header",
  (t) =>
    withFront(t, async (base) => {
      const budgets: [string, string, number][] = [
        [GRPC_TIMEOUT, "300m", 300],
        [ENVOY_TIMEOUT, "400", 400],
        [CUSTOM_BUDGET, "500", 500],
      ];
      // Concurrently: each request has its own deadline.
      await Promise.all(
        budgets.map(async ([header, value, ms]) => {
          const up = t.id(`mw-shrink-${header}`);
          const t0 = performance.now();
          const res = await fetch(
            inbound(base, "call", url(t, "/slow-headers", up, { delay: 20_000 })),
            { headers: { [header]: value } },
          );
          const timing = res.headers.get("server-timing") ?? "";
          const p = await expectProblem(res, 504);
          within(performance.now() - t0, ms, ms + 2000, `504 with ${header}: ${value}`);
          assert(p.phase === "total", `${header}: phase ${p.phase}`);
          assert(
            timing.includes(`deadline;dur=${ms};desc="${header}"`),
            `${header}: Server-Timing ${JSON.stringify(timing)}`,
          );
          within(
            await serverSawClose(t, up, 5000),
            ms - 300,
            ms + 2000,
            `${header}: upstream close`,
          );
        }),
      );
    }),
  CASE_LIMIT,
);

test(
  "hono: a malformed, over-large, repeated or longer budget header is ignored",
  (t) =>
    withFront(t, async (base) => {
      // [header, value(s), counted as ignored]
      const cases: [string, string[], boolean][] = [
        [GRPC_TIMEOUT, ["123456789m"], true], // 9 digits: the spec allows 8
        [GRPC_TIMEOUT, ["99999999H"], true], // beyond 2^31−1 ms
        [GRPC_TIMEOUT, ["250"], true], // no unit
        [GRPC_TIMEOUT, ["-5m"], true],
        [GRPC_TIMEOUT, ["60S"], false], // valid but longer: a header never grows the deadline
        [ENVOY_TIMEOUT, ["1e3"], true],
        [ENVOY_TIMEOUT, ["9999999999"], true], // beyond 2^31−1 ms
        [ENVOY_TIMEOUT, ["0"], true], // Envoy's "no timeout", not a budget
        [ENVOY_TIMEOUT, ["100", "100"], true], // repeated: joined "100, 100" by the server
        [CUSTOM_BUDGET, ["250ms"], true],
        ["timebound-budget-ms", ["100"], false], // not configured here: never read
      ];
      const before = { ...middleware.stats };
      let counted = 0;
      for (const [header, values, isCounted] of cases) {
        const headers = new Headers();
        for (const v of values) headers.append(header, v);
        const res = await fetch(`${base}/budget`, { headers });
        const got = (await res.json()) as { budgetMs: number; source: string };
        const what = `${header}: ${values.join(" + ")}`;
        assert(
          got.budgetMs === POLICY_TOTAL_MS && got.source === "policy",
          `${what} was used: ${JSON.stringify(got)}`,
        );
        if (isCounted) counted++;
        const ignored = middleware.stats.budgetIgnored - before.budgetIgnored;
        assert(ignored === counted, `${what}: ${ignored} counted as ignored, expected ${counted}`);
      }
      assert(middleware.stats.budgetApplied === before.budgetApplied, "a budget was applied");
      // The control: a well-formed header on the same route is used.
      const res = await fetch(`${base}/budget`, { headers: { [GRPC_TIMEOUT]: "2S" } });
      const got = (await res.json()) as { budgetMs: number; source: string };
      assert(got.budgetMs === 2000 && got.source === GRPC_TIMEOUT, `2S: ${JSON.stringify(got)}`);
    }),
  CASE_LIMIT,
);

// --- errors as problem+json ----------------------------------------------------

test(
  "hono: an upstream past its limit answers 504 problem+json naming the phase; an open circuit 503 + Retry-After",
  (t) =>
    withFront(t, async (base) => {
      const up = t.id("mw-problem-headers");
      const res = await fetch(
        `${inbound(base, "call", url(t, "/slow-headers", up, { delay: 20_000 }))}&headers=200`,
      );
      const p = await expectProblem(res, 504);
      assert(p.phase === "headers", `phase ${p.phase}`);
      within(
        await serverSawClose(t, up, 5000),
        100,
        2500,
        "upstream close after the headers limit",
      );

      const never = t.id("mw-problem-open");
      const open = await fetch(inbound(base, "open", url(t, "/json", never)));
      const retryAfter = open.headers.get("retry-after");
      const q = await expectProblem(open, 503);
      assert(retryAfter !== null && /^\d+$/.test(retryAfter), `Retry-After ${retryAfter}`);
      assert(Number(retryAfter) >= 1 && Number(retryAfter) <= 30, `Retry-After ${retryAfter}`);
      assert(q.retryAfter === Number(retryAfter), `member retryAfter ${q.retryAfter}`);
      assert((await stats(t, never)) === null, "an open circuit let a request reach the upstream");
    }),
  CASE_LIMIT,
);

// --- client disconnect --------------------------------------------------------

/**
 * After the client aborted, waits for the upstream to see its connection
 * close. Where the runtime's server tells the handler, that is prompt; where
 * it does not, the budget the client sent still ends the upstream call.
 */
async function upstreamEnds(
  t: Ctx,
  up: string,
  abortedAt: number,
  seen: boolean,
  what: string,
): Promise<void> {
  const closedAfter = await serverSawClose(t, up, DISCONNECT_BUDGET_MS + 5000);
  const afterAbort = performance.now() - abortedAt;
  const prompt = afterAbort < 1500 && closedAfter < DISCONNECT_BUDGET_MS - 500;
  if (seen) {
    assert(
      prompt,
      `${what}: the upstream closed ${Math.round(afterAbort)} ms after the client left ` +
        `(${closedAfter} ms after it arrived; the deadline was ${DISCONNECT_BUDGET_MS} ms)`,
    );
  } else {
    within(closedAfter, prompt ? 0 : DISCONNECT_BUDGET_MS - 500, DISCONNECT_BUDGET_MS + 2000, what);
  }
  t.note(
    `${what}: upstream closed ${Math.round(afterAbort)} ms after the client left, ${closedAfter} ms ` +
      `after it arrived${prompt ? "" : ` (by the ${DISCONNECT_BUDGET_MS} ms deadline)`}`,
  );
  if (prompt !== seen) t.note(`${what}: expected ${seen ? "" : "no "}disconnect to be seen`);
}

test(
  "hono: a client disconnect while the handler awaits the upstream aborts the upstream fetch",
  (t) =>
    withFront(t, async (base) => {
      const up = t.id("mw-gone-waiting");
      const ac = new AbortController();
      const pending = fetch(inbound(base, "call", url(t, "/slow-headers", up, { delay: 20_000 })), {
        headers: { [CUSTOM_BUDGET]: String(DISCONNECT_BUDGET_MS) },
        signal: ac.signal,
      });
      const client = rejection(pending, "the aborted inbound request");
      await serverSees(t, up, (s) => s.requests === 1, "the upstream request arrives", 5000);
      const abortedAt = performance.now();
      ac.abort();
      await client;
      await upstreamEnds(t, up, abortedAt, SEES_DISCONNECT[t.kind].waiting, "while waiting");
    }),
  CASE_LIMIT,
);

test(
  "hono: a client disconnect during a streamed upstream body closes the upstream",
  (t) =>
    withFront(t, async (base) => {
      const up = t.id("mw-gone-streaming");
      const ac = new AbortController();
      const res = await fetch(
        inbound(base, "pipe", url(t, "/trickle", up, { every: 50, count: 200 })),
        { headers: { [CUSTOM_BUDGET]: String(DISCONNECT_BUDGET_MS) }, signal: ac.signal },
      );
      assert(res.status === 200, `status ${res.status}`);
      const reader = res.body!.getReader();
      let bytes = 0;
      for (let i = 0; i < 100 && bytes < 3; i++)
        bytes += (await reader.read()).value?.byteLength ?? 0;
      assert(bytes >= 3, `only ${bytes} bytes streamed`);
      const abortedAt = performance.now();
      ac.abort();
      await reader.cancel().catch(() => {});
      await upstreamEnds(t, up, abortedAt, SEES_DISCONNECT[t.kind].streaming, "while streaming");
    }),
  CASE_LIMIT,
);

// --- streaming and release ----------------------------------------------------

test(
  "hono: a streamed upstream body is cut at the deadline: truncated for the client, closed upstream",
  (t) =>
    withFront(t, async (base) => {
      const up = t.id("mw-cut");
      const t0 = performance.now();
      // 1 byte / 50 ms for 10 s, under a 600 ms budget.
      const res = await fetch(
        inbound(base, "pipe", url(t, "/trickle", up, { every: 50, count: 200 })),
        { headers: { [GRPC_TIMEOUT]: "600m" } },
      );
      assert(res.status === 200, `status ${res.status}`);
      const { bytes, error } = await readAll(res);
      const ms = performance.now() - t0;
      assert(bytes > 0, "nothing streamed before the cut");
      assert(
        error !== undefined,
        `the body ended cleanly after ${bytes} bytes (${Math.round(ms)} ms): a cut must show`,
      );
      within(ms, 600, 3000, "the cut");
      within(await serverSawClose(t, up, 5000), 300, 3000, "upstream close");
      t.note(`client saw ${bytes} bytes, then ${describe(error).slice(0, 100)}`);
    }),
  CASE_LIMIT,
);

test(
  "hono: no upstream request outlives its inbound request (an unread body is released with the answer)",
  (t) =>
    withFront(t, async (base) => {
      const up = t.id("mw-unread");
      // 1 KiB at once, then a byte every 500 ms for 30 s: open until someone closes it.
      const res = await fetch(
        inbound(base, "unread", url(t, "/never-read", up, { every: 500, count: 60 })),
      );
      assert((await res.text()) === "answered", `status ${res.status}`);
      const answeredAt = performance.now();
      await serverSawClose(t, up, 5000);
      within(performance.now() - answeredAt, 0, 2000, "release after the answer");
    }),
  CASE_LIMIT,
);

// --- issue 10 ---------------------------------------------------------------

/** Parses an SSE body into `event: data` lines. */
function events(text: string): string[] {
  return text
    .split("\n\n")
    .filter((b) => b.trim())
    .map((b) => {
      const event = /^event: (.*)$/m.exec(b)?.[1] ?? "message";
      const data = /^data: (.*)$/m.exec(b)?.[1] ?? "";
      return `${event}: ${data}`;
    });
}

/** Reads a body to its end or its cut: the text, and the error of a cut. */
async function readText(res: Response): Promise<{ text: string; error?: unknown }> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) return { text };
      text += decoder.decode(r.value, { stream: true });
    }
  } catch (error) {
    return { text, error };
  }
}

test(
  "hono: inside streamSSE, c.var.fetch and within() work after several writes, until the deadline cuts the stream",
  (t) =>
    withFront(t, async (base) => {
      const up = t.id("mw-sse");
      const res = await fetch(inbound(base, "sse", url(t, "/json", up)));
      assert(res.status === 200, `status ${res.status}`);
      const whole = await readText(res);
      assert(whole.error === undefined, `the stream broke: ${describe(whole.error)}`);
      const got = events(whole.text);
      const want = ["tick: 0", "tick: 1", "tick: 2", "upstream: 200", "within: done"];
      assert(
        JSON.stringify(got.map((e) => e.replace(/^upstream: 200 \d+$/, "upstream: 200"))) ===
          JSON.stringify(want),
        `events ${JSON.stringify(got)}`,
      );
      assert((await stats(t, up))?.requests === 1, "the upstream call did not arrive");

      // Under a 600 ms budget, 5 s of work inside the stream: the body is cut at the deadline.
      const up2 = t.id("mw-sse-cut");
      const t0 = performance.now();
      const cut = await fetch(`${inbound(base, "sse", url(t, "/json", up2))}&work=5000`, {
        headers: { [GRPC_TIMEOUT]: "600m" },
      });
      const part = await readText(cut);
      const ms = performance.now() - t0;
      const seen = events(part.text);
      assert(
        seen.length >= 4 && seen[3]!.startsWith("upstream: 200"),
        `events ${JSON.stringify(seen)}`,
      );
      assert(
        part.error !== undefined,
        `the body ended cleanly after ${Math.round(ms)} ms: ${JSON.stringify(seen)}`,
      );
      within(ms, 600, 3000, "the cut");
      t.note(`cut after ${Math.round(ms)} ms: ${describe(part.error).slice(0, 80)}`);
    }),
  CASE_LIMIT,
);

test(
  "hono: after the response, every late c.var.fetch and within() rejects the same way at once, with or without an earlier call",
  (t) =>
    withFront(t, async (base) => {
      const results: { names: string[]; messages: string[]; ms: number; same: boolean }[] = [];
      for (const early of [false, true]) {
        const key = t.id(`mw-late-${early}`);
        const first = t.id(`mw-late-first-${early}`);
        const saveUrl = `${inbound(base, "late-save", url(t, "/json", first))}&key=${key}${early ? "&early=1" : ""}`;
        assert((await (await fetch(saveUrl)).text()) === "saved", "late-save");
        const lateUp = t.id(`mw-late-call-${early}`);
        const r = (await (
          await fetch(`${inbound(base, "late-use", url(t, "/json", lateUp))}&key=${key}`)
        ).json()) as (typeof results)[number];
        results.push(r);
        assert(r.ms < 200, `late calls took ${Math.round(r.ms)} ms to reject`);
        assert(
          r.names.every((n) => n === "AbortError"),
          `late outcomes ${JSON.stringify(r.names)}: ${r.messages[0]}`,
        );
        assert(r.same, `late callers saw different errors: ${JSON.stringify(r.messages)}`);
        assert((await stats(t, lateUp)) === null, "a late call reached the upstream");
      }
      assert(
        results[0]!.messages[0] === results[1]!.messages[0],
        `an earlier call changed the outcome: ${results[0]!.messages[0]} vs ${results[1]!.messages[0]}`,
      );
    }),
  CASE_LIMIT,
);

test(
  "hono: nested timebound() (route level, after slow middleware, a sub-app) only shrinks the deadline",
  (t) =>
    withFront(t, async (base) => {
      const hung = (name: string) => url(t, "/slow-headers", t.id(name), { delay: 20_000 });
      let t0 = performance.now();
      let res = await fetch(inbound(base, "nested", hung("mw-nested")));
      await expectProblem(res, 504);
      within(performance.now() - t0, 300, 2300, "route-level 300 ms");

      // 600 ms from the client, 300 ms spent in a middleware before the second timebound().
      t0 = performance.now();
      res = await fetch(inbound(base, "after-slow", hung("mw-after-slow")), {
        headers: { [CUSTOM_BUDGET]: "600" },
      });
      await expectProblem(res, 504);
      const ms = performance.now() - t0;
      assert(
        ms < 880,
        `504 after ${Math.round(ms)} ms: the budget was handed out again (300 + 600)`,
      );
      within(ms, 600, 880, "the caller's 600 ms, counted from the first timebound()");

      // The app-level one read the client's 300 ms; the sub-app's own 10 s cannot re-grant it.
      t0 = performance.now();
      res = await fetch(`${base}/sub/call?up=${encodeURIComponent(hung("mw-sub"))}`, {
        headers: { [CUSTOM_BUDGET]: "300" },
      });
      await expectProblem(res, 504);
      within(performance.now() - t0, 300, 2300, "the client's 300 ms inside the sub-app");
    }),
  CASE_LIMIT,
);

test(
  "hono: a burst of tiny-budget requests (timebound-budget-ms: 5, grpc-timeout: 5m) does not open the shared breaker",
  (t) =>
    withFront(t, async (base) => {
      const before = sharedCalls;
      const slow = url(t, "/slow-headers", t.id("mw-attack"), { delay: 2000 });
      const burst = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          fetch(inbound(base, "shared", slow), {
            headers: i % 2 ? { "timebound-budget-ms": "5" } : { [GRPC_TIMEOUT]: "5m" },
          }),
        ),
      );
      for (const res of burst) await expectProblem(res, 504);
      const sent = sharedCalls - before;
      assert(sent >= 4, `only ${sent} of the 12 calls went out: the attack proves nothing`);
      const origin = new URL(t.env.http).origin;
      assert(sharedBreaker.state(origin) === "closed", `breaker ${sharedBreaker.state(origin)}`);
      for (let i = 0; i < 3; i++) {
        const res = await fetch(
          inbound(base, "shared", url(t, "/json", t.id(`mw-after-attack-${i}`))),
        );
        const text = await res.text();
        assert(res.status === 200, `a normal client got ${res.status} after the attack: ${text}`);
      }
      t.note(`${sent} tiny-budget calls went out, breaker ${sharedBreaker.state(origin)}`);
    }),
  CASE_LIMIT,
);

test(
  "hono: the propagated budget header is dropped on a redirect hop to an origin not allowed",
  (t) =>
    withFront(t, async (base) => {
      const id = t.id("mw-redirect");
      propagateTo = new URL(t.env.http).origin;
      const third = url(t, "/rec", id, {}, t.env.fresh); // another port: another origin
      const second = url(t, "/rec", id, { redirect: 307, loc: third });
      const first = url(t, "/rec", id, { redirect: 302, loc: second });
      const res = await fetch(inbound(base, "prop", first));
      const text = await res.text();
      assert(res.status === 200 && text.startsWith("200 "), `answer ${res.status} ${text}`);
      const hops = (await (
        await fetch(`${t.env.http}/_rec?id=${encodeURIComponent(id)}`)
      ).json()) as { headers: Record<string, string> }[];
      assert(hops.length === 3, `${hops.length} hops`);
      const budgets = hops.map((h) => h.headers["timebound-budget-ms"]);
      assert(
        Number(budgets[0]) > 5000 && Number(budgets[1]) > 5000,
        `allowed hops got ${JSON.stringify(budgets)}`,
      );
      assert(budgets[2] === undefined, `the third party got timebound-budget-ms: ${budgets[2]}`);
    }),
  CASE_LIMIT,
);

test(
  "hono: a refused connection escaping the handler is 502 problem+json",
  (t) =>
    withFront(t, async (base) => {
      const res = await fetch(inbound(base, "call", "http://127.0.0.1:1/refused"));
      await expectProblem(res, 502);
    }),
  CASE_LIMIT,
);
